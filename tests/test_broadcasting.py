"""Property tests: broadcasting in forward and gradients (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import tapegrad as tg


def _reduce_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Reference unbroadcast: sum the leading axes and the stretched size-1 axes."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, d in enumerate(shape):
        if d == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


_BINARY = {
    "add": (tg.add, lambda x, y, g: (g, g)),
    "subtract": (tg.subtract, lambda x, y, g: (g, -g)),
    "multiply": (tg.multiply, lambda x, y, g: (g * y, g * x)),
    "divide": (tg.divide, lambda x, y, g: (g / y, -g * x / y**2)),
}


@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    op=st.sampled_from(sorted(_BINARY)),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_binary_gradients_sum_back_over_broadcast_axes(shapes, op, dtype, seed):
    rng = np.random.default_rng(seed)
    (sx, sy), out_shape = shapes.input_shapes, shapes.result_shape
    xv = rng.uniform(0.5, 2.0, sx).astype(dtype)
    yv = rng.uniform(0.5, 2.0, sy).astype(dtype)
    gv = rng.standard_normal(out_shape).astype(dtype)
    fn, ref = _BINARY[op]
    x = tg.tensor(xv, requires_grad=True)
    y = tg.tensor(yv, requires_grad=True)
    out = fn(x, y)
    assert out.shape == out_shape and out.dtype == dtype
    out.backward(gv)
    ex, ey = ref(np.broadcast_to(xv, out_shape), np.broadcast_to(yv, out_shape), gv)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert x.grad.shape == sx and y.grad.shape == sy
    assert x.grad.dtype == dtype and y.grad.dtype == dtype
    np.testing.assert_allclose(x.grad.data, _reduce_to(ex, sx), rtol=tol, atol=tol)
    np.testing.assert_allclose(y.grad.data, _reduce_to(ey, sy), rtol=tol, atol=tol)


@given(
    shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_where_gradients_broadcast(shapes, seed):
    rng = np.random.default_rng(seed)
    sc, sx, sy = shapes.input_shapes
    cond = rng.random(sc) < 0.5
    x = tg.tensor(rng.standard_normal(sx), requires_grad=True)
    y = tg.tensor(rng.standard_normal(sy), requires_grad=True)
    tg.sum(tg.where(cond, x, y)).backward()
    full = np.broadcast_to(cond, shapes.result_shape)
    np.testing.assert_array_equal(x.grad.data, _reduce_to(full.astype(float), sx))
    np.testing.assert_array_equal(y.grad.data, _reduce_to((~full).astype(float), sy))


@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_chain_of_broadcasts_matches_gradcheck(shapes, seed):
    rng = np.random.default_rng(seed)
    sx, sy = shapes.input_shapes
    xv = rng.uniform(0.5, 1.5, sx)
    yv = rng.uniform(0.5, 1.5, sy)
    tg.testing.gradcheck(lambda a, b: tg.tanh(a * b) / (a + b) ** 2, [xv, yv])
