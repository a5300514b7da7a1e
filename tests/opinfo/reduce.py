"""Op specs for the reduce family (see tests/opinfo/__init__.py)."""

from __future__ import annotations

import numpy as np

import tapegrad as tg

from . import OpSpec, Sample, distinct, nonzero, real

# shape, axis, keepdims: 0-d, 1-d, n-d, size-1 and empty dims, negative and tuple axes.
_CASES = [
    ((), None, False),
    ((), 0, True),
    ((5,), None, False),
    ((5,), 0, True),
    ((2, 3), 1, False),
    ((2, 3), -1, True),
    ((2, 3), (0, 1), False),
    ((3, 1, 4), (0, 2), True),
    ((3, 1, 4), -2, False),
    ((2, 3, 4), (-1, 0), False),
    ((2, 3, 4), None, True),
    ((0, 3), 1, False),
]
# Reductions over an axis of size 0 (defined for sum, mean, prod, logsumexp).
_EMPTY_AXIS = [((0, 3), 0, False), ((2, 0), (1,), True)]


def reduce_samples(domain, cases=None, empty_axis=False, **kwargs):
    cases = list(_CASES if cases is None else cases) + (_EMPTY_AXIS if empty_axis else [])

    def make(rng, dtype):
        return [
            Sample((domain(rng, shape, dtype),), dict(axis=axis, keepdims=keep, **kwargs))
            for shape, axis, keep in cases
        ]

    return make


def _dims(x, axis):
    if axis is None:
        return tuple(range(x.dim()))
    return tuple(axis) if isinstance(axis, tuple) else (axis,)


def _np(fn):
    # NumPy reductions (other than sum) reject axis=0 on a 0-d array; PyTorch and tapegrad
    # accept it and reduce nothing.
    return lambda x, axis, keepdims, **kw: fn(
        x, axis=None if x.ndim == 0 else axis, keepdims=keepdims, **kw
    )


def _torch_red(name):
    def f(torch, x, axis, keepdims):
        return getattr(torch, name)(x, dim=_dims(x, axis), keepdim=keepdims)

    return f


def _torch_prod(torch, x, axis, keepdims):
    if x.dim() == 0:
        return torch.prod(x)
    for d in sorted((d % x.dim() for d in _dims(x, axis)), reverse=True):
        x = torch.prod(x, d, keepdim=keepdims)
    return x


def _torch_var(name):
    def f(torch, x, axis, keepdims, ddof=0):
        return getattr(torch, name)(x, dim=_dims(x, axis), correction=ddof, keepdim=keepdims)

    return f


def _torch_arg(name):
    def f(torch, x, axis, keepdims):
        return getattr(torch, name)(x, dim=axis, keepdim=keepdims)

    return f


def _torch_scan(name):
    def f(torch, x, axis):
        if axis is None or x.dim() == 0:
            return getattr(torch, name)(x.reshape(-1), 0)
        return getattr(torch, name)(x, axis)

    return f


def _torch_norm(torch, x, ord=None, axis=None, keepdims=False):
    la = torch.linalg
    if (
        isinstance(axis, tuple)
        and len(axis) == 2
        or (axis is None and ord is not None and x.dim() == 2)
    ):
        dims = axis if axis is not None else (0, 1)
        return la.matrix_norm(x, "fro" if ord is None else ord, dim=dims, keepdim=keepdims)
    return la.vector_norm(x, 2 if ord is None else ord, dim=axis, keepdim=keepdims)


def _np_norm(x, ord=None, axis=None, keepdims=False):
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


# base shape, axis, keepdims, axis along which the array is doubled: every value of a
# reduced slice then occurs exactly twice (a two-way tie, where central differences see the
# even split 1/2, 1/2 too).
_TIE_CASES = [
    ((3,), None, False, 0),
    ((2, 3), 1, False, 1),
    ((2, 3), (0, 1), True, 0),
    ((3, 1, 2), (0, 2), False, 2),
    ((2, 3, 2), -1, True, 2),
]


