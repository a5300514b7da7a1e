"""Elementwise primitives: a table of derivatives.

Unary ops give their derivative once, ``f'(x)`` as ``deriv(ans, x)``; the vjp is
``g * f'(x)``.  Binary ops give one rule per argument; the engine sums each cotangent back
over broadcast axes.  Conventions at kinks follow PyTorch and are stated per op.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..tensor import Tensor
from .registry import Primitive, defvjp, expose

_erf_scalar = np.frompyfunc(math.erf, 1, 1)
_erf_ufunc: Any = None


def _erf_exact(x: Any) -> Any:
    x = np.asarray(x)
    dt = x.dtype if x.dtype.kind == "f" else np.float64
    return np.asarray(_erf_scalar(x), dtype=dt)


def _erf_impl(x: Any) -> Any:
    """scipy's erf ufunc when scipy is installed (imported on first use: importing scipy
    costs more than importing tapegrad); math.erf elementwise (exact, slower) otherwise."""
    global _erf_ufunc
    if _erf_ufunc is None:
        try:
            from scipy.special import erf as _erf_ufunc
        except ImportError:  # pragma: no cover - exercised where scipy is absent
            _erf_ufunc = _erf_exact
    return _erf_ufunc(x)


__all__ = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "true_divide",
    "floor_divide",
    "mod",
    "remainder",
    "power",
    "negative",
    "abs",
    "absolute",
    "sign",
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sqrt",
    "cbrt",
    "square",
    "reciprocal",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "arctan2",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "sigmoid",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
    "erf",
    "clip",
    "maximum",
    "minimum",
    "where",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_not",
    "logical_and",
    "logical_or",
    "logical_xor",
    "isfinite",
    "isnan",
    "isinf",
    "floor",
    "ceil",
    "round",
    "trunc",
    "copy",
    "astype",
    "identity",
    "stop_gradient",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def unary(
    name: str,
    impl: Callable[..., Any],
    deriv: Callable[..., Any],
    save: Any = (0,),
    doc: str = "",
    **meta: Any,
) -> Primitive:
    """Declare an elementwise unary primitive from ``f'(x) = deriv(ans, x)``; ``meta``: the
    surface metadata of :func:`~tapegrad.ops.registry.expose`."""
    p = Primitive(
        name, impl, save=save, elementwise=True, doc=doc or f"Elementwise ``{name}(x)``.", **meta
    )
    # An elementwise Jacobian is diagonal: the same rule is the vjp (g * f') and the jvp
    # (t * f'); forward mode reads it from here too.
    if deriv.__code__.co_argcount > 2:  # parameters (slope, alpha, ...) come as keywords
        defvjp(p, lambda g, ans, x, **kw: g * deriv(ans, x, **kw))
    else:
        defvjp(p, lambda g, ans, x: g * deriv(ans, x))
    return p


def _zero(g: Any, ans: Any, *args: Any, **kw: Any) -> Any:
    # +0 everywhere, in g's dtype (PyTorch's zeros_like): not g * 0, which is -0.0 for a
    # negative cotangent and NaN for an infinite one.
    return where(False, g, 0.0)


_SAME_SIZE_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def _select(mask: Any, g: Any, invert: bool = False) -> Any:
    """``g`` where ``mask``, else +0 in g's dtype: PyTorch's selecting rules (``where(mask,
    g, 0)``), which give 0 also where g is inf or NaN (``g * mask`` would give NaN there).

    On raw float32/float64 arrays of one shape (a first-order backward) the select is a
    bitwise and with an all-ones/all-zeros mask: exact, and as fast as ``g * mask``
    (np.where is several times slower).  ``invert``: g where ``mask`` is false."""
    if (
        g.__class__ is np.ndarray
        and mask.__class__ is np.ndarray
        and mask.shape == g.shape
        and g.ndim  # 0-d: NumPy returns scalars
    ):
        it = _SAME_SIZE_INT.get(g.dtype)
        if it is not None:
            # -1 (all bits set) where g is kept, else 0
            bits = np.subtract(mask, 1, dtype=it) if invert else np.subtract(0, mask, dtype=it)
            return np.bitwise_and(g.view(it), bits, out=bits).view(g.dtype)
    return where(mask, 0.0, g) if invert else where(mask, g, 0.0)


def _nondiff(name: str, impl: Callable[..., Any], doc: str, **meta: Any) -> Primitive:
    return Primitive(name, impl, doc=doc, **meta)


# --------------------------------------------------------------------------- binary
add = defvjp(
    Primitive(
        "add",
        np.add,
        elementwise=True,
        doc="Elementwise ``x + y`` (broadcasting).",
        explain={"text": "{0} + {1}", "partials": ("1", "1")},
    ),
    lambda g, ans, x, y: g,
    lambda g, ans, x, y: g,
)
subtract = defvjp(
    Primitive(
        "subtract",
        np.subtract,
        elementwise=True,
        doc="Elementwise ``x - y``.",
        explain={"text": "{0} - {1}", "partials": ("1", "-1")},
    ),
    lambda g, ans, x, y: g,
    lambda g, ans, x, y: -g,
)
multiply = defvjp(
    Primitive(
        "multiply",
        np.multiply,
        elementwise=True,
        save=(0, 1),
        doc="Elementwise ``x * y``.",
        explain={"text": "{0} * {1}", "partials": ("{1}", "{0}")},
    ),
    lambda g, ans, x, y: g * y,
    lambda g, ans, x, y: g * x,
)
# Each saved input is read only by the other input's rule: a saved input changed in place
# is harmless when the other input needs no gradient (PyTorch saves it only then).
multiply.save_for = {0: (1,), 1: (0,)}
divide = defvjp(
    Primitive(
        "divide",
        np.true_divide,
        elementwise=True,
        save=(1, "ans"),
        doc="Elementwise true division ``x / y``.",
        explain={"text": "{0} / {1}", "partials": ("1/{1}", "-{0}/{1}**2")},
    ),
    lambda g, ans, x, y: g / y,
    # PyTorch's div_tensor_other_backward: -g * ((x / y) / y), in that order (ans / y may
    # overflow to inf where (g * ans) / y is finite; then g = 0 gives NaN, as in PyTorch)
    lambda g, ans, x, y: -g * (ans / y),
)
true_divide = divide
floor_divide = _nondiff(
    "floor_divide",
    np.floor_divide,
    "Elementwise ``x // y``. Piecewise constant: not differentiable (the output never "
    "requires grad), as in PyTorch.",
)


def _pow_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # PyTorch's pow_backward_self: 0 where the exponent is 0 (even at x = 0), else
    # g * (y * x ** (y - 1)), multiplied in that order (it fixes where inf * 0 happens).
    return where(y == 0, 0.0, g * (y * x ** (y - 1)))


def _pow_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # PyTorch's pow_backward_exponent: g * (0 where x == 0 and y >= 0, the limit of
    # x**y * log x; else x**y * log x: -inf at x == 0 with y < 0, NaN for x < 0).
    return g * where((x == 0) & (y >= 0), 0.0, ans * log(x))


def _power_explain(call: Any) -> Any:
    # tapegrad.explain writes d/dx with a constant scalar exponent c as c·x**(c - 1).
    c = call.args[1]
    if call.const[1] and c is not None and np.ndim(c) == 0:
        c = float(np.asarray(c))
        dx = "0" if c == 0 else "1" if c == 1 else "2·{0}" if c == 2 else None
        if dx is None:
            dx = f"{call.number(c)}·{{0}}**{call.number(c - 1)}"
    else:
        dx = "{1}·{0}**({1} - 1)"
    return {"text": "{0} ** {1}", "partials": (dx, "log({0})·{0}**{1}")}


power = defvjp(
    Primitive(
        "power",
        np.power,
        elementwise=True,
        save=(0, 1, "ans"),
        doc="Elementwise ``x ** y``; both arguments differentiable. "
        "PyTorch's conventions: d/dx is 0 where y == 0 (also at x == 0), else "
        "``g * (y * x ** (y - 1))``; d/dy is ``g * 0`` where x == 0 and y >= 0, else "
        "``g * (x ** y * log(x))`` (-inf at x == 0 with y < 0, NaN for x < 0).",
        explain=_power_explain,
        kink="d/dx is 0 where y == 0 (also at x == 0); d/dy is 0 where x == 0 and y >= 0, -inf at"
        " x == 0 with y < 0 (PyTorch).",
    ),
    _pow_dx,
    _pow_dy,
)


def _mod_impl(x: Any, y: Any) -> Any:
    # PyTorch's remainder: fmod, moved into the divisor's sign; a zero result keeps fmod's
    # sign (NumPy's mod gives it the divisor's).
    m = np.fmod(x, y)
    if m.dtype.kind != "f":
        return np.mod(x, y)
    return np.where((m != 0) & ((y < 0) != (m < 0)), m + y, m)


mod = defvjp(
    Primitive(
        "mod",
        _mod_impl,
        elementwise=True,
        save=(0, 1),
        doc="Elementwise remainder with the sign of the divisor (``x % y``). "
        "Differentiable almost everywhere as in PyTorch's remainder: "
        "d/dx = 1, d/dy = -(x // y) (floor division: NaN for an infinite x).",
        ufunc=np.remainder,
        explain={"text": "{0} % {1}"},
        kink="d/dx = 1 and d/dy = -(x // y) at the jumps too, as PyTorch's remainder (NaN for an "
        "infinite x).",
    ),
    lambda g, ans, x, y: g,
    lambda g, ans, x, y: -g * floor_divide(x, y),
)
remainder = mod


def _atan2_recip(y: Any, x: Any) -> Any:
    # PyTorch: 1 / (x*x + y*y), taken as 0 where that sum is 0 (at (0, 0), or underflowed),
    # so the gradient at the origin is a (signed) 0, not NaN.
    d = x * x + y * y
    with np.errstate(divide="ignore"):
        return where(d == 0, 0.0, 1.0 / d)


arctan2 = defvjp(
    Primitive(
        "arctan2",
        np.arctan2,
        elementwise=True,
        save=(0, 1),
        doc="Elementwise ``arctan2(y, x)``, the angle of the point (x, y). Gradients "
        "``g * x * r`` and ``g * -y * r`` with ``r = 1 / (x*x + y*y)``, and r taken as 0 "
        "where x*x + y*y is 0: 0 at the origin (PyTorch's convention).",
        explain=("{1}/({0}**2 + {1}**2)", "-{0}/({0}**2 + {1}**2)"),
        kink="The gradient at the origin is 0 (1 / (x*x + y*y) taken as 0 there, as PyTorch).",
    ),
    lambda g, ans, y, x: g * x * _atan2_recip(y, x),
    lambda g, ans, y, x: g * -y * _atan2_recip(y, x),
)


def _max_vjp(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # PyTorch: g / 2 at ties, 0 where x < y, g elsewhere: also where either is NaN.
    return where(x == y, g * 0.5, _select(x < y, g, invert=True))


def _min_vjp(g: Any, ans: Any, x: Any, y: Any) -> Any:
    return where(x == y, g * 0.5, _select(x > y, g, invert=True))


maximum = defvjp(
    Primitive(
        "maximum",
        np.maximum,
        elementwise=True,
        save=(0, 1),
        doc="Elementwise maximum; NaN if either is NaN. At ties the gradient is split "
        "evenly (half to each argument); where either is NaN both get the full gradient "
        "(PyTorch's conventions).",
        kink="Ties split the gradient evenly (half to each argument); where either is NaN both "
        "get the full gradient (PyTorch).",
    ),
    _max_vjp,
    lambda g, ans, x, y: _max_vjp(g, ans, y, x),
)
minimum = defvjp(
    Primitive(
        "minimum",
        np.minimum,
        elementwise=True,
        save=(0, 1),
        doc="Elementwise minimum; NaN if either is NaN. At ties the gradient is split "
        "evenly; where either is NaN both get the full gradient (PyTorch's conventions).",
        kink="Ties split the gradient evenly (half to each argument); where either is NaN both "
        "get the full gradient (PyTorch).",
    ),
    _min_vjp,
    lambda g, ans, x, y: _min_vjp(g, ans, y, x),
)
where = defvjp(
    Primitive(
        "where",
        np.where,
        elementwise=True,
        save=(0,),
        doc="``where(cond, x, y)``: x where cond is true, else y. cond is not differentiable.",
        kink="The gradient selects: g goes to x where cond holds and to y elsewhere, +0 (not g * "
        "0) in the other branch (PyTorch).",
    ),
    None,
    lambda g, ans, c, x, y: _select(c, g),
    lambda g, ans, c, x, y: where(c, 0.0, g),
)

# --------------------------------------------------------------------------- unary
negative = defvjp(
    Primitive(
        "negative",
        np.negative,
        elementwise=True,
        doc="Elementwise ``-x``.",
        method=True,
        explain={"text": "-{0}", "partials": ("-1",)},
    ),
    lambda g, ans, x: -g,
)
abs = unary(
    "abs",
    np.abs,
    lambda ans, x: sign(x),
    doc="Elementwise ``|x|``. The gradient is ``g * sign(x)``: abs'(0) = 0 and "
    "abs'(NaN) = 0 (PyTorch's conventions).",
    method=True,
    explain=("sign({0})",),
    kink="abs'(0) = 0, and 0 at NaN: the gradient is g * sign(x) (PyTorch).",
)
absolute = abs


def _sign_impl(x: Any) -> Any:
    r = np.sign(x)
    if r.dtype.kind == "f":  # PyTorch: sign(NaN) = 0 and sign(-0.0) = +0
        r = np.where(r == r, r, 0) + 0
    return r


sign = defvjp(
    Primitive(
        "sign",
        _sign_impl,
        elementwise=True,
        doc="Elementwise sign: -1, 0 or 1; sign(NaN) = 0 and sign(-0.0) = 0 (PyTorch's). "
        "Its derivative is 0 (+0, also for an infinite cotangent).",
        method=True,
        ufunc=np.sign,
        explain=("0",),
        kink="Derivative 0 everywhere, at the jump at 0 too (+0, also for an infinite cotangent),"
        " as PyTorch.",
    ),
    _zero,
)
exp = unary("exp", np.exp, lambda ans, x: ans, save=("ans",), method=True, explain=("exp({0})",))
exp2 = unary(
    "exp2",
    np.exp2,
    lambda ans, x: ans * _LN2,
    save=("ans",),
    method=True,
    explain=("log(2)·2**{0}",),
)
expm1 = unary(
    "expm1",
    np.expm1,
    lambda ans, x: ans + 1.0,
    save=("ans",),
    doc="Elementwise ``exp(x) - 1``, accurate near 0.",
    method=True,
    explain=("exp({0})",),
)


def _unary_quotient(
    name: str, impl: Callable[..., Any], denom: Callable[..., Any], doc: str = "", **meta: Any
) -> Primitive:
    """An elementwise unary primitive whose derivative is ``1 / denom(x)``, applied as
    PyTorch does: ``g / denom(x)`` (not ``g * (1 / denom(x))``, which overflows to inf where
    ``denom(x)`` is subnormal though the quotient is finite)."""
    p = Primitive(
        name, impl, save=(0,), elementwise=True, doc=doc or f"Elementwise ``{name}(x)``.", **meta
    )
    return defvjp(p, lambda g, ans, x: g / denom(x))


log = _unary_quotient(
    "log",
    np.log,
    lambda x: x,
    doc="Elementwise natural logarithm.",
    method=True,
    explain=("1/{0}",),
)
log2 = _unary_quotient(
    "log2", np.log2, lambda x: x * _LN2, method=True, explain=("1/({0}·log(2))",)
)
log10 = _unary_quotient(
    "log10", np.log10, lambda x: x * _LN10, method=True, explain=("1/({0}·log(10))",)
)
log1p = unary(
    "log1p",
    np.log1p,
    lambda ans, x: 1.0 / (x + 1.0),
    doc="Elementwise ``log(1 + x)``, accurate near 0.",
    method=True,
    explain=("1/(1 + {0})",),
)
sqrt = unary(
    "sqrt",
    np.sqrt,
    lambda ans, x: 0.5 / ans,
    save=("ans",),
    doc="Elementwise square root; its derivative at 0 is inf (as in PyTorch).",
    method=True,
    explain=("1/(2·sqrt({0}))",),
    kink="sqrt'(0) = inf (PyTorch).",
)
cbrt = unary(
    "cbrt",
    np.cbrt,
    lambda ans, x: 1.0 / (3.0 * ans * ans),
    save=("ans",),
    method=True,
    explain=("1/(3·cbrt({0})**2)",),
)
square = unary("square", np.square, lambda ans, x: 2.0 * x, method=True, explain=("2·{0}",))
reciprocal = unary(
    "reciprocal",
    np.reciprocal,
    lambda ans, x: -(ans * ans),
    save=("ans",),
    method=True,
    explain=("-1/{0}**2",),
)
sin = unary("sin", np.sin, lambda ans, x: cos(x), method=True, explain=("cos({0})",))
cos = unary("cos", np.cos, lambda ans, x: -sin(x), method=True, explain=("-sin({0})",))
tan = unary(
    "tan",
    np.tan,
    lambda ans, x: 1.0 + ans * ans,
    save=("ans",),
    method=True,
    explain=("1 + tan({0})**2",),
)
arcsin = unary(
    "arcsin",
    np.arcsin,
    lambda ans, x: 1.0 / sqrt(1.0 - x * x),
    method=True,
    explain=("1/sqrt(1 - {0}**2)",),
)
arccos = unary(
    "arccos",
    np.arccos,
    lambda ans, x: -1.0 / sqrt(1.0 - x * x),
    method=True,
    explain=("-1/sqrt(1 - {0}**2)",),
)
arctan = unary(
    "arctan",
    np.arctan,
    lambda ans, x: 1.0 / (1.0 + x * x),
    method=True,
    explain=("1/(1 + {0}**2)",),
)
sinh = unary("sinh", np.sinh, lambda ans, x: cosh(x), method=True, explain=("cosh({0})",))
cosh = unary("cosh", np.cosh, lambda ans, x: sinh(x), method=True, explain=("sinh({0})",))
tanh = unary(
    "tanh",
    np.tanh,
    lambda ans, x: 1.0 - ans * ans,
    save=("ans",),
    method=True,
    explain=("1 - tanh({0})**2",),
)
arcsinh = unary(
    "arcsinh",
    np.arcsinh,
    lambda ans, x: 1.0 / sqrt(x * x + 1.0),
    method=True,
    explain=("1/sqrt({0}**2 + 1)",),
)
arccosh = unary(
    "arccosh",
    np.arccosh,
    lambda ans, x: 1.0 / sqrt(x * x - 1.0),
    method=True,
    explain=("1/sqrt({0}**2 - 1)",),
)
arctanh = unary(
    "arctanh",
    np.arctanh,
    lambda ans, x: 1.0 / (1.0 - x * x),
    method=True,
    explain=("1/(1 - {0}**2)",),
)
erf = unary(
    "erf",
    _erf_impl,
    lambda ans, x: _TWO_OVER_SQRT_PI * exp(-(x * x)),
    doc="Elementwise error function.",
    method=True,
    explain=("2/sqrt(π)·exp(-{0}**2)",),
)


def _sigmoid_impl(x: Any) -> Any:
    # exp(-log(1 + exp(-x))): no overflow for any x, full relative accuracy in both tails.
    return np.exp(-np.logaddexp(0, -x)).astype(np.result_type(x, np.float16), copy=False)


sigmoid = unary(
    "sigmoid",
    _sigmoid_impl,
    lambda ans, x: ans * (1.0 - ans),
    save=("ans",),
    doc="Elementwise logistic function ``1 / (1 + exp(-x))``, stable for any x.",
    method=True,
    explain=("sigmoid({0})·(1 - sigmoid({0}))",),
)
relu = defvjp(
    Primitive(
        "relu",
        lambda x: np.maximum(0, x),  # this order keeps -0.0 and NaN, as PyTorch's relu
        elementwise=True,
        save=("ans",),
        doc="Elementwise ``max(x, 0)``; relu(-0.0) = -0.0, relu(NaN) = NaN. The gradient "
        "selects (PyTorch's threshold_backward): 0 where the output is <= 0, so relu'(0) = 0 "
        "and an inf cotangent there gives 0, not NaN; ``g`` elsewhere, NaN inputs included.",
        method=True,
        explain=("[{0} > 0]",),
        kink="relu'(0) = 0: the gradient selects g where the output is > 0 and 0 elsewhere, an "
        "infinite cotangent at 0 included (PyTorch's threshold_backward).",
    ),
    lambda g, ans, x: _select(ans <= 0, g, invert=True),
)


def _leaky_impl(x: Any, *, negative_slope: float) -> Any:
    return np.where(x > 0, x, x * negative_slope)


_leaky = unary(
    "leaky_relu",
    _leaky_impl,
    lambda ans, x, negative_slope: where(x > 0, 1.0, negative_slope),
    kink="The derivative at 0 is negative_slope, and so is the factor at NaN (PyTorch).",
)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """Elementwise ``x if x > 0 else negative_slope * x``.

    The derivative at 0 is ``negative_slope``, and so is the gradient factor at a NaN input
    (PyTorch's conventions).

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> tg.leaky_relu(x, 0.1).sum().backward()
    >>> x.grad
    tensor([0.1, 0.1, 1. ])
    """
    return _leaky(x, negative_slope=float(negative_slope))


def _elu_impl(x: Any, *, alpha: float) -> Any:
    # np.minimum(0, x) keeps -0.0 (elu(-0.0) = -0.0) and NaN, as PyTorch's elu
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(0, x)))


def _elu_vjp(g: Any, ans: Any, x: Any, *, alpha: float) -> Any:
    # PyTorch's elu_backward: g * alpha * exp(x) where x <= 0, else g (NaN inputs included).
    # Written so that its own derivative is PyTorch's double backward too: alpha * exp(x)
    # for x < 0 only (0 at x == 0), and exp sees no x > 0 or NaN (no inf * 0 in the
    # unselected branch).
    neg = x < 0
    return where(neg, g * alpha * exp(where(neg, x, 0.0)), where(x == 0, g * alpha, g))


_elu = defvjp(
    Primitive(
        "elu",
        _elu_impl,
        elementwise=True,
        save=(0,),
        kink="The derivative at 0 is alpha; at NaN the gradient passes unchanged (PyTorch).",
    ),
    _elu_vjp,
)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """Elementwise ``x if x > 0 else alpha * (exp(x) - 1)``.

    The derivative at 0 is ``alpha``; at a NaN input the gradient passes unchanged
    (PyTorch's conventions).
    """
    return _elu(x, alpha=float(alpha))


def _gelu_impl(x: Any, *, approximate: str) -> Any:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + _erf_impl(x * (1.0 / math.sqrt(2.0))))


def _gelu_deriv(ans: Any, x: Any, approximate: str) -> Any:
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        th = tanh(inner)
        return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * _SQRT_2_OVER_PI * (
            1.0 + 3 * 0.044715 * x * x
        )
    cdf = 0.5 * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))
    pdf = exp(-0.5 * x * x) * (1.0 / math.sqrt(2.0 * math.pi))
    return cdf + x * pdf


_gelu = unary("gelu", _gelu_impl, _gelu_deriv)


def gelu(x: Any, approximate: str = "none") -> Any:
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate="tanh"`` for the tanh form."""
    if approximate not in ("none", "tanh"):
        raise InvalidArgumentError(
            f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}"
        )
    return _gelu(x, approximate=approximate)


expose(gelu, method=True)


silu = unary(
    "silu",
    lambda x: x * _sigmoid_impl(x),
    lambda ans, x: sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x))),
    doc="Elementwise ``x * sigmoid(x)`` (swish).",
    method=True,
)


