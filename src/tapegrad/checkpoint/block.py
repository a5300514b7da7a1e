"""Checkpointed blocks: tape entries whose saved values are dropped and recomputed when
backward needs them.

A :class:`Block` is one call of a checkpointed function.  While the function runs it is an
active :class:`~tapegrad.autograd.grad_mode.Observer`, so it hears of every node recorded
inside (nested blocks announce themselves with a ``"checkpoint"`` scope, and their nodes are
theirs).  When the function returns, those nodes keep their place in the graph (edges,
hooks, shapes) but their saved values are dropped: each node's ``args`` becomes the block
itself, a deferral in the engine's sense (see :class:`~tapegrad.autograd.node.Node`).  The
engine, on reaching such a node, calls :meth:`Block.materialize`, which runs the function
again on the kept inputs (same random numbers), pairs the nodes of the rerun with the
original ones in recording order, and moves the saved values across.  When the backward pass
ends the engine calls :meth:`Block.settle`: whatever the pass did not free goes back to
waiting, so a graph that is kept (``retain_graph``) holds no more than the blocks' inputs
between passes.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import random as _random
from .._tree import tree_flatten, tree_unflatten
from ..autograd import grad_mode
from ..autograd.grad_mode import Observer, notify_release, notify_update
from ..autograd.node import MUTATIONS, Node, version_key
from ..errors import (
    InplaceModificationError,
    InvalidArgumentError,
    InvalidStateError,
    InvalidTypeError,
)
from ..tensor import Tensor

__all__ = ["Block", "checkpoint", "checkpoint_sequential"]


# Scopes whose nodes belong to them, not to an enclosing block: nested blocks, and the steps
# of a checkpoint_chain (its tape entry is the enclosing block's).
_OWNING = frozenset(("checkpoint", "checkpoint_chain"))


def _fingerprint(outs: list[Any]) -> list[bytes]:
    return [np.asarray(o.data.sum()).tobytes() for o in outs]


class Block(Observer):
    """One recomputable call: the function, its inputs, and the nodes it recorded."""

    __slots__ = (
        "fn",
        "args",
        "kwargs",
        "nodes",
        "rng",
        "depth",
        "waiting",
        "refilled",
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
        self.tensor_inputs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, Tensor)]
        # A block made inside another (nested checkpoints) drops its inputs when the outer
        # block drops its values, and gets them back from the outer block's recomputation.
        # The enclosing block (or rerun) adopts it when it hears of its scope.
        self.parent: Block | None = None
        self.children: list[Any] = []  # weak references, in creation order
        self.dropped = False
        self.restored = False  # inputs given back by the enclosing block's recomputation
        self.depth = 0  # nesting depth of the checkpoint scopes inside, while it runs
        self.waiting = False  # its nodes' values are dropped (it keeps its inputs)
        self.refilled: list[Block] = []  # blocks recomputed for it in this backward pass

    # -- observer (while the function runs)
    def record(self, node: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        if self.depth == 0:  # the nodes of a nested block are that block's
            self.nodes.append(node)

    def scope_enter(self, kind: str, obj: Any) -> None:
        if kind in _OWNING:
            if self.depth == 0 and kind == "checkpoint":
                obj.parent = self
                self.children.append(weakref.ref(obj))
            self.depth += 1

    def scope_exit(self, kind: str, obj: Any, outputs: Any) -> None:
        if kind in _OWNING:
            self.depth -= 1

    def run(self) -> Any:
        """Call the function with this block observing, then drop the saved values."""
        with grad_mode.scope("checkpoint", self, (self.args, self.kwargs)) as sc:
            with grad_mode.observe(self):
                sc.outputs = self.fn(*self.args, **self.kwargs)
        return sc.outputs

    def _saved_arrays(self) -> list[np.ndarray]:
        """What a waiting block holds: its tensor inputs (for memory accounting)."""
        if not self.waiting and not self.dropped:
            return []
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
        seen: set[int] = set()
        watch = self.watch
        if self.kinds is None:
            # From now on the block refers to its nodes weakly: a waiting node refers to
            # the block (its args), and the two must not keep each other alive.
            self.kinds = [(_kind(n), n.prim.name) for n in self.nodes]
            self.nodes = [weakref.ref(n) for n in self.nodes]
        for r in self.nodes:
            n = r()
            if n is None or n.freed or n.deferral is self:
                continue
            for t, key in n.saved_tensor_versions():
                if id(t) not in seen:
                    seen.add(id(t))
                    watch.append((weakref.ref(t), key))
            if n.output_changed and self.dirty is None:
                self.dirty = n.name
            n.defer(self)
            notify_release(n)
        self.mutations = MUTATIONS[0]
        self.waiting = True
        notify_update(self)
        for ref in self.children:
            child = ref()
            if child is not None and not child.dropped:
                child.dropped = True
                child.args = ()
                child.kwargs = {}
                child.tensor_inputs = []
                notify_update(child)

    # -- the deferral protocol of the engine
    def materialize(self, node: Node) -> None:
        """Recompute the block and give its nodes (``node`` among them) their saved values
        back."""
        self.recompute(self)

    def settle(self) -> None:
        """The backward pass that recomputed this block ended: what it did not free goes
        back to waiting (enclosing blocks recomputed on the way too)."""
        todo = self.refilled
        self.refilled = []
        for b in todo:
            b.strip()

    def recompute(self, why: Block) -> None:
        """Run the function again and fill the waiting nodes (and nested blocks' inputs);
        ``why`` (the block whose node the engine reached) settles it after the pass."""
        if self.dropped:  # nested: the inputs come from the enclosing block's recomputation
            assert self.parent is not None
            self.parent.recompute(why)
        self._check()
        rerun = _Rerun()
        state = _random.get_state()
        _random.set_state(self.rng)
        try:
            with grad_mode.enable_grad(), grad_mode.observe(rerun, alone=True):
                out = self.fn(*self.args, **self.kwargs)
        finally:
            _random.set_state(state)
        self._pair(rerun.nodes, out)
        self._restore_children(rerun.children)
        why.refilled.append(self)
        self.waiting = False
        notify_update(self)
        for r in self.nodes:
            n = r()
            if n is not None and n.deferral is None and not n.freed:
                notify_update(n)

    def _restore_children(self, new: list[Any]) -> None:
        if len(new) != len(self.children):
            raise InvalidStateError(
                "checkpoint: a checkpointed function made a different number of nested checkpoint "
                f"blocks when it was recomputed ({len(self.children)} the first time, {len(new)} "
                "now); it must do the same work every time it is called with the same inputs"
            )
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
            notify_update(child)

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
            if a is None or a.deferral is not self:
                continue  # gone, or freed by an earlier pass (stays freed)
            a.adopt(b)


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


class _Rerun(Observer):
    """Observes a recomputation alone (its nodes are thrown away once paired)."""

    __slots__ = ("nodes", "depth", "children")

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.depth = 0
        self.children: list[Any] = []  # blocks made during the rerun (kept until paired)

    def record(self, node: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        if self.depth == 0:
            self.nodes.append(node)

    def scope_enter(self, kind: str, obj: Any) -> None:
        if kind in _OWNING:
            if self.depth == 0 and kind == "checkpoint":
                self.children.append(lambda b=obj: b)
            self.depth += 1

    def scope_exit(self, kind: str, obj: Any, outputs: Any) -> None:
        if kind in _OWNING:
            self.depth -= 1


def _frozen(a: Any) -> Any:
    # NumPy arguments are kept for the recomputation: a read-only copy, so neither the
    # caller nor the function can change them in between.
    if isinstance(a, np.ndarray):
        c = a.copy()
        c.flags.writeable = False
        return c
    if isinstance(a, (list, tuple)) and not hasattr(a, "_fields"):
        items = [_frozen(x) for x in a]
        return items if isinstance(a, list) else tuple(items)
    if isinstance(a, dict):
        return {k: _frozen(v) for k, v in a.items()}
    return a


def checkpoint(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` keeping only its inputs for the backward pass.

    The operations inside are recorded as usual (so hooks, ``inputs=``, ``create_graph``
    and every transform see the same graph), but their saved values are dropped when
    ``fn`` returns.  When a backward pass reaches them, ``fn`` runs again on the same
    inputs, with the random generator (``tg.random``) reset to its state at the first call,
    so dropout masks and other random draws repeat exactly; the recomputed values are
    freed again as the pass goes.  Costs one extra forward pass of ``fn``; saves
    everything ``fn`` would have kept except its inputs.

    Parameters
    ----------
    fn : callable
        A function of tensors (and anything else); it may read tensors from outside
        (closures, module parameters), return any pytree of tensors and other values,
        use forward-mode tangents, or be a ``tg.nn.Module``.
    *args, **kwargs
        Passed to ``fn``.  NumPy arrays among them are passed as read-only copies.

    Returns
    -------
    Whatever ``fn`` returns.

    Raises
    ------
    InplaceModificationError
        If ``fn`` changes one of its tensor arguments in place (the recomputation would see
        the changed value), or if a tensor that ``fn`` used is changed in place before the
        backward pass reaches the block.
    RuntimeError
        In backward, if the recomputation records other operations or gives other outputs
        than the first call (``fn`` must be deterministic given its inputs and the global
        random generator).

    Notes
    -----
    Blocks nest (a checkpointed function may call ``checkpoint``): only the outermost
    block's inputs are kept; the inner blocks get theirs back when the outer block is
    recomputed.  A Module's buffers changed by its forward (running statistics of
    batch norm) are changed again by the recomputation: checkpoint such layers in eval
    mode, or accept the second update.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([0.5, 1.0], requires_grad=True)
    >>> block = lambda h: tg.tanh(tg.sin(h) * h)
    >>> y = tg.checkpoint(block, x).sum()
    >>> y.backward()
    >>> x2 = tg.tensor([0.5, 1.0], requires_grad=True)
    >>> block(x2).sum().backward()
    >>> bool(tg.all(x.grad == x2.grad))
    True
    """
    if not callable(fn):
        raise InvalidTypeError(
            f"checkpoint needs a function to call first, got {type(fn).__name__}"
        )
    if not grad_mode._state.enabled:
        return fn(*args, **kwargs)  # nothing is recorded, so nothing is saved
    args = tuple(_frozen(a) for a in args)
    kwargs = {k: _frozen(v) for k, v in kwargs.items()}
    block = Block(fn, args, kwargs)
    before = [(t, t.data, version_key(t), t.grad_fn) for t in block.tensor_inputs]
    out = block.run()
    for i, (t, data, key, node) in enumerate(before):
        if t.data is not data or version_key(t) != key or t.grad_fn is not node:
            raise InplaceModificationError(
                f"the function passed to checkpoint changed its tensor argument {i} (shape "
                f"{t.shape}) in place. checkpoint runs the function again during the backward "
                "pass and needs its inputs unchanged: compute out of place (y = x + 1, not "
                "x += 1), or pass a copy (x.clone())"
            )
    if block.nodes or block.children:
        outs = [o for o in tree_flatten(out)[0] if isinstance(o, Tensor)]
        block.prints = _fingerprint(outs)
        block.strip()
    return out


def _segments(n: int, segments: int | None) -> list[tuple[int, int]]:
    if segments is None:
        segments = max(1, round(math.sqrt(n)))
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)):
        raise InvalidTypeError(
            f"checkpoint_sequential: segments must be an int or None, got {type(segments).__name__}"
        )
    if not 1 <= segments <= n:
        raise InvalidArgumentError(
            f"checkpoint_sequential: segments must be between 1 and the number of functions ({n}), "
            f"got {segments}"
        )
    bounds = np.linspace(0, n, int(segments) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def checkpoint_sequential(
    functions: Iterable[Callable[..., Any]], segments: int | None, *inputs: Any
) -> Any:
    """Run ``functions`` one after the other on ``inputs``, checkpointing each segment.

    The list (or a ``tg.nn.Sequential``) is cut into ``segments`` runs of consecutive
    functions of nearly equal length; every run but the last is a :func:`checkpoint`
    block, so only the segment boundaries are kept, plus the last segment's values (which
    the backward pass needs first).  ``segments=None`` picks ``round(sqrt(n))``: the
    memory then grows like ``2 sqrt(n)`` layers instead of ``n``, for one extra forward
    pass (Chen et al., 2016, "Training deep nets with sublinear memory cost").

    Parameters
    ----------
    functions : iterable of callables, or a Sequential
        ``functions[0](*inputs)``, then each next one on the previous output.
    segments : int or None
        Number of segments, between 1 and ``len(functions)``; None for ``sqrt(n)``.
    *inputs
        The inputs of the first function.

    Returns
    -------
    The output of the last function.

    Examples
    --------
    >>> import tapegrad as tg
    >>> _ = tg.random.seed(0)
    >>> net = tg.nn.Sequential(*[tg.nn.Sequential(tg.nn.Linear(8, 8), tg.nn.Tanh())
    ...                          for _ in range(16)])
    >>> x = tg.randn(4, 8).float()   # float32, as the layers
    >>> loss = tg.checkpoint_sequential(net, None, x).sum()   # 4 segments of 4 layers
    >>> loss.backward()
    >>> net[0][0].weight.grad.shape
    (8, 8)
    """
    fns = list(functions)
    if not fns:
        raise InvalidArgumentError("checkpoint_sequential needs at least one function")
    for i, f in enumerate(fns):
        if not callable(f):
            raise InvalidTypeError(
                f"checkpoint_sequential: functions[{i}] is a {type(f).__name__}, not callable"
            )
    if not inputs:
        raise InvalidTypeError(
            "checkpoint_sequential(functions, segments, *inputs) needs the inputs of the first "
            "function after segments"
        )
    spans = _segments(len(fns), segments)

    def run(start: int, stop: int) -> Callable[..., Any]:
        def segment(*xs: Any) -> Any:
            out = fns[start](*xs)
            for f in fns[start + 1 : stop]:
                out = f(out)
            return out

        return segment

    xs: tuple[Any, ...] = inputs
    for k, (a, b) in enumerate(spans):
        seg = run(a, b)
        out = seg(*xs) if k == len(spans) - 1 else checkpoint(seg, *xs)
        xs = (out,)
    return out