def tie_samples(rng, dtype):
    return [
        Sample((np.asarray(np.concatenate([d, d], axis=c), dtype),), dict(axis=axis, keepdims=keep))
        for shape, axis, keep, c in _TIE_CASES
        for d in [distinct(rng, shape, np.float64)]
    ]


def _constant_rows(rng, shape, dtype):
    """Every other slice along the last axis is constant (std = 0 there)."""
    x = real(rng, shape, np.float64)
    if x.ndim:
        x[::2, ...] = x[::2, ..., :1]
    return np.asarray(x, dtype=dtype)


def _with_zeros(rng, shape, dtype):
    """Nonzero values with zeros planted: slices with no, one, two and three zeros."""
    x = nonzero(rng, shape, np.float64).reshape(-1)
    for k in (1, 5, 6, 10, 13, 14, 15):
        if k < x.size:
            x[k] = 0.0
    return np.asarray(x.reshape(shape), dtype=dtype)


def _mostly_zeros(rng, shape, dtype):
    """About 70% zeros: slices where nothing, something and everything is nonzero."""
    return np.asarray(_with_zeros(rng, shape, dtype) * (rng.random(shape) < 0.3), dtype)


_ZERO_CASES = [
    ((5,), None, False),
    ((4, 5), 1, False),
    ((4, 5), 0, True),
    ((4, 5), (0, 1), False),
    ((2, 4, 3), (0, 2), True),
    ((2, 4, 3), -2, False),
    ((), None, False),
]


def zeros_samples(rng, dtype):
    out = [
        Sample((_with_zeros(rng, s, dtype),), dict(axis=a, keepdims=k)) for s, a, k in _ZERO_CASES
    ]
    return out + [Sample((np.zeros((2, 3), dtype),), dict(axis=1, keepdims=False))]


def scan_zeros_samples(rng, dtype):
    out = [
        Sample((_with_zeros(rng, s, dtype),), dict(axis=a))
        for s, a, _ in _ZERO_CASES
        if not isinstance(a, tuple)
    ]
    return out + [Sample((np.zeros((2, 3), dtype),), dict(axis=1))]


_SCAN_CASES = [
    ((), None),
    ((), 0),
    ((5,), 0),
    ((5,), None),
    ((2, 3), 1),
    ((2, 3), -2),
    ((3, 1, 4), None),
    ((2, 3, 4), 2),
    ((0, 3), 1),
]


def scan_samples(domain):
    def make(rng, dtype):
        return [
            Sample((domain(rng, shape, dtype),), dict(axis=axis)) for shape, axis in _SCAN_CASES
        ]

    return make


def _norm_samples(domain, cases):
    def make(rng, dtype):
        return [Sample((domain(rng, shape, dtype),), dict(kw)) for shape, kw in cases]

    return make


_VEC = [
    ((5,), {}),
    ((2, 3), {}),
    ((), {}),
    ((3, 1, 4), {"axis": -1}),
    ((2, 3), {"axis": 0, "keepdims": True}),
    ((4,), {"axis": (0,)}),
]


def _vec_cases(ord):
    return [(s, {"ord": ord, **kw}) for s, kw in _VEC if kw or len(s) == 1]


_MAT = [
    ((2, 3), {}),
    ((3, 4), {"axis": (1, 0)}),
    ((2, 3, 4), {"axis": (-1, 0)}),
    ((2, 3, 4), {"axis": (0, 2), "keepdims": True}),
]


def _mat_cases(ord):
    return [(s, {"ord": ord, **kw}) for s, kw in _MAT]


def _norm_spec(name, domain, cases, prims=("vector_norm",), **kw):
    return OpSpec(
        name,
        tg.norm,
        _norm_samples(domain, cases),
        prims=prims,
        torch_fn=_torch_norm,
        numpy_ref=_np_norm,
        **kw,
    )


