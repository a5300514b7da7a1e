"""deflinear / defbilinear: one declaration gives both modes of a linear or bilinear op.

Each op here is defined by the test (``register=False``): its jvp (derived from the op) and
its vjp (the declared transpose or partial rules) are checked against finite differences, a
stack of tangents against one tangent at a time, and forward against reverse through the
transpose identity <v, J u> = <J^T v, u>, which also catches a wrong transpose.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import forward_ad as fwad
from tapegrad.ops import Primitive, defbilinear, deflinear

RNG = np.random.default_rng(11)


def _fd_jvp(f, args, us, eps=1e-6):
    plus = f(*[a + eps * u for a, u in zip(args, us)])
    minus = f(*[a - eps * u for a, u in zip(args, us)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * eps)


def _np(f):
    """``f`` on raw arrays (the primitive's impl path), for finite differences."""
    return lambda *a: f(*[np.asarray(x) for x in a])


def _jvp(f, args, us):
    return tg.jvp(f, tuple(tg.tensor(a) for a in args), tuple(tg.tensor(u) for u in us))[1].data


def _jvp_stack(f, x, ts):
    """The tangents of ``f(x)`` for a stack ``ts`` of tangents (leading batch axes)."""
    with fwad.dual_level():
        return fwad.unpack_dual(f(fwad.make_dual(tg.tensor(x), tg.tensor(ts)))).tangent.data


def _transpose_gap(f, args, rng):
    """``<v, J u> - <J^T v, u>`` for random ``u``, ``v`` (0 when the rules agree)."""
    us = [rng.standard_normal(np.shape(a)) for a in args]
    out, tangent = tg.jvp(f, tuple(tg.tensor(a) for a in args), tuple(tg.tensor(u) for u in us))
    v = rng.standard_normal(out.shape)
    _, pullback = tg.vjp(f, *[tg.tensor(a) for a in args])
    cots = pullback(tg.tensor(v))
    lhs = float(np.sum(v * tangent.data))
    rhs = sum(float(np.sum(c.data * u)) for c, u in zip(cots, us))
    return lhs - rhs


# --------------------------------------------------------------------------- linear ops
def _rev_cumsum(g, axis):
    return tg.flip(tg.cumsum(tg.flip(g, axis), axis), axis)


def _make_cumsum(transpose=None):
    """Running sums along ``axis`` (linear), declared with its transpose."""
    p = Primitive("t_cumsum", lambda x, *, axis: np.cumsum(x, axis), register=False)
    return deflinear(
        p, transpose or (lambda g, ans, x, *, axis: _rev_cumsum(g, axis)), batch="axis"
    )


CUMSUM = _make_cumsum()


def cumsum1(x):
    return CUMSUM(x, axis=1)


def test_deflinear_jvp_is_the_op_on_the_tangent():
    x = RNG.standard_normal((3, 4))
    u = RNG.standard_normal((3, 4))
    np.testing.assert_allclose(_jvp(cumsum1, [x], [u]), np.cumsum(u, 1), rtol=1e-12)
    np.testing.assert_allclose(
        _jvp(cumsum1, [x], [u]), _fd_jvp(_np(cumsum1), [x], [u]), rtol=1e-6, atol=1e-8
    )


def test_deflinear_vjp_matches_finite_differences():
    assert tg.testing.gradcheck(cumsum1, [RNG.standard_normal((3, 4))])
    assert tg.testing.gradgradcheck(cumsum1, [RNG.standard_normal((3, 4))])


def test_deflinear_modes_are_transposes():
    assert _transpose_gap(cumsum1, [RNG.standard_normal((3, 4))], RNG) == pytest.approx(
        0.0, abs=1e-9
    )


def test_a_wrong_transpose_is_caught_by_the_transpose_identity():
    # The transpose of a running sum sums from the end; summing from the start is wrong,
    # and the forward rule (the op itself) disagrees with it.
    wrong = _make_cumsum(lambda g, ans, x, *, axis: tg.cumsum(g, axis))
    gap = _transpose_gap(lambda x: wrong(x, axis=1), [RNG.standard_normal((3, 4))], RNG)
    assert abs(gap) > 1e-3
    with pytest.raises(tg.GradientCheckError):
        tg.testing.gradcheck(lambda x: wrong(x, axis=1), [RNG.standard_normal((3, 4))])


@pytest.mark.parametrize("batch", [(5,), (2, 3)])
def test_deflinear_batched_tangents_shift_the_axis_params(batch):
    # jacfwd pushes a stack of tangents; batch="axis" moves the op's axis past them.
    x = RNG.standard_normal((3, 4))
    ts = RNG.standard_normal(batch + x.shape)
    got = _jvp_stack(cumsum1, x, ts)
    want = np.stack([_jvp(cumsum1, [x], [t]) for t in ts.reshape((-1,) + x.shape)])
    np.testing.assert_allclose(got, want.reshape(batch + (3, 4)), rtol=1e-12)
    np.testing.assert_allclose(
        tg.jacfwd(cumsum1)(x).data, tg.jacrev(cumsum1)(x).data, rtol=1e-12, atol=1e-12
    )


def test_deflinear_batch_callable_and_affine_constant():
    # x padded with a constant c on the left of the last axis: affine in x.  The tangent
    # is padded with 0 (affine=), and a stack of tangents keeps its batch axes in front
    # (a batch callable, since pad_width lists every axis).
    def impl(x, *, width, c):
        return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(width, 0)], constant_values=c)

    p = Primitive("t_lpad", impl, register=False)
    deflinear(
        p,
        lambda g, ans, x, *, width, c: g[..., width:],
        batch=lambda nb, t, *, width, c: p(t, width=width, c=c),
        affine=("c",),
    )

    def f(x):
        return p(x, width=2, c=7.0)

    x = RNG.standard_normal((2, 3))
    u = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(_jvp(f, [x], [u]), _fd_jvp(_np(f), [x], [u]), rtol=1e-6, atol=1e-8)
    assert _transpose_gap(f, [x], RNG) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(tg.jacfwd(f)(x).data, tg.jacrev(f)(x).data, atol=1e-12)
    assert tg.testing.gradcheck(f, [x])


