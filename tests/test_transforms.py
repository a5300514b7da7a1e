"""grad, value_and_grad, vjp, elementwise_grad: argnums, has_aux, pytrees, nesting."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import NotDifferentiableError, ShapeMismatchError


def test_grad_of_python_scalars_returns_numpy_scalars():
    g = tg.grad(lambda x: x * x)(3.0)
    assert isinstance(g, np.floating) and g == 6.0


def test_grad_argnums_tuple():
    gx, gy = tg.grad(lambda x, y: x * y**2, argnums=(0, 1))(2.0, 3.0)
    assert (gx, gy) == (9.0, 12.0)


def test_grad_negative_argnums_and_bad_argnums():
    assert tg.grad(lambda x, y: x * y, argnums=-1)(2.0, 3.0) == 2.0
    with pytest.raises(ValueError, match="argnums"):
        tg.grad(lambda x: x, argnums=3)(1.0)


def test_grad_non_scalar_output_raises():
    with pytest.raises(ShapeMismatchError, match="scalar"):
        tg.grad(lambda x: x * 2)(np.ones(3))


def test_grad_of_integer_input_raises():
    with pytest.raises(NotDifferentiableError, match="floating-point"):
        tg.grad(lambda x: x * 2)(3)


def test_value_and_grad_has_aux():
    (v, aux), g = tg.value_and_grad(lambda x: (tg.sum(x**2), "aux"), has_aux=True)(
        np.array([1.0, 2.0])
    )
    assert v == 5.0 and aux == "aux"
    np.testing.assert_array_equal(g, [2.0, 4.0])


def test_grad_has_aux():
    g, aux = tg.grad(lambda x: (x * 3, x * 2), has_aux=True)(1.0)
    assert g == 3.0 and aux.item() == 2.0


def test_grad_pytree_inputs():
    params = {"w": np.array([1.0, 2.0]), "b": [np.array(0.5), (np.array(3.0),)]}

    def loss(p):
        return tg.sum(p["w"] * p["b"][1][0]) + p["b"][0] ** 2

    g = tg.grad(loss)(params)
    assert set(g) == {"w", "b"}
    np.testing.assert_array_equal(g["w"], [3.0, 3.0])
    assert g["b"][0] == 1.0
    assert g["b"][1][0] == 3.0
    assert isinstance(g["b"], list) and isinstance(g["b"][1], tuple)


def test_grad_of_unused_input_is_zero():
    g = tg.grad(lambda x, y: x * 2, argnums=(0, 1))(1.0, 5.0)
    assert g == (2.0, 0.0)


def test_grad_of_constant_function_is_zero():
    assert tg.grad(lambda x: tg.tensor(1.0))(2.0) == 0.0


def test_grad_with_tensor_input_returns_tensor():
    g = tg.grad(lambda x: tg.sum(x * x))(tg.tensor([1.0, 2.0]))
    assert isinstance(g, tg.Tensor)
    assert g.tolist() == [2.0, 4.0]


def test_grad_of_grad_reverse_over_reverse():
    d2 = tg.grad(tg.grad(lambda x: tg.sin(x) * x))
    x = 0.8
    assert float(d2(x)) == pytest.approx(2 * np.cos(x) - x * np.sin(x))
    d3 = tg.grad(tg.grad(tg.grad(lambda x: x**4)))
    assert float(d3(2.0)) == pytest.approx(48.0)


def test_nested_grad_no_perturbation_confusion():
    # d/dx [x * d/dy (x * y)] at x = 1 is 2 (the inner derivative is x).
    f = lambda x: x * tg.grad(lambda y: x * y)(1.0)  # noqa: E731
    assert float(tg.grad(f)(1.0)) == 2.0
    # d/dx [ d/dy (x + y) ] = 0: a confused implementation gives 1.
    g = lambda x: tg.grad(lambda y: x + y)(x)  # noqa: E731
    assert float(tg.grad(g)(3.0)) == 0.0


def test_nested_grad_of_closure_over_outer_input():
    # d/dx sum_i x * (d/dy (x * y^2)) at y = x  =  d/dx (2 x^3) = 6 x^2
    f = lambda x: x * tg.grad(lambda y: x * y**2)(x)  # noqa: E731
    assert float(tg.grad(f)(2.0)) == pytest.approx(24.0)


def test_grad_of_tensor_that_requires_grad_is_differentiable():
    x = tg.tensor(2.0, requires_grad=True)
    g = tg.grad(lambda t: t**3)(x)
    assert g.requires_grad
    g.backward()
    assert x.grad.item() == 12.0


def test_vjp_pullback_multiple_calls():
    out, pullback = tg.vjp(lambda x, y: x * y, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(out, [3.0, 8.0])
    gx, gy = pullback(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(gx, [3.0, 4.0])
    np.testing.assert_array_equal(gy, [1.0, 2.0])
    gx2, _ = pullback(np.array([2.0, 0.0]))
    np.testing.assert_array_equal(gx2, [6.0, 0.0])


def test_vjp_pytree_output_and_aux():
    out, pullback, aux = tg.vjp(
        lambda x: ({"a": x * 2, "b": x * x}, 7), np.array(3.0), has_aux=True
    )
    assert aux == 7
    (g,) = pullback({"a": np.array(1.0), "b": np.array(1.0)})
    assert g == 8.0


def test_vjp_cotangent_shape_mismatch_raises():
    _, pullback = tg.vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(ShapeMismatchError, match="cotangent"):
        pullback(np.ones(4))


def test_elementwise_grad():
    x = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(tg.elementwise_grad(tg.tanh)(x), 1 - np.tanh(x) ** 2)


def test_grad_inside_no_grad_still_works():
    with tg.no_grad():
        assert tg.grad(lambda x: x * x)(3.0) == 6.0


def test_hessian_by_nesting_matches_analytic():
    def f(x):
        return tg.sum(x**3) + x[0] * x[1] if False else tg.sum(x**3)

    x = np.array([1.0, 2.0])
    # diagonal Hessian 6x via elementwise_grad of grad
    h = tg.elementwise_grad(tg.grad(f))(x)
    np.testing.assert_allclose(h, 6 * x)