def _softplus_impl(x: Any, *, beta: float, threshold: float) -> Any:
    bx = x * beta
    return np.where(bx > threshold, x, np.logaddexp(0, bx) / beta).astype(
        np.result_type(x, np.float16), copy=False
    )


_softplus = unary(
    "softplus",
    _softplus_impl,
    lambda ans, x, beta, threshold: where(x * beta > threshold, 1.0, sigmoid(x * beta)),
    explain=("sigmoid({0})",),
)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """Stable ``log(1 + exp(beta * x)) / beta``; linear where ``beta * x > threshold``."""
    return _softplus(x, beta=float(beta), threshold=float(threshold))


expose(softplus, method=True)


def _clip_impl(x: Any, *, a_min: Any, a_max: Any) -> Any:
    # min(a_max, max(a_min, x)): NumPy returns the second argument at ties, so x is kept
    # at a bound (clip(-0.0, 0.0) = -0.0) and NaN propagates, as PyTorch's clamp.
    if a_min is not None:
        x = np.maximum(a_min, x)
    if a_max is not None:
        x = np.minimum(a_max, x)
    return x


def _clip_deriv(ans: Any, x: Any, a_min: Any, a_max: Any) -> Any:
    inside = True
    if a_min is not None:
        inside = x >= a_min
    if a_max is not None:
        inside = inside & (x <= a_max) if a_min is not None else x <= a_max
    return inside