SPECS: list[OpSpec] = [
    OpSpec(
        "sum",
        tg.sum,
        reduce_samples(real, empty_axis=True),
        prims=("sum",),
        torch_fn=_torch_red("sum"),
        numpy_ref=_np(np.sum),
    ),
    OpSpec(
        "mean",
        tg.mean,
        reduce_samples(real),
        prims=("mean",),
        torch_fn=_torch_red("mean"),
        numpy_ref=_np(np.mean),
    ),
    OpSpec(
        "prod",
        tg.prod,
        reduce_samples(nonzero, empty_axis=True),
        prims=("prod",),
        torch_fn=_torch_prod,
        numpy_ref=_np(np.prod),
    ),
    # Zeros in the slices: the exact gradient (and second derivative) of a polynomial.
    OpSpec(
        "prod_zeros",
        tg.prod,
        zeros_samples,
        prims=("prod", "where", "sum"),
        torch_fn=_torch_prod,
        numpy_ref=_np(np.prod),
    ),
    OpSpec(
        "max",
        tg.max,
        reduce_samples(distinct),
        prims=("max",),
        torch_fn=_torch_red("amax"),
        numpy_ref=_np(np.max),
    ),
    OpSpec(
        "min",
        tg.min,
        reduce_samples(distinct),
        prims=("min",),
        torch_fn=_torch_red("amin"),
        numpy_ref=_np(np.min),
    ),
    # Ties share the gradient evenly (torch.amax/amin); no second derivative at a tie.
    OpSpec(
        "max_ties", tg.max, tie_samples, prims=("max",), gradgrad=False, torch_fn=_torch_red("amax")
    ),
    OpSpec(
        "min_ties", tg.min, tie_samples, prims=("min",), gradgrad=False, torch_fn=_torch_red("amin")
    ),
    OpSpec(
        "argmax",
        tg.argmax,
        reduce_samples(
            distinct, cases=[c for c in _CASES if not isinstance(c[1], tuple) and 0 not in c[0]]
        ),
        prims=("argmax",),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_arg("argmax"),
        numpy_ref=_np(np.argmax),
    ),
    OpSpec(
        "argmin",
        tg.argmin,
        reduce_samples(
            distinct, cases=[c for c in _CASES if not isinstance(c[1], tuple) and 0 not in c[0]]
        ),
        prims=("argmin",),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_arg("argmin"),
        numpy_ref=_np(np.argmin),
    ),
    OpSpec(
        "var",
        tg.var,
        reduce_samples(real, cases=_CASES[:-1]),
        prims=("var", "mean"),
        torch_fn=_torch_var("var"),
        numpy_ref=_np(np.var),
    ),
    OpSpec(
        "var_ddof1",
        tg.var,
        reduce_samples(
            real,
            cases=[
                ((5,), None, False),
                ((2, 3), -1, True),
                ((3, 1, 4), (0, 2), False),
                ((2, 3, 4), None, True),
            ],
            ddof=1,
        ),
        prims=("var", "mean"),
        torch_fn=_torch_var("var"),
        numpy_ref=_np(np.var),
    ),
    OpSpec(
        "std",
        tg.std,
        reduce_samples(
            nonzero, cases=[c for c in _CASES if c[0] not in ((), (0, 3)) and c[1] != -2]
        ),
        prims=("std", "mean"),
        torch_fn=_torch_var("std"),
        numpy_ref=_np(np.std),
    ),
    OpSpec(
        "std_ddof1",
        tg.std,
        reduce_samples(real, cases=[((5,), 0, False), ((2, 3, 4), (-1, 0), True)], ddof=1),
        prims=("std", "mean"),
        torch_fn=_torch_var("std"),
        numpy_ref=_np(np.std),
    ),
    # std = 0 on constant slices: the derivative there is 0 (PyTorch).
    OpSpec(
        "std_at_zero",
        tg.std,
        reduce_samples(
            _constant_rows,
            cases=[
                ((4, 3), -1, False),
                ((2, 2, 3), 2, True),
                ((), None, False),
                ((3, 1, 4), -2, False),
            ],
        ),
        prims=("std",),
        gradgrad=False,
        torch_fn=_torch_var("std"),
        numpy_ref=_np(np.std),
    ),
    OpSpec(
        "logsumexp",
        tg.logsumexp,
        reduce_samples(real),
        prims=("logsumexp",),
        torch_fn=_torch_red("logsumexp"),
    ),
    # An empty axis gives -inf: values only (finite differences of -inf are nan; the zero
    # gradient and tangent are pinned in tests/test_reduce_forward.py).
    OpSpec(
        "logsumexp_empty_axis",
        tg.logsumexp,
        reduce_samples(real, cases=[], empty_axis=True),
        prims=("logsumexp",),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_red("logsumexp"),
    ),
    OpSpec(
        "logsumexp_large",
        tg.logsumexp,
        lambda rng, dt: [
            Sample(
                (np.asarray(real(rng, s, np.float64) * 5 + c, dt),), dict(axis=a, keepdims=False)
            )
            for s, a, c in [((4,), None, 800.0), ((3, 4), 1, -900.0)]
        ],
        prims=("logsumexp",),
        torch_fn=_torch_red("logsumexp"),
        gradgrad=False,
    ),
    _norm_spec("norm2", real, [(s, kw) for s, kw in _VEC] + [((2, 3), {"ord": 2, "axis": 1})]),
    _norm_spec("norm1", nonzero, _vec_cases(1)),
    _norm_spec("norm3", nonzero, _vec_cases(3)),
    _norm_spec("norm1.5", nonzero, _vec_cases(1.5)),
    _norm_spec("norm0.5", nonzero, _vec_cases(0.5)),
    _norm_spec("norm-1", nonzero, _vec_cases(-1)),
    _norm_spec("norm_inf", distinct, _vec_cases(np.inf)),
    _norm_spec("norm-inf", distinct, _vec_cases(-np.inf)),
    _norm_spec(
        "norm0",
        real,
        _vec_cases(0),
        prims=("not_equal", "sum", "astype"),
        grad=False,
        gradgrad=False,
    ),
    _norm_spec("norm_fro", real, _mat_cases(None) + _mat_cases("fro")),
    _norm_spec("norm_matrix1", nonzero, _mat_cases(1), prims=("abs", "sum", "max", "reshape")),
    _norm_spec("norm_matrix-1", nonzero, _mat_cases(-1), prims=("abs", "sum", "min")),
    _norm_spec("norm_matrix_inf", nonzero, _mat_cases(np.inf), prims=("abs", "sum", "max")),
    _norm_spec("norm_matrix-inf", nonzero, _mat_cases(-np.inf), prims=("abs", "sum", "min")),
    # The zero vector: gradient 0 for every p (PyTorch's subgradient); ties for inf.
    _norm_spec(
        "norm_at_zero",
        lambda rng, s, dt: np.zeros(s, dt),
        [((4,), {"ord": o}) for o in (None, 2, 3, 1.5, 0.5)],
        gradgrad=False,
    ),
    OpSpec(
        "norm_inf_ties",
        tg.norm,
        lambda rng, dt: [
            Sample((s.args[0],), dict(ord=o, axis=s.kwargs["axis"]))
            for s, o in zip(tie_samples(rng, dt), [np.inf, -np.inf] * 3)
            if not isinstance(s.kwargs["axis"], tuple)
        ],
        prims=("vector_norm",),
        gradgrad=False,
        torch_fn=_torch_norm,
        numpy_ref=_np_norm,
    ),
    OpSpec(
        "cumsum",
        tg.cumsum,
        scan_samples(real),
        prims=("cumsum", "reshape"),
        torch_fn=_torch_scan("cumsum"),
        numpy_ref=np.cumsum,
    ),
    OpSpec(
        "cumprod",
        tg.cumprod,
        scan_samples(nonzero),
        prims=("cumprod", "cumsum"),
        torch_fn=_torch_scan("cumprod"),
        numpy_ref=np.cumprod,
    ),
    OpSpec(
        "cumprod_zeros",
        tg.cumprod,
        scan_zeros_samples,
        prims=("cumprod", "cumsum", "where", "sum"),
        torch_fn=_torch_scan("cumprod"),
        numpy_ref=np.cumprod,
    ),
    OpSpec(
        "any",
        tg.any,
        reduce_samples(_mostly_zeros),
        prims=("any",),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_red("any"),
        numpy_ref=_np(np.any),
    ),
    OpSpec(
        "all",
        tg.all,
        reduce_samples(_with_zeros),
        prims=("all",),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_red("all"),
        numpy_ref=_np(np.all),
    ),
]

