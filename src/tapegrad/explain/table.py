"""Walking a recorded run into the rows of an :class:`~tapegrad.explain.Explanation`.

:func:`explain` records the function's tape (:mod:`.record`), then :class:`_Builder` lays it
out: one :class:`~tapegrad.explain.Step` per input and per primitive output, in the order
they were computed, with the step's text and its local partials from the op's declaration
(:mod:`.formulas`) and their values, the adjoints computed by the engine and the tangents
by each op's own forward rules.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autograd import engine
from ..autograd.grad_mode import enable_grad
from ..errors import (
    InvalidArgumentError,
    InvalidTypeError,
    ShapeMismatchError,
    TapegradError,
)
from ..ops.registry import Primitive
from ..tensor import Tensor
from ..transforms import jvp
from .explanation import Explanation
from .formulas import NOTHING, Declared, OpCall, _sum_terms, _times, _times_right, declared
from .notation import _const_text, _fmt, _fmt_param, _wbar, _wdot
from .picture import _picture
from .record import _Call, _observe, _Recorder, node_inputs
from .steps import Partial, Step

MODES = ("reverse", "forward", "both")


def _input_names(f: Callable[..., Any], n: int, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if isinstance(names, str):
            names = names.replace(",", " ").split()
        names = [str(s) for s in names]
        if len(names) != n:
            raise InvalidArgumentError(
                f"explain: got {n} inputs but {len(names)} names; give one name per input"
            )
        if len(set(names)) != n:
            raise InvalidArgumentError(f"explain: input names must be distinct, got {names}")
        return names
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    out: list[str] = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and len(out) < n:
            out.append(p.name)
        else:
            break
    if len(out) < n:
        out = [f"x{i + 1}" for i in range(n)]
    return out


def _input_array(a: Any, name: str) -> np.ndarray:
    v = a.data if isinstance(a, Tensor) else a
    try:
        arr = np.array(v)
    except Exception as e:  # pragma: no cover - numpy's message is the point
        raise InvalidTypeError(f"explain: input {name} is not a number or an array: {e}") from None
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "fc":
        raise InvalidTypeError(
            f"explain: input {name} must be a number, an array of numbers or a Tensor, "
            f"got {type(a).__name__} with dtype {arr.dtype}"
        )
    return arr


def _leaf(value: np.ndarray) -> Tensor:
    t = Tensor._wrap(np.array(value))
    t.requires_grad = True
    return t


def _handle(node: Any, idx: int, value: Any) -> Tensor:
    """A tensor naming output ``idx`` of ``node``: what ``grad`` needs to return its adjoint."""
    t = Tensor._wrap(np.asarray(value if value is not None else 0.0))
    t.requires_grad = True
    t.grad_fn = node
    t._idx = idx
    return t


def _label(f: Callable[..., Any]) -> str:
    name = getattr(f, "__name__", "")
    return name if isinstance(name, str) and name.isidentifier() else "L"


class _Builder:
    """Turns one recorded run into the rows of an :class:`Explanation`."""

    def __init__(self, rec: _Recorder, leaves: list[Tensor], names: list[str]) -> None:
        self.rec = rec
        self.steps: list[Step] = []
        self.key_of_step: dict[str, tuple[int, int]] = {}
        self.step_of: dict[tuple[int, int], Step] = {}
        self.handles: dict[str, Tensor] = {}
        self.call_of: dict[str, _Call | None] = {}
        self.declared_of: dict[str, Declared] = {}
        self.positions: dict[str, list[tuple[int, str]]] = {}  # step -> [(pos, parent step)]
        for t, n in zip(leaves, names):
            s = self._add(("leaf", id(t)), "input", "input", n, (), np.array(t.data))
            self.handles[s.name] = t

    def _add(
        self,
        key: Any,
        kind: str,
        op: str,
        expr: str,
        inputs: tuple[str, ...],
        value: np.ndarray | None,
    ) -> Step:
        i = len(self.steps) + 1
        s = Step(index=i, name=f"w{i}", kind=kind, op=op, expr=expr, inputs=inputs, value=value)
        self.steps.append(s)
        self.step_of[key] = s
        self.key_of_step[s.name] = key
        return s

    def _parent_key(self, node: Any, i: int) -> tuple[Any, int]:
        p, k = node_inputs(node)[i]
        if isinstance(p, Tensor):
            return ("leaf", id(p))
        return (id(p), k)

    def _external(self, node: Any, i: int) -> Step:
        p, k = node_inputs(node)[i]
        key = self._parent_key(node, i)
        if isinstance(p, Tensor):
            s = self._add(key, "external", "external", "(leaf, not an input)", (), None)
            s.value = np.array(p.data)
            self.handles[s.name] = p
        else:
            value = self.rec.seen.get(key)
            if value is None:
                call = self.rec.calls.get(id(p))
                value = None if call is None else call.outputs.get(k)
            s = self._add(key, "external", "external", "(computed outside)", (), value)
            self.handles[s.name] = _handle(p, k, value)
        return s

    def build(self, out: Tensor) -> Step:
        """Add the op steps reachable from ``out`` (in creation order); return out's step."""
        root = out.grad_fn
        if root is None:
            for s in self.steps:
                if self.handles[s.name] is out:
                    return s
            raise InvalidArgumentError(
                "explain: the function's output does not depend on its inputs (nothing was "
                "recorded); return a value computed from them"
            )
        order = {id(n): k for k, n in enumerate(self.rec.nodes)}
        used: dict[int, set[int]] = {id(root): {out._idx}}
        reach: dict[int, Any] = {}
        stack = [root]
        while stack:
            n = stack.pop()
            if id(n) in reach:
                continue
            reach[id(n)] = n
            for p, k in node_inputs(n):
                if p is not None and not isinstance(p, Tensor) and id(p) in order:
                    used.setdefault(id(p), set()).add(k)
                    stack.append(p)
        for n in sorted(reach.values(), key=lambda n: order.get(id(n), -1)):
            if id(n) not in order:  # the root was made outside the recorded run
                continue
            inputs: list[str] = []
            positions: list[tuple[int, str]] = []
            for i, (p, _) in enumerate(node_inputs(n)):
                if p is None:
                    continue
                key = self._parent_key(n, i)
                ps = self.step_of.get(key)
                if ps is None:
                    ps = self._external(n, i)
                inputs.append(ps.name)
                positions.append((i, ps.name))
            call = self.rec.calls.get(id(n))
            for k in sorted(used.get(id(n), {0})):
                value = None
                if call is not None:
                    value = call.outputs.get(k)
                if value is None:
                    value = self.rec.seen.get((id(n), k))
                decl = self._declared(n, call, value)
                expr = self._expr(n, call, k, decl)
                s = self._add((id(n), k), "op", n.prim.name, expr, tuple(inputs), value)
                self.handles[s.name] = _handle(n, k, value)
                self.call_of[s.name] = call
                self.declared_of[s.name] = decl
                self.positions[s.name] = positions
        last = self.step_of.get((id(root), out._idx))
        if last is None:
            raise InvalidArgumentError(
                "explain: the function's output was computed before explain ran; compute it from "
                "the inputs inside the function"
            )
        if last.value is None:
            last.value = np.array(out.data)
        return last

    def _operand(self, node: Any, call: _Call | None, i: int) -> str:
        if node_inputs(node)[i][0] is not None:
            return self.step_of[self._parent_key(node, i)].name
        if call is not None:
            return _const_text(call.args[i])
        return "c"

    def _declared(self, node: Any, call: _Call | None, value: np.ndarray | None) -> Declared:
        """What the op's declaration (``explain=``) says about this call."""
        prim = node.prim
        if not isinstance(prim, Primitive):
            return NOTHING
        ins = node_inputs(node)
        n = len(ins)
        op_call = OpCall(
            tuple(self._operand(node, call, i) for i in range(n)),
            tuple(call.args) if call is not None else (None,) * n,
            tuple(p is None for p, _ in ins),
            dict(call.params) if call is not None else dict(node.params or {}),
            value,
        )
        return declared(prim, op_call)

    def _expr(self, node: Any, call: _Call | None, k: int, decl: Declared) -> str:
        name = node.prim.name
        n = len(node_inputs(node))
        nout = getattr(node.prim, "nout", 1)
        suffix = f"[{k}]" if nout > 1 else ""
        if decl.text is not None:
            return decl.text + suffix
        ops = [self._operand(node, call, i) for i in range(n)]
        params = dict(call.params) if call is not None else dict(node.params or {})
        shown = []
        for p, v in params.items():
            if v is None or v is False:
                continue
            if p == "axis" and call is not None and call.args:
                nd = np.ndim(call.args[0])
                if tuple(v) == tuple(range(nd)) if isinstance(v, tuple) else False:
                    continue
            shown.append(f"{p}={_fmt_param(v)}")
        fname = name if not hasattr(node.prim, "cls") else node.prim.cls.__name__
        return f"{fname}({', '.join(ops + shown)})" + suffix

    # -- formulas ---------------------------------------------------------------------

    def _formula(self, s: Step, pos: int) -> str | None:
        if self.call_of.get(s.name) is None:
            return None
        return self.declared_of[s.name].partial(pos)

    def _adjoint_term(self, consumer: Step, pos: int, formula: str | None, wrt: str) -> str:
        g = _wbar(consumer.name)
        if self.call_of.get(consumer.name) is not None:
            term = self.declared_of[consumer.name].adjoint_term(pos, g)
            if term is not None:
                return term
        if formula is None:
            formula = f"∂{consumer.name}/∂{wrt}"
        return _times(g, formula)

    def _tangent_term(self, s: Step, pos: int, formula: str | None, wrt: str) -> str:
        t = _wdot(wrt)
        if self.call_of.get(s.name) is not None:
            term = self.declared_of[s.name].tangent_term(pos, t)
            if term is not None:
                return term
        if formula is None:
            formula = f"∂{s.name}/∂{wrt}"
        return _times_right(formula, t)

    # -- numbers ----------------------------------------------------------------------

    def _partial_value(self, s: Step, pos: int) -> np.ndarray | None:
        call = self.call_of.get(s.name)
        if call is None or not isinstance(call.prim, Primitive) or s.value is None:
            return None
        k = self.key_of_step[s.name][1]
        fn = self._one_op(call, (pos,), k)
        x = np.asarray(call.args[pos])
        if s.value.size == 1:
            leaf = _leaf(x)
            res = fn(leaf)
            (g,) = engine.grad(
                res, leaf, grad_outputs=np.ones(res.shape, res.dtype), allow_unused=True
            )
            return np.zeros_like(x) if g is None else np.array(g.data)
        if call.prim.elementwise:
            _, t = jvp(fn, (x,), (np.ones_like(x),))
            return np.broadcast_to(np.asarray(t), s.value.shape).copy()
        return None

    @staticmethod
    def _one_op(call: _Call, positions: tuple[int, ...], k: int) -> Callable[..., Any]:
        """The op as a function of the arguments at ``positions`` (the rest held fixed)."""
        base = list(call.args)
        prim = call.prim
        params = call.params
        nout = prim.nout

        def fn(*vs: Any) -> Any:
            args = list(base)
            for p, v in zip(positions, vs):
                args[p] = v
            res = prim(*args, **params)
            return res[k] if nout > 1 else res

        return fn

    def fill_partials(self, precision_unused: int = 6) -> None:
        for s in self.steps:
            if s.kind != "op":
                continue
            parts = []
            for pos, wrt in self.positions[s.name]:
                parts.append(Partial(wrt, pos, self._formula(s, pos), self._partial_value(s, pos)))
            s.partials = tuple(parts)

    def fill_adjoints(self, out_step: Step, out: Tensor) -> None:
        uses: dict[str, list[str]] = {s.name: [] for s in self.steps}
        for s in self.steps:
            for p in s.partials:
                uses[p.wrt].append(self._adjoint_term(s, p.position, p.formula, p.wrt))
        names = [s.name for s in self.steps]
        handles = [self.handles[n] for n in names]
        grads = engine.grad(out, handles, allow_unused=True)
        for s, g in zip(self.steps, grads):
            if g is not None:
                s.adjoint = np.array(g.data)
            elif s.value is not None:
                s.adjoint = np.zeros_like(s.value)
            if s is out_step:
                s.adjoint_expr = "1 (seed)"
            elif uses[s.name]:
                s.adjoint_expr = _sum_terms(uses[s.name])
            else:
                s.adjoint_expr = "0 (not used)"

    def fill_tangents(self, inputs: list[Step]) -> None:
        for s in self.steps:
            if s.kind == "input":
                s.tangent_expr = "seed"
            elif s.kind == "external":
                s.tangent_expr = "0 (not an input)"
            else:
                terms = [self._tangent_term(s, p.position, p.formula, p.wrt) for p in s.partials]
                s.tangent_expr = _sum_terms(terms)
        for seed in inputs:
            tans: dict[str, np.ndarray | None] = {}
            for s in self.steps:
                if s.kind == "input":
                    assert s.value is not None
                    one = np.ones_like(s.value) if s is seed else np.zeros_like(s.value)
                    tans[s.name] = one
                elif s.kind == "external":
                    tans[s.name] = None if s.value is None else np.zeros_like(s.value)
                else:
                    tans[s.name] = self._tangent(s, tans)
                t = tans[s.name]
                if t is not None:
                    s.tangents[seed.expr] = t

    def _tangent(self, s: Step, tans: dict[str, np.ndarray | None]) -> np.ndarray | None:
        call = self.call_of.get(s.name)
        if call is None or not isinstance(call.prim, Primitive):
            return None
        positions = self.positions[s.name]
        ts = [tans[name] for _, name in positions]
        if any(t is None for t in ts):
            return None
        k = self.key_of_step[s.name][1]
        fn = self._one_op(call, tuple(p for p, _ in positions), k)
        primals = tuple(np.asarray(call.args[p]) for p, _ in positions)
        _, t = jvp(fn, primals, tuple(ts))
        return np.array(t)


