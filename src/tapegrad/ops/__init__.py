"""The op library: every primitive, grouped by family, and the functions built on them."""

from __future__ import annotations

from .conv import *  # noqa: F403
from .conv import __all__ as _conv_all
from .elementwise import *  # noqa: F403
from .elementwise import __all__ as _ew_all
from .linalg import *  # noqa: F403
from .linalg import __all__ as _linalg_all
from .nn import *  # noqa: F403
from .nn import __all__ as _nn_all
from .reduce import *  # noqa: F403
from .reduce import __all__ as _red_all
from .registry import REGISTRY, Primitive, defjvp, defvjp, primitive
from .shape import *  # noqa: F403
from .shape import __all__ as _shape_all

__all__ = [
    *_conv_all,
    *_ew_all,
    *_red_all,
    *_shape_all,
    *_linalg_all,
    *_nn_all,
    "REGISTRY",
    "Primitive",
    "defvjp",
    "defjvp",
    "primitive",
]

# numpy ufunc name -> tapegrad function, for Tensor.__array_ufunc__ (np.sin(t) keeps the tape).
UFUNC_DISPATCH = {
    name: globals()[tg_name]
    for name, tg_name in {
        "add": "add",
        "subtract": "subtract",
        "multiply": "multiply",
        "divide": "divide",
        "true_divide": "divide",
        "floor_divide": "floor_divide",
        "remainder": "mod",
        "power": "power",
        "negative": "negative",
        "absolute": "abs",
        "sign": "sign",
        "exp": "exp",
        "exp2": "exp2",
        "expm1": "expm1",
        "log": "log",
        "log2": "log2",
        "log10": "log10",
        "log1p": "log1p",
        "sqrt": "sqrt",
        "cbrt": "cbrt",
        "square": "square",
        "reciprocal": "reciprocal",
        "sin": "sin",
        "cos": "cos",
        "tan": "tan",
        "arcsin": "arcsin",
        "arccos": "arccos",
        "arctan": "arctan",
        "arctan2": "arctan2",
        "sinh": "sinh",
        "cosh": "cosh",
        "tanh": "tanh",
        "arcsinh": "arcsinh",
        "arccosh": "arccosh",
        "arctanh": "arctanh",
        "maximum": "maximum",
        "minimum": "minimum",
        "equal": "equal",
        "not_equal": "not_equal",
        "less": "less",
        "less_equal": "less_equal",
        "greater": "greater",
        "greater_equal": "greater_equal",
        "logical_not": "logical_not",
        "logical_and": "logical_and",
        "logical_or": "logical_or",
        "logical_xor": "logical_xor",
        "isfinite": "isfinite",
        "isnan": "isnan",
        "isinf": "isinf",
        "floor": "floor",
        "ceil": "ceil",
        "rint": "round",
        "trunc": "trunc",
        "matmul": "matmul",
    }.items()
    if tg_name in globals()
}

# x.exp(), x.tanh(), ... on Tensor.
UNARY_METHODS = {
    name: globals()[name]
    for name in (
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
        "sinh",
        "cosh",
        "tanh",
        "arcsinh",
        "arccosh",
        "arctanh",
        "sigmoid",
        "relu",
        "gelu",
        "silu",
        "softplus",
        "erf",
        "abs",
        "sign",
        "negative",
        "floor",
        "ceil",
        "round",
        "trunc",
        "isnan",
        "isfinite",
        "isinf",
        "logical_not",
    )
}
