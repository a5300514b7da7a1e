"""The tape as a table: forward values, local partials, adjoints and tangents, step by step.

:func:`explain` runs a function on its inputs, records the tape, and lays it out the way a
worked example of reverse-mode differentiation does: the inputs and every primitive step
named ``w1, w2, ...`` in the order they were computed, each step's forward value and its
local partial derivatives, then the adjoints ``w̄i = ∂L/∂wi`` in the order the backward pass
completes them (from ``w̄n = 1`` back to the inputs), and the gradient.  With
``mode="forward"`` it shows the tangent sweep ``ẇi`` instead (one column per input
direction); ``mode="both"`` shows the two side by side, so the gradient is read off in
both modes.

Every number comes from tapegrad itself: the forward values are the recorded ones, the
adjoints are computed by the engine (:func:`tapegrad.autograd.grad` w.r.t. every step,
which sums the contributions of a value used several times), the local partials and the
tangents by each op's own rules (:func:`tapegrad.grad`, :func:`tapegrad.jvp`).  Only the
symbolic formulas shown beside them (``cos(w1)``, ``w̄3·cos(w1) + w̄4·w2``) are written here.

:func:`compile_expression` turns a text such as ``"sin(x) + x*y"`` into a function of its
variables without ``eval``: it accepts numbers, variables, ``+ - * / ** @``, unary minus,
parentheses and calls to a fixed set of tapegrad functions, and nothing else (this is what
``tapegrad explain`` on the command line uses).

:meth:`Explanation.graph` draws the same story as a picture: the explained tape with each
vertex labelled by its step (``w3 = sin(w1)``), its forward value and its adjoint ``w̄3`` (or
its tangents in forward mode), the inputs under their names.
"""

from __future__ import annotations

import ast
import html
import inspect
import math
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .autograd import engine
from .autograd.grad_mode import collecting, enable_grad
from .autograd.node import Meta, Node
from .errors import (
    InvalidArgumentError,
    InvalidKeyError,
    InvalidStateError,
    InvalidTypeError,
    ShapeMismatchError,
    TapegradError,
)
from .forward_transforms import jvp
from .ops.registry import REGISTRY, Primitive
from .tensor import Tensor

if TYPE_CHECKING:
    from .viz import Graph

__all__ = [
    "explain",
    "Explanation",
    "Step",
    "Partial",
    "compile_expression",
    "ExpressionError",
    "EXPRESSION_FUNCTIONS",
]

MODES = ("reverse", "forward", "both")
# Arrays with at most this many elements are shown in full; larger ones as a summary.
SMALL = 6

BAR = "\u0304"  # combining macron: w̄
WDOT = "\u1e87"  # ẇ

_ASCII = (
    ("w" + BAR, "wbar"),
    (WDOT, "wdot"),
    ("∂", "d"),
    ("·", "*"),
    ("ᵀ", ".T"),
    ("π", "pi"),
    ("—", "-"),
)


def _to_ascii(s: str) -> str:
    for u, a in _ASCII:
        s = s.replace(u, a)
    return s


def _wbar(name: str) -> str:
    """``w3`` -> ``w̄3``."""
    return name[0] + BAR + name[1:] if name.startswith("w") else name + BAR


def _wdot(name: str) -> str:
    """``w3`` -> ``ẇ3``."""
    return WDOT + name[1:] if name.startswith("w") else name + "\u0307"


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Partial:
    """One local partial derivative ``∂w_out/∂w_in`` of a step.

    Attributes
    ----------
    wrt : str
        The step it is taken with respect to (``"w1"``).
    position : int
        The argument position of the op that ``wrt`` fills (``x * x`` has two partials
        w.r.t. the same step, one per position).
    formula : str or None
        The derivative written in the step names (``"cos(w1)"``); None where no formula is
        tabulated for the op (the value is still exact).
    value : ndarray or None
        Its value: a scalar for scalar steps; for an elementwise op the elementwise
        derivative (shaped like the step's output); for a scalar output the gradient
        (shaped like the input).  None where it is a full Jacobian (e.g. ``matmul`` with a
        non-scalar output).
    """

    wrt: str
    position: int
    formula: str | None
    value: np.ndarray | None


