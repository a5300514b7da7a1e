"""Checkpointing: keep less for the backward pass, recompute the rest when it is needed.

Reverse mode keeps what its rules read (inputs, outputs of the recorded operations) until
the backward pass, so memory grows with the length of the computation.  The remedies here:

* :func:`checkpoint` — one block of code keeps only its inputs; its internal values are
  recomputed (once, replaying the same random numbers) when backward reaches the block.
* :func:`checkpoint_sequential` — a list of layers cut into segments, each checkpointed
  (``sqrt(n)`` segments by default: Chen et al. 2016, memory ``O(sqrt(n))`` for one extra
  forward pass).
* :func:`checkpoint_chain` — ``n`` applications of a time step ``state -> state`` with at
  most ``s`` snapshots in memory, scheduled with the binomial (Revolve) schedule of
  Griewank & Walther (2000), which recomputes the fewest steps possible for ``s``
  snapshots.  The schedule comes from the ``checkpoint-schedules`` package
  (``pip install "tapegrad[checkpoint]"``).

``tg.autograd.saved_bytes()`` and ``tg.autograd.peak_saved_bytes()`` measure the effect.
"""

from __future__ import annotations

import array
import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from . import random as _random
from ._tree import tree_flatten, tree_unflatten
from .autograd import grad_mode
from .autograd.engine import grads_to, version_key
from .autograd.node import Meta, Node
from .autograd.recompute import Block, _fingerprint, observer
from .errors import (
    GraphFreedError,
    InplaceModificationError,
    InvalidArgumentError,
    InvalidStateError,
    InvalidTypeError,
    MissingDependencyError,
    NotDifferentiableError,
    ShapeMismatchError,
)
from .tensor import Tensor

__all__ = [
    "checkpoint",
    "checkpoint_sequential",
    "checkpoint_chain",
    "binomial_steps",
]


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


# ---------------------------------------------------------------------- optimal chains


def binomial_steps(n_steps: int, snapshots: int) -> int:
    """The fewest step evaluations that reverse an ``n_steps`` chain with ``snapshots``
    snapshots: the forward sweep, the recomputations and the taped steps together
    (Griewank & Walther 2000, Proposition 1).

    With ``r`` the smallest integer such that ``C(s + r, s) >= n``, the steps beyond the
    ``n`` taped ones number ``r n - C(s + r, s + 1)``.

    Examples
    --------
    >>> from tapegrad.checkpoint import binomial_steps
    >>> binomial_steps(10, 3)   # 10 taped + 15 recomputed
    25
    >>> binomial_steps(10, 9)   # a snapshot per step: the forward sweep, then each step taped
    19
    """
    n, s = _check_chain_args(n_steps, snapshots)
    if n <= 1:
        return n
    s = min(s, n - 1)
    r = 0
    while math.comb(s + r, s) < n:
        r += 1
    return n + r * n - math.comb(s + r, s + 1)


