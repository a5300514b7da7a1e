"""Op specs for elementwise primitives."""

from __future__ import annotations

import numpy as np

import tapegrad as tg

from . import (
    OpSpec,
    Sample,
    binary_edges,
    binary_samples,
    distinct,
    edge_values,
    gt1,
    nonzero,
    positive,
    real,
    unary_edges,
    unary_samples,
    unit,
)


def _t(name):
    return lambda torch, *a, **k: getattr(torch, name)(*a, **k)


def _kink_free(rng, shape, dtype):
    """Real values kept at least 0.1 away from 0 (kinks of abs, relu, ...)."""
    return nonzero(rng, shape, dtype)


def _away_from_ints(rng, shape, dtype):
    return np.asarray(np.floor(real(rng, shape, np.float64) * 2) / 2 + 0.25, dtype=dtype)


_UNARY = [
    # name, domain, torch name (None: no torch counterpart), numpy ref
    ("negative", real, "neg", np.negative),
    ("abs", _kink_free, "abs", np.abs),
    ("exp", real, "exp", np.exp),
    ("exp2", real, "exp2", np.exp2),
    ("expm1", real, "expm1", np.expm1),
    ("log", positive, "log", np.log),
    ("log2", positive, "log2", np.log2),
    ("log10", positive, "log10", np.log10),
    ("log1p", positive, "log1p", np.log1p),
    ("sqrt", positive, "sqrt", np.sqrt),
    ("cbrt", positive, None, np.cbrt),
    ("square", real, "square", np.square),
    ("reciprocal", nonzero, "reciprocal", np.reciprocal),
    ("sin", real, "sin", np.sin),
    ("cos", real, "cos", np.cos),
    ("tan", unit, "tan", np.tan),
    ("arcsin", unit, "asin", np.arcsin),
    ("arccos", unit, "acos", np.arccos),
    ("arctan", real, "atan", np.arctan),
    ("sinh", real, "sinh", np.sinh),
    ("cosh", real, "cosh", np.cosh),
    ("tanh", real, "tanh", np.tanh),
    ("arcsinh", real, "asinh", np.arcsinh),
    ("arccosh", gt1, "acosh", np.arccosh),
    ("arctanh", unit, "atanh", np.arctanh),
    ("sigmoid", real, "sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("relu", _kink_free, "relu", lambda x: np.maximum(x, 0)),
    ("silu", real, None, lambda x: x / (1 + np.exp(-x))),
    ("erf", real, "erf", None),
    ("softplus", real, None, lambda x: np.log1p(np.exp(x))),
    ("gelu", real, None, None),
    ("sign", _kink_free, "sign", np.sign),
    ("floor", _away_from_ints, "floor", np.floor),
    ("ceil", _away_from_ints, "ceil", np.ceil),
    ("round", _away_from_ints, "round", np.round),
    ("trunc", _away_from_ints, "trunc", np.trunc),
    ("copy", real, "clone", np.copy),
    ("identity", real, "clone", lambda x: x),
]

_NN_TORCH = {
    "silu": lambda torch, x: torch.nn.functional.silu(x),
    "softplus": lambda torch, x: torch.nn.functional.softplus(x),
    "gelu": lambda torch, x: torch.nn.functional.gelu(x),
}

_TORCH_FW_DIFFERS = (
    "PyTorch's forward-mode formula differs from its own reverse mode here; the jvp follows "
    "reverse mode (the sum of the reverse-mode partials times the tangents)"
)
_F32_GG = (
    "PyTorch's float32 double backward overflows at |x| = 3e38 (x * x = inf, then inf * 0 "
    "or inf / inf: NaN); tapegrad gives the limit, as both do in float64"
)
_UNARY_EDGE_ALLOW = {
    "gelu": {
        (0, "gradgrad"): "PyTorch's double backward of gelu overflows at |x| = 1e300 "
        "(x * x * pdf(x) = inf * 0: NaN); tapegrad gives the limit 0",
        (0, "value", "float32"): "PyTorch's float32 gelu kernel gives NaN at inf and "
        "overflows to inf at 3e38; tapegrad gives inf and 3e38 (float64 agrees)",
    },
    "arcsinh": {(0, "gradgrad", "float32"): _F32_GG},
    "arctanh": {(0, "gradgrad", "float32"): _F32_GG},
    "silu": {(0, "gradgrad", "float32"): _F32_GG},
    "erf": {(0, "gradgrad", "float32"): _F32_GG},
}
_BINARY_EDGE_ALLOW = {
    "divide": {
        (0, "jvp"): _TORCH_FW_DIFFERS + ": at y = +-0 with an infinite x, PyTorch's "
        "(t_x - t_y * (x/y)) / y is inf where the partials' sum is inf - inf = NaN"
    },
    "mod": {
        (0, "value"): "PyTorch's own remainder depends on an element's position where x / y "
        "overflows (1e300 % 1e-300): NaN in its vectorized loop (x - y * floor(x / y)), "
        "fmod's finite value in the scalar tail; tapegrad is fmod everywhere"
    },
    "arctan2": {
        (0, "gradgrad", "float32"): _F32_GG,
        (0, "jvp"): _TORCH_FW_DIFFERS + ": PyTorch's forward mode is NaN at (0, 0) and "
        "inf where x*x + y*y underflows, where its reverse mode gives 0",
    },
}

SPECS: list[OpSpec] = []
for _name, _dom, _tname, _ref in _UNARY:
    SPECS.append(
        OpSpec(
            name=_name,
            op=getattr(tg, _name),
            samples=unary_samples(_dom),
            prims=(_name,),
            torch_fn=_NN_TORCH.get(_name) or (_t(_tname) if _tname else None),
            torch_skip="" if (_tname or _name in _NN_TORCH) else "no torch counterpart",
            numpy_ref=_ref,
            # cbrt's oracle is a torch composite that differs from a cube root at 0 and inf
            edge_samples=unary_edges() if _name != "cbrt" else None,
            edge_allow=_UNARY_EDGE_ALLOW.get(_name, {}),
        )
    )


def _cbrt_torch(torch, x):
    return torch.sign(x) * torch.abs(x) ** (1.0 / 3.0)


SPECS[[s.name for s in SPECS].index("cbrt")].torch_fn = _cbrt_torch

_BINARY = [
    ("add", real, real, "add", np.add),
    ("subtract", real, real, "sub", np.subtract),
    ("multiply", real, real, "mul", np.multiply),
    ("divide", real, nonzero, "div", np.true_divide),
    ("power", positive, real, "pow", np.power),
    ("mod", real, nonzero, "remainder", np.mod),
    ("arctan2", real, nonzero, "atan2", np.arctan2),
]
for _name, _dx, _dy, _tname, _ref in _BINARY:
    SPECS.append(
        OpSpec(
            _name,
            getattr(tg, _name),
            binary_samples(_dx, _dy),
            prims=(_name,),
            torch_fn=_t(_tname),
            numpy_ref=_ref,
            edge_samples=binary_edges(),
            edge_allow=_BINARY_EDGE_ALLOW.get(_name, {}),
        )
    )


def _tie_samples(rng, dtype):
    # Exact ties: the gradient is split evenly (first order only; no second derivative).
    return [Sample((np.array([1.0, -0.5, 2.0], dtype), np.array([1.0, 0.5, 2.0], dtype)))]


_EXTREMUM_FW = (
    _TORCH_FW_DIFFERS + ": where one argument is NaN PyTorch's forward mode passes only one "
    "tangent, its reverse mode gives both arguments the full gradient"
)


def _where_edges(rng, dtype):
    # Both branches carry edge values; the unselected one gets no gradient (not 0 * inf).
    v = edge_values(dtype)
    cond = np.arange(v.size) % 2 == 0
    return [Sample((cond, v, v[::-1].copy())), Sample((cond, v, np.asarray(2.0, dtype)))]


def _clip_edges(rng, dtype):
    # Values at the bounds, beyond them, inf and NaN; the bounds themselves at 0 / -0.0.
    v = np.concatenate([edge_values(dtype), np.array([-0.9, 1.05], dtype)])
    return [
        Sample((v,), {"a_min": -0.9, "a_max": 1.05}),
        Sample((v,), {"a_min": -0.0, "a_max": 0.0}),
        Sample((v,), {"a_min": 1.0, "a_max": 1.0}),
    ]


SPECS += [
    OpSpec(
        "maximum",
        tg.maximum,
        binary_samples(distinct, real),
        prims=("maximum",),
        torch_fn=_t("maximum"),
        numpy_ref=np.maximum,
        edge_samples=binary_edges(),
        edge_allow={(0, "jvp"): _EXTREMUM_FW},
    ),
    OpSpec(
        "minimum",
        tg.minimum,
        binary_samples(distinct, real),
        prims=("minimum",),
        torch_fn=_t("minimum"),
        numpy_ref=np.minimum,
        edge_samples=binary_edges(),
        edge_allow={(0, "jvp"): _EXTREMUM_FW},
    ),
    OpSpec(
        "maximum_ties",
        tg.maximum,
        _tie_samples,
        prims=("maximum",),
        gradgrad=False,
        torch_fn=_t("maximum"),
    ),
    OpSpec(
        "minimum_ties",
        tg.minimum,
        _tie_samples,
        prims=("minimum",),
        gradgrad=False,
        torch_fn=_t("minimum"),
    ),
    OpSpec(
        "where",
        tg.where,
        lambda rng, dt: [
            Sample((np.asarray(rng.random(a) < 0.5), real(rng, a, dt), real(rng, b, dt)))
            for a, b in [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (2, 3)), ((), (4,))]
        ],
        prims=("where",),
        torch_fn=lambda torch, c, x, y: torch.where(c, x, y),
        numpy_ref=np.where,
        edge_samples=_where_edges,
    ),
    OpSpec(
        "leaky_relu",
        tg.leaky_relu,
        unary_samples(_kink_free, negative_slope=0.2),
        prims=("leaky_relu",),
        torch_fn=lambda torch, x, negative_slope: torch.nn.functional.leaky_relu(x, negative_slope),
        edge_samples=unary_edges(negative_slope=0.2),
    ),
    OpSpec(
        "elu",
        tg.elu,
        unary_samples(_kink_free, alpha=1.3),
        prims=("elu",),
        torch_fn=lambda torch, x, alpha: torch.nn.functional.elu(x, alpha),
        edge_samples=unary_edges(alpha=1.3),
    ),
    OpSpec(
        "gelu_tanh",
        tg.gelu,
        unary_samples(real, approximate="tanh"),
        prims=("gelu",),
        torch_fn=lambda torch, x, approximate: torch.nn.functional.gelu(x, approximate=approximate),
        edge_samples=unary_edges(approximate="tanh"),
    ),
    OpSpec(
        "softplus_beta",
        tg.softplus,
        unary_samples(real, beta=2.0, threshold=3.0),
        prims=("softplus",),
        torch_fn=lambda torch, x, beta, threshold: torch.nn.functional.softplus(x, beta, threshold),
        edge_samples=unary_edges(beta=2.0, threshold=3.0),
    ),
    OpSpec(
        "clip",
        tg.clip,
        unary_samples(distinct, a_min=-0.9, a_max=1.05),
        prims=("clip",),
        torch_fn=lambda torch, x, a_min, a_max: torch.clamp(x, a_min, a_max),
        numpy_ref=np.clip,
        edge_samples=_clip_edges,
    ),
    OpSpec(
        "clip_min_only",
        tg.clip,
        unary_samples(distinct, a_min=-0.9),
        prims=("clip",),
        torch_fn=lambda torch, x, a_min: torch.clamp(x, min=a_min),
        edge_samples=lambda rng, dt: [
            Sample((edge_values(dt),), {"a_min": -1.0}),
            Sample((edge_values(dt),), {"a_min": 0.0}),
        ],
    ),
    OpSpec(
        "astype",
        lambda x: tg.astype(x, np.float64),
        unary_samples(real),
        prims=("astype",),
        torch_fn=lambda torch, x: x.double(),
        dtypes=(np.float64,),
    ),
    OpSpec(
        "floor_divide",
        tg.floor_divide,
        binary_samples(real, nonzero),
        prims=("floor_divide",),
        grad=False,
        gradgrad=False,
        torch_fn=_t("floor_divide"),
        numpy_ref=np.floor_divide,
    ),
]

_COMPARE = [
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_and",
    "logical_or",
    "logical_xor",
]
_TORCH_COMPARE = {
    "equal": "eq",
    "not_equal": "ne",
    "less": "lt",
    "less_equal": "le",
    "greater": "gt",
    "greater_equal": "ge",
}
for _name in _COMPARE:
    SPECS.append(
        OpSpec(
            _name,
            getattr(tg, _name),
            binary_samples(distinct),
            prims=(_name,),
            grad=False,
            gradgrad=False,
            torch_fn=_t(_TORCH_COMPARE.get(_name, _name)),
            numpy_ref=getattr(np, _name),
        )
    )
for _name in ["logical_not", "isfinite", "isnan", "isinf"]:
    SPECS.append(
        OpSpec(
            _name,
            getattr(tg, _name),
            unary_samples(real),
            prims=(_name,),
            grad=False,
            gradgrad=False,
            torch_fn=_t(_name),
            numpy_ref=getattr(np, _name),
        )
    )
