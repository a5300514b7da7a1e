"""``checkpoint_chain``: a chain of ``n`` time steps reversed with at most ``s`` snapshots,
on the binomial (Revolve) schedule of Griewank & Walther (2000)."""

from __future__ import annotations

import array
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import random as _random
from .._tree import tree_flatten, tree_unflatten
from ..autograd import grad_mode
from ..autograd.engine import grads_to
from ..autograd.grad_mode import Observer, notify_update, record_node
from ..autograd.node import Meta, Node
from ..errors import (
    GraphFreedError,
    InplaceModificationError,
    InvalidArgumentError,
    InvalidStateError,
    InvalidTypeError,
    NotDifferentiableError,
    ShapeMismatchError,
)
from ..tensor import Tensor
from .schedules import _check_chain_args, _schedule

__all__ = ["checkpoint_chain"]


class _Collect(Observer):
    """Collects the nodes of one taped step (the nodes of checkpoint blocks inside it
    included: they are the step's too)."""

    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def record(self, node: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        self.nodes.append(node)


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
        coll = _Collect() if record else None
        mode = grad_mode.observe(coll) if coll is not None else grad_mode.no_grad()
        step = self.step if self.steps is None else self.steps[k]
        # A scope of its own: the steps' nodes are the chain's, not an enclosing block's.
        with grad_mode.scope("checkpoint_chain", self), grad_mode.enable_grad(), mode:
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
            for p, k in node.inputs:
                if p is None:
                    continue
                if p.__class__ is Node:
                    if id(p) not in inside:
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
        node = None if self.node is None else self.node()
        if node is not None:
            notify_update(node)

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
        acc: list[Any] = [None] * len(node.inputs)
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
    record_node(node, (state,), tuple(t for t in result if isinstance(t, Tensor)))
    return out


def _plain(x: Any) -> Any:
    return Tensor._wrap(x.data) if isinstance(x, Tensor) else x