def test_deflinear_jointly_linear_inputs():
    # out = x with the first column replaced by v: linear in (x, v) together.
    def impl(x, v):
        out = np.array(x, copy=True)
        out[..., 0] = v
        return out

    p = Primitive("t_setcol", impl, register=False)

    def dx(g, ans, x, v):
        return tg.index_update(g, (Ellipsis, 0), 0.0)

    def dv(g, ans, x, v):
        return g[..., 0]

    deflinear(p, dx, dv)
    x = RNG.standard_normal((3, 4))
    v = RNG.standard_normal(3)
    us = [RNG.standard_normal(x.shape), RNG.standard_normal(v.shape)]
    np.testing.assert_allclose(_jvp(p, [x, v], us), _fd_jvp(_np(p), [x, v], us), atol=1e-8)
    assert _transpose_gap(p, [x, v], RNG) == pytest.approx(0.0, abs=1e-9)
    # A tangent on one input only: the other contributes zeros.
    t = tg.jvp(lambda x: p(x, tg.tensor(v)), (tg.tensor(x),), (tg.tensor(us[0]),))[1].data
    np.testing.assert_allclose(t, impl(us[0], np.zeros(3)))
    jf = tg.jacfwd(p, argnums=(0, 1))(x, v)
    jr = tg.jacrev(p, argnums=(0, 1))(x, v)
    for a, b in zip(jf, jr):
        np.testing.assert_allclose(a.data, b.data, atol=1e-12)