@dataclass
class Step:
    """One row of the tape: an input or the result of one primitive.

    Attributes
    ----------
    index : int
        1-based position on the tape (``w{index}``).
    name : str
        ``"w1"``, ``"w2"``, ...
    kind : str
        ``"input"`` (an argument of the function), ``"op"`` (a recorded primitive) or
        ``"external"`` (a tensor requiring grad that the function used but did not receive
        as an argument, e.g. a parameter it closes over).
    op : str
        The primitive's name (``"sin"``, ``"multiply"``), ``"input"`` or ``"external"``.
    expr : str
        The right-hand side: ``"sin(w1)"``, ``"w1 * w2"``, ``"2 * w1"``; the input's name
        for an input.
    inputs : tuple of str
        The steps this one reads, by argument position (constants are not steps).
    value : ndarray or None
        The forward value (None only when it could not be observed, e.g. the output of a
        custom :class:`~tapegrad.autograd.Function` consumed only by another one).
    partials : tuple of Partial
        The local partial derivatives, one per input position that is a step.
    adjoint : ndarray or None
        ``w̄ = ∂L/∂w`` (reverse mode; None in forward mode).
    adjoint_expr : str or None
        How the backward pass sums it: ``"w̄3·cos(w1) + w̄4·w2"``; ``"1 (seed)"`` for the
        output.
    tangents : dict of str to ndarray
        Forward mode: ``ẇ`` for each seed direction, keyed by the input's name (empty in
        reverse mode).
    tangent_expr : str or None
        How the tangent is formed: ``"cos(w1)·ẇ1"`` (None in reverse mode).
    """

    index: int
    name: str
    kind: str
    op: str
    expr: str
    inputs: tuple[str, ...]
    value: np.ndarray | None
    partials: tuple[Partial, ...] = ()
    adjoint: np.ndarray | None = None
    adjoint_expr: str | None = None
    tangents: dict[str, np.ndarray] = field(default_factory=dict)
    tangent_expr: str | None = None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The shape of the value (None when the value is unknown)."""
        return None if self.value is None else tuple(self.value.shape)

    @property
    def equation(self) -> str:
        """``"w3 = sin(w1)"``."""
        return f"{self.name} = {self.expr}"


# ----------------------------------------------------------------------------- numbers


def _num(v: Any, precision: int) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, complex):
        return f"{v:.{precision}g}"
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.{precision}g}"


def _nested(a: np.ndarray, precision: int) -> str:
    if a.ndim == 0:
        return _num(a, precision)
    return "[" + ", ".join(_nested(r, precision) for r in a) + "]"


def _fmt(a: Any, precision: int = 6) -> str:
    """A value for a table cell: the number, the array when small, else a summary."""
    if a is None:
        return "?"
    a = np.asarray(a)
    if a.ndim == 0:
        return _num(a, precision)
    if a.size <= SMALL:
        return _nested(a, precision)
    shape = "×".join(str(d) for d in a.shape)
    if a.dtype.kind not in "fciu":
        return f"array {shape}"
    return (
        f"{shape} array: min {_num(a.min(), precision)}, mean {_num(a.mean(), precision)}, "
        f"max {_num(a.max(), precision)}"
    )


def _const_text(v: Any) -> str:
    """A constant operand, inline in the op text."""
    a = np.asarray(v)
    if a.ndim == 0:
        s = _num(a, 6)
        return f"({s})" if s.startswith("-") else s
    if a.size <= SMALL:
        return _nested(a, 6)
    return "const(" + "×".join(str(d) for d in a.shape) + ")"


# ----------------------------------------------------------------------------- formulas

_INFIX = {
    "add": "+",
    "subtract": "-",
    "multiply": "*",
    "divide": "/",
    "power": "**",
    "matmul": "@",
    "mod": "%",
}


def _top_level_sum(s: str) -> bool:
    """True when ``s`` has a ``+``/``-`` (with spaces around) outside parentheses."""
    depth = 0
    for i, c in enumerate(s):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif depth == 0 and c in "+-" and 0 < i < len(s) - 1 and s[i - 1] == " ":
            return True
    return False


def _times(left: str, formula: str) -> str:
    """``left·formula``, simplified: ``w̄5·1`` is ``w̄5``, ``w̄3·1/w2`` is ``w̄3/w2``."""
    if formula == "1":
        return left
    if formula == "-1":
        return "-" + left
    if formula == "0":
        return "0"
    if formula.startswith("1/"):
        return left + formula[1:]
    if formula.startswith("-1/"):
        return "-" + left + formula[2:]
    if formula.startswith("-") and not _top_level_sum(formula):
        return "-" + left + "·" + formula[1:]
    if _top_level_sum(formula):
        return f"{left}·({formula})"
    return f"{left}·{formula}"


def _times_right(formula: str, right: str) -> str:
    """``formula·right``, simplified like :func:`_times`."""
    if formula in ("1", "-1", "0") or formula.startswith(("1/", "-1/")):
        return _times(right, formula)
    if _top_level_sum(formula):
        return f"({formula})·{right}"
    return f"{formula}·{right}"


def _sum_terms(terms: list[str]) -> str:
    terms = [t for t in terms if t != "0"]
    if not terms:
        return "0"
    out = terms[0]
    for t in terms[1:]:
        out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return out


def _fmt_key(k: Any) -> str:
    if isinstance(k, slice):
        parts = ["" if v is None else str(v) for v in (k.start, k.stop)]
        s = ":".join(parts)
        return s if k.step is None else f"{s}:{k.step}"
    if k is Ellipsis:
        return "..."
    if k is None:
        return "None"
    if isinstance(k, (int, np.integer)):
        return str(int(k))
    a = np.asarray(k)
    return _nested(a, 6) if a.size <= SMALL else f"<index {a.shape}>"


def _fmt_param(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return _const_text(v)
    if callable(v):
        return getattr(v, "__name__", type(v).__name__)
    return repr(v)


# ----------------------------------------------------------------------------- recording


class _Call:
    """What the explainer saw of one primitive call: the op, its arguments, its outputs."""

    __slots__ = ("node", "prim", "args", "was_tensor", "params", "outputs")

    def __init__(self, node: Node, prim: Any, args: tuple[Any, ...], params: dict[str, Any]):
        self.node = node
        self.prim = prim
        self.args = [np.array(a.data) if isinstance(a, Tensor) else a for a in args]
        self.was_tensor = [isinstance(a, Tensor) for a in args]
        self.params = dict(params)
        self.outputs: dict[int, np.ndarray] = {}


class _Recorder:
    """Collects the tape entries of one run (the engine's ``collecting`` hook) and what the
    primitive calls received and returned (values and constants, which the tape itself
    does not keep)."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.calls: dict[int, _Call] = {}
        self.seen: dict[tuple[int, int], np.ndarray] = {}  # tensor values met as arguments
        self.keep: list[Any] = []  # keeps every id() above unique while we hold them
        self.outer: Any = None  # every active observer hears of each node itself

    def append(self, node: Node, args: tuple[Any, ...], out: Any) -> None:
        """The engine's collector hook: a node was recorded by a call of ``args`` that
        returned ``out``; keep the node and the values and constants of the call, which
        the tape itself does not keep."""
        self.nodes.append(node)
        if self.outer is not None:
            self.outer.append(node, args, out)
        for a in args:
            if isinstance(a, Tensor) and a.grad_fn is not None:
                k = (id(a.grad_fn), a._idx)
                if k not in self.seen:
                    self.seen[k] = np.array(a.data)
                    self.keep.append(a.grad_fn)
        if id(node) in self.calls:
            return
        call = _Call(node, node.prim, args, node.params)
        for o in out if isinstance(out, tuple) else (out,):
            if isinstance(o, Tensor) and o.grad_fn is node:
                call.outputs[o._idx] = np.array(o.data)
        self.calls[id(node)] = call
        self.keep.append(node)


@contextmanager
def _observe(rec: _Recorder) -> Iterator[None]:
    """Record the tape of the block into ``rec`` through the engine's ``collecting`` hook."""
    with enable_grad(), collecting(rec):
        yield


# ----------------------------------------------------------------------------- explain


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


def _handle(node: Node, idx: int, value: Any) -> Tensor:
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

    def _parent_key(self, node: Node, i: int) -> tuple[Any, int]:
        p = node.parents[i]
        if isinstance(p, Node):
            return (id(p), node.pidx[i] if node.pidx else 0)
        return ("leaf", id(p))

    def _external(self, node: Node, i: int) -> Step:
        p = node.parents[i]
        key = self._parent_key(node, i)
        if isinstance(p, Node):
            k = key[1]
            value = self.rec.seen.get(key)
            if value is None:
                call = self.rec.calls.get(id(p))
                value = None if call is None else call.outputs.get(k)
            s = self._add(key, "external", "external", "(computed outside)", (), value)
            self.handles[s.name] = _handle(p, k, value)
        else:
            s = self._add(key, "external", "external", "(leaf, not an input)", (), None)
            s.value = np.array(p.data)
            self.handles[s.name] = p
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
        reach: dict[int, Node] = {}
        stack = [root]
        while stack:
            n = stack.pop()
            if id(n) in reach:
                continue
            reach[id(n)] = n
            for i, p in enumerate(n.parents):
                if isinstance(p, Node) and id(p) in order:
                    used.setdefault(id(p), set()).add(n.pidx[i] if n.pidx else 0)
                    stack.append(p)
        for n in sorted(reach.values(), key=lambda n: order.get(id(n), -1)):
            if id(n) not in order:  # the root was made outside the recorded run
                continue
            inputs: list[str] = []
            positions: list[tuple[int, str]] = []
            for i, p in enumerate(n.parents):
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
                expr = self._expr(n, call, k)
                s = self._add((id(n), k), "op", n.prim.name, expr, tuple(inputs), value)
                self.handles[s.name] = _handle(n, k, value)
                self.call_of[s.name] = call
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

    def _operand(self, node: Node, call: _Call | None, i: int) -> str:
        if node.parents[i] is not None:
            return self.step_of[self._parent_key(node, i)].name
        if call is not None:
            return _const_text(call.args[i])
        return "c"

    def _expr(self, node: Node, call: _Call | None, k: int) -> str:
        name = node.prim.name
        n = len(node.parents)
        ops = [self._operand(node, call, i) for i in range(n)]
        params = dict(call.params) if call is not None else dict(node.params or {})
        nout = getattr(node.prim, "nout", 1)
        suffix = f"[{k}]" if nout > 1 else ""
        if name in _INFIX and n == 2 and not params:
            return f"{ops[0]} {_INFIX[name]} {ops[1]}" + suffix
        if name == "negative" and n == 1:
            return f"-{ops[0]}"
        if name in ("getitem", "index") and "key" in params:
            key = params["key"]
            key = key if isinstance(key, tuple) else (key,)
            while key and key[-1] is Ellipsis:
                key = key[:-1]
            return f"{ops[0]}[{', '.join(_fmt_key(x) for x in key)}]" + suffix
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
        call = self.call_of.get(s.name)
        if call is None:
            return None
        node = call.node
        name = s.op
        ops = [self._operand(node, call, i) for i in range(len(node.parents))]
        if name == "power" and len(ops) == 2:
            base, ex = ops
            if pos == 0:
                if node.parents[1] is None and np.ndim(call.args[1]) == 0:
                    c = float(np.asarray(call.args[1]))
                    if c == 0:
                        return "0"
                    if c == 1:
                        return "1"
                    if c == 2:
                        return f"2·{base}"
                    e = _const_text(c - 1)
                    return f"{_const_text(c)}·{base}**{e}" if c - 1 != 1 else f"2·{base}"
                return f"{ex}·{base}**({ex} - 1)"
            return f"log({base})·{base}**{ex}"
        if name in ("sum",):
            return "1"
        if name == "mean" and call.args:
            n_in = np.size(call.args[0])
            n_out = 1 if s.value is None else max(np.size(s.value), 1)
            return f"1/{n_in // n_out}"
        prim = REGISTRY.get(name)  # each op declares its partials (``explain=``)
        tmpl = None if prim is None else prim.explain
        if tmpl is None or pos >= len(tmpl):
            return None
        return tmpl[pos].format(*ops)

    def _adjoint_term(self, consumer: Step, pos: int, formula: str | None, wrt: str) -> str:
        g = _wbar(consumer.name)
        call = self.call_of.get(consumer.name)
        if consumer.op == "matmul" and call is not None:
            ops = [self._operand(call.node, call, i) for i in range(2)]
            return f"{g} @ {ops[1]}ᵀ" if pos == 0 else f"{ops[0]}ᵀ @ {g}"
        if formula is None:
            formula = f"∂{consumer.name}/∂{wrt}"
        return _times(g, formula)

    def _tangent_term(self, s: Step, pos: int, formula: str | None, wrt: str) -> str:
        t = _wdot(wrt)
        call = self.call_of.get(s.name)
        if s.op == "matmul" and call is not None:
            ops = [self._operand(call.node, call, i) for i in range(2)]
            return f"{t} @ {ops[1]}" if pos == 0 else f"{ops[0]} @ {t}"
        if s.op in ("sum", "mean") and call is not None:
            return f"{s.op}({t})"
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


class _OpName:
    """Stands for a primitive in the copy of the tape drawn by :meth:`Explanation.graph`:
    its name and number of outputs, nothing the primitive holds."""

    __slots__ = ("name", "nout")

    def __init__(self, name: str, nout: int) -> None:
        self.name = name
        self.nout = nout


def _const_arg(call: _Call | None, i: int) -> Any:
    """A constant operand for the picture: small values as they are, else their shape."""
    if call is None or i >= len(call.args):
        return None
    try:
        a = np.asarray(call.args[i])
    except Exception:  # pragma: no cover - anything numpy cannot hold is drawn as "const"
        return None
    if a.dtype.kind not in "biufc":
        return None
    return np.array(a) if a.size <= SMALL else Meta(tuple(a.shape), a.dtype)


class _Picture:
    """The structure of an explained tape, for :meth:`Explanation.graph`.

    A copy of the recorded graph restricted to the table's steps: one vertex per step (one
    per node for a multi-output op), new leaf tensors sharing the steps' values for the
    inputs and external steps, and no saved values.  The recorded tape itself (its saved
    arrays, the function's closed-over tensors, the primitives' state) is not kept.
    """

    __slots__ = ("root", "inputs", "vertices")

    def __init__(
        self,
        root: Tensor,
        inputs: dict[str, Tensor],
        vertices: list[tuple[Node | Tensor, tuple[str, ...]]],
    ) -> None:
        self.root = root
        self.inputs = inputs
        self.vertices = vertices


def _picture(b: _Builder, out_step: Step) -> _Picture:
    vertex: dict[str, Node | Tensor] = {}
    made: dict[int, Node] = {}  # id(recorded node) -> its copy
    order: list[Node | Tensor] = []
    names: dict[int, list[str]] = {}
    for s in b.steps:
        h = b.handles[s.name]
        v: Node | Tensor
        if s.kind != "op" or h.grad_fn is None:
            v = Tensor._wrap(s.value if s.value is not None else np.zeros(()))
            v.requires_grad = True
        else:
            orig = h.grad_fn
            got = made.get(id(orig))
            if got is None:
                call = b.call_of.get(s.name)
                parents: list[Node | Tensor | None] = []
                pidx: list[int] = []
                args: list[Any] = []
                for i, p in enumerate(orig.parents):
                    if p is None:
                        parents.append(None)
                        pidx.append(0)
                        args.append(_const_arg(call, i))
                        continue
                    key = b._parent_key(orig, i)
                    pv = vertex[b.step_of[key].name]
                    parents.append(pv)
                    pidx.append(key[1] if isinstance(pv, Node) else 0)
                    args.append(None)
                nout = getattr(orig.prim, "nout", 1) or 1
                got = Node(
                    _OpName(orig.prim.name, nout),
                    tuple(parents),
                    tuple(pidx) if any(pidx) else None,
                    tuple(args),
                    None,
                    {},
                    None,
                    orig.out_meta,
                )
                made[id(orig)] = got
            v = got
        vertex[s.name] = v
        if id(v) not in names:
            names[id(v)] = []
            order.append(v)
        names[id(v)].append(s.name)
    out_v = vertex[out_step.name]
    if isinstance(out_v, Node):
        root = Tensor._wrap(out_step.value if out_step.value is not None else np.zeros(()))
        root.requires_grad = True
        root.grad_fn = out_v
        root._idx = b.key_of_step[out_step.name][1]
    else:
        root = out_v
    inputs = {}
    for s in b.steps:
        v = vertex[s.name]
        if s.kind == "input" and isinstance(v, Tensor):
            inputs[s.expr] = v
    return _Picture(root, inputs, [(v, tuple(names[id(v)])) for v in order])


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


# ----------------------------------------------------------------------------- rendering


def _width(s: str) -> int:
    w = 0
    for c in s:
        if unicodedata.combining(c):
            continue
        w += 2 if unicodedata.east_asian_width(c) in "WF" else 1
    return w


def _pad(s: str, w: int) -> str:
    return s + " " * (w - _width(s))


def _pyval(a: np.ndarray | None) -> Any:
    if a is None:
        return None
    return float(a) if a.ndim == 0 and a.dtype.kind == "f" else a


def _partial_text(s: Step, p: Partial, precision: int) -> str:
    """``"∂w3/∂w1 = cos(w1) = 0.540302"``; ``"∂w5/∂w3 = 1"`` where formula and value agree."""
    head = f"∂{s.name}/∂{p.wrt}"
    v = "Jacobian" if p.value is None else _fmt(p.value, precision)
    if p.value is not None and p.value.size and np.all(p.value == p.value.flat[0]):
        if p.formula == _fmt(p.value.flat[0], precision):
            v = p.formula  # ones everywhere: "∂w5/∂w3 = 1"
    if p.formula is None or p.formula == v:
        return f"{head} = {v}"
    return f"{head} = {p.formula} = {v}"


@dataclass
class _Table:
    title: str
    headers: list[str]
    rows: list[list[str]]


class Explanation:
    """The explained tape of one function at one point (what :func:`explain` returns).

    Attributes
    ----------
    rows : list of Step
        The steps ``w1 .. wn`` in tape order (inputs first).
    mode : str
        ``"reverse"``, ``"forward"`` or ``"both"``.
    inputs : tuple of str
        The inputs' names, in order (steps ``w1 .. wk``).
    output : str
        The output's step name.
    label : str
        The output's name in derivatives (``∂L/∂x``).
    title : str
        The table's heading.

    The tape's structure is kept as well (a small copy: which step reads which, no saved
    values), so that :meth:`graph` can draw it.
    """

    def __init__(
        self,
        rows: list[Step],
        mode: str,
        inputs: tuple[str, ...],
        output: str,
        label: str,
        title: str,
        *,
        picture: _Picture | None = None,
    ) -> None:
        self.rows = rows
        self.mode = mode
        self.inputs = inputs
        self.output = output
        self.label = label
        self.title = title
        self._picture = picture

    # -- data -------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Step:
        """The step named ``name`` (``"w3"``) or the input named ``name`` (``"x"``)."""
        for s in self.rows:
            if s.name == name or (s.kind == "input" and s.expr == name):
                return s
        raise InvalidKeyError(
            f"Explanation: no step named {name!r}; steps are w1..w{len(self.rows)}"
        )

    @property
    def input_steps(self) -> list[Step]:
        return self.rows[: len(self.inputs)]

    @property
    def backward_order(self) -> list[Step]:
        """The steps in the order the backward pass completes their adjoints: the output
        (seed) first, then back along the tape to ``w1``."""
        out = self[self.output]
        return [out] + [s for s in reversed(self.rows) if s is not out]

    @property
    def value(self) -> Any:
        """The function's value (a float for a scalar)."""
        return _pyval(self[self.output].value)

    @property
    def gradient(self) -> tuple[Any, ...]:
        """One entry per input: ``∂L/∂input`` (reverse or both modes), or in forward mode the
        output's tangent for that input's seed (the same number for scalar inputs; for an
        array input seeded with ones, the gradient's sum)."""
        if self.mode in ("reverse", "both"):
            return tuple(_pyval(s.adjoint) for s in self.input_steps)
        out = self[self.output]
        return tuple(_pyval(out.tangents.get(n)) for n in self.inputs)

    # -- picture ----------------------------------------------------------------------

    def _vertex_lines(self, s: Step, show_adjoints: bool, precision: int) -> list[str]:
        lines = [s.equation]
        if s.value is not None:
            lines.append("= " + _fmt(s.value, precision))
        if show_adjoints and self.mode in ("reverse", "both") and s.adjoint is not None:
            lines.append(f"{_wbar(s.name)} = {_fmt(s.adjoint, precision)}")
        if show_adjoints and self.mode in ("forward", "both"):
            for n in self.inputs:
                t = s.tangents.get(n)
                if t is not None:
                    lines.append(f"{_wdot(s.name)} = {_fmt(t, precision)} (seed {n})")
        return lines

    def graph(
        self,
        show_adjoints: bool = True,
        show_partials: bool = True,
        *,
        precision: int = 6,
        rankdir: str = "TB",
        max_nodes: int | None = 200,
    ) -> Graph:
        """The explained tape as a picture that tells the table's story.

        One vertex per step, labelled with its equation (``w3 = sin(w1)``), its forward
        value (``= 0.841471``) and, in reverse mode, its adjoint (``w̄3 = 1``), in forward
        mode its tangents (``ẇ3 = 0.540302 (seed x)``, one line per input), in ``"both"``
        mode both.  The inputs are ellipses under their names (``w1 = x``), a constant
        operand a small dashed box, the output is filled orange; arrows go from each step to
        the steps that read it.  Inputs the output does not depend on are not drawn.

        Each arrow carries the local partial derivative of the step it enters with respect
        to the step it leaves, as in the table's ``local partials`` column, on two lines to
        keep it narrow: ``∂w3/∂w1`` over ``= cos(w1) = 0.540302`` (``= 1`` alone where the
        formula is the number).
        In reverse mode an input's adjoint is the sum over its outgoing arrows of the
        consumer's adjoint times the arrow's partial (``w̄1 = w̄3·cos(w1) + w̄4·w2``); in
        forward mode the same partials multiply the tangents flowing along the arrows.  A
        step read twice by one op (``x * x``) has one arrow per argument, each with its own
        partial.

        Parameters
        ----------
        show_adjoints : bool
            Draw the derivative lines: adjoints (reverse mode) and tangents (forward mode).
            False draws the forward pass alone: equations and values.
        show_partials : bool
            Label the arrows with the local partial derivatives (default True).
        precision : int
            Significant digits of the numbers (as in :meth:`to_text`).
        rankdir : {"TB", "BT", "LR", "RL"}
            The direction of the arrows (top to bottom by default).
        max_nodes : int or None
            The most vertices to draw (see :func:`tapegrad.viz.graph`).

        Returns
        -------
        tapegrad.viz.Graph
            ``str(g)`` is the DOT text; ``g.render("tape.svg")`` (or ``.png``, ``.pdf``)
            and the inline picture in Jupyter need Graphviz's ``dot``.

        Raises
        ------
        ValueError
            When the Explanation was made by hand, without a recorded tape (use
            :func:`explain`).

        Examples
        --------
        >>> import tapegrad as tg
        >>> g = tg.explain(lambda x, y: tg.sin(x) + x * y, 1.0, 2.0).graph()
        >>> g
        <tapegrad.viz.Graph: 5 nodes, 5 edges>
        >>> for line in g.source.splitlines():
        ...     if "label" in line and "->" not in line:
        ...         print(line.strip().split('"')[1])
        w3 = sin(w1)\\n= 0.841471\\nw̄3 = 1
        w4 = w1 * w2\\n= 2\\nw̄4 = 1
        w5 = w3 + w4\\n= 2.84147\\nw̄5 = 1
        w1 = x\\n= 1\\nw̄1 = 2.5403
        w2 = y\\n= 2\\nw̄2 = 1
        >>> for line in g.source.splitlines():
        ...     if "->" in line:
        ...         print(line.strip())
        leaf0 -> op0 [label="∂w3/∂w1\\n= cos(w1) = 0.540302"];
        leaf0 -> op1 [label="∂w4/∂w1\\n= w2 = 2"];
        leaf1 -> op1 [label="∂w4/∂w2\\n= w1 = 1"];
        op0 -> op2 [label="∂w5/∂w3\\n= 1"];
        op1 -> op2 [label="∂w5/∂w4\\n= 1"];
        """
        from . import viz

        if self._picture is None:
            raise InvalidArgumentError(
                "Explanation.graph: this Explanation holds no recorded tape to draw (it was not "
                "made by tg.explain); make it with tg.explain(f, *args) and call .graph() on that"
            )
        pic = self._picture
        notes: dict[Node | Tensor, list[str]] = {}
        by_name = {s.name: s for s in self.rows}
        for v, names in pic.vertices:
            lines: list[str] = []
            for n in names:
                lines += self._vertex_lines(by_name[n], bool(show_adjoints), precision)
            notes[v] = lines
        arrows: dict[
            tuple[Node | Tensor, Node | Tensor] | tuple[Node | Tensor, Node | Tensor, int], str
        ] = {}
        if show_partials:
            vertex_of = {n: v for v, names in pic.vertices for n in names}
            for s in self.rows:
                consumer = vertex_of.get(s.name)
                if not isinstance(consumer, Node):
                    continue
                for p in s.partials:
                    key = (vertex_of[p.wrt], consumer, p.position)
                    # Two lines keep the labels narrow: "∂w3/∂w1" over "= cos(w1) = 0.540302".
                    text = _partial_text(s, p, precision).replace(" = ", "\n= ", 1)
                    # One arrow per argument; the outputs of a multi-output op share it.
                    arrows[key] = f"{arrows[key]}\n{text}" if key in arrows else text
        return viz.graph(
            pic.root,
            params=pic.inputs,
            annotate=notes,
            details=False,
            edge_labels=arrows or None,
            rankdir=rankdir,
            max_nodes=max_nodes,
        )

    # -- tables -----------------------------------------------------------------------

    def _tables(self, precision: int) -> tuple[list[_Table], list[str]]:
        fwd = self.mode in ("forward", "both")
        rev = self.mode in ("reverse", "both")
        shaped = any(s.value is not None and s.value.ndim > 0 for s in self.rows)
        headers = ["step"] + (["shape"] if shaped else []) + ["value", "local partials"]
        if fwd:
            headers += ["tangent"] + [f"{WDOT}, seed {n}" for n in self.inputs]
        rows = []
        for s in self.rows:
            parts = [_partial_text(s, p, precision) for p in s.partials]
            row = [s.equation]
            if shaped:
                row.append("?" if s.shape is None else str(s.shape))
            row += [_fmt(s.value, precision), ";  ".join(parts)]
            if fwd:
                row.append(f"{_wdot(s.name)} = {s.tangent_expr}")
                row += [_fmt(s.tangents.get(n), precision) for n in self.inputs]
            rows.append(row)
        tables = [_Table("Forward pass", headers, rows)]
        if rev:
            rrows = [
                [f"{_wbar(s.name)} = {s.adjoint_expr}", _fmt(s.adjoint, precision)]
                for s in self.backward_order
            ]
            tables.append(
                _Table(
                    f"Reverse pass: adjoints w{BAR}i = ∂{self.label}/∂wi, "
                    "in the order the backward pass fills them in",
                    ["adjoint", "value"],
                    rrows,
                )
            )
        lines = []
        out = self[self.output]
        for s in self.input_steps:
            d = f"∂{self.label}/∂{s.expr}"
            r = f"{_wbar(s.name)} = {_fmt(s.adjoint, precision)}"
            t = out.tangents.get(s.expr)
            fw = f"{_wdot(out.name)} (seed {s.expr}) = {_fmt(t, precision)}"
            scalar_in = s.value is not None and s.value.ndim == 0
            if rev and fwd:
                if scalar_in and _fmt(s.adjoint, precision) == _fmt(t, precision):
                    lines.append(f"{d} = {_wbar(s.name)} = {fw}")
                else:
                    lines.append(f"{d} = {r} (reverse);  {fw} (forward)")
            elif rev:
                lines.append(f"{d} = {r}")
            elif scalar_in and out.value is not None and out.value.size == 1:
                lines.append(f"{d} = {fw}")
            else:
                lines.append(fw)
        return tables, lines

    def to_text(self, *, ascii: bool = False, precision: int = 6) -> str:
        """The table as aligned plain text.

        Parameters
        ----------
        ascii : bool
            Spell ``w̄3``, ``ẇ3``, ``∂`` and ``·`` as ``wbar3``, ``wdot3``, ``d`` and ``*``
            (for terminals without the accents).
        precision : int
            Significant digits of the numbers.
        """
        tables, lines = self._tables(precision)
        conv: Callable[[str], str] = _to_ascii if ascii else (lambda s: s)
        out = [conv(self.title)]
        for t in tables:
            t = _Table(
                conv(t.title), [conv(h) for h in t.headers], [[conv(c) for c in r] for r in t.rows]
            )
            widths = [_width(h) for h in t.headers]
            for r in t.rows:
                widths = [max(w, _width(c)) for w, c in zip(widths, r)]
            out += ["", t.title]
            out.append("  ".join(_pad(h, w) for h, w in zip(t.headers, widths)).rstrip())
            out.append("  ".join("-" * w for w in widths))
            for r in t.rows:
                out.append("  ".join(_pad(c, w) for c, w in zip(r, widths)).rstrip())
        out += ["", "Gradient" if self.mode != "forward" else "Derivatives"]
        out += [conv(ln) for ln in lines]
        return "\n".join(out)

    def to_markdown(self, *, precision: int = 6) -> str:
        """The table as Markdown (pipe tables, formulas in code spans)."""

        def cell(c: str, code: bool) -> str:
            c = c.replace("|", "\\|")
            return f"`{c}`" if code and c else c

        tables, lines = self._tables(precision)
        out = [f"**{self.title}**"]
        for t in tables:
            out += ["", f"*{t.title}*", ""]
            out.append("| " + " | ".join(t.headers) + " |")
            out.append("|" + "|".join("---" for _ in t.headers) + "|")
            value_cols = {
                i for i, h in enumerate(t.headers) if h in ("value", "shape") or "seed" in h
            }
            for r in t.rows:
                cells = [cell(c, i not in value_cols) for i, c in enumerate(r)]
                out.append("| " + " | ".join(cells) + " |")
        title = "Gradient" if self.mode != "forward" else "Derivatives"
        out += ["", f"*{title}*", ""] + [f"- `{ln}`" for ln in lines]
        return "\n".join(out) + "\n"

    def _repr_html_(self, precision: int = 6) -> str:
        """A rich HTML table (Jupyter displays it)."""
        e = html.escape
        tables, lines = self._tables(precision)
        out = [
            '<div class="tapegrad-explain">',
            f"<p><strong>{e(self.title)}</strong></p>",
        ]
        for t in tables:
            value_cols = {
                i for i, h in enumerate(t.headers) if h in ("value", "shape") or "seed" in h
            }
            out.append('<table style="font-family: monospace; text-align: left">')
            out.append(f"<caption>{e(t.title)}</caption>")
            out.append("<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.headers))
            out.append("</tr></thead>")
            out.append("<tbody>")
            for r in t.rows:
                tds = "".join(
                    f'<td style="text-align: right">{e(c)}</td>'
                    if i in value_cols
                    else f"<td>{e(c)}</td>"
                    for i, c in enumerate(r)
                )
                out.append(f"<tr>{tds}</tr>")
            out.append("</tbody></table>")
        title = "Gradient" if self.mode != "forward" else "Derivatives"
        out.append(f"<p>{e(title)}</p><ul>")
        out += [f"<li><code>{e(ln)}</code></li>" for ln in lines]
        out.append("</ul></div>")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        grad = ", ".join(_fmt(g) for g in self.gradient)
        return (
            f"<Explanation {self.title!r}: {len(self.rows)} steps, mode={self.mode!r}, "
            f"value={_fmt(self.value)}, gradient=({grad})>"
        )


# ----------------------------------------------------------------------------- expressions


class ExpressionError(TapegradError, ValueError):
    """An expression given to :func:`compile_expression` uses something it does not accept."""


def _functions() -> dict[str, tuple[Callable[..., Any], int]]:
    from . import ops

    unary = (
        "sin cos tan exp exp2 expm1 log log2 log10 log1p sqrt cbrt square reciprocal abs "
        "sinh cosh tanh arcsin arccos arctan arcsinh arccosh arctanh sigmoid relu softplus "
        "erf sign negative sum mean prod max min"
    ).split()
    binary = "maximum minimum arctan2 power matmul".split()
    table: dict[str, tuple[Callable[..., Any], int]] = {}
    for n in unary:
        fn = getattr(ops, n, None)
        if fn is not None:
            table[n] = (fn, 1)
    for n in binary:
        fn = getattr(ops, n, None)
        if fn is not None:
            table[n] = (fn, 2)
    return table


EXPRESSION_FUNCTIONS: tuple[str, ...] = tuple(sorted(_functions()))
"""The function names an expression may call (one argument each; ``maximum``,
``minimum``, ``arctan2``, ``power`` and ``matmul`` take two)."""

_CONSTANTS = {"pi": math.pi}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
    ast.MatMult: lambda a, b: a @ b,
}

_DESCRIBE = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscripts ('[...]')",
    ast.Lambda: "lambda",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "conditional expressions ('if ... else')",
    ast.List: "list literals",
    ast.Tuple: "tuples",
    ast.Dict: "dict literals",
    ast.Set: "set literals",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Starred: "starred arguments ('*')",
    ast.NamedExpr: "assignment expressions (':=')",
    ast.JoinedStr: "f-strings",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.Slice: "slices",
}

