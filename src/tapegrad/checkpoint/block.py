"""Tape entries whose saved values are dropped and recomputed when backward needs them.

A :class:`Block` is one call of a checkpointed function.  While the function runs it is the
active collector (see :class:`~tapegrad.autograd.grad_mode.collecting`), so it receives every
node recorded inside.  When the function returns, those nodes keep their place in the graph
(edges, hooks, shapes) but their saved values are dropped: each node's ``args`` becomes the
block itself.  The engine, on reaching such a node, calls :meth:`Block.materialize`, which
runs the function again on the kept inputs (same random numbers), pairs the nodes of the
rerun with the original ones in recording order, and moves the saved values across.  When
the backward pass ends, whatever it did not free goes back to waiting, so a graph that is
kept (``retain_graph``) holds no more than the blocks' inputs between passes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import random as _random
from .._tree import tree_flatten, tree_unflatten
from ..errors import InplaceModificationError, InvalidStateError
from ..tensor import Tensor
from . import grad_mode
from .node import FREED, MUTATIONS, Node, version_key

__all__ = ["Block", "refilled", "release"]


class _Local(threading.local):
    def __init__(self) -> None:
        self.refilled: list[Block] = []


_local = _Local()


def refilled() -> list[Block]:
    """This thread's blocks recomputed during the backward passes in progress."""
    return _local.refilled


def release(blocks: list[Block], mark: int) -> None:
    """Send the blocks recomputed since ``mark`` back to waiting."""
    todo = blocks[mark:]
    del blocks[mark:]
    for b in todo:
        b.strip()


def observer() -> Any:
    """The nearest active collector that wants the nodes recorded inside a checkpoint block
    too (memory accounting, tape observers, a chain's step): enclosing blocks and their
    reruns do not, those nodes belong to the inner block."""
    c = grad_mode._state.collector
    while isinstance(c, (Block, _Rerun)):
        c = c.outer
    return c


def _fingerprint(outs: list[Any]) -> list[bytes]:
    return [np.asarray(o.data.sum()).tobytes() for o in outs]