# --------------------------------------------------------------------------- sort family
# Distinct values (no ties): the sorted order, the top k and the medians are well defined and
# finite differences see one element per output.
_SORT_CASES = [
    ((), -1),
    ((5,), -1),
    ((5,), None),
    ((2, 3), 0),
    ((2, 3), -1),
    ((3, 1, 4), 1),
    ((2, 3, 4), None),
    ((0, 3), 1),
]


def _sort_samples(**kwargs):
    def make(rng, dtype):
        return [Sample((distinct(rng, s, dtype),), dict(axis=a, **kwargs)) for s, a in _SORT_CASES]

    return make


# --------------------------------------------------------------------------- edge samples
def _edge_rows(dtype):
    """Slices with zeros of both signs, +-inf, NaN, huge values and ties."""
    inf, nan = np.inf, np.nan
    huge = 3e38 if np.dtype(dtype) == np.float32 else 1e300
    rows = [
        [0.0, -0.0, 1.0, 2.0],
        [inf, 1.0, 2.0, 3.0],
        [-inf, 1.0, 2.0, 3.0],
        [nan, 1.0, 2.0, 3.0],
        [nan, inf, -inf, 0.0],
        [huge, huge, 1.0, 2.0],
        [-huge, 0.5, -0.5, 2.0],
        [-inf, -inf, -inf, -inf],
        [inf, inf, 1.0, 2.0],
        [inf, -inf, 0.0, 1.0],
        [0.0, 0.0, 0.0, 0.0],
        [-0.0, -0.0, -0.0, -0.0],
        [1.5, 1.5, 1.5, 1.5],
        [0.0, 0.0, 0.0, 1.0],
    ]
    return np.array(rows, dtype=dtype)