def explain(
    f: Callable[..., Any],
    *args: Any,
    mode: str = "reverse",
    names: Sequence[str] | None = None,
    label: str | None = None,
    title: str | None = None,
) -> Explanation:
    """Run ``f(*args)`` and lay out its tape: values, local partials, adjoints, tangents.

    Parameters
    ----------
    f : callable
        A function of tensors built from tapegrad ops (``lambda x, y: tg.sin(x) + x * y``).
    *args : number, array_like or Tensor
        The inputs; they become the steps ``w1 .. wk``.  Integers are taken as floats; a
        Tensor's value is used (the Tensor itself is not changed and its ``.grad`` is not
        touched).
    mode : {"reverse", "forward", "both"}
        ``"reverse"``: the adjoints ``w̄i = ∂L/∂wi`` in the order the backward pass
        completes them (the output must be a scalar).  ``"forward"``: the tangent sweep
        ``ẇi``, one column per input direction (seed ``ẇ = 1`` on that input, ``0`` on the
        others; an array input is seeded with ones).  ``"both"``: both, side by side.
    names : sequence of str, optional
        The inputs' names; default: ``f``'s parameter names (``x1, x2, ...`` when it has
        none to offer).
    label : str, optional
        The name of the output in ``∂L/∂x``; default ``f.__name__``, or ``"L"`` for a
        lambda.
    title : str, optional
        The heading of the table; default ``"label(x, y) at x = 1, y = 2"``.

    Returns
    -------
    Explanation
        ``.rows`` (the :class:`Step` rows in tape order), ``.value``, ``.gradient``; print it
        (or ``.to_text()``, ``.to_markdown()``; Jupyter shows ``_repr_html_``).

    Raises
    ------
    ShapeMismatchError
        Reverse mode with a non-scalar output (reduce it, e.g. with ``.sum()``).
    ValueError
        An unknown mode, names that do not fit the inputs, or an output that does not
        depend on the inputs.

    Examples
    --------
    >>> import tapegrad as tg
    >>> from tapegrad.explain import explain
    >>> e = explain(lambda x, y: tg.sin(x) + x * y, 1.0, 2.0)
    >>> print(e)
    L(x, y) at x = 1, y = 2
    <BLANKLINE>
    Forward pass
    step          value     local partials
    ------------  --------  -----------------------------------
    w1 = x        1
    w2 = y        2
    w3 = sin(w1)  0.841471  ∂w3/∂w1 = cos(w1) = 0.540302
    w4 = w1 * w2  2         ∂w4/∂w1 = w2 = 2;  ∂w4/∂w2 = w1 = 1
    w5 = w3 + w4  2.84147   ∂w5/∂w3 = 1;  ∂w5/∂w4 = 1
    <BLANKLINE>
    Reverse pass: adjoints w̄i = ∂L/∂wi, in the order the backward pass fills them in
    adjoint                  value
    -----------------------  ------
    w̄5 = 1 (seed)            1
    w̄4 = w̄5                  1
    w̄3 = w̄5                  1
    w̄2 = w̄4·w1               1
    w̄1 = w̄3·cos(w1) + w̄4·w2  2.5403
    <BLANKLINE>
    Gradient
    ∂L/∂x = w̄1 = 2.5403
    ∂L/∂y = w̄2 = 1
    >>> e.gradient
    (2.5403023058681398, 1.0)
    """
    if mode not in MODES:
        raise InvalidArgumentError(
            f"explain: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}"
        )
    if not callable(f):
        raise InvalidTypeError(
            f"explain needs a function as its first argument, got {type(f).__name__}"
        )
    if not args:
        raise InvalidArgumentError("explain needs at least one input: explain(f, x, y, ...)")
    in_names = _input_names(f, len(args), names)
    values = [_input_array(a, n) for a, n in zip(args, in_names)]
    leaves = [_leaf(v) for v in values]
    rec = _Recorder()
    with _observe(rec):
        out = f(*leaves)
    try:
        return _tabulate(rec, leaves, out, in_names, values, mode, label or _label(f), title)
    except (TapegradError, ValueError, TypeError) as e:
        err = e
    # Drop the recorded graph before raising: a traceback kept by the caller (or a test)
    # would otherwise keep it, and the memory it holds, alive until the next gc cycle.
    del rec, leaves, out
    raise err.with_traceback(None)