class Block:
    """One recomputable call: the function, its inputs, and the nodes it recorded."""

    __slots__ = (
        "fn",
        "args",
        "kwargs",
        "nodes",
        "rng",
        "outer",
        "watch",
        "mutations",
        "dirty",
        "prints",
        "tensor_inputs",
        "parent",
        "children",
        "dropped",
        "restored",
        "kinds",
        "__weakref__",
    )

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.nodes: list[Any] = []  # the nodes; weak references once stripped
        self.kinds: list[tuple[Any, str]] | None = None  # (kind, name) of each, once stripped
        self.rng = _random.get_state()
        self.watch: list[tuple[Any, Any]] = []
        self.mutations = -1
        self.dirty: str | None = None
        self.prints: list[bytes] = []
        self.tensor_inputs = [
            a for a in tree_flatten((args, kwargs))[0] if isinstance(a, Tensor)
        ]
        # A block made inside another (nested checkpoints) drops its inputs when the outer
        # block drops its values, and gets them back from the outer block's recomputation.
        host = grad_mode._state.collector
        self.parent: Block | None = host if isinstance(host, Block) else None
        self.children: list[Any] = []  # weak references, in creation order
        self.dropped = False
        self.restored = False  # inputs given back by the enclosing block's recomputation
        if isinstance(host, Block):
            host.children.append(weakref.ref(self))
        elif isinstance(host, _Rerun):  # kept alive until the rerun is paired
            host.children.append(lambda b=self: b)
        self.outer = observer()

    # -- collector protocol (while the function runs)
    def append(self, node: Node, args: Any, out: Any) -> None:
        self.nodes.append(node)
        if self.outer is not None:
            self.outer.append(node, args, out)

    def run(self) -> Any:
        """Call the function with this block collecting, then drop the saved values."""
        with grad_mode.collecting(self):
            return self.fn(*self.args, **self.kwargs)

    def _saved_arrays(self) -> list[np.ndarray]:
        """What a waiting block holds: its tensor inputs (for memory accounting)."""
        if self.dropped:  # it will get its inputs from the enclosing block's
            assert self.parent is not None
            return self.parent._saved_arrays()
        out = [
            t.data
            for t in self.tensor_inputs
            if self.restored or not (t.requires_grad and t.grad_fn is None)
        ]
        out += [a for a in tree_flatten((self.args, self.kwargs))[0] if isinstance(a, np.ndarray)]
        return out

    def strip(self) -> None:
        """Drop the saved values of the block's nodes; they wait for :meth:`materialize`."""
        tracker = grad_mode._state.tracker
        seen: set[int] = set()
        watch = self.watch
        if self.kinds is None:
            # From now on the block refers to its nodes weakly: a waiting node refers to
            # the block (its args), and the two must not keep each other alive.
            self.kinds = [(_kind(n), n.prim.name) for n in self.nodes]
            self.nodes = [weakref.ref(n) for n in self.nodes]
        for r in self.nodes:
            n = r()
            if n is None or n.args is FREED or n.args is self:
                continue
            vs = n.versions
            if vs is not None:
                for k in range(1, len(vs), 2):
                    t = vs[k]
                    if id(t) not in seen:
                        seen.add(id(t))
                        watch.append((weakref.ref(t), vs[k + 1]))
            if n.dirty and self.dirty is None:
                self.dirty = n.prim.name
            n.args = self
            n.ans = None
            n.versions = None
            n.fw = None
            if n.prim.joint is not None:
                n.prim.free()
            if tracker is not None:
                tracker.release(n)
        self.mutations = MUTATIONS[0]
        if tracker is not None:
            tracker.add(self)
        for ref in self.children:
            child = ref()
            if child is not None and not child.dropped:
                child.dropped = True
                child.args = ()
                child.kwargs = {}
                child.tensor_inputs = []
                if tracker is not None:
                    tracker.add(child)

    def materialize(self, node: Node) -> list[Any]:
        """Recompute the block and give its nodes their saved values back; ``node.args``."""
        self.recompute()
        return node.args

    def recompute(self) -> None:
        """Run the function again and fill the waiting nodes (and nested blocks' inputs)."""
        if self.dropped:  # nested: the inputs come from the enclosing block's recomputation
            assert self.parent is not None
            self.parent.recompute()
        self._check()
        rerun = _Rerun()
        state = _random.get_state()
        _random.set_state(self.rng)
        try:
            with grad_mode.enable_grad(), grad_mode.collecting(rerun):
                out = self.fn(*self.args, **self.kwargs)
        finally:
            _random.set_state(state)
        self._pair(rerun.nodes, out)
        self._restore_children(rerun.children)
        _local.refilled.append(self)
        tracker = grad_mode._state.tracker
        if tracker is not None:
            tracker.release(self)
            for r in self.nodes:
                n = r()
                if n is not None and n.args.__class__ is list:
                    tracker.add(n)

    def _restore_children(self, new: list[Any]) -> None:
        if len(new) != len(self.children):
            raise InvalidStateError(
                "checkpoint: a checkpointed function made a different number of nested checkpoint "
                f"blocks when it was recomputed ({len(self.children)} the first time, {len(new)} "
                "now); it must do the same work every time it is called with the same inputs"
            )
        tracker = grad_mode._state.tracker
        for ref, new_ref in zip(self.children, new):
            child, fresh = ref(), new_ref()
            if child is None or not child.dropped or fresh is None:
                continue
            # Cut from the rerun's graph (only the values are wanted), keeping what makes
            # the child record the same operations: requires_grad and tangents.
            leaves, tdef = tree_flatten((fresh.args, fresh.kwargs))
            leaves = [_cut(a) for a in leaves]
            child.args, child.kwargs = tree_unflatten(tdef, leaves)
            child.tensor_inputs = [a for a in leaves if isinstance(a, Tensor)]
            child.restored = True
            child.dropped = False
            if tracker is not None:
                tracker.add(child)

    def _check(self) -> None:
        if self.dirty is not None:
            raise InplaceModificationError(
                f"a value saved by '{self.dirty}' inside a checkpointed function was changed "
                "in place afterwards; make a copy before changing it"
            )
        if MUTATIONS[0] == self.mutations:
            return
        for ref, key in self.watch:
            t = ref()
            if t is not None and version_key(t) != key:
                raise InplaceModificationError(
                    "a tensor used by a checkpointed function (an input, or one it reads from "
                    "outside) was changed in place after the function ran, so recomputing it "
                    "for the backward pass would give other values; change a copy instead, or "
                    "run backward before the change"
                )

    def _pair(self, new: list[Node], out: Any) -> None:
        kinds = self.kinds or []
        if len(new) != len(kinds) or any(k[0] != _kind(b) for k, b in zip(kinds, new)):
            raise InvalidStateError(
                "checkpoint: a checkpointed function recorded different operations when it was "
                f"recomputed for the backward pass ({len(kinds)} the first time, {len(new)} now; "
                f"first difference: {_first_difference(kinds, new)}). It must do the same work "
                "every time it is called with the same inputs: no dependence on outside state "
                "that changes, and random numbers only from tg.random's global generator"
            )
        if self.prints:
            outs = [o for o in tree_flatten(out)[0] if isinstance(o, Tensor)]
            if _fingerprint(outs) != self.prints:
                raise InvalidStateError(
                    "checkpoint: a checkpointed function gave different outputs when it was "
                    "recomputed for the backward pass, so its gradient would be wrong. Random "
                    "numbers drawn from a generator of your own (generator=...) are not replayed: "
                    "use tg.random's global generator inside checkpointed code, and do not read "
                    "outside state that changes between the forward and backward passes"
                )
        for r, b in zip(self.nodes, new):
            a = r()
            if a is None or a.args is not self:
                continue  # gone, or freed by an earlier pass (stays freed)
            a.args = b.args
            a.ans = b.ans
            a.versions = b.versions
            a.fw = b.fw
            a.dirty = False
            if a.prim.joint is not None:
                a.prim = b.prim


def _kind(n: Node) -> Any:
    p = n.prim
    return getattr(p, "fn", p)


def _first_difference(old: list[tuple[Any, str]], new: list[Node]) -> str:
    for i, ((kind, name), b) in enumerate(zip(old, new)):
        if kind != _kind(b):
            return f"operation {i} was '{name}', now '{b.prim.name}'"
    return f"operation {min(len(old), len(new))} is missing in the shorter run"


def _cut(a: Any) -> Any:
    if not isinstance(a, Tensor):
        return a
    w = Tensor._wrap(a.data)
    w.requires_grad = a.requires_grad
    w._fw = a._fw or None  # empty once its levels are closed
    return w


class _Rerun:
    """Collects the nodes of a recomputation (not passed on: they are thrown away)."""

    __slots__ = ("nodes", "outer", "children")

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.outer = None
        self.children: list[Any] = []  # blocks made during the rerun (weak references)

    def append(self, node: Node, args: Any, out: Any) -> None:
        self.nodes.append(node)