def edge_reduce_samples(**kwargs):
    def make(rng, dtype):
        rows = _edge_rows(dtype)
        out = [Sample((rows,), dict(axis=1, keepdims=False, **kwargs))]
        out += [Sample((rows[i],), dict(axis=None, keepdims=False, **kwargs)) for i in (3, 4, 7)]
        return out

    return make


def _torch_sort(what):
    def f(torch, x, axis, descending=False):
        if axis is None:
            x, axis = x.reshape(-1), 0
        return getattr(torch.sort(x, dim=axis, descending=descending, stable=True), what)

    return f


def _np_sort(x, axis, descending=False):
    if x.ndim == 0:  # NumPy rejects axis=-1 of a 0-d array; PyTorch (and tapegrad) accept it
        return x.copy()
    s = np.sort(x, axis=axis, kind="stable")
    return np.flip(s, -1 if axis is None else axis) if descending and s.ndim else s


def _np_argsort(x, axis, descending=False):
    if x.ndim == 0:
        return np.zeros((), np.int64)
    return np.argsort(-x if descending else x, axis=axis, kind="stable").astype(np.int64)


_TOPK_CASES = [((5,), 2, -1), ((5,), 5, 0), ((2, 3), 1, 0), ((3, 4), 3, -1), ((2, 3, 4), 2, 1)]


def _topk_samples(rng, dtype):
    return [
        Sample((distinct(rng, s, dtype),), dict(k=k, axis=a, largest=largest))
        for s, k, a in _TOPK_CASES
        for largest in (True, False)
    ]


def _torch_topk(what):
    def f(torch, x, k, axis, largest):
        return getattr(torch.topk(x, k, dim=axis, largest=largest), what)

    return f


