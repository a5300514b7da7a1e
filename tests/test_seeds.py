"""The worked examples of the texts tapegrad is built from, reproduced exactly."""

from __future__ import annotations

import math

import numpy as np

import tapegrad as tg


def test_sin_plus_xy_gradient_at_1_2():
    x = tg.tensor(1.0, requires_grad=True)
    y = tg.tensor(2.0, requires_grad=True)
    L = tg.sin(x) + x * y
    assert L.item() == 2.8414709848078967
    L.backward()
    assert x.grad.item() == math.cos(1.0) + 2.0
    assert y.grad.item() == 1.0


def test_gradient_descent_1000_steps_matches_bit_for_bit():
    x = tg.tensor(1.0, requires_grad=True)
    y = tg.tensor(2.0, requires_grad=True)
    lr = 1e-2
    for _ in range(1000):
        L = tg.sin(x) + x * y
        x.grad = y.grad = None
        L.backward()
        with tg.no_grad():
            x -= lr * x.grad  # simultaneous update: both gradients were taken first
            y -= lr * y.grad
    final = tg.sin(x) + x * y
    assert final.item() == -193992792.6350034
    assert x.item() == -13928.111031430128
    assert y.item() == 13928.148130601208


def test_gradient_descent_with_functional_grad_matches():
    dL = tg.grad(lambda x, y: tg.sin(x) + x * y, argnums=(0, 1))
    x, y = 1.0, 2.0
    for _ in range(1000):
        gx, gy = dL(x, y)
        x, y = x - 1e-2 * gx, y - 1e-2 * gy
    assert float(x) == -13928.111031430128
    assert float(y) == 13928.148130601208


def test_difference_of_squares_gradient():
    # f(x, y) = (x + y)(x - y): df/dx = 2x, df/dy = -2y
    for xv, yv in [(3.0, 2.0), (-1.5, 0.25), (0.0, 4.0)]:
        x = tg.tensor(xv, requires_grad=True)
        y = tg.tensor(yv, requires_grad=True)
        ((x + y) * (x - y)).backward()
        assert x.grad.item() == 2 * xv
        assert y.grad.item() == -2 * yv


def test_square_plus_linear_gradient():
    # y = x1^2 + x2: dy/dx1 = 2 x1, dy/dx2 = 1
    g = tg.grad(lambda x1, x2: x1**2 + x2, argnums=(0, 1))(1.5, 0.3)
    assert (g[0], g[1]) == (3.0, 1.0)
    # Many points at once: elementwise.
    g = tg.elementwise_grad(lambda x1, x2: x1**2 + x2, argnums=(0, 1))(
        np.array([1.5, -2.0]), np.array([0.3, 0.7])
    )
    np.testing.assert_array_equal(g[0], [3.0, -4.0])
    np.testing.assert_array_equal(g[1], [1.0, 1.0])