def test_deflinear_variadic_joint_rule():
    # The sum of any number of same-shape inputs: one reverse rule for all of them.
    p = Primitive("t_addn", lambda *xs: np.sum(xs, axis=0), register=False)
    tg.ops.defvjp(p, *[lambda g, ans, *xs: g] * 8)
    deflinear(p, lambda g, create_graph, node: [g] * len(node.parents), variadic=True)
    xs = [RNG.standard_normal(3) for _ in range(3)]
    us = [RNG.standard_normal(3) for _ in range(3)]
    np.testing.assert_allclose(_jvp(p, xs, us), sum(us), rtol=1e-12)
    assert _transpose_gap(p, xs, RNG) == pytest.approx(0.0, abs=1e-9)
    jf = tg.jacfwd(p, argnums=(0, 1, 2))(*xs)
    for j in jf:
        np.testing.assert_allclose(j.data, np.eye(3))


# --------------------------------------------------------------------------- bilinear ops
def _make_matvec(lhs=None):
    """``A @ v`` for a matrix ``A`` and a vector ``v``: bilinear."""
    p = Primitive("t_matvec", lambda a, v: a @ v, save=(0, 1), register=False)

    def batch(nb, k, a, v):
        # A stack of vectors: multiply them as columns, keep the batch axes in front.
        if k == 1:
            return tg.moveaxis(tg.matmul(a, tg.moveaxis(v, -1, 0)), 0, -1)
        return tg.matmul(a, v)

    return defbilinear(
        p,
        lhs or (lambda g, ans, a, v: tg.reshape(g, (-1, 1)) * tg.reshape(v, (1, -1))),
        lambda g, ans, a, v: tg.matmul(tg.matrix_transpose(a), g),
        batch=batch,
    )


MATVEC = _make_matvec()


def test_defbilinear_jvp_is_the_sum_of_the_partial_products():
    a = RNG.standard_normal((3, 4))
    v = RNG.standard_normal(4)
    ua, uv = RNG.standard_normal(a.shape), RNG.standard_normal(v.shape)
    got = _jvp(MATVEC, [a, v], [ua, uv])
    np.testing.assert_allclose(got, ua @ v + a @ uv, rtol=1e-12)
    np.testing.assert_allclose(got, _fd_jvp(_np(MATVEC), [a, v], [ua, uv]), rtol=1e-6, atol=1e-8)


def test_defbilinear_vjp_matches_finite_differences():
    args = [RNG.standard_normal((3, 4)), RNG.standard_normal(4)]
    assert tg.testing.gradcheck(MATVEC, args)
    assert tg.testing.gradgradcheck(MATVEC, args)
    assert _transpose_gap(MATVEC, args, RNG) == pytest.approx(0.0, abs=1e-9)


def test_defbilinear_batched_tangents():
    a = RNG.standard_normal((3, 4))
    v = RNG.standard_normal(4)
    for argnums in (0, 1):
        jf = tg.jacfwd(MATVEC, argnums=argnums)(a, v).data
        jr = tg.jacrev(MATVEC, argnums=argnums)(a, v).data
        np.testing.assert_allclose(jf, jr, atol=1e-12)
    h = tg.hessian(lambda a, v: tg.sum(MATVEC(a, v) ** 2), argnums=1)(a, v).data
    np.testing.assert_allclose(h, 2 * a.T @ a, rtol=1e-10)


def test_a_wrong_bilinear_rule_is_caught_by_the_transpose_identity():
    wrong = _make_matvec(lambda g, ans, a, v: tg.reshape(g, (-1, 1)) * tg.reshape(v, (1, -1)) * 2)
    args = [RNG.standard_normal((3, 4)), RNG.standard_normal(4)]
    assert abs(_transpose_gap(wrong, args, RNG)) > 1e-3


def test_every_declared_linear_op_has_both_modes():
    # The library's own linear and bilinear ops: every one has a forward rule from the
    # helper and a reverse rule (tests/test_ops.py checks them op by op).
    ops = tg.ops
    linear = [ops.shape._reshape, ops.shape._transpose, ops.reduce._sum, ops.indexing._getitem]
    bilinear = [ops.linalg._matmul, ops.linalg._einsum, ops.conv._conv]
    for p in linear + bilinear:
        assert p.batch is not None and any(p.vjps) and (p.jvps or p.jvp is not None), p