_MEDIAN_CASES = [
    ((5,), None, False),
    ((4,), 0, True),
    ((2, 3), 1, False),
    ((2, 4), -1, True),
    ((3, 4), 0, False),
    ((2, 3, 4), None, False),
    ((1, 6), 1, False),
]


def _torch_quantile_median(torch, x, axis, keepdims):
    # torch.quantile(q=0.5) interpolates linearly: NumPy's median (the mean of the two
    # middle values for an even count).
    return torch.quantile(x, 0.5, dim=axis, keepdim=keepdims)


def _torch_lower_median(what):
    def f(torch, x, axis, keepdims):
        return getattr(torch.median(x, dim=axis, keepdim=keepdims), what)

    return f


def _torch_max_dim(name, what):
    def f(torch, x, axis, keepdims):
        return getattr(getattr(torch, name)(x, dim=axis, keepdim=keepdims), what)

    return f


_DIM_CASES = [((5,), 0, False), ((2, 3), 1, True), ((2, 3), -2, False), ((3, 1, 4), 2, False)]


def _dim_samples(rng, dtype):
    return [Sample((distinct(rng, s, dtype),), dict(axis=a, keepdims=k)) for s, a, k in _DIM_CASES]


SPECS += [
    OpSpec(
        "sort",
        tg.sort,
        _sort_samples(),
        prims=("argsort", "index", "reshape"),
        torch_fn=_torch_sort("values"),
        numpy_ref=_np_sort,
    ),
    OpSpec(
        "sort_descending",
        tg.sort,
        _sort_samples(descending=True),
        prims=("argsort", "index"),
        torch_fn=_torch_sort("values"),
        numpy_ref=_np_sort,
    ),
    OpSpec(
        "argsort",
        tg.argsort,
        _sort_samples(),
        prims=("argsort",),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_sort("indices"),
        numpy_ref=_np_argsort,
    ),
    OpSpec(
        "argsort_descending",
        tg.argsort,
        _sort_samples(descending=True),
        prims=("argsort",),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_sort("indices"),
        numpy_ref=_np_argsort,
    ),
    OpSpec(
        "topk",
        lambda x, **kw: tg.topk(x, **kw).values,
        _topk_samples,
        prims=("argsort", "index"),
        torch_fn=_torch_topk("values"),
    ),
    OpSpec(
        "topk_indices",
        lambda x, **kw: tg.topk(x, **kw).indices,
        _topk_samples,
        prims=("argsort",),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_topk("indices"),
    ),
    OpSpec(
        "median",
        tg.median,
        reduce_samples(distinct, cases=_MEDIAN_CASES),
        prims=("argsort", "index", "getitem", "add", "multiply"),
        torch_fn=_torch_quantile_median,
        numpy_ref=_np(np.median),
    ),
    # Several axes at once (torch.quantile takes one dim): NumPy's values only.
    OpSpec(
        "median_axes",
        tg.median,
        reduce_samples(
            distinct,
            cases=[((2, 3, 4), (0, 2), False), ((3, 2, 2), (-1, 0), True), ((), None, False)],
        ),
        prims=("argsort", "index", "moveaxis" if "moveaxis" in tg.ops.REGISTRY else "transpose"),
        numpy_ref=_np(np.median),
    ),
    # Tensor.median(dim): PyTorch's lower median with its index (gradient to that index).
    OpSpec(
        "median_dim",
        lambda x, axis, keepdims: x.median(axis, keepdims).values,
        reduce_samples(distinct, cases=[c for c in _MEDIAN_CASES if c[1] is not None]),
        prims=("index", "median_index"),
        torch_fn=_torch_lower_median("values"),
    ),
    OpSpec(
        "median_dim_indices",
        lambda x, axis, keepdims: x.median(axis, keepdims).indices,
        reduce_samples(distinct, cases=[c for c in _MEDIAN_CASES if c[1] is not None]),
        grad=False,
        gradgrad=False,
        torch_fn=_torch_lower_median("indices"),
    ),
    # Tensor.max(dim) / min(dim): values gathered at the first extremal index.
    *(
        OpSpec(
            f"{name}_dim{'_indices' if what == 'indices' else ''}",
            (lambda n, w: lambda x, axis, keepdims: getattr(getattr(x, n)(axis, keepdims), w))(
                name, what
            ),
            _dim_samples,
            prims=("index", "extremum_index"),
            grad=what == "values",
            gradgrad=what == "values",
            torch_fn=_torch_max_dim(name, what),
        )
        for name in ("max", "min")
        for what in ("values", "indices")
    ),
]