def _tabulate(
    rec: _Recorder,
    leaves: list[Tensor],
    out: Any,
    in_names: list[str],
    values: list[np.ndarray],
    mode: str,
    label: str,
    title: str | None,
) -> Explanation:
    if not isinstance(out, Tensor):
        raise InvalidTypeError(
            f"explain: the function must return one Tensor computed from its inputs, got "
            f"{type(out).__name__}; return e.g. tg.sin(x) + x * y"
        )
    reverse = mode in ("reverse", "both")
    if reverse and out.data.size != 1:
        raise ShapeMismatchError(
            f"reverse mode explains a scalar output ({label}), but the function returned shape "
            f"{tuple(out.shape)}; reduce it to a scalar first (e.g. with .sum() or tg.sum(...)), "
            "or use mode='forward'"
        )
    b = _Builder(rec, leaves, in_names)
    out_step = b.build(out)
    with enable_grad():  # the partials and adjoints are computed on a tape, even under no_grad
        b.fill_partials()
        if mode in ("forward", "both"):
            b.fill_tangents(b.steps[: len(leaves)])
        if reverse:
            b.fill_adjoints(out_step, out)
    if title is None:
        at = ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(in_names, values))
        title = f"{label}({', '.join(in_names)}) at {at}"
    return Explanation(
        rows=b.steps,
        mode=mode,
        inputs=tuple(in_names),
        output=out_step.name,
        label=label,
        title=title,
        picture=_picture(b, out_step),
    )
