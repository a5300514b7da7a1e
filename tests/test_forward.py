"""Forward mode and the composed transforms: jvp, linearize, dual API, jacobians, Hessians."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import forward_ad as fwad
from tapegrad.errors import NotDifferentiableError, ShapeMismatchError

try:
    import torch
    import torch.func as tf
except ImportError:  # pragma: no cover
    torch = None


# --------------------------------------------------------------------------- seeds
def test_difference_of_squares_forward_mode():
    f = lambda x, y: (x + y) * (x - y)  # noqa: E731
    for x, y in [(3.0, 2.0), (-1.5, 0.25)]:
        assert tg.jvp(f, (x, y), (1.0, 0.0))[1] == 2 * x
        assert tg.jvp(f, (x, y), (0.0, 1.0))[1] == -2 * y


def test_square_plus_linear_forward_equals_reverse():
    f = lambda x1, x2: x1**2 + x2  # noqa: E731
    x1, x2 = 1.5, -0.5
    fwd = (tg.jvp(f, (x1, x2), (1.0, 0.0))[1], tg.jvp(f, (x1, x2), (0.0, 1.0))[1])
    rev = tg.grad(f, argnums=(0, 1))(x1, x2)
    assert fwd == rev == (2 * x1, 1.0)


# --------------------------------------------------------------------------- jvp API
def test_jvp_pytrees_and_has_aux():
    def f(p):
        return {"a": p["w"] * 2.0, "b": tg.sum(p["w"] ** 2)}, "aux"

    out, t, aux = tg.jvp(
        f, ({"w": np.array([1.0, 2.0])},), ({"w": np.array([1.0, 0.0])},), has_aux=True
    )
    assert aux == "aux"
    np.testing.assert_array_equal(out["a"], [2.0, 4.0])
    np.testing.assert_array_equal(t["a"], [2.0, 0.0])
    assert t["b"] == 2.0


def test_jvp_errors():
    with pytest.raises(ValueError, match="one each"):
        tg.jvp(lambda x: x, (1.0,), ())
    with pytest.raises(ShapeMismatchError, match="tangent shape"):
        tg.jvp(lambda x: x, (np.ones(2),), (np.ones(3),))
    with pytest.raises(NotDifferentiableError, match="floating"):
        tg.jvp(lambda x: x, (1,), (1,))


def test_jvp_of_output_independent_of_input_is_zero():
    out, t = tg.jvp(lambda x: tg.tensor([1.0, 2.0]), (1.0,), (1.0,))
    np.testing.assert_array_equal(t, [0.0, 0.0])


def test_linearize():
    f = lambda x: tg.sin(x) * x  # noqa: E731
    out, f_jvp = tg.linearize(f, 0.5)
    assert out == pytest.approx(np.sin(0.5) * 0.5)
    assert f_jvp(2.0) == pytest.approx(2.0 * (np.cos(0.5) * 0.5 + np.sin(0.5)))


def test_dual_api():
    with fwad.dual_level():
        x = fwad.make_dual(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 0.0]))
        y = tg.exp(x) * x
        primal, tangent = fwad.unpack_dual(y)
        np.testing.assert_allclose(primal.data, np.exp([1.0, 2.0]) * [1.0, 2.0])
        np.testing.assert_allclose(tangent.data, [2 * np.e, 0.0])
        assert fwad.unpack_dual(tg.tensor(1.0)).tangent is None
    with pytest.raises(RuntimeError, match="dual_level"):
        fwad.make_dual(tg.tensor(1.0), tg.tensor(1.0))
    with fwad.dual_level(), pytest.raises(ValueError, match="tangent's shape"):
        fwad.make_dual(tg.tensor([1.0, 2.0]), tg.tensor([1.0]))


# --------------------------------------------------------------------------- nesting
F = lambda x: x**3 * tg.sin(x)  # noqa: E731


def _d2(x):
    return 6 * x * np.sin(x) + 6 * x**2 * np.cos(x) - x**3 * np.sin(x)


def test_jvp_of_grad_and_grad_of_jvp_and_jvp_of_jvp():
    x0 = 0.7
    assert tg.jvp(tg.grad(F), (x0,), (1.0,))[1] == pytest.approx(_d2(x0))
    assert tg.grad(lambda x: tg.jvp(F, (x,), (1.0,))[1])(x0) == pytest.approx(_d2(x0))
    assert tg.jvp(lambda x: tg.jvp(F, (x,), (1.0,))[1], (x0,), (1.0,))[1] == pytest.approx(_d2(x0))


def test_forward_perturbation_confusion():
    # d/dx [x * d/dy (x*y)] at x = 1 is 2; d/dx [d/dy (x + y)] is 0.
    inner = lambda x: tg.jvp(lambda y: x * y, (1.0,), (1.0,))[1]  # noqa: E731
    assert tg.jvp(lambda x: x * inner(x), (1.0,), (1.0,))[1] == 2.0
    g = lambda x: tg.jvp(lambda y: x + y, (x,), (1.0,))[1]  # noqa: E731
    assert tg.jvp(g, (3.0,), (1.0,))[1] == 0.0
    # mixed: forward inside reverse and reverse inside forward
    assert float(tg.grad(lambda x: x * inner(x))(1.0)) == 2.0
    h = lambda x: x * tg.grad(lambda y: x * y)(1.0)  # noqa: E731
    assert tg.jvp(h, (1.0,), (1.0,))[1] == 2.0


# --------------------------------------------------------------------------- jacobians
def _f_rn_rm(x):
    A = np.arange(12.0).reshape(4, 3) / 10
    return tg.tanh(A @ x) * tg.sum(x**2)


def test_jacfwd_equals_jacrev_equals_finite_differences():
    x = np.array([0.3, -0.2, 0.5])
    jf = tg.jacfwd(_f_rn_rm)(x)
    jr = tg.jacrev(_f_rn_rm)(x)
    assert jf.shape == jr.shape == (4, 3)
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-14)
    num = tg.testing.numerical_jacobian(_f_rn_rm, [x])[0]
    np.testing.assert_allclose(jf, num, rtol=1e-6, atol=1e-8)
    j = tg.jacobian(_f_rn_rm)(x)
    np.testing.assert_allclose(j, jf)


def test_jacobian_shapes_follow_out_then_in():
    f = lambda x: x[None, :, None] * np.ones((2, 1, 1))  # noqa: E731
    x = np.ones((3,))
    assert tg.jacfwd(f)(x).shape == (2, 3, 1, 3)
    assert tg.jacrev(f)(x).shape == (2, 3, 1, 3)


def test_jacfwd_argnums_tuple():
    f = lambda x, y: x * y  # noqa: E731
    jx, jy = tg.jacfwd(f, argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(jx, np.diag([3.0, 4.0]))
    np.testing.assert_array_equal(jy, np.diag([1.0, 2.0]))


def rosen(x):
    return tg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosen_hess(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i, i + 1] += -400 * x[i]
        H[i + 1, i] += -400 * x[i]
        H[i + 1, i + 1] += 200
    return H


def test_hessian_forms_agree_on_rosenbrock():
    x = np.random.default_rng(0).uniform(-1, 1, 6)
    h = tg.hessian(rosen)(x)
    np.testing.assert_allclose(h, _rosen_hess(x), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(tg.jacfwd(tg.jacrev(rosen))(x), h, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(tg.jacrev(tg.jacrev(rosen))(x), h, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(tg.jacfwd(tg.jacfwd(rosen))(x), h, rtol=1e-12, atol=1e-10)


def test_hvp_and_vhp():
    x = np.random.default_rng(1).uniform(-1, 1, 5)
    v = np.random.default_rng(2).standard_normal(5)
    g, hv = tg.hvp(rosen, (x,), (v,))
    np.testing.assert_allclose(hv, _rosen_hess(x) @ v, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(g, tg.grad(rosen)(x))
    val, vh = tg.vhp(rosen, (x,), (v,))
    np.testing.assert_allclose(vh, v @ _rosen_hess(x), rtol=1e-12, atol=1e-10)
    assert val == pytest.approx(float(rosen(tg.tensor(x)).item()))


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_against_torch_func():
    x = np.random.default_rng(3).uniform(-1, 1, 4)
    tx = torch.tensor(x)

    def trosen(t):
        return torch.sum(100.0 * (t[1:] - t[:-1] ** 2) ** 2 + (1.0 - t[:-1]) ** 2)

    np.testing.assert_allclose(tg.hessian(rosen)(x), tf.hessian(trosen)(tx).numpy(), rtol=1e-12)
    A = np.random.default_rng(4).standard_normal((3, 4))
    f = lambda z: tg.tanh(A @ z)  # noqa: E731
    tfn = lambda z: torch.tanh(torch.tensor(A) @ z)  # noqa: E731
    np.testing.assert_allclose(tg.jacfwd(f)(x), tf.jacfwd(tfn)(tx).numpy(), rtol=1e-12)
    np.testing.assert_allclose(tg.jacrev(f)(x), tf.jacrev(tfn)(tx).numpy(), rtol=1e-12)
    v = np.ones(4)
    _, hv = tg.hvp(rosen, (x,), (v,))
    _, thv = tf.jvp(tf.grad(trosen), (tx,), (torch.tensor(v),))
    np.testing.assert_allclose(hv, thv.numpy(), rtol=1e-12)


# --------------------------------------------------------------------------- custom rules
def test_custom_jvp_rule_is_used_in_forward_mode_only():
    @tg.custom_jvp
    def f(x):
        return tg.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return tg.sin(x), 2.0 * t

    assert tg.jvp(f, (0.0,), (1.0,))[1] == 2.0
    assert tg.grad(f)(0.0) == 1.0  # reverse mode differentiates the body


def test_function_jvp():
    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x**2

        @staticmethod
        def jvp(ctx, t):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * t

    assert tg.jvp(Cube.apply, (2.0,), (1.0,))[1] == 12.0

    class NoJvp(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with pytest.raises(TypeError, match="defines no jvp"):
        tg.jvp(NoJvp.apply, (1.0,), (1.0,))


def test_stop_gradient_blocks_both_modes():
    assert tg.grad(lambda x: x * tg.stop_gradient(x))(3.0) == 3.0
    assert tg.jvp(lambda x: x * tg.stop_gradient(x), (3.0,), (1.0,))[1] == 3.0
    assert tg.stop_gradient(np.ones(2)).tolist() == [1.0, 1.0]


def test_forward_ad_is_exposed_at_top_level():
    assert tg.forward_ad is fwad
    with tg.forward_ad.dual_level():
        x = tg.forward_ad.make_dual(tg.tensor(2.0), tg.tensor(1.0))
        assert tg.forward_ad.unpack_dual(x**2).tangent.item() == 4.0


def test_hvp_inside_forward_mode_does_not_record_the_backward_pass():
    # grad inside jvp runs its rules on tensors (tangents flow) but records nothing.
    seen = {}

    def f(x):
        g = tg.grad(lambda z: tg.sum(z**3))(x)
        seen["requires_grad"] = g.requires_grad
        return g

    tg.jvp(f, (np.array([1.0, 2.0]),), (np.ones(2),))
    assert seen["requires_grad"] is False
    # ...and it is recorded when an outer reverse transform needs it.
    h = tg.grad(lambda x: tg.sum(tg.jvp(f, (x,), (np.ones(2),))[1]))(np.array([1.0, 2.0]))
    np.testing.assert_allclose(h, [6.0, 6.0])


def test_jacobians_and_hessian_with_aux_and_pytrees():
    def f(p):
        return tg.sum(p["w"] ** 2 * p["b"]), {"note": 1}

    p = {"w": np.array([1.0, 2.0]), "b": np.array(3.0)}
    h, aux = tg.hessian(f, has_aux=True)(p)
    assert aux == {"note": 1}
    np.testing.assert_allclose(h["w"]["w"], np.diag([6.0, 6.0]))
    np.testing.assert_allclose(h["w"]["b"], [2.0, 4.0])
    np.testing.assert_allclose(h["b"]["w"], [2.0, 4.0])
    assert h["b"]["b"] == 0.0

    def g(x):
        return {"sq": x**2, "s": tg.sum(x)}, "aux"

    for jac in (tg.jacfwd, tg.jacrev):
        j, aux = jac(g, has_aux=True)(np.array([1.0, 3.0]))
        assert aux == "aux"
        np.testing.assert_allclose(j["sq"], np.diag([2.0, 6.0]))
        np.testing.assert_allclose(j["s"], [1.0, 1.0])
