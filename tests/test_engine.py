"""Tape and engine semantics (PyTorch's, where PyTorch has them)."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import (
    GraphFreedError,
    InplaceModificationError,
    NotDifferentiableError,
    ShapeMismatchError,
    TapegradError,
)


def leaf(v, **kw):
    return tg.tensor(v, requires_grad=True, **kw)


# --------------------------------------------------------------------------- backward basics
def test_grad_accumulates_across_backward_calls():
    x = leaf(3.0)
    (x * x).backward()
    (x * x).backward()
    assert x.grad.item() == 12.0


def test_shared_subexpression_runs_once_and_sums():
    x = leaf(2.0)
    a = x * x
    y = a + a * a  # a used twice
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 2.0 + 4 * 2.0**3)


def test_broadcast_gradient_is_summed_to_input_shape():
    x = leaf(np.ones((2, 1)))
    b = leaf(np.arange(3.0))
    tg.sum(x * b).backward()
    assert x.grad.shape == (2, 1)
    np.testing.assert_array_equal(x.grad.data, [[3.0], [3.0]])
    np.testing.assert_array_equal(b.grad.data, [2.0, 2.0, 2.0])


def test_backward_twice_without_retain_graph_raises():
    x = leaf(1.0)
    y = tg.sin(x)
    y.backward()
    with pytest.raises(GraphFreedError, match="retain_graph=True"):
        y.backward()


def test_backward_twice_with_retain_graph_works():
    x = leaf(1.0)
    y = tg.sin(x) * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(2 * (np.cos(1.0) + np.sin(1.0)))


def test_nonscalar_backward_without_gradient_raises_with_shape():
    x = leaf(np.ones(3))
    with pytest.raises(ShapeMismatchError, match=r"\(3,\)"):
        (x * 2).backward()


def test_nonscalar_backward_with_gradient():
    x = leaf(np.ones(3))
    (x * 2).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0, 6.0])


def test_gradient_of_wrong_shape_raises():
    x = leaf(np.ones(3))
    with pytest.raises(ShapeMismatchError, match="gradient has shape"):
        (x * 2).backward(np.ones(4))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        tg.tensor(1.0).backward()


def test_backward_inputs_restricts_accumulation():
    x, y = leaf(1.0), leaf(2.0)
    (x * y).backward(inputs=[x])
    assert x.grad.item() == 2.0
    assert y.grad is None


def test_long_chain_has_no_recursion_error():
    x = leaf(np.array(0.5))
    y = x
    for _ in range(1_000_000):
        y = y + 0.0
    y.backward()
    assert x.grad.item() == 1.0


def test_leaf_grad_is_a_writable_copy():
    x, y = leaf(np.ones(2)), leaf(np.ones(2))
    tg.sum(x + y).backward()
    x.grad.data[0] = 7.0
    assert y.grad.data[0] == 1.0


def test_leaf_grad_never_aliases_the_callers_gradient():
    x = leaf(np.ones(3))
    gradient = np.array([1.0, 2.0, 3.0])
    (x + 0.0).backward(gradient)
    x.grad.data[:] = 0.0
    np.testing.assert_array_equal(gradient, [1.0, 2.0, 3.0])


def test_retained_nonleaf_grad_does_not_alias_leaf_grad():
    x, w = leaf(np.ones(2)), leaf(np.ones(2))
    a = x + w
    a.retain_grad()
    tg.sum(a).backward()
    x.grad.data[:] = 5.0
    assert a.grad.tolist() == [1.0, 1.0]
    assert w.grad.tolist() == [1.0, 1.0]


def test_autograd_grad_first_order_skips_nothing_needed():
    x, w = leaf(np.array([1.0, 2.0])), leaf(np.array([3.0, 4.0]))
    y = tg.sum(x * w + tg.sin(w))
    (gx,) = tg.autograd.grad(y, x)
    np.testing.assert_array_equal(gx.data, [3.0, 4.0])
    assert w.grad is None and x.grad is None


def test_constant_branches_are_skipped():
    x = leaf(2.0)
    c = tg.tensor(5.0)
    (x * c + c * c).backward()
    assert x.grad.item() == 5.0
    assert c.grad is None


# --------------------------------------------------------------------------- autograd.grad
def test_autograd_grad_returns_and_does_not_accumulate():
    x = leaf(3.0)
    (g,) = tg.autograd.grad(x**2, x)
    assert g.item() == 6.0
    assert x.grad is None


def test_autograd_grad_unused_input():
    x, z = leaf(1.0), leaf(1.0)
    with pytest.raises(ValueError, match="allow_unused=True"):
        tg.autograd.grad(x * 2, [x, z])
    gx, gz = tg.autograd.grad(x * 2, [x, z], allow_unused=True)
    assert gx.item() == 2.0 and gz is None


def test_autograd_grad_wrt_intermediate():
    x = leaf(2.0)
    a = x * 3
    y = a * a
    (ga,) = tg.autograd.grad(y, a)
    assert ga.item() == 12.0


def test_autograd_grad_wrt_intermediate_does_not_free_the_rest():
    x = leaf(2.0)
    a = tg.sin(x)
    y = a * a
    tg.autograd.grad(y, a)
    a.backward()  # the part of the graph below `a` was not touched
    assert x.grad.item() == pytest.approx(np.cos(2.0))


def test_create_graph_gives_second_derivative():
    x = leaf(1.5)
    (g,) = tg.autograd.grad(tg.sin(x) * x, x, create_graph=True)
    (h,) = tg.autograd.grad(g, x)
    assert h.item() == pytest.approx(2 * np.cos(1.5) - 1.5 * np.sin(1.5))


def test_third_derivative():
    x = leaf(0.7)
    y = tg.exp(2 * x)
    for _ in range(3):
        (y,) = tg.autograd.grad(y, x, create_graph=True)
    assert y.item() == pytest.approx(8 * np.exp(1.4))


def test_backward_create_graph_grad_is_differentiable():
    x = leaf(2.0)
    (x**3).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.backward()
    assert x.grad.item() == 12.0


# --------------------------------------------------------------------------- hooks
def test_leaf_hook_can_replace_gradient():
    x = leaf(1.0)
    seen = []
    x.register_hook(lambda g: seen.append(g.item()) or g * 10)
    (x * 3).backward()
    assert seen == [3.0]
    assert x.grad.item() == 30.0


def test_nonleaf_hook_sees_gradient_and_can_be_removed():
    x = leaf(2.0)
    a = x * x
    seen = []
    remove = a.register_hook(lambda g: seen.append(g.item()))
    (a * 5).backward(retain_graph=True)
    assert seen == [5.0]
    remove()
    (a * 5).backward()
    assert seen == [5.0]


def test_retain_grad_on_nonleaf():
    x = leaf(2.0)
    a = x * x
    a.retain_grad()
    (a * 3).backward()
    assert a.grad.item() == 3.0
    assert x.grad.item() == 12.0


def test_nonleaf_grad_is_none_without_retain_grad():
    x = leaf(2.0)
    a = x * x
    (a * 3).backward()
    assert a.grad is None


# --------------------------------------------------------------------------- grad mode
def test_no_grad_context_and_decorator():
    x = leaf(1.0)
    with tg.no_grad():
        assert not (x * 2).requires_grad
        with tg.enable_grad():
            assert (x * 2).requires_grad

    @tg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert (x * 2).requires_grad


def test_set_grad_enabled_function_and_context():
    x = leaf(1.0)
    with tg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert tg.is_grad_enabled()
    tg.set_grad_enabled(False)
    try:
        assert not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)


def test_grad_mode_is_thread_local():
    results = []

    def worker():
        results.append(tg.is_grad_enabled())

    with tg.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert results == [True]


# --------------------------------------------------------------------------- in-place and versions
def test_inplace_change_of_saved_value_raises():
    w = leaf(np.ones(3))
    x = tg.tensor(np.arange(3.0))
    y = tg.sum(w * x)  # multiply saves x
    x += 1  # x doesn't require grad: changed in place, version bumped
    with pytest.raises(InplaceModificationError, match="in-place"):
        y.backward()


def test_inplace_change_of_saved_output_raises():
    x = leaf(np.ones(2))
    y = tg.exp(x)  # saves its output
    with tg.no_grad():
        y *= 2
    with pytest.raises(InplaceModificationError):
        tg.sum(y).backward()


def test_inplace_update_of_leaf_parameter_under_no_grad_is_caught():
    w = leaf(np.ones(2))
    y = tg.sum(w * w)
    with tg.no_grad():
        w -= 0.1
    with pytest.raises(InplaceModificationError):
        y.backward()


def test_inplace_on_leaf_that_requires_grad_raises():
    x = leaf(np.ones(2))
    with pytest.raises(InplaceModificationError, match="no_grad"):
        x += 1
    with pytest.raises(InplaceModificationError):
        x.mul_(2)


def test_inplace_on_nonleaf_is_recorded():
    x = leaf(np.array([1.0, 2.0]))
    y = x * 3
    y *= x  # y = 3 x^2
    y += 1
    tg.sum(y).backward()
    np.testing.assert_allclose(x.grad.data, 6 * np.array([1.0, 2.0]))


def test_version_counter_increments():
    x = tg.tensor([1.0])
    assert x._version == 0
    x += 1
    x.mul_(2)
    assert x._version == 2


# --------------------------------------------------------------------------- memory
def test_saved_arrays_are_released_after_backward():
    x = leaf(np.random.rand(100))
    h = tg.exp(x)  # exp saves its output (h's array); sin saves its input (h's array too)
    z = tg.sin(h) * 2.0
    y = tg.sum(z)
    ref = weakref.ref(h.data)
    del h, z
    assert ref() is not None  # alive: the tape holds it for backward
    y.backward()
    assert ref() is None  # freed by backward although the output y is still alive
    assert y.grad_fn is not None


def test_saved_arrays_kept_with_retain_graph():
    x = leaf(np.random.rand(10))
    h = tg.exp(x)
    y = tg.sum(tg.sin(h))
    ref = weakref.ref(h.data)
    del h
    y.backward(retain_graph=True)
    assert ref() is not None
    y.backward()
    assert ref() is None


def test_graph_is_freed_without_gc_when_output_dropped():
    gc.disable()
    try:
        x = leaf(np.random.rand(1000))
        y = tg.tanh(tg.exp(x) * x)
        node_ref = weakref.ref(y.grad_fn)
        data_ref = weakref.ref(y.grad_fn.ans)
        del y
        assert node_ref() is None
        assert data_ref() is None
    finally:
        gc.enable()


def test_tensor_copies_caller_array():
    a = np.ones(3)
    t = tg.tensor(a, requires_grad=True)
    y = tg.sum(t * t)
    a[:] = 100.0
    y.backward()
    np.testing.assert_array_equal(t.grad.data, [2.0, 2.0, 2.0])


# --------------------------------------------------------------------------- dtypes and errors
def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        tg.tensor([1, 2], requires_grad=True)
    with pytest.raises(NotDifferentiableError):
        tg.tensor([1, 2]).requires_grad_()


def test_errors_are_tapegrad_and_builtin():
    assert issubclass(ShapeMismatchError, ValueError)
    assert issubclass(ShapeMismatchError, TapegradError)
    assert issubclass(GraphFreedError, RuntimeError)


def test_float32_gradients_stay_float32():
    x = leaf(np.ones(3, np.float32))
    tg.sum(tg.exp(x) * 2.0).backward()
    assert x.grad.dtype == np.float32


def test_int_inputs_promote_like_numpy():
    assert tg.sin(tg.tensor([1, 2])).dtype == np.float64
    assert (tg.tensor([1, 2]) / 2).dtype == np.float64
    assert (tg.tensor(np.ones(2, np.float32)) * 2).dtype == np.float32


# --------------------------------------------------------------------------- numpy interop
def test_numpy_ufunc_on_tensor_keeps_the_tape():
    x = leaf(np.array([0.5, 1.0]))
    y = np.sin(x)
    assert isinstance(y, tg.Tensor) and y.requires_grad
    tg.sum(y).backward()
    np.testing.assert_allclose(x.grad.data, np.cos([0.5, 1.0]))


def test_ndarray_operand_on_left_gives_tensor():
    x = leaf(np.array([1.0, 2.0]))
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, tg.Tensor) and y.requires_grad
    y = np.array([3.0, 4.0]) + x
    assert isinstance(y, tg.Tensor)


def test_implicit_array_conversion_of_grad_tensor_raises():
    x = leaf(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="detach"):
        np.asarray(x)
    with pytest.raises(TypeError, match="detach"):
        x.numpy()
    assert np.asarray(x.detach()).tolist() == [1.0, 2.0]


def test_numpy_ufunc_without_counterpart_raises_for_grad_tensor():
    x = leaf(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="tapegrad"):
        np.hypot(x, x)


# --------------------------------------------------------------------------- tensor API
def test_tensor_basic_api():
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and t.dtype == np.float64
    assert len(t) == 2
    assert [r.tolist() for r in t] == [[1.0, 2.0], [3.0, 4.0]]
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert tg.tensor(3.5).item() == 3.5
    assert t.astype(np.float32).dtype == np.float32
    c = t.copy()
    c.data[0, 0] = 9
    assert t.data[0, 0] == 1.0
    d = t.detach()
    assert not d.requires_grad


def test_repr_shows_grad_fn():
    x = leaf(1.0)
    assert repr(x) == "tensor(1., requires_grad=True)"
    assert "grad_fn=<sinBackward>" in repr(tg.sin(x))
    assert "dtype=float32" in repr(tg.tensor([1.0], dtype=np.float32))


def test_operators_and_reflected_forms():
    x = leaf(np.array([1.0, 2.0]))
    exprs = [
        x + 1,
        1 + x,
        x - 1,
        1 - x,
        x * 2,
        2 * x,
        x / 2,
        2 / x,
        x**2,
        2**x,
        -x,
        abs(x),
        x // 1,
        5 % x,
    ]
    expect = [
        [2, 3],
        [2, 3],
        [0, 1],
        [0, -1],
        [2, 4],
        [2, 4],
        [0.5, 1],
        [2, 1],
        [1, 4],
        [2, 4],
        [-1, -2],
        [1, 2],
        [1, 2],
        [0, 1],
    ]
    for e, v in zip(exprs, expect):
        np.testing.assert_allclose(e.data, v)
    assert (x > 1).tolist() == [False, True]
    assert (x == 1).dtype == np.bool_
    assert not (x > 1).requires_grad


def test_creation_functions():
    assert tg.zeros(2, 3).shape == (2, 3)
    assert tg.ones((2,)).tolist() == [1.0, 1.0]
    assert tg.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert tg.arange(3).tolist() == [0, 1, 2]
    assert tg.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    assert tg.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert tg.zeros_like(tg.ones(3)).tolist() == [0.0] * 3
    assert tg.ones_like(np.zeros(2)).tolist() == [1.0, 1.0]
    assert tg.randn(4, requires_grad=True).requires_grad


def test_random_seed_reproducible():
    tg.random.seed(123)
    a = tg.randn(5)
    tg.random.seed(123)
    b = tg.randn(5)
    assert a.tolist() == b.tolist()
    gen = np.random.default_rng(7)
    assert tg.rand(3, generator=gen).shape == (3,)