_clip = defvjp(
    Primitive(
        "clip",
        _clip_impl,
        elementwise=True,
        save=(0,),
        kink="The gradient passes at the bounds (a_min <= x <= a_max, as PyTorch's clamp) and is "
        "+0 outside and at NaN; tensor bounds get it where they are the result.",
    ),
    lambda g, ans, x, a_min, a_max: _select(_clip_deriv(ans, x, a_min, a_max), g),
)


def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Any:
    """Limit values to ``[a_min, a_max]`` (either may be None).

    The gradient passes where ``a_min <= x <= a_max`` (bounds included, as PyTorch's clamp)
    and is +0 outside, also at NaN inputs and for an infinite cotangent (it selects). The
    value at NaN is NaN. Tensor bounds that require grad get the gradient where they are the
    result, as PyTorch's clamp with tensor bounds.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([-2.0, 0.5, 1.0, float("nan")], requires_grad=True)
    >>> tg.clip(x, -1.0, 1.0).sum().backward()
    >>> x.grad
    tensor([0., 1., 1., 0.])
    """
    if a_min is None and a_max is None:
        raise InvalidArgumentError("clip needs at least one of a_min or a_max")
    if (isinstance(a_min, Tensor) and a_min.requires_grad) or (
        isinstance(a_max, Tensor) and a_max.requires_grad
    ):
        # Bounds that require grad get theirs where they are the result (PyTorch's clamp
        # with tensor bounds).
        res = x
        xd = x.data if isinstance(x, Tensor) else np.asarray(x)
        if a_min is not None:
            lo = a_min.data if isinstance(a_min, Tensor) else a_min
            res = where(np.less(xd, lo), a_min, res)
        if a_max is not None:
            hi = a_max.data if isinstance(a_max, Tensor) else a_max
            res = where(np.greater(res.data, hi), a_max, res)
        if res.dtype != xd.dtype and xd.dtype.kind in "fc":
            res = astype(res, xd.dtype)
        return res
    if hasattr(a_min, "data") and not isinstance(a_min, np.ndarray):
        a_min = a_min.data
    if hasattr(a_max, "data") and not isinstance(a_max, np.ndarray):
        a_max = a_max.data
    return _clip(x, a_min=a_min, a_max=a_max)