def edge_norm_samples(ord):
    def make(rng, dtype):
        rows = _edge_rows(dtype)
        return [Sample((rows,), {"ord": ord, "axis": 1}), Sample((rows[3],), {"ord": ord})]

    return make


def edge_scan_samples(rng, dtype):
    return [Sample((_edge_rows(dtype),), dict(axis=1))]


_EDGE = {
    "sum": edge_reduce_samples(),
    "mean": edge_reduce_samples(),
    "prod": edge_reduce_samples(),
    "max": edge_reduce_samples(),
    "min": edge_reduce_samples(),
    "var": edge_reduce_samples(),
    "var_ddof1": edge_reduce_samples(ddof=1),
    "std": edge_reduce_samples(),
    "std_ddof1": edge_reduce_samples(ddof=1),
    "logsumexp": edge_reduce_samples(),
    "cumsum": edge_scan_samples,
    "cumprod": edge_scan_samples,
    "norm2": edge_norm_samples(2),
    "norm1": edge_norm_samples(1),
    "norm3": edge_norm_samples(3),
    "norm1.5": edge_norm_samples(1.5),
    "norm0.5": edge_norm_samples(0.5),
    "norm-1": edge_norm_samples(-1),
    "norm_inf": edge_norm_samples(np.inf),
    "norm-inf": edge_norm_samples(-np.inf),
}
_NORM_GG = (
    "PyTorch's double backward of the norm is NaN at zeros (0 * inf in its formula); "
    "tapegrad's first-order rule selects with where, so its derivative is 0 there"
)
_PROD = (
    "not aligned yet: tapegrad's cumprod rules divide (ans / x: NaN at an infinite "
    "entry, inf * 0 with a zero), PyTorch's use products of the other entries"
)
_STD32 = (
    "not aligned yet: float32 std over values near 3e38 overflows here (NumPy squares in "
    "float32), PyTorch accumulates in double and gives a finite std (and gradient)"
)
_EDGE_ALLOW: dict = {
    "std": {(0, c, "float32"): _STD32 for c in ("value", "grad", "jvp")},
    "std_ddof1": {(0, c, "float32"): _STD32 for c in ("value", "grad", "jvp")},
    "min": {
        (0, "value"): "min of [0.0, -0.0, ...]: which of two equal zeros is returned is "
        "unspecified (NumPy returns -0.0, PyTorch 0.0)"
    },
    "logsumexp": {
        (0, "jvp"): "PyTorch's forward mode differs from its own reverse mode at tied "
        "huge maxima (1e300, 1e300): its tangent uses the normalized softmax, its reverse "
        "mode exp(x - lse), which rounds to 1 for each tie; the jvp follows reverse mode"
    },
    "prod": {
        (0, "gradgrad"): "not aligned yet: a recorded (create_graph) prod rule peels zeros "
        "and divides elsewhere (ans / x: NaN at an infinite entry); PyTorch's double backward "
        "differentiates its exclusive products"
    },
    "cumprod": {(0, "grad"): _PROD, (0, "jvp"): _PROD, (0, "gradgrad"): _PROD},
    "norm2": {(0, "gradgrad"): _NORM_GG},
    "norm0.5": {(0, "gradgrad"): _NORM_GG},
    "norm-1": {(0, "gradgrad"): _NORM_GG},
}
for _spec in SPECS:
    if _spec.name in _EDGE:
        _spec.edge_samples = _EDGE[_spec.name]
        _spec.edge_allow = _EDGE_ALLOW.get(_spec.name, {})