def _check_chain_args(n_steps: Any, snapshots: Any) -> tuple[int, int]:
    for name, v in (("n_steps", n_steps), ("snapshots", snapshots)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InvalidTypeError(
                f"checkpoint_chain: {name} must be an int, got {type(v).__name__}"
            )
    if n_steps < 0:
        raise InvalidArgumentError(f"checkpoint_chain: n_steps must be >= 0, got {n_steps}")
    if snapshots < 1:
        raise InvalidArgumentError(
            f"checkpoint_chain: snapshots must be >= 1 (the initial state is one), got {snapshots}"
        )
    return int(n_steps), int(snapshots)


def _schedule(n: int, s: int) -> Any:
    try:
        from checkpoint_schedules import MultistageCheckpointSchedule
    except ImportError:
        raise MissingDependencyError(
            "checkpoint_chain takes its binomial (Revolve) schedule from the "
            'checkpoint-schedules package: pip install "tapegrad[checkpoint]" (or pip '
            "install checkpoint-schedules)"
        ) from None
    return MultistageCheckpointSchedule(n, min(s, max(n - 1, 0)), 0)


class _Collect:
    """Collects the nodes of one taped step and passes them on to an observer."""

    __slots__ = ("nodes", "outer")

    def __init__(self, outer: Any) -> None:
        self.nodes: list[Node] = []
        self.outer = outer

    def append(self, node: Node, args: Any, out: Any) -> None:
        self.nodes.append(node)
        if self.outer is not None:
            self.outer.append(node, args, out)


class _ChainRule:
    """The tape entry of one :func:`checkpoint_chain` call.

    Holds the initial state, the snapshots, and (between the call and the first backward)
    the taped last step; its joint rule runs the reverse part of the binomial schedule.
    """

    __slots__ = (
        "name",
        "nout",
        "vjps",
        "step",
        "n",
        "s",
        "treedef",
        "metas",
        "start",
        "snaps",
        "tape",
        "extra_leaves",
        "extra_cut",
        "prints",
        "recorded",
        "steps",
        "found",
        "step_reads",
        "node",
        "__weakref__",
    )

    def __init__(self, step: Any, n: int, s: int, treedef: Any, like: list[Any]):
        self.name = "checkpoint_chain"
        self.node: Any = None  # weak reference to this rule's tape entry, once made
        self.steps: list[Callable[[Any], Any]] | None = step if isinstance(step, list) else None
        self.found: dict[Any, Any] = {}
        # What each step read from outside in the first sweep (sets shared between steps).
        self.step_reads = _Interned()
        self.vjps: tuple[Any, ...] = ()  # one None per parent, set with the parents
        self.step = step
        self.n = n
        self.s = s
        self.treedef = treedef
        # Per state leaf: (shape, dtype) for a tensor, None for a constant.
        self.metas = [(x.shape, x.dtype) if isinstance(x, Tensor) else None for x in like]
        values = [x.data.copy() if isinstance(x, Tensor) else x for x in like]
        self.start: Any = (values, _random.get_state())
        self.snaps: dict[int, tuple[list[Any], dict]] = {}
        self.tape: Any = None
        self.nout = sum(m is not None for m in self.metas)
        self.extra_leaves: list[tuple[int, Tensor]] = []
        self.extra_cut: list[tuple[int, Node, int]] = []
        # The bits of each state's sum in the first forward sweep: recomputed states must
        # match them (a step that reads changing outside state is caught, not trusted).
        self.prints = np.zeros(n + 1, np.uint64)
        self.prints[0] = _state_print(values)
        self.recorded = False

    # -- running steps
    def _call(self, values: list[Any], taped: bool, k: int) -> Any:
        """Step ``k`` from the state's leaf values; ``taped``: on fresh leaves that require
        grad, recording.  Returns (input leaves, output leaves, recorded nodes)."""
        leaves = []
        for v, m in zip(values, self.metas):
            if m is None:
                leaves.append(v)
                continue
            if taped and v.dtype.kind in "fc":
                # A copy: the tape then never shares memory with a snapshot.
                t = Tensor._wrap(v.copy())
                t.requires_grad = True
            else:
                t = Tensor._wrap(v)
            leaves.append(t)
        # The first forward sweep records every step (and drops the record at once) to
        # find all the outside tensors the steps read; later untaped steps record nothing.
        record = taped or not self.recorded
        coll = _Collect(observer()) if record else None
        mode = grad_mode.collecting(coll) if coll is not None else grad_mode.no_grad()
        step = self.step if self.steps is None else self.steps[k]
        with grad_mode.enable_grad(), mode:
            out = step(tree_unflatten(self.treedef, leaves))
        if coll is not None and not self.recorded:
            reads = self.boundary((leaves, None, coll.nodes))
            self.found.update(reads)
            self.step_reads.append(frozenset(reads))
        new = self._check(out, leaves)
        fp = _state_print([x.data if isinstance(x, Tensor) else x for x in new])
        if self.recorded:
            if fp != self.prints[k + 1]:
                raise InvalidStateError(
                    f"checkpoint_chain recomputed step {k} and got another state than the "
                    "first time, so the gradient would be wrong. The step function must "
                    "depend only on its input state and on tensors that do not change (no "
                    "counters or other outside state; random numbers only from tg.random's "
                    "global generator)"
                )
        else:
            self.prints[k + 1] = fp
        return leaves, new, (coll.nodes if coll is not None else [])

    def _check(self, out: Any, inputs: list[Any]) -> list[Any]:
        for t in inputs:
            if isinstance(t, Tensor) and t._version:
                raise InplaceModificationError(
                    "the step function of checkpoint_chain changed its input state in place; "
                    "return a new state instead (y = x + dt * f(x), not x += dt * f(x))"
                )
        leaves, treedef = tree_flatten(out)
        if repr(treedef) != repr(self.treedef) or len(leaves) != len(self.metas):
            raise InvalidTypeError(
                "checkpoint_chain: the step function must return a state shaped like its input "
                f"({self.treedef})"
                f", got {treedef}"
            )
        for i, (x, m) in enumerate(zip(leaves, self.metas)):
            if m is None:
                continue
            if not isinstance(x, Tensor):
                x = Tensor._wrap(np.asarray(x))
                leaves[i] = x
            if x.shape != m[0] or x.dtype != m[1]:
                raise ShapeMismatchError(
                    f"the step function returned state leaf {i} with shape {x.shape} and dtype "
                    f"{x.dtype}; the state has shape {m[0]} and dtype {m[1]} there. A step "
                    "must keep every tensor's shape and dtype"
                )
        return leaves

    def _advance(self, values: list[Any], n0: int, n1: int) -> list[Any]:
        for k in range(n0, n1):
            _, new, _ = self._call(values, False, k)
            values = [x.data if isinstance(x, Tensor) else x for x in new]
        return values

    def forward_part(self, sched: Any) -> Any:
        """Run the schedule up to the end of its forward sweep; returns the taped last step."""
        values, rng = self.start
        _random.set_state(rng)
        tape = None
        for action in sched:
            kind = type(action).__name__
            if kind == "Forward":
                if action.write_ics:
                    self.snaps[action.n0] = (values, _random.get_state())
                if action.write_adj_deps:
                    tape = self._call(values, True, action.n0)
                else:
                    values = self._advance(values, action.n0, action.n1)
            elif kind == "EndForward":
                break
        self.recorded = True
        self._account()
        return tape

    def boundary(self, tape: Any) -> dict[Any, Any]:
        """What a taped step read from outside the chain and requires grad: leaves, and
        outputs of nodes recorded before the chain."""
        fresh, _, nodes = tape
        inside = {id(n) for n in nodes}
        mine = {id(t) for t in fresh}
        found: dict[Any, Any] = {}
        for node in nodes:
            pidx = node.pidx
            for i, p in enumerate(node.parents):
                if p is None:
                    continue
                if p.__class__ is Node:
                    if id(p) not in inside:
                        k = pidx[i] if pidx else 0
                        found.setdefault(("node", id(p), k), (p, k))
                elif id(p) not in mine:
                    found.setdefault(("leaf", id(p)), p)
        return found

    # -- memory accounting
    def _saved_arrays(self) -> list[Any]:
        out = [] if self.start is None else [v for v in self.start[0] if isinstance(v, np.ndarray)]
        for vals, _ in self.snaps.values():
            out += [v for v in vals if isinstance(v, np.ndarray)]
        return out

    def _account(self) -> None:
        # Snapshots come and go during the backward pass: the memory account recounts
        # this rule's tape entry (its arrays include the snapshots, see autograd.memory).
        tracker = grad_mode._state.tracker
        node = None if self.node is None else self.node()
        if tracker is not None and node is not None:
            tracker.add(node)

    # -- the backward pass: the reverse part of the schedule
    def joint(self, g: Any, create_graph: bool, node: Node) -> list[Any]:
        # A method (not a slot holding the bound method): no reference cycle through self.
        gs = list(g) if self.nout > 1 else [g]
        if create_graph or any(isinstance(x, Tensor) for x in gs):
            raise NotDifferentiableError(
                "checkpoint_chain gives first-order gradients (its backward pass is not "
                "itself recorded); for higher derivatives through a chain of steps use "
                "checkpoint_sequential over the steps, or no checkpointing"
            )
        if self.start is None:
            raise GraphFreedError(
                "trying to run backward through checkpoint_chain a second time, but its "
                "snapshots were freed after the first backward; pass retain_graph=True to the "
                "first backward if you need to go through it again"
            )
        it = iter(gs)
        lam = [None if m is None else next(it) for m in self.metas]
        acc: list[Any] = [None] * len(node.parents)
        rng = _random.get_state()
        try:
            lam = self._reverse(lam, acc)
        finally:
            _random.set_state(rng)
        j = 0
        for m, lv in zip(self.metas, lam):
            if m is not None:
                _add(acc, j, lv)
                j += 1
        return acc

    def _reverse(self, lam: list[Any], acc: list[Any]) -> list[Any]:
        sched = _schedule(self.n, self.s)
        if self.tape is None:  # a later backward: the forward sweep again
            self.snaps = {}
            tape = self.forward_part(sched)
        else:
            tape = self.tape
            self.tape = None
            while type(next(sched)).__name__ != "EndForward":
                pass
        work: list[Any] = []
        for action in sched:
            kind = type(action).__name__
            if kind == "Reverse":
                lam = self._back(tape, lam, acc, action.n0)
                tape = None
            elif kind in ("Copy", "Move"):
                vals, rng = self.snaps[action.n]
                if kind == "Move":
                    del self.snaps[action.n]
                    self._account()
                _random.set_state(rng)
                work = vals
            elif kind == "Forward":
                if action.write_ics:
                    self.snaps[action.n0] = (work, _random.get_state())
                    self._account()
                if action.write_adj_deps:
                    tape = self._call(work, True, action.n0)
                else:
                    work = self._advance(work, action.n0, action.n1)
            elif kind == "EndReverse":
                break
        self.snaps = {}
        self._account()
        return lam

    def _back(self, tape: Any, lam: list[Any], acc: list[Any], k: int) -> list[Any]:
        """Pull the state cotangent back through taped step ``k``; the step's reads from
        outside get their share added into ``acc``."""
        fresh, out, nodes = tape
        if frozenset(self.boundary(tape)) != self.step_reads[k]:
            raise InvalidStateError(
                f"step {k} of checkpoint_chain, recomputed for the backward pass, read other "
                "tensors that require grad than in the forward sweep; a step must read the "
                "same outside tensors every time it runs"
            )
        roots, grads = [], []
        for o, lv in zip(out, lam):
            if isinstance(o, Tensor) and o.requires_grad and lv is not None:
                roots.append(o)
                grads.append(lv)
        mine = [t for t in fresh if isinstance(t, Tensor) and t.requires_grad]
        got, captured = grads_to(
            roots,
            grads,
            mine + [t for _, t in self.extra_leaves],
            [(nd, k) for _, nd, k in self.extra_cut],
        )
        for (slot, _), gv in zip(self.extra_leaves, got[len(mine) :]):
            _add(acc, slot, gv)
        for slot, nd, k in self.extra_cut:
            _add(acc, slot, captured.get((id(nd), k)))
        it = iter(got[: len(mine)])
        new = []
        for t in fresh:
            if isinstance(t, Tensor) and t.requires_grad:
                gv = next(it)
                new.append(np.zeros(t.data.shape, t.data.dtype) if gv is None else gv)
            else:
                new.append(None)
        return new

    def free(self) -> None:
        self.start = None
        self.snaps = {}
        self.tape = None
        self._account()


class _Interned:
    """A list of frozensets that stores each distinct set once (most steps read the same
    tensors): memory grows with the number of steps by one small int each."""

    __slots__ = ("sets", "index", "where")

    def __init__(self) -> None:
        self.sets: list[frozenset] = []
        self.index: dict[frozenset, int] = {}
        self.where = array.array("i")

    def append(self, item: frozenset) -> None:
        i = self.index.get(item)
        if i is None:
            i = self.index[item] = len(self.sets)
            self.sets.append(item)
        self.where.append(i)

    def __getitem__(self, k: int) -> frozenset:
        return self.sets[self.where[k]]


def _state_print(values: list[Any]) -> Any:
    total = np.float64(0.0)
    for v in values:
        if isinstance(v, np.ndarray) and v.dtype.kind in "fc":
            total += np.float64(np.real(v.sum()))
    return np.array(total).view(np.uint64)[()]


def _add(acc: list[Any], slot: int, g: Any) -> None:
    if g is not None:
        acc[slot] = g if acc[slot] is None else acc[slot] + g


def checkpoint_chain(
    step: Callable[[Any], Any] | Sequence[Callable[[Any], Any]],
    state: Any,
    n_steps: int | None = None,
    snapshots: int | None = None,
    *,
    memory_budget: int | None = None,
) -> Any:
    """Apply ``step`` ``n_steps`` times to ``state``, keeping at most ``snapshots`` states
    for the backward pass, with the fewest recomputed steps possible.

    The forward sweep stores snapshots of the state where the binomial (Revolve) schedule
    of Griewank & Walther (2000) puts them, and records only the last step; the backward
    pass restores snapshots, recomputes the steps in between without recording, and
    records one step at a time to pull the cotangent back through it.  The number of step
    evaluations, forward sweep included, is :func:`binomial_steps` ``(n_steps,
    snapshots)``, the optimum for that many snapshots: e.g. 10,000 steps with 20
    snapshots cost 4.8 times the steps of one forward sweep (taped steps included), in
    the memory of 20 states and one step's tape, independent of ``n_steps``.

    Parameters
    ----------
    step : callable, or list of callables
        ``state -> state``, the same pytree structure with every tensor keeping its shape
        and dtype; or one such function per step (e.g. the layers of a deep network,
        ``n_steps`` then defaults to their number).  Steps may read tensors from outside
        (parameters to fit, closures, each layer's weights): the first forward sweep finds
        them all, and their gradients are accumulated over all steps.  A step must not
        change its input in place, and must depend only on its input and on tensors that
        do not change (checked: a recomputed state that differs from the first sweep's
        raises).  Random numbers from ``tg.random``'s global generator are replayed
        exactly in the recomputations.
    state : Tensor or pytree of Tensors (and constants)
        The initial state.
    n_steps : int
        How many times to apply ``step`` (0 returns ``state``); None with a list of steps.
    snapshots : int
        How many states may be kept at once (the initial one included), ``>= 1``.
    memory_budget : int, keyword-only
        Instead of ``snapshots``: bytes for snapshots; ``snapshots`` becomes
        ``memory_budget // (bytes of one state)``.

    Returns
    -------
    The state after ``n_steps`` steps (same structure as ``state``), differentiable
    (first order) w.r.t. the initial state and every tensor ``step`` reads.

    Notes
    -----
    The schedule comes from the ``checkpoint-schedules`` package (``pip install
    "tapegrad[checkpoint]"``).  Second derivatives through a chain are not available
    (the backward pass is not recorded): use :func:`checkpoint_sequential` over the
    steps for those.  Under forward mode (``jvp``) the steps simply run one after
    another.

    Examples
    --------
    >>> import tapegrad as tg
    >>> k = tg.tensor(0.5, requires_grad=True)
    >>> decay = lambda y: y - 0.01 * k * y          # explicit Euler for y' = -k y
    >>> y = tg.checkpoint_chain(decay, tg.tensor(1.0), 1000, snapshots=5)
    >>> y.backward()
    >>> k2 = tg.tensor(0.5, requires_grad=True)
    >>> y2 = tg.tensor(1.0)
    >>> for _ in range(1000):
    ...     y2 = y2 - 0.01 * k2 * y2
    >>> y2.backward()
    >>> bool(abs(k.grad.item() - k2.grad.item()) < 1e-12)
    True
    """
    if isinstance(step, (list, tuple)):
        steps = list(step)
        for i, f in enumerate(steps):
            if not callable(f):
                raise InvalidTypeError(
                    f"checkpoint_chain: step[{i}] is a {type(f).__name__}, not callable"
                )
        if n_steps is None:
            n_steps = len(steps)
        elif n_steps != len(steps):
            raise InvalidArgumentError(
                f"n_steps={n_steps} but {len(steps)} step functions were given; leave n_steps "
                "out (None) with a list of steps"
            )
        step = steps
    elif not callable(step):
        raise InvalidTypeError(
            "checkpoint_chain needs a step function (or a list of them) first, got "
            f"{type(step).__name__}"
        )
    elif n_steps is None:
        raise InvalidTypeError("checkpoint_chain(step, state, n_steps, ...) needs n_steps")
    leaves, treedef = tree_flatten(state)
    if not any(isinstance(x, Tensor) for x in leaves):
        raise InvalidTypeError("checkpoint_chain: the state must hold at least one Tensor")
    if (snapshots is None) == (memory_budget is None):
        raise InvalidTypeError(
            "give checkpoint_chain either snapshots= or memory_budget=, not both"
        )
    if memory_budget is not None:
        if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)):
            raise InvalidTypeError(
                f"checkpoint_chain: memory_budget must be an int (bytes), got {memory_budget!r}"
            )
        one = sum(x.data.nbytes for x in leaves if isinstance(x, Tensor))
        snapshots = int(memory_budget) // max(one, 1)
        if snapshots < 1:
            raise InvalidArgumentError(
                f"memory_budget={memory_budget} bytes holds no snapshot of the state ({one} "
                f"bytes each); give at least {one}"
            )
    assert snapshots is not None
    n, s = _check_chain_args(n_steps, snapshots)
    if n == 0:
        return state
    traced = any(isinstance(x, Tensor) and x._fw for x in leaves)
    if traced or not grad_mode._state.enabled:
        # Nothing to keep for reverse mode (or forward-mode tangents to carry): a loop.
        for k in range(n):
            state = step[k](state) if isinstance(step, list) else step(state)
        return state
    rule = _ChainRule(step, n, s, treedef, leaves)
    tape = rule.forward_part(_schedule(n, s))
    found = rule.found
    inputs_grad = [
        isinstance(x, Tensor) and x.requires_grad and x.dtype.kind in "fc" for x in leaves
    ]
    _, out_leaves, _ = tape
    if not found and not any(inputs_grad):
        return tree_unflatten(treedef, [_plain(x) for x in out_leaves])
    parents: list[Any] = []
    pidx: list[int] = []
    for x, need in zip(leaves, inputs_grad):
        if isinstance(x, Tensor):
            parents.append((x.grad_fn or x) if need else None)
            pidx.append(x._idx if need else 0)
    for key, p in found.items():
        if key[0] == "leaf":
            rule.extra_leaves.append((len(parents), p))
            parents.append(p)
            pidx.append(0)
        else:
            nd, k = p
            rule.extra_cut.append((len(parents), nd, k))
            parents.append(nd)
            pidx.append(k)
    rule.tape = tape
    rule.vjps = (None,) * len(parents)
    outs = [x for x in out_leaves if isinstance(x, Tensor)]
    out_meta = tuple(Meta(o.shape, o.dtype) for o in outs) if len(outs) > 1 else None
    node = Node(
        rule,
        parents,
        pidx if any(pidx) else None,
        [None] * len(parents),
        None,
        {},
        None,
        out_meta,
    )
    rule.node = weakref.ref(node)
    result = []
    k = 0
    for x in out_leaves:
        if isinstance(x, Tensor):
            t = Tensor._wrap(x.data)
            if x.dtype.kind in "fc":
                t.requires_grad = True
                t.grad_fn = node
                t._idx = k
            k += 1
            result.append(t)
        else:
            result.append(x)
    out = tree_unflatten(treedef, result)
    en = grad_mode._state.enabled
    if en is not True:  # a collector is active
        en.append(node, (state,), tuple(t for t in result if isinstance(t, Tensor)))
    return out


def _plain(x: Any) -> Any:
    return Tensor._wrap(x.data) if isinstance(x, Tensor) else x
