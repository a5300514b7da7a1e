"""Op specs for the linalg family (see tests/opinfo/__init__.py).

Matrices are well conditioned (``rand + n * I``); symmetric positive-definite ones have
well-separated eigenvalues and the SVD inputs well-separated singular values, so the
decompositions are smooth around every sample.  Decompositions are compared with PyTorch
through gauge-fixed outputs (signs chosen by a rule both sides apply), since LAPACK builds
may choose different signs; the raw outputs are checked against NumPy and by finite
differences (the sign LAPACK picks is locally constant).
"""

from __future__ import annotations

import numpy as np

import tapegrad as tg

from . import OpSpec, Sample, real

# --------------------------------------------------------------------------- domains


def _wellcond(rng, shape, dtype):
    """Square (..., n, n): uniform(-1, 1) + n * I."""
    n = shape[-1]
    a = rng.uniform(-1.0, 1.0, shape) + n * np.eye(n)
    return np.asarray(a, dtype=dtype)


def _orth(rng, shape):
    q, r = np.linalg.qr(rng.standard_normal(shape))
    return q * np.sign(np.diagonal(r, 0, -2, -1))[..., None, :]


def _spd(rng, shape, dtype):
    """Symmetric positive definite with eigenvalues 1, 1.8, 2.6, ... (jittered)."""
    n = shape[-1]
    q = _orth(rng, shape)
    w = 1.0 + 0.8 * np.arange(n) + rng.uniform(0, 0.2, shape[:-1])
    a = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    return np.asarray(0.5 * (a + np.swapaxes(a, -1, -2)), dtype=dtype)


def _distinct_sv(rng, shape, dtype):
    """(..., m, n) with singular values 1, 1.7, 2.4, ... (jittered)."""
    m, n = shape[-2:]
    k = min(m, n)
    u = _orth(rng, shape[:-2] + (m, k))
    v = _orth(rng, shape[:-2] + (n, k))
    s = 1.0 + 0.7 * np.arange(k)[::-1] + rng.uniform(0, 0.2, shape[:-2] + (k,))
    return np.asarray((u * s[..., None, :]) @ np.swapaxes(v, -1, -2), dtype=dtype)


def _pairs(dom, shapes, **kw):
    def make(rng, dtype):
        return [Sample((dom(rng, a, dtype), dom(rng, b, dtype)), dict(kw)) for a, b in shapes]

    return make


def _singles(dom, shapes, **kw):
    def make(rng, dtype):
        return [Sample((dom(rng, s, dtype),), dict(kw)) for s in shapes]

    return make


# --------------------------------------------------------------------------- products

_MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((2, 2, 3), (3, 4)),
    ((3,), (2, 3, 4)),
    ((2, 3, 4), (4,)),
    ((2, 1, 2, 3), (3, 3, 2)),
    ((4, 2, 3), (4, 3, 2)),
    ((0, 3), (3, 2)),
    ((2, 0), (0, 3)),
]

_DOT_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3, 4)),
    ((2, 3), (3,)),
    ((3,), (3, 2)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2, 2, 3), (4, 3, 2)),
    ((2, 3), (4, 3, 5)),
    ((2, 4, 3), (3,)),
]


def _torch_dot(torch, a, b):
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return torch.tensordot(a, b, dims=([a.ndim - 1], [max(b.ndim - 2, 0)]))


_INNER_SHAPES = [((3,), (3,)), ((2, 3), (4, 3)), ((2, 1, 3), (3,)), ((), (2, 3)), ((3,), (2, 3))]
_OUTER_SHAPES = [((3,), (4,)), ((2, 2), (3,)), ((), (3,)), ((1,), (1,)), ((0,), (2,))]


def _tensordot_samples(rng, dtype):
    cases = [
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3), (3, 4), 1),
        ((2, 3), (4,), 0),
        ((2, 3, 4), (4, 3, 2), ([1, 2], [1, 0])),
        ((2, 3, 4), (4, 5), ([-1], [0])),
        ((3, 2), (2, 3), ([0, 1], [1, 0])),
        ((3,), (3,), 1),
    ]
    return [Sample((real(rng, a, dtype), real(rng, b, dtype)), {"axes": ax}) for a, b, ax in cases]


def _torch_tensordot(torch, a, b, axes):
    return torch.tensordot(a, b, dims=axes)


_EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("i,i->", [(4,)] * 2),
    ("i,i", [(4,)] * 2),
    ("i,j->ij", [(3,), (2,)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->i", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),
    ("...i,...i", [(2, 3), (3,)]),
    ("i...->...", [(3, 2, 2)]),
    ("iij->j", [(3, 3, 2)]),
    ("iii->i", [(2, 2, 2)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("ij,ij,ij->i", [(2, 3)] * 3),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 4), (4, 2), (2, 3)]),
    ("ijk,ikl->jl", [(2, 3, 2), (2, 2, 4)]),
    ("ij,j->ij", [(2, 3), (3,)]),
    ("i,i->i", [(1,), (3,)]),
    ("ba,Ab", [(2, 3), (4, 2)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("a,a,a,a,a,a,a,a,a,a->a", [(3,)] * 10),
    ("ab,b,b,b,b,b,b,b,b->a", [(2, 3)] + [(3,)] * 8),
    ("i,j,k->", [(2,), (3,), (2,)]),
]


def _einsum_samples(rng, dtype):
    return [Sample((s, *[real(rng, sh, dtype) for sh in shapes])) for s, shapes in _EINSUM_CASES]


# --------------------------------------------------------------------------- gauge fixing


def _sym(a):
    return 0.5 * (a + tg.swapaxes(a, -1, -2))


def _tsym(a):
    return 0.5 * (a + a.mT)


def _qr_pos(a, mode="reduced"):
    q, r = tg.linalg.qr(a, mode)
    d = tg.sign(tg.diagonal(r, 0, -2, -1))
    return q * tg.expand_dims(d, -2), r * tg.expand_dims(d, -1)


def _torch_qr_pos(torch, a, mode="reduced"):
    q, r = torch.linalg.qr(a, mode)
    d = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    return q * d[..., None, :], r * d[..., :, None]


def _svd_fixed(a):
    u, s, vh = tg.linalg.svd(a)
    sg = tg.sign(tg.sum(u, axis=-2, keepdims=True))
    return u * sg, s, vh * tg.swapaxes(sg, -1, -2)


def _torch_svd_fixed(torch, a):
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    sg = torch.sign(u.sum(-2, keepdim=True))
    return u * sg, s, vh * sg.mT


def _svd_invariants(a):
    """Gauge-invariant functions of the SVD: sum(S), U @ Vh (m >= n: polar factor), |U|."""
    u, s, vh = tg.linalg.svd(a)
    return tg.sum(s, -1), tg.matmul(u, vh), tg.abs(u)


def _torch_svd_invariants(torch, a):
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    return s.sum(-1), u @ vh, u.abs()


def _eigh_fixed(a, UPLO="L"):
    w, v = tg.linalg.eigh(_sym(a), UPLO)
    return w, v * tg.sign(tg.sum(v, axis=-2, keepdims=True))


def _torch_eigh_fixed(torch, a, UPLO="L"):
    w, v = torch.linalg.eigh(_tsym(a), UPLO)
    return w, v * torch.sign(v.sum(-2, keepdim=True))


def _eigh_expm(a):
    """v @ diag(exp(w)) @ v.T: the matrix exponential, gauge invariant."""
    w, v = tg.linalg.eigh(_sym(a))
    return tg.matmul(v * tg.expand_dims(tg.exp(w), -2), tg.swapaxes(v, -1, -2))


def _torch_eigh_expm(torch, a):
    w, v = torch.linalg.eigh(_tsym(a))
    return (v * torch.exp(w)[..., None, :]) @ v.mT


# --------------------------------------------------------------------------- inv/solve/det


def _solve_samples(rng, dtype):
    cases = [
        ((3, 3), (3,)),
        ((3, 3), (3, 2)),
        ((2, 3, 3), (2, 3, 2)),
        ((2, 3, 3), (3, 1)),
        ((1, 1), (1, 4)),
        ((2, 3, 3), (3,)),
    ]
    return [Sample((_wellcond(rng, a, dtype), real(rng, b, dtype))) for a, b in cases]


def _det_samples(rng, dtype):
    out = _singles(_wellcond, [(1, 1), (3, 3), (2, 3, 3), (2, 1, 2, 2)])(rng, dtype)
    neg = _wellcond(rng, (3, 3), dtype)
    neg[0] *= -1  # a negative determinant
    out.append(Sample((neg,)))
    return out


_NORM_CASES = [
    ((3, 4), {"ord": None}),
    ((3, 4), {"ord": "fro"}),
    ((3, 4), {"ord": "nuc"}),
    ((4, 3), {"ord": 2}),
    ((3, 4), {"ord": -2}),
    ((3, 4), {"ord": 1}),
    ((3, 4), {"ord": -1}),
    ((3, 4), {"ord": np.inf}),
    ((3, 4), {"ord": -np.inf}),
    ((2, 3, 4), {"ord": 2, "axis": (-2, -1)}),
    ((2, 3, 4), {"ord": "nuc", "axis": (2, 0), "keepdims": True}),
    ((2, 3, 4), {"ord": -2, "axis": (0, 1), "keepdims": True}),
    ((2, 3, 4), {"ord": "fro", "axis": (1, 2), "keepdims": True}),
    ((2, 3, 4), {"ord": 1, "axis": (2, 1)}),
    ((2, 3, 4), {"ord": None}),
    ((2, 3, 4), {"ord": None, "axis": 1}),
    ((5,), {"ord": 1}),
    ((4, 4), {"ord": 2, "keepdims": True}),
]


def _norm_samples(rng, dtype):
    return [
        Sample((_distinct_sv(rng, s, dtype) if len(s) >= 2 else real(rng, s, dtype),), k)
        for s, k in _NORM_CASES
    ]


def _torch_norm(torch, x, ord=None, axis=None, keepdims=False):
    return torch.linalg.norm(x, ord, axis, keepdims)


SPECS: list[OpSpec] = [
    OpSpec(
        "matmul",
        tg.matmul,
        _pairs(real, _MATMUL_SHAPES),
        prims=("matmul",),
        torch_fn=lambda torch, a, b: torch.matmul(a, b),
        numpy_ref=np.matmul,
    ),
    OpSpec(
        "linalg.matmul",
        tg.linalg.matmul,
        _pairs(real, _MATMUL_SHAPES[:4]),
        prims=("matmul",),
        torch_fn=lambda torch, a, b: torch.linalg.matmul(a, b),
    ),
    OpSpec(
        "dot",
        tg.dot,
        _pairs(real, _DOT_SHAPES),
        prims=("matmul", "einsum", "multiply"),
        torch_fn=_torch_dot,
        numpy_ref=np.dot,
    ),
    OpSpec(
        "inner",
        tg.inner,
        _pairs(real, _INNER_SHAPES),
        prims=("einsum", "multiply"),
        torch_fn=lambda torch, a, b: torch.inner(a, b),
        numpy_ref=np.inner,
    ),
    OpSpec(
        "outer",
        tg.outer,
        _pairs(real, _OUTER_SHAPES),
        prims=("multiply", "reshape"),
        torch_fn=lambda torch, a, b: torch.outer(a.flatten(), b.flatten()),
        numpy_ref=np.outer,
    ),
    OpSpec(
        "tensordot",
        tg.tensordot,
        _tensordot_samples,
        prims=("einsum",),
        torch_fn=_torch_tensordot,
        numpy_ref=np.tensordot,
    ),
    OpSpec(
        "einsum",
        tg.einsum,
        _einsum_samples,
        prims=("einsum",),
        torch_fn=lambda torch, s, *ops: torch.einsum(s, *ops),
        numpy_ref=np.einsum,
    ),
    OpSpec(
        "inv",
        tg.linalg.inv,
        _singles(_wellcond, [(1, 1), (3, 3), (2, 3, 3), (2, 1, 2, 2)]),
        prims=("inv",),
        torch_fn=lambda torch, a: torch.linalg.inv(a),
        numpy_ref=np.linalg.inv,
    ),
    OpSpec(
        "solve",
        tg.linalg.solve,
        _solve_samples,
        prims=("solve",),
        torch_fn=lambda torch, a, b: torch.linalg.solve(a, b),
        numpy_ref=np.linalg.solve,
    ),
    OpSpec(
        "det",
        tg.linalg.det,
        _det_samples,
        prims=("det",),
        torch_fn=lambda torch, a: torch.linalg.det(a),
        numpy_ref=np.linalg.det,
    ),
    OpSpec(
        "slogdet",
        tg.linalg.slogdet,
        _det_samples,
        prims=("slogdet",),
        torch_fn=lambda torch, a: tuple(torch.linalg.slogdet(a)),
        numpy_ref=lambda a: tuple(np.linalg.slogdet(a)),
    ),
    OpSpec(
        "cholesky",
        lambda a, **k: tg.linalg.cholesky(_sym(a), **k),
        _singles(_spd, [(1, 1), (3, 3), (2, 4, 4)]),
        prims=("cholesky",),
        torch_fn=lambda torch, a: torch.linalg.cholesky(_tsym(a)),
        numpy_ref=lambda a: np.linalg.cholesky(0.5 * (a + np.swapaxes(a, -1, -2))),
    ),
    OpSpec(
        "cholesky_upper",
        lambda a, **k: tg.linalg.cholesky(_sym(a), **k),
        _singles(_spd, [(3, 3), (2, 2, 2)], upper=True),
        prims=("cholesky",),
        torch_fn=lambda torch, a, upper: torch.linalg.cholesky(_tsym(a), upper=upper),
    ),
    OpSpec(
        "qr",
        _qr_pos,
        _singles(_distinct_sv, [(1, 1), (3, 3), (4, 3), (3, 5), (2, 4, 3)]),
        prims=("qr",),
        torch_fn=_torch_qr_pos,
    ),
    OpSpec(
        "qr_complete_square",
        _qr_pos,
        _singles(_distinct_sv, [(3, 3), (2, 4)], mode="complete"),
        prims=("qr",),
        torch_fn=_torch_qr_pos,
    ),
    OpSpec(
        "qr_raw",
        tg.linalg.qr,
        _singles(_distinct_sv, [(3, 3), (4, 2), (2, 3), (2, 3, 2)]),
        prims=("qr",),
        numpy_ref=lambda a: tuple(np.linalg.qr(a)),
        torch_skip="LAPACK's sign choice may differ; see the gauge-fixed 'qr' spec",
    ),
    OpSpec(
        "svd",
        _svd_fixed,
        _singles(_distinct_sv, [(1, 1), (3, 3), (4, 3), (3, 5), (2, 4, 3), (2, 2, 3)]),
        prims=("svd",),
        torch_fn=_torch_svd_fixed,
    ),
    OpSpec(
        "svd_invariants",
        _svd_invariants,
        _singles(_distinct_sv, [(3, 3), (4, 2), (2, 3, 3)]),
        prims=("svd",),
        torch_fn=_torch_svd_invariants,
    ),
    OpSpec(
        "svd_raw",
        tg.linalg.svd,
        _singles(_distinct_sv, [(3, 3), (4, 2), (2, 4)]),
        prims=("svd",),
        numpy_ref=lambda a: tuple(np.linalg.svd(a, full_matrices=False)),
        torch_skip="LAPACK's sign choice may differ; see the gauge-fixed 'svd' spec",
    ),
    OpSpec(
        "eigh",
        _eigh_fixed,
        _singles(_spd, [(1, 1), (3, 3), (2, 4, 4)]),
        prims=("eigh",),
        torch_fn=_torch_eigh_fixed,
    ),
    OpSpec(
        "eigh_upper",
        _eigh_fixed,
        _singles(_spd, [(3, 3)], UPLO="U"),
        prims=("eigh",),
        torch_fn=_torch_eigh_fixed,
    ),
    OpSpec(
        "eigh_expm",
        _eigh_expm,
        _singles(_spd, [(3, 3), (2, 2, 2)]),
        prims=("eigh",),
        torch_fn=_torch_eigh_expm,
    ),
    OpSpec(
        "eigh_raw",
        lambda a: tg.linalg.eigh(_sym(a)),
        _singles(_spd, [(3, 3), (2, 2, 2)]),
        prims=("eigh",),
        numpy_ref=lambda a: tuple(np.linalg.eigh(a)),
        torch_skip="eigenvector signs may differ; see the gauge-fixed 'eigh' spec",
    ),
    OpSpec(
        "linalg.norm",
        tg.linalg.norm,
        _norm_samples,
        prims=("svd", "matmul"),
        torch_fn=_torch_norm,
        numpy_ref=np.linalg.norm,
    ),
]