_MAX_NODES = 500


def _check(tree: ast.Expression, source: str) -> list[str]:
    """Validate ``tree``; return the variable names in order of first use."""
    funcs = _functions()
    names: list[str] = []
    count = 0

    def bad(node: ast.AST, what: str) -> ExpressionError:
        col = getattr(node, "col_offset", None)
        where = f" at column {col + 1}" if col is not None else ""
        return ExpressionError(f"not allowed in an expression: {what}{where} in {source!r}")

    def visit(node: ast.AST, *, callee: bool = False) -> None:
        nonlocal count
        count += 1
        if count > _MAX_NODES:
            raise ExpressionError(
                f"the expression is too long (more than {_MAX_NODES} parts); split it up"
            )
        if isinstance(node, ast.Expression):
            visit(node.body)
        elif isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad(node, f"the constant {v!r} (only numbers are)")
        elif isinstance(node, ast.Name):
            n = node.id
            if n.startswith("_"):
                raise bad(node, f"the name {n!r} (names starting with '_')")
            if callee:
                return
            if n in funcs:
                raise bad(node, f"the function {n!r} without a call (write {n}(...))")
            if n not in _CONSTANTS and n not in names:
                names.append(n)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                sym = type(node.op).__name__
                raise bad(node, f"the operator {sym} (only + - * / ** @ are allowed)")
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise bad(node, f"the operator {type(node.op).__name__} (only unary - and +)")
            visit(node.operand)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                what = _DESCRIBE.get(type(node.func), type(node.func).__name__)
                raise bad(node.func, f"calling the result of {what}")
            fname = node.func.id
            visit(node.func, callee=True)
            if fname not in funcs:
                raise bad(
                    node.func,
                    f"the unknown function {fname!r} (known: {', '.join(sorted(funcs))})",
                )
            if node.keywords:
                raise bad(node, f"keyword arguments (in the call to {fname})")
            arity = funcs[fname][1]
            for a in node.args:
                if isinstance(a, ast.Starred):
                    raise bad(a, "starred arguments ('*')")
            if len(node.args) != arity:
                raise ExpressionError(
                    f"{fname}() takes {arity} argument{'s' if arity > 1 else ''}, got "
                    f"{len(node.args)}: {source!r}"
                )
            for a in node.args:
                visit(a)
        else:
            raise bad(node, _DESCRIBE.get(type(node), type(node).__name__))

    visit(tree)
    return names


