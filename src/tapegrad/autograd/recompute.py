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
from ..errors import InplaceModificationError
from . import grad_mode
from .node import FREED, MUTATIONS, Node

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


def _key(t: Any) -> Any:
    b = t._base
    return t._version if b is None else (t._version, b._version)


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
        "outputs",
        "prints",
        "tensor_inputs",
        "__weakref__",
    )

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        from ..tensor import Tensor

        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.nodes: list[Node] = []
        self.rng = _random.get_state()
        self.watch: list[tuple[Any, Any]] = []
        self.mutations = -1
        self.dirty: str | None = None
        self.prints: list[bytes] = []
        from .._tree import tree_flatten

        self.tensor_inputs = [
            a for a in tree_flatten((args, kwargs))[0] if isinstance(a, Tensor)
        ]
        # The nearest collector outside that wants nested nodes too (memory accounting,
        # tape observers); an enclosing checkpoint block does not: these nodes are ours.
        c = grad_mode._state.collector
        while isinstance(c, (Block, _Rerun)):
            c = c.outer
        self.outer = c

    # -- collector protocol (while the function runs)
    def append(self, node: Node, args: Any, out: Any) -> None:
        self.nodes.append(node)
        if self.outer is not None:
            self.outer.append(node, args, out)

    def run(self) -> Any:
        """Call the function with this block collecting, then drop the saved values."""
        st = grad_mode._state
        prev = (st.collector, st.enabled)
        st.collector = self
        if st.enabled:
            st.enabled = self
        try:
            out = self.fn(*self.args, **self.kwargs)
        finally:
            st.collector, st.enabled = prev
        return out

    def _saved_arrays(self) -> list[np.ndarray]:
        """What a waiting block holds: its tensor inputs (for memory accounting)."""
        out = [t.data for t in self.tensor_inputs if not (t.requires_grad and t.grad_fn is None)]
        from .._tree import tree_flatten

        out += [a for a in tree_flatten((self.args, self.kwargs))[0] if isinstance(a, np.ndarray)]
        return out

    def strip(self) -> None:
        """Drop the saved values of the block's nodes; they wait for :meth:`materialize`."""
        tracker = grad_mode._state.tracker
        seen: set[int] = set()
        watch = self.watch
        for n in self.nodes:
            if n.args is FREED or n.args is self:
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

    def materialize(self, node: Node) -> list[Any]:
        """Recompute the block and give its nodes their saved values back; ``node.args``."""
        self._check()
        rerun = _Rerun()
        st = grad_mode._state
        prev = (st.collector, st.enabled)
        state = _random.get_state()
        _random.set_state(self.rng)
        st.collector = st.enabled = rerun
        try:
            out = self.fn(*self.args, **self.kwargs)
        finally:
            st.collector, st.enabled = prev
            _random.set_state(state)
        self._pair(rerun.nodes, out)
        _local.refilled.append(self)
        tracker = st.tracker
        if tracker is not None:
            tracker.release(self)
            for n in self.nodes:
                if n.args.__class__ is list:
                    tracker.add(n)
        return node.args

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
            if t is not None and _key(t) != key:
                raise InplaceModificationError(
                    "a tensor used by a checkpointed function (an input, or one it reads from "
                    "outside) was changed in place after the function ran, so recomputing it "
                    "for the backward pass would give other values; change a copy instead, or "
                    "run backward before the change"
                )

    def _pair(self, new: list[Node], out: Any) -> None:
        old = self.nodes
        if len(new) != len(old) or any(
            _kind(a) != _kind(b) for a, b in zip(old, new)
        ):
            raise RuntimeError(
                "a checkpointed function recorded different operations when it was recomputed "
                f"for the backward pass ({len(old)} the first time, {len(new)} now; first "
                f"difference: {_first_difference(old, new)}). It must do the same work every "
                "time it is called with the same inputs: no dependence on outside state that "
                "changes, and random numbers only from tg.random's global generator"
            )
        if self.prints:
            from .._tree import tree_flatten
            from ..tensor import Tensor

            outs = [o for o in tree_flatten(out)[0] if isinstance(o, Tensor)]
            if _fingerprint(outs) != self.prints:
                raise RuntimeError(
                    "a checkpointed function gave different outputs when it was recomputed "
                    "for the backward pass, so its gradient would be wrong. Random numbers "
                    "drawn from a generator of your own (generator=...) are not replayed: use "
                    "tg.random's global generator inside checkpointed code, and do not read "
                    "outside state that changes between the forward and backward passes"
                )
        for a, b in zip(old, new):
            if a.args is not self:
                continue  # freed by an earlier pass: stays freed
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


def _first_difference(old: list[Node], new: list[Node]) -> str:
    for i, (a, b) in enumerate(zip(old, new)):
        if _kind(a) != _kind(b):
            return f"operation {i} was '{a.prim.name}', now '{b.prim.name}'"
    return f"operation {min(len(old), len(new))} is missing in the shorter run"


class _Rerun:
    """Collects the nodes of a recomputation (not passed on: they are thrown away)."""

    __slots__ = ("nodes", "outer")

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.outer = None

    def append(self, node: Node, args: Any, out: Any) -> None:
        self.nodes.append(node)