# --------------------------------------------------------------------------- dtype / copy
identity = defvjp(
    Primitive(
        "identity",
        lambda x: x,
        elementwise=True,
        view=True,
        doc="The input itself, as a new tape entry (used by the transforms to make fresh inputs).",
        explain=("1",),
    ),
    lambda g, ans, x: g,
)
copy = defvjp(
    Primitive(
        "copy",
        lambda x: np.array(x, copy=True),
        elementwise=True,
        doc="A copy in new memory.",
        explain=("1",),
    ),
    lambda g, ans, x: g,
)
_astype = defvjp(
    Primitive("astype", lambda x, *, dtype: np.asarray(x).astype(dtype), elementwise=True),
    lambda g, ans, x, **kw: g,  # the engine casts to each side's dtype
)


def astype(x: Any, dtype: Any) -> Any:
    """Cast to ``dtype``. Differentiable between float dtypes; to an integer or bool dtype
    the result is a constant (no gradient)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc" and getattr(x, "requires_grad", False):
        return _astype(x.detach(), dtype=dtype)
    return _astype(x, dtype=dtype)


# --------------------------------------------------------------------------- non-differentiable
equal = _nondiff("equal", np.equal, "Elementwise ``x == y`` (bool, no gradient).")
not_equal = _nondiff("not_equal", np.not_equal, "Elementwise ``x != y`` (bool, no gradient).")
less = _nondiff("less", np.less, "Elementwise ``x < y`` (bool, no gradient).")
less_equal = _nondiff("less_equal", np.less_equal, "Elementwise ``x <= y`` (bool).")
greater = _nondiff("greater", np.greater, "Elementwise ``x > y`` (bool, no gradient).")
greater_equal = _nondiff("greater_equal", np.greater_equal, "Elementwise ``x >= y`` (bool).")
logical_not = _nondiff(
    "logical_not", np.logical_not, "Elementwise logical not (bool).", method=True
)
logical_and = _nondiff("logical_and", np.logical_and, "Elementwise logical and (bool).")
logical_or = _nondiff("logical_or", np.logical_or, "Elementwise logical or (bool).")
logical_xor = _nondiff("logical_xor", np.logical_xor, "Elementwise logical xor (bool).")
isfinite = _nondiff("isfinite", np.isfinite, "Elementwise finiteness test (bool).", method=True)
isnan = _nondiff("isnan", np.isnan, "Elementwise NaN test (bool).", method=True)
isinf = _nondiff("isinf", np.isinf, "Elementwise infinity test (bool).", method=True)
floor = defvjp(
    Primitive(
        "floor",
        np.floor,
        elementwise=True,
        doc="Elementwise floor; derivative 0 (PyTorch).",
        method=True,
        explain=("0",),
        kink="Derivative 0 everywhere, at the jumps too (PyTorch).",
    ),
    _zero,
)
ceil = defvjp(
    Primitive(
        "ceil",
        np.ceil,
        elementwise=True,
        doc="Elementwise ceiling; derivative 0.",
        method=True,
        explain=("0",),
        kink="Derivative 0 everywhere, at the jumps too (PyTorch).",
    ),
    _zero,
)
round = defvjp(
    Primitive(
        "round",
        np.round,
        elementwise=True,
        doc="Round half to even; derivative 0.",
        method=True,
        ufunc=np.rint,
        explain=("0",),
        kink="Derivative 0 everywhere, at the jumps too (PyTorch).",
    ),
    _zero,
)
trunc = defvjp(
    Primitive(
        "trunc",
        np.trunc,
        elementwise=True,
        doc="Round toward 0; derivative 0.",
        method=True,
        explain=("0",),
        kink="Derivative 0 everywhere, at the jumps too (PyTorch).",
    ),
    _zero,
)


def stop_gradient(x: Any) -> Any:
    """The values of ``x`` as a constant: no gradient flows back through it, in reverse mode
    or forward mode (JAX's ``stop_gradient``; like ``x.detach()``, also dropping tangents).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.grad(lambda x: x * tg.stop_gradient(x))(3.0)
    np.float64(3.0)
    """
    if not isinstance(x, Tensor):
        return x
    return x.detach()