def compile_expression(source: str) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """Turn ``"sin(x) + x*y"`` into a function of its variables, without ``eval``.

    The expression may use numbers, variables, ``+ - * / ** @``, unary ``-`` and ``+``,
    parentheses, the constant ``pi`` and calls to the functions in
    :data:`EXPRESSION_FUNCTIONS` (tapegrad's, by name).  Anything else (attribute access,
    subscripts, lambdas, keyword arguments, unknown names, strings) raises
    :class:`ExpressionError` naming it.  The tree is checked first, then walked by a small
    interpreter that only knows these constructs.

    Parameters
    ----------
    source : str
        The expression.

    Returns
    -------
    (function, names)
        ``function(*values)`` takes one value per variable, in the order of ``names`` (the
        variables in order of first appearance).

    Examples
    --------
    >>> from tapegrad.explain import compile_expression
    >>> f, names = compile_expression("sin(x) + x*y")
    >>> names
    ('x', 'y')
    >>> round(float(f(1.0, 2.0)), 6)
    2.841471
    >>> from tapegrad.explain import ExpressionError
    >>> try:
    ...     compile_expression("x.__class__")
    ... except ExpressionError as e:
    ...     print(e)
    not allowed in an expression: attribute access ('.') at column 1 in 'x.__class__'
    """
    if not isinstance(source, str):
        raise InvalidTypeError(
            f"compile_expression: the expression must be a string, got {type(source).__name__}"
        )
    if len(source) > 10_000:
        raise ExpressionError("the expression is too long (over 10000 characters)")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"not a valid expression: {source!r} ({e.msg})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply") from None
    names = tuple(_check(tree, source))
    funcs = _functions()

    def run(node: ast.AST, env: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return float(node.value)  # type: ignore[arg-type]  # numbers only, see _check
        if isinstance(node, ast.Name):
            return env[node.id] if node.id in env else _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](run(node.left, env), run(node.right, env))
        if isinstance(node, ast.UnaryOp):
            v = run(node.operand, env)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            fn = funcs[node.func.id][0]
            return fn(*[run(a, env) for a in node.args])
        raise InvalidStateError(  # pragma: no cover
            f"compile_expression: unchecked node {type(node).__name__}"
        )

    body = tree.body

    def function(*values: Any) -> Any:
        if len(values) != len(names):
            raise InvalidTypeError(
                f"compile_expression: the expression has {len(names)} variables "
                f"({', '.join(names)}), got {len(values)} values"
            )
        return run(body, dict(zip(names, values)))

    function.__name__ = "L"
    function.__qualname__ = "L"
    function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    )
    return function, names
