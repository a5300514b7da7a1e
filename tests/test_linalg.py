"""Behaviour of the linear-algebra family: matmul/einsum semantics, errors, conventions and
the documented limitations of the decompositions (the generic checks are in test_ops.py)."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import NotDifferentiableError, ShapeMismatchError
from tapegrad.testing import gradcheck, gradgradcheck

try:
    import torch

except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _grad(f, *arrays):
    ts = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = f(*ts)
    out.backward(np.ones(out.shape))
    return [t.grad.data for t in ts]


# --------------------------------------------------------------------------- matmul

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((2, 1, 2, 3), (4, 3, 2)),
    ((1, 2, 3), (4, 3, 2)),
    ((2, 0), (0, 3)),
]


@pytest.mark.parametrize("sx,sy", MATMUL_SHAPES)
def test_matmul_matches_numpy_and_grads_have_input_shapes(rng, sx, sy):
    x, y = rng.standard_normal(sx), rng.standard_normal(sy)
    tx, ty = tg.tensor(x, requires_grad=True), tg.tensor(y, requires_grad=True)
    out = tg.matmul(tx, ty)
    np.testing.assert_allclose(out.data, np.matmul(x, y), rtol=1e-13, atol=1e-13)
    assert out.shape == np.matmul(x, y).shape
    g = rng.standard_normal(out.shape)
    out.backward(g)
    assert tx.grad.shape == sx and ty.grad.shape == sy
    gradcheck(tg.matmul, [tg.tensor(x), tg.tensor(y)])


@needs_torch
@pytest.mark.parametrize("sx,sy", MATMUL_SHAPES)
def test_matmul_grads_match_torch(rng, sx, sy):
    x, y = rng.standard_normal(sx), rng.standard_normal(sy)
    g = rng.standard_normal(np.matmul(x, y).shape)
    a, b = tg.tensor(x, requires_grad=True), tg.tensor(y, requires_grad=True)
    gx, gy = tg.autograd.grad(tg.matmul(a, b), [a, b], g)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    tgx, tgy = torch.autograd.grad(torch.matmul(tx, ty), [tx, ty], torch.tensor(g))
    np.testing.assert_allclose(gx.data, tgx.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gy.data, tgy.numpy(), rtol=1e-12, atol=1e-12)


def test_matmul_operator_and_lists(rng):
    a = tg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = rng.standard_normal((3, 2))
    np.testing.assert_allclose((a @ b).data, a.data @ b)
    np.testing.assert_allclose((b @ a).data, b @ a.data)
    np.testing.assert_allclose(tg.matmul([[1.0, 2.0, 3.0]], a.T).data, [[1, 2, 3]] @ a.data.T)
    assert tg.linalg.matmul is tg.matmul


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeMismatchError, match=r"\(2, 3\).*\(4, 5\)"):
        tg.matmul(tg.ones((2, 3)), tg.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):  # also a ValueError
        tg.ones((2, 3)) @ tg.ones((4, 5))
    with pytest.raises(ShapeMismatchError, match="batch axes"):
        tg.matmul(tg.ones((2, 2, 3)), tg.ones((3, 3, 5)))
    with pytest.raises(ShapeMismatchError, match="at least 1-D"):
        tg.matmul(tg.tensor(2.0), tg.ones((2, 2)))
    with pytest.raises(ShapeMismatchError, match=r"\(3,\).*\(4,\)"):
        tg.matmul(tg.ones(3), tg.ones(4))


def test_matmul_float32_stays_float32(rng):
    a = tg.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    b = tg.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    out = a @ b
    assert out.dtype == np.float32
    tg.sum(out).backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float32


def test_matmul_second_order(rng):
    x, y = rng.standard_normal((2, 3)), rng.standard_normal((3,))
    gradgradcheck(tg.matmul, [tg.tensor(x), tg.tensor(y)])
    a = tg.tensor(x, requires_grad=True)
    (ga,) = tg.autograd.grad(tg.sum(tg.matmul(a, a.T) ** 2), [a], create_graph=True)
    (gga,) = tg.autograd.grad(tg.sum(ga), [a])
    assert np.all(np.isfinite(gga.data))


# --------------------------------------------------------------------------- einsum

EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii->", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("iij,jk->ik", [(2, 2, 3), (3, 2)]),
    ("iii->i", [(2, 2, 2)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("ij,kl->ijkl", [(2, 3), (2, 2)]),
    ("bi,bj->bij", [(2, 3), (2, 4)]),
    ("i,i,i->i", [(3,)] * 3),
    ("ij->j", [(2, 3)]),
    ("ij,ij->", [(2, 3)] * 2),
    ("...,...->...", [(2, 3), (3,)]),
    ("...ij,jk->...ik", [(2, 2, 3), (3, 2)]),
    ("i...j,j...->i...", [(2, 3, 4), (4, 3)]),
    (" ij , jk -> ik ", [(2, 3), (3, 2)]),
    ("ij,jk,kl,lm,mn->in", [(2, 3), (3, 2), (2, 3), (3, 2), (2, 2)]),
    ("a,a,a,a,a,a,a,a,a,a,a->a", [(2,)] * 11),
    ("ia,ib->ab", [(1, 2), (3, 2)]),
]


@pytest.mark.parametrize("subs,shapes", EINSUM_CASES)
def test_einsum_matches_numpy_and_gradchecks(rng, subs, shapes):
    ops = [rng.standard_normal(s) for s in shapes]
    out = tg.einsum(subs, *[tg.tensor(o) for o in ops])
    np.testing.assert_allclose(out.data, np.einsum(subs, *ops), rtol=1e-12, atol=1e-12)
    gradcheck(lambda *ts: tg.einsum(subs, *ts), [tg.tensor(o) for o in ops])
    gradgradcheck(lambda *ts: tg.einsum(subs, *ts), [tg.tensor(o) for o in ops])


def test_einsum_diagonal_gradient_is_scattered_onto_the_diagonal(rng):
    a = tg.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    tg.einsum("ii->i", a).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(a.grad.data, np.diag([1.0, 2.0, 3.0]))
    b = tg.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    tg.einsum("ii", b).backward()
    np.testing.assert_array_equal(b.grad.data, np.eye(3))


def test_einsum_sum_within_one_operand_broadcasts_back(rng):
    a = tg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    tg.einsum("ij->i", a).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(a.grad.data, [[1, 1, 1], [-1, -1, -1]])


def test_einsum_with_constant_operand(rng):
    a = tg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    w = rng.standard_normal((3, 4))
    out = tg.einsum("ij,jk->ik", a, w)
    out.backward(np.ones((2, 4)))
    np.testing.assert_allclose(a.grad.data, np.ones((2, 4)) @ w.T)


def test_einsum_result_does_not_alias_its_input(rng):
    x = rng.standard_normal((2, 3))
    a = tg.tensor(x.copy())
    t = tg.einsum("ij->ji", a)
    d = tg.einsum("ii->i", tg.tensor(np.eye(2)))
    assert not np.shares_memory(t.data, a.data)
    t += 1.0
    d += 1.0
    np.testing.assert_array_equal(a.data, x)


def test_einsum_float32_stays_float32(rng):
    a = tg.tensor(rng.standard_normal((3, 3)).astype(np.float32), requires_grad=True)
    out = tg.einsum("ii->i", a)
    assert out.dtype == np.float32
    tg.sum(out).backward()
    assert a.grad.dtype == np.float32


@pytest.mark.parametrize(
    "subs,shapes,err,match",
    [
        ("ij,jk->ik", [(2, 3), (4, 5)], ShapeMismatchError, r"index 'j' has size 3.*4"),
        ("ij,jk->ik", [(2, 3)], ValueError, "name 2 operand"),
        ("ijk", [(2, 3)], ShapeMismatchError, r"operand 0 has shape \(2, 3\)"),
        ("ij->k", [(2, 3)], ValueError, "output index 'k'"),
        ("ij->ii", [(2, 2)], ValueError, "repeated"),
        ("i1->i", [(2, 3)], ValueError, "invalid character '1'"),
        ("...ij->ij", [(4, 2, 3)], ShapeMismatchError, r"'->\.\.\.ij'"),
    ],
)
def test_einsum_errors_say_what_is_wrong(subs, shapes, err, match):
    with pytest.raises(err, match=match):
        tg.einsum(subs, *[tg.ones(s) for s in shapes])


def test_einsum_rejects_sublist_form():
    with pytest.raises(TypeError, match="string"):
        tg.einsum(tg.ones(3), [0])


# --------------------------------------------------------------------------- products


def test_dot_inner_outer_tensordot_match_numpy(rng):
    a, b, c = (rng.standard_normal(s) for s in [(2, 3, 4), (5, 4, 3), (5, 4)])
    ta, tb, tc = tg.tensor(a), tg.tensor(b), tg.tensor(c)
    np.testing.assert_allclose(tg.dot(ta, tb).data, np.dot(a, b))
    np.testing.assert_allclose(tg.inner(ta, tc).data, np.inner(a, c))
    np.testing.assert_allclose(tg.outer(ta, tc).data, np.outer(a, c))
    np.testing.assert_allclose(
        tg.tensordot(ta, tb, ([2, 1], [1, 2])).data, np.tensordot(a, b, ([2, 1], [1, 2]))
    )
    np.testing.assert_allclose(tg.tensordot(ta, ta, 3).data, np.tensordot(a, a, 3))


def test_product_shape_errors():
    with pytest.raises(ShapeMismatchError, match=r"\(2, 3\).*\(4,\)"):
        tg.dot(tg.ones((2, 3)), tg.ones(4))
    with pytest.raises(ShapeMismatchError, match="last axes"):
        tg.inner(tg.ones((2, 3)), tg.ones((2, 4)))
    with pytest.raises(ShapeMismatchError, match="axis 1 of x has size 3"):
        tg.tensordot(tg.ones((2, 3)), tg.ones((4, 2)), ([1], [0]))
    with pytest.raises(ShapeMismatchError, match="axes=3"):
        tg.tensordot(tg.ones((2, 3)), tg.ones((2, 3)), 3)
    with pytest.raises(ShapeMismatchError, match="same number"):
        tg.tensordot(tg.ones((2, 3)), tg.ones((2, 3)), ([0, 1], [0]))


# --------------------------------------------------------------------------- inv, solve, det


def _wellcond(rng, shape):
    return rng.uniform(-1, 1, shape) + shape[-1] * np.eye(shape[-1])


def test_inv_of_singular_matrix_raises_linalgerror_with_a_clear_message():
    a = tg.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    with pytest.raises(np.linalg.LinAlgError, match=r"\(2, 2\).*singular"):
        tg.linalg.inv(a)
    with pytest.raises(ValueError):  # LinAlgError is a ValueError
        tg.linalg.inv(a)
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        tg.linalg.solve(a, tg.ones(2))


def test_square_only_ops_reject_non_square_input():
    for f in (tg.linalg.inv, tg.linalg.det, tg.linalg.slogdet, tg.linalg.cholesky, tg.linalg.eigh):
        with pytest.raises(ShapeMismatchError, match=r"square.*\(2, 3\)"):
            f(tg.ones((2, 3)))
    with pytest.raises(ShapeMismatchError, match="matrix"):
        tg.linalg.svd(tg.ones(3))


def test_inv_batched_gradient_formula(rng):
    a = _wellcond(rng, (2, 3, 3))
    g = rng.standard_normal((2, 3, 3))
    t = tg.tensor(a, requires_grad=True)
    tg.linalg.inv(t).backward(g)
    ai = np.linalg.inv(a)
    expect = -np.swapaxes(ai, -1, -2) @ g @ np.swapaxes(ai, -1, -2)
    np.testing.assert_allclose(t.grad.data, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 3), (3,)),
        ((3, 3), (3, 2)),
        ((2, 3, 3), (3,)),
        ((2, 3, 3), (2, 3, 4)),
        ((2, 3, 3), (3, 1)),
    ],
)
def test_solve_shapes_follow_numpy(rng, sa, sb):
    a, b = _wellcond(rng, sa), rng.standard_normal(sb)
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    x = tg.linalg.solve(ta, tb)
    np.testing.assert_allclose(x.data, np.linalg.solve(a, b), rtol=1e-12)
    x.backward(np.ones(x.shape))
    assert ta.grad.shape == sa and tb.grad.shape == sb
    gradcheck(tg.linalg.solve, [tg.tensor(a), tg.tensor(b)])


def test_solve_shape_mismatch():
    with pytest.raises(ShapeMismatchError, match=r"b has shape \(4,\)"):
        tg.linalg.solve(tg.tensor(np.eye(3)), tg.ones(4))


def test_det_gradient_is_det_times_inverse_transpose(rng):
    a = _wellcond(rng, (3, 3))
    t = tg.tensor(a, requires_grad=True)
    tg.linalg.det(t).backward()
    np.testing.assert_allclose(t.grad.data, np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-12)


def test_slogdet_sign_has_zero_gradient_and_logdet_the_inverse_transpose(rng):
    a = _wellcond(rng, (3, 3))
    a[0] *= -1
    t = tg.tensor(a, requires_grad=True)
    sign, logdet = tg.linalg.slogdet(t)
    assert sign.item() == -1.0
    np.testing.assert_allclose(logdet.item(), np.log(abs(np.linalg.det(a))))
    (gs,) = tg.autograd.grad(tg.sum(sign), [t], retain_graph=True)
    np.testing.assert_array_equal(gs.data, 0.0)
    (gl,) = tg.autograd.grad(logdet, [t])
    np.testing.assert_allclose(gl.data, np.linalg.inv(a).T, rtol=1e-12)


# --------------------------------------------------------------------------- cholesky


def _spd(rng, n, batch=()):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def test_cholesky_gradient_is_symmetric(rng):
    a = tg.tensor(_spd(rng, 4, (2,)), requires_grad=True)
    L = tg.linalg.cholesky(a)
    np.testing.assert_allclose(L.data @ np.swapaxes(L.data, -1, -2), a.data, rtol=1e-12)
    L.backward(rng.standard_normal(L.shape))  # a cotangent that is not triangular
    np.testing.assert_allclose(a.grad.data, np.swapaxes(a.grad.data, -1, -2), atol=1e-14)


def test_cholesky_gradient_of_symmetrised_input_matches_finite_differences(rng):
    a = _spd(rng, 3)
    gradcheck(lambda x: tg.linalg.cholesky(0.5 * (x + x.mT)), [tg.tensor(a)])


@needs_torch
def test_cholesky_gradient_matches_torch_without_symmetrising(rng):
    a, g = _spd(rng, 4), rng.standard_normal((4, 4))
    t = tg.tensor(a, requires_grad=True)
    tg.linalg.cholesky(t).backward(g)
    ta = torch.tensor(a, requires_grad=True)
    torch.linalg.cholesky(ta).backward(torch.tensor(g))
    np.testing.assert_allclose(t.grad.data, ta.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cholesky_upper_is_the_transpose(rng):
    a = _spd(rng, 3)
    U = tg.linalg.cholesky(tg.tensor(a), upper=True)
    np.testing.assert_allclose(U.data, np.linalg.cholesky(a).T)


def test_cholesky_of_non_positive_definite_raises():
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        tg.linalg.cholesky(tg.tensor([[1.0, 2.0], [2.0, 1.0]]))


# --------------------------------------------------------------------------- qr


@needs_torch
@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 2, 4)])
def test_qr_grads_of_gauge_invariant_loss_match_torch(rng, shape):
    a = rng.standard_normal(shape)
    q_tg = lambda x: tg.linalg.qr(x)
    t = tg.tensor(a, requires_grad=True)
    q, r = q_tg(t)
    np.testing.assert_allclose((q @ r).data, a, atol=1e-12)
    # |R| and Q * sign(diag R) do not depend on LAPACK's sign choice.
    loss = tg.sum(tg.abs(r) ** 2 * 0.5) + tg.sum(
        tg.sin(q * tg.expand_dims(tg.sign(tg.diagonal(r, 0, -2, -1)), -2))
    )
    loss.backward()
    ta = torch.tensor(a, requires_grad=True)
    tq, tr = torch.linalg.qr(ta)
    tloss = (tr.abs() ** 2 * 0.5).sum() + torch.sin(
        tq * torch.sign(torch.diagonal(tr, dim1=-2, dim2=-1))[..., None, :]
    ).sum()
    tloss.backward()
    np.testing.assert_allclose(t.grad.data, ta.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_qr_complete_of_tall_matrix_is_not_differentiable(rng):
    a = tg.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    q, r = tg.linalg.qr(a, mode="complete")
    assert q.shape == (4, 4)
    with pytest.raises(NotDifferentiableError, match="mode='reduced'"):
        tg.sum(q).backward()


def test_qr_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        tg.linalg.qr(tg.ones((2, 2)), mode="r")


# --------------------------------------------------------------------------- svd


def test_svd_sum_of_singular_values_gradient_is_u_vh(rng):
    a = rng.standard_normal((4, 3))
    t = tg.tensor(a, requires_grad=True)
    u, s, vh = tg.linalg.svd(t)
    tg.sum(s).backward()
    np.testing.assert_allclose(t.grad.data, u.data @ vh.data, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (3, 3), (2, 3, 2)])
def test_svd_gauge_invariant_losses_pass_gradcheck(rng, shape):
    a = rng.standard_normal(shape)

    def f(x):
        u, s, vh = tg.linalg.svd(x)
        return tg.sum(s), (u * tg.expand_dims(s, -2)) @ vh, tg.sum(tg.abs(u)), tg.abs(vh)

    gradcheck(f, [tg.tensor(a)])
    gradgradcheck(lambda x: tg.sum(tg.linalg.svd(x)[1] ** 2), [tg.tensor(a)])


def test_svd_repeated_singular_values_only_s_is_finite():
    # Documented limitation: at repeated singular values (the identity) the vectors are not
    # unique; a loss of S alone keeps a finite gradient, a loss of U does not.
    t = tg.tensor(np.eye(3), requires_grad=True)
    (g,) = tg.autograd.grad(tg.sum(tg.linalg.svd(t)[1]), [t])
    np.testing.assert_allclose(g.data, np.eye(3), atol=1e-12)
    t2 = tg.tensor(np.eye(3), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (g2,) = tg.autograd.grad(tg.sum(tg.linalg.svd(t2)[0] ** 3), [t2])
    assert not np.all(np.isfinite(g2.data))


def test_svd_full_matrices_non_square_is_not_differentiable(rng):
    t = tg.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    u, s, vh = tg.linalg.svd(t, full_matrices=True)
    assert u.shape == (4, 4)
    with pytest.raises(NotDifferentiableError, match="full_matrices=False"):
        tg.sum(s).backward()


# --------------------------------------------------------------------------- eigh


def test_eigh_eigenvalue_gradient_is_v_diag_v(rng):
    a = _spd(rng, 4)
    t = tg.tensor(a, requires_grad=True)
    w, v = tg.linalg.eigh(t)
    gw = rng.standard_normal(4)
    w.backward(gw)
    np.testing.assert_allclose(t.grad.data, (v.data * gw) @ v.data.T, rtol=1e-10, atol=1e-12)


@needs_torch
def test_eigh_gradient_is_symmetric_and_matches_torch(rng):
    a = _spd(rng, 4, (2,))
    t = tg.tensor(a, requires_grad=True)
    w, v = tg.linalg.eigh(t)
    ta = torch.tensor(a, requires_grad=True)
    tw, tv = torch.linalg.eigh(ta)
    sign = np.sign(np.sum(v.data * tv.detach().numpy(), axis=-2, keepdims=True))
    gw, gv = rng.standard_normal(w.shape), rng.standard_normal(v.shape)
    (g,) = tg.autograd.grad([w, v], [t], [gw, gv * sign])
    (tgr,) = torch.autograd.grad([tw, tv], [ta], [torch.tensor(gw), torch.tensor(gv)])
    np.testing.assert_allclose(g.data, np.swapaxes(g.data, -1, -2), atol=1e-13)
    np.testing.assert_allclose(g.data, tgr.numpy(), rtol=1e-9, atol=1e-10)


def test_eigh_repeated_eigenvalues_only_w_is_finite():
    t = tg.tensor(2.0 * np.eye(3), requires_grad=True)
    (g,) = tg.autograd.grad(tg.sum(tg.linalg.eigh(t)[0] ** 2), [t])
    np.testing.assert_allclose(g.data, 4.0 * np.eye(3), atol=1e-12)
    t2 = tg.tensor(2.0 * np.eye(3), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (g2,) = tg.autograd.grad(tg.sum(tg.linalg.eigh(t2)[1] ** 3), [t2])
    assert not np.all(np.isfinite(g2.data))


def test_eigh_rejects_bad_uplo():
    with pytest.raises(ValueError, match="UPLO"):
        tg.linalg.eigh(tg.tensor(np.eye(2)), UPLO="X")


# --------------------------------------------------------------------------- norm


@pytest.mark.parametrize("ord", [None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_norms_match_numpy(rng, ord, keepdims):
    x = rng.standard_normal((2, 3, 4))
    got = tg.linalg.norm(tg.tensor(x), ord, (2, 0), keepdims)
    np.testing.assert_allclose(got.data, np.linalg.norm(x, ord, (2, 0), keepdims), rtol=1e-12)
    gradcheck(lambda t: tg.linalg.norm(t, ord, (2, 0), keepdims), [tg.tensor(x)])


def test_spectral_norm_gradient_is_top_singular_pair(rng):
    a = rng.standard_normal((4, 3))
    t = tg.tensor(a, requires_grad=True)
    tg.linalg.norm(t, 2).backward()
    u, s, vh = np.linalg.svd(a)
    np.testing.assert_allclose(t.grad.data, np.outer(u[:, 0], vh[0]), rtol=1e-10, atol=1e-12)


def test_norm_vector_cases_delegate_to_reduce_norm(rng):
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(tg.linalg.norm(tg.tensor(x)).data, np.linalg.norm(x))
    np.testing.assert_allclose(
        tg.linalg.norm(tg.tensor(x), 3, axis=1).data, np.linalg.norm(x, 3, axis=1)
    )
    np.testing.assert_allclose(
        tg.linalg.norm(tg.tensor(x[0, 0]), 1).data, np.linalg.norm(x[0, 0], 1)
    )


def test_norm_errors():
    with pytest.raises(ValueError, match="matri"):
        tg.linalg.norm(tg.ones((2, 2)), ord=3)
    with pytest.raises(ValueError):
        tg.linalg.norm(tg.ones((2, 2, 2)), ord="nuc")
    with pytest.raises(ValueError, match="differ"):
        tg.linalg.norm(tg.ones((2, 2)), ord=2, axis=(1, 1))


# --------------------------------------------------------------------------- namespace


def test_namespaces():
    for name in ("matmul", "dot", "outer", "inner", "tensordot", "einsum"):
        assert callable(getattr(tg, name))
    for name in (
        "inv",
        "solve",
        "det",
        "slogdet",
        "cholesky",
        "qr",
        "svd",
        "eigh",
        "norm",
        "matmul",
    ):
        assert callable(getattr(tg.linalg, name))
    for name in ("inv", "solve", "det", "svd"):
        assert not hasattr(tg, name)


@pytest.fixture(autouse=True)
def _torch_default_float64():
    """torch's default dtype is float64 for this module's tests only (restored after)."""
    if torch is None:
        yield
        return
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(prev)
