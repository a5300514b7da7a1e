"""Forward mode through the linear-algebra primitives: the 1-D and broadcast cases of matmul
and solve, tangents with several batch axes over a batch of matrices, the decompositions'
outputs one at a time, higher orders (jvp of jvp, forward-over-reverse Hessians) and the
non-differentiable modes."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd.dual import make_dual, new_level
from tapegrad.errors import NotDifferentiableError

RNG = np.random.default_rng(0)


def _wellcond(*shape):
    n = shape[-1]
    return RNG.uniform(-1.0, 1.0, shape) + n * np.eye(n)


def _spd(*shape):
    a = RNG.uniform(-1.0, 1.0, shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _sym(a):
    return 0.5 * (a + tg.swapaxes(a, -1, -2))


def _jac_agree(f, *args):
    """jacfwd == jacrev with respect to each argument (the others fixed)."""
    for i in range(len(args)):

        def fi(a, i=i):
            return f(*args[:i], a, *args[i + 1 :])

        np.testing.assert_allclose(
            tg.jacfwd(fi)(args[i]), tg.jacrev(fi)(args[i]), rtol=1e-9, atol=1e-11
        )


def _batched_matches_loop(f, *args, batch=(2, 3)):
    """Tangents with several batch axes (on every argument) give the tangents of the slices."""
    us = [RNG.standard_normal(batch + a.shape) for a in args]
    level = new_level()
    out = f(*[make_dual(tg.tensor(a), tg.Tensor(u), level) for a, u in zip(args, us)])
    if not out._fw:  # no tangent (slogdet's sign): zero
        return
    tb = out._fw[level].data
    assert tb.shape == batch + out.shape
    for idx in np.ndindex(*batch):
        lv = new_level()
        o = f(*[make_dual(tg.tensor(a), tg.Tensor(u[idx]), lv) for a, u in zip(args, us)])
        np.testing.assert_allclose(tb[idx], o._fw[lv].data, rtol=1e-10, atol=1e-12)


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 2)),
    ((3,), (2, 2, 3, 4)),
    ((2, 3), (3,)),
    ((2, 2, 3), (3,)),
    ((2, 3), (2, 3, 4)),
    ((4, 1, 2, 3), (2, 3, 2)),
]


@pytest.mark.parametrize("sx,sy", MATMUL_SHAPES, ids=str)
def test_matmul_forward_matches_reverse_and_batches(sx, sy):
    x, y = RNG.standard_normal(sx), RNG.standard_normal(sy)
    _jac_agree(tg.matmul, x, y)
    _batched_matches_loop(tg.matmul, x, y)


@pytest.mark.parametrize(
    "subs,shapes",
    [
        ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),
        ("ii->i", [(3, 3)]),
        ("ij,ij,ij->i", [(2, 3)] * 3),
        ("i,i->i", [(1,), (3,)]),
        ("a,a,a,a,a,a,a,a,a,a->a", [(3,)] * 10),
    ],
)
def test_einsum_forward_matches_reverse_and_batches(subs, shapes):
    args = [RNG.standard_normal(s) for s in shapes]
    f = lambda *ops: tg.einsum(subs, *ops)  # noqa: E731
    _jac_agree(f, *args)
    _batched_matches_loop(f, *args)


@pytest.mark.parametrize(
    "sa,sb", [((3, 3), (3,)), ((2, 3, 3), (3,)), ((2, 3, 3), (3, 2)), ((3, 3), (2, 3, 2))]
)
def test_solve_forward_broadcasts_vectors_and_batches(sa, sb):
    a, b = _wellcond(*sa), RNG.standard_normal(sb)
    _jac_agree(tg.linalg.solve, a, b)
    _batched_matches_loop(tg.linalg.solve, a, b)


def _outputs(name, **kw):
    """Each float output of a linalg function as its own function."""
    fn = getattr(tg.linalg, name)
    n = {"slogdet": 2, "qr": 2, "svd": 3, "eigh": 2}.get(name, 1)
    pre = _sym if name in ("cholesky", "eigh") else (lambda a: a)
    if n == 1:
        return [lambda a: fn(pre(a), **kw)]
    return [lambda a, k=k: fn(pre(a), **kw)[k] for k in range(n)]


DECOMP_CASES = [
    ("inv", _wellcond(2, 3, 3), {}),
    ("det", _wellcond(2, 3, 3), {}),
    ("slogdet", _wellcond(2, 3, 3) * np.array([1.0, -1.0, 1.0])[:, None], {}),
    ("cholesky", _spd(2, 3, 3), {}),
    ("cholesky", _spd(2, 3, 3), {"upper": True}),
    ("qr", _wellcond(2, 3, 3), {}),
    ("qr", RNG.standard_normal((2, 4, 2)), {}),
    ("qr", RNG.standard_normal((2, 2, 4)), {}),
    ("qr", RNG.standard_normal((2, 4)), {"mode": "complete"}),
    ("svd", RNG.standard_normal((2, 3, 3)), {}),
    ("svd", RNG.standard_normal((2, 4, 2)), {}),
    ("svd", RNG.standard_normal((2, 2, 4)), {}),
    ("eigh", _spd(2, 3, 3), {}),
    ("eigh", _spd(2, 3, 3), {"UPLO": "U"}),
]


@pytest.mark.parametrize("name,a,kw", DECOMP_CASES, ids=lambda v: str(getattr(v, "shape", v)))
def test_decompositions_forward_matches_reverse_and_batches(name, a, kw):
    for f in _outputs(name, **kw):
        _jac_agree(f, a)
        _batched_matches_loop(f, a)


def test_slogdet_sign_has_no_tangent():
    level = new_level()
    a = _wellcond(3, 3)
    sign, logdet = tg.linalg.slogdet(make_dual(tg.tensor(a), tg.Tensor(np.ones((3, 3))), level))
    assert not sign._fw
    assert logdet._fw[level].shape == ()


@pytest.mark.parametrize(
    "f,a",
    [
        (lambda a: tg.linalg.slogdet(a)[1], _wellcond(3, 3)),
        (lambda a: tg.linalg.det(a), _wellcond(3, 3)),
        (lambda a: tg.sum(tg.linalg.inv(a) ** 2), _wellcond(3, 3)),
        (lambda a: tg.sum(tg.linalg.cholesky(_sym(a)) ** 3), _spd(3, 3)),
        (lambda a: tg.sum(tg.linalg.qr(a)[1] ** 2 + tg.linalg.qr(a)[0]), _wellcond(3, 3)),
        (lambda a: tg.sum(tg.linalg.svd(a)[1] ** 3), RNG.standard_normal((4, 3))),
        (lambda a: tg.sum(tg.abs(tg.linalg.svd(a)[0])), RNG.standard_normal((3, 4))),
        (lambda a: tg.sum(tg.linalg.eigh(_sym(a))[1] ** 3), _spd(3, 3)),
    ],
)
def test_hessian_forward_over_reverse_equals_reverse_over_reverse(f, a):
    h = tg.hessian(f)(a)
    np.testing.assert_allclose(h, tg.jacrev(tg.grad(f))(a), rtol=1e-8, atol=1e-10)
    # jvp of jvp: u^T H v.
    u, v = RNG.standard_normal(a.shape), RNG.standard_normal(a.shape)
    uhv = tg.jvp(lambda x: tg.jvp(f, (x,), (u,))[1], (a,), (v,))[1]
    assert float(uhv) == pytest.approx(float(np.einsum("ij,ijkl,kl", u, h, v)), rel=1e-8)


def test_float32_tangents_stay_float32():
    a = _wellcond(3, 3).astype(np.float32)
    for name in ("inv", "det", "qr", "svd"):
        for f in _outputs(name):
            _, t = tg.jvp(f, (a,), (np.ones((3, 3), np.float32),))
            assert t.dtype == np.float32, name


def test_non_differentiable_modes_raise_in_forward_mode():
    a, u = RNG.standard_normal((4, 2)), np.ones((4, 2))
    with pytest.raises(NotDifferentiableError, match="mode='reduced'"):
        tg.jvp(lambda x: tg.linalg.qr(x, mode="complete")[0], (a,), (u,))
    with pytest.raises(NotDifferentiableError, match="full_matrices=False"):
        tg.jvp(lambda x: tg.linalg.svd(x, full_matrices=True)[1], (a,), (u,))
