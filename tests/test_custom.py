"""Custom rules: tg.autograd.Function and tg.custom_vjp; the checker catches wrong rules."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import GradientCheckError, GraphFreedError, InplaceModificationError
from tapegrad.ops.registry import Primitive, defvjp


class Cube(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2


class MulAdd(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x, y, k):
        ctx.save_for_backward(x, y)
        ctx.k = k
        return x * y + k, x - y

    @staticmethod
    def backward(ctx, g1, g2):
        x, y = ctx.saved_tensors
        return g1 * y + g2, g1 * x - g2, None


def test_function_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    tg.sum(Cube.apply(x)).backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 12.0])


def test_function_multiple_outputs_and_nontensor_args():
    x = tg.tensor(2.0, requires_grad=True)
    y = tg.tensor(5.0, requires_grad=True)
    a, b = MulAdd.apply(x, y, 10)
    assert a.item() == 20.0 and b.item() == -3.0
    (a * 2 + b).backward()
    assert x.grad.item() == 2 * 5 + 1
    assert y.grad.item() == 2 * 2 - 1


def test_function_only_one_output_used():
    x = tg.tensor(2.0, requires_grad=True)
    y = tg.tensor(5.0, requires_grad=True)
    _, b = MulAdd.apply(x, y, 0)
    b.backward()
    assert (x.grad.item(), y.grad.item()) == (1.0, -1.0)


def test_function_second_order():
    x = tg.tensor(2.0, requires_grad=True)
    (g,) = tg.autograd.grad(Cube.apply(x), x, create_graph=True)
    (h,) = tg.autograd.grad(g, x)
    assert h.item() == 12.0


def test_function_needs_input_grad_and_no_record_without_grad():
    seen = {}

    class Probe(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            seen["needs"] = ctx.needs_input_grad
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g, g

    out = Probe.apply(tg.tensor(1.0, requires_grad=True), tg.tensor(2.0))
    assert seen["needs"] == (True, False)
    assert out.requires_grad
    out = Probe.apply(tg.tensor(1.0), tg.tensor(2.0))
    assert not out.requires_grad


def test_function_backward_twice_raises_and_inplace_detected():
    x = tg.tensor(2.0, requires_grad=True)
    y = Cube.apply(x)
    y.backward()
    with pytest.raises(GraphFreedError):
        y.backward()
    z = tg.tensor(np.ones(2))
    w = tg.tensor(np.ones(2), requires_grad=True)

    class SaveZ(tg.autograd.Function):
        @staticmethod
        def forward(ctx, w, z):
            ctx.save_for_backward(z)
            return w * z

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * z, None

    out = SaveZ.apply(w, z)
    z += 1
    with pytest.raises(InplaceModificationError):
        tg.sum(out).backward()


def test_function_wrong_gradient_count_raises():
    class Bad(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x = tg.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="one per argument"):
        Bad.apply(x, x).backward()


def test_custom_vjp_decorator():
    @tg.custom_vjp
    def clip_gradient(x):
        return x * 1.0

    clip_gradient.defvjp(lambda x: (x * 1.0, None), lambda res, g: (tg.clip(g, -1.0, 1.0),))
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    tg.sum(clip_gradient(x) * 5.0).backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_custom_vjp_without_defvjp_differentiates_normally():
    @tg.custom_vjp
    def f(x):
        return x * x

    assert tg.grad(f)(3.0) == 6.0


def test_custom_vjp_in_grad_transform():
    @tg.custom_vjp
    def f(x):
        return tg.sin(x)

    f.defvjp(lambda x: (tg.sin(x), x), lambda x, g: (g * tg.cos(x),))
    assert tg.grad(f)(0.0) == 1.0


def test_gradcheck_catches_a_wrong_rule():
    wrong_sin = defvjp(
        Primitive("wrong_sin", np.sin, save=(0,), register=False), lambda g, ans, x: g * tg.sin(x)
    )  # should be cos
    with pytest.raises(GradientCheckError, match="input 0"):
        tg.testing.gradcheck(wrong_sin, [np.array([0.3, 1.1])])
    assert not tg.testing.gradcheck(wrong_sin, [np.array([0.3])], raise_exception=False)


def test_gradgradcheck_catches_a_wrong_second_order_rule():
    # First derivative right, but computed with raw NumPy inside the rule: invisible to the
    # tape, so the second derivative is wrong (0) and gradgradcheck must notice.
    bad = defvjp(
        Primitive("bad_square", np.square, save=(0,), register=False),
        lambda g, ans, x: g * 2.0 * np.asarray(getattr(x, "data", x)),
    )
    assert tg.testing.gradcheck(bad, [np.array([0.5, -1.0])])
    with pytest.raises(GradientCheckError):
        tg.testing.gradgradcheck(bad, [np.array([0.5, -1.0])])


def test_gradcheck_report_names_worst_entry():
    scaled = defvjp(
        Primitive("scaled", lambda x: x * 2.0, save=(0,), register=False),
        lambda g, ans, x: g * tg.where(x > 1.5, 2.5, 2.0),
    )
    with pytest.raises(GradientCheckError, match=r"element \(1,\).*analytic 2.5"):
        tg.testing.gradcheck(scaled, [np.array([1.0, 2.0])])
