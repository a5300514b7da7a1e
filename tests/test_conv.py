"""Behaviour of convolution and pooling: conventions, errors, and the nn modules vs PyTorch.

Values, gradients (first and second order) and forward mode of the functional ops over many
shapes are covered by the generic spec tests (tests/opinfo/conv.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import ShapeMismatchError

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def _rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- functional
def test_conv2d_matches_direct_loop():
    rng = _rng()
    x = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((4, 3, 2, 3))
    out = tg.conv2d(tg.tensor(x), tg.tensor(w), stride=(2, 1), padding=1).data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho, wo = (5 + 2 - 2) // 2 + 1, (6 + 2 - 3) + 1
    ref = np.zeros((2, 4, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, 2 * i : 2 * i + 2, j : j + 3]
            ref[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_float32_stays_float32_through_backward():
    rng = _rng()
    x = tg.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    y = tg.max_pool2d(tg.conv2d(x, w, padding=1), 2)
    y = tg.avg_pool2d(y, 3, 1, 1) + tg.adaptive_avg_pool2d(y, 3)
    assert y.dtype == np.float32
    tg.sum(y).backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


@needs_torch
def test_max_pool_ties_go_to_first_element_like_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 1.0  # two equal maxima in the first window
    xt = tg.tensor(x, requires_grad=True)
    tg.sum(tg.max_pool2d(xt, 2)).backward()
    expected = np.zeros((4, 4))
    expected[0, 1] = 1.0  # first in row-major order
    expected[0, 2] = expected[2, 0] = expected[2, 2] = 1.0  # all-zero windows: their first
    np.testing.assert_array_equal(xt.grad.data[0, 0], expected)
    tt = torch.tensor(x, requires_grad=True)
    TF.max_pool2d(tt, 2).sum().backward()
    np.testing.assert_array_equal(xt.grad.data, tt.grad.numpy())


def test_max_pool_overlapping_windows_accumulate():
    x = tg.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    tg.sum(tg.max_pool2d(x, 2, stride=1)).backward()
    # Every 2x2 window's max is its bottom-right element; each is picked once.
    expected = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 1]], dtype=float)
    np.testing.assert_array_equal(x.grad.data[0, 0], expected)


@needs_torch
def test_max_pool_propagates_nan_like_torch():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.nan
    out = tg.max_pool2d(tg.tensor(x), 2).data
    ref = TF.max_pool2d(torch.tensor(x), 2).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(out[~np.isnan(out)], ref[~np.isnan(ref)])


def test_max_pool_with_padding_never_picks_padding():
    x = -np.ones((1, 1, 3, 3)) * 5.0
    out = tg.max_pool2d(tg.tensor(x), 3, stride=1, padding=1)
    np.testing.assert_array_equal(out.data, -5.0 * np.ones((1, 1, 3, 3)))


def test_hessian_of_conv_loss_is_symmetric():
    rng = _rng()
    x = tg.tensor(rng.standard_normal((1, 2, 4, 4)))
    w0 = rng.standard_normal((2, 2, 2, 2))

    def loss(w):
        return tg.sum(tg.tanh(tg.conv2d(x, w, stride=2, padding=1)) ** 2)

    h = tg.hessian(loss)(tg.tensor(w0)).data.reshape(16, 16)
    np.testing.assert_allclose(h, h.T, atol=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: tg.conv2d(tg.ones((1, 3, 5, 5)), tg.ones((2, 2, 3, 3))), "input channels"),
        (
            lambda: tg.conv2d(tg.ones((1, 4, 5, 5)), tg.ones((3, 2, 3, 3)), groups=2),
            "divisible by groups",
        ),
        (lambda: tg.conv2d(tg.ones((1, 1, 2, 2)), tg.ones((1, 1, 3, 3))), "smaller than"),
        (
            lambda: tg.conv2d(tg.ones((1, 1, 5, 5)), tg.ones((2, 1, 3, 3)), tg.ones(3)),
            "bias must have shape",
        ),
        (lambda: tg.conv2d(tg.ones((5, 5)), tg.ones((1, 1, 3, 3))), "input must have shape"),
        (lambda: tg.conv2d(tg.ones((1, 1, 5, 5)), tg.ones((1, 3, 3))), "weight must have"),
        (lambda: tg.conv1d(tg.ones((1, 2, 5)), tg.ones((1, 2, 3, 3))), "weight must have"),
        (lambda: tg.max_pool2d(tg.ones((1, 1, 4, 4)), 2, padding=2), "at most half"),
        (lambda: tg.avg_pool2d(tg.ones((4, 4)), 2), "input must have shape"),
        (lambda: tg.max_pool2d(tg.ones((1, 1, 2, 2)), 3), "smaller than"),
    ],
)
def test_shape_errors_are_clear(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_shape_errors_are_shape_mismatch_errors():
    with pytest.raises(ShapeMismatchError):
        tg.conv2d(tg.ones((1, 3, 5, 5)), tg.ones((2, 2, 3, 3)))


@pytest.mark.parametrize("bad", [0, -1, (1, 0)])
def test_bad_stride_is_rejected(bad):
    with pytest.raises(ValueError, match="stride"):
        tg.conv2d(tg.ones((1, 1, 5, 5)), tg.ones((1, 1, 3, 3)), stride=bad)


def test_non_integer_args_are_rejected():
    with pytest.raises(TypeError, match="padding"):
        tg.conv2d(tg.ones((1, 1, 5, 5)), tg.ones((1, 1, 3, 3)), padding=1.5)


# --------------------------------------------------------------------------- modules
def test_conv_default_init_matches_pytorch_bounds():
    tg.random.seed(0)
    conv = tg.nn.Conv2d(8, 16, 3, groups=2)
    fan_in = 8 // 2 * 9
    bound = 1 / math.sqrt(fan_in)
    w = conv.weight.data
    assert conv.weight.shape == (16, 4, 3, 3) and conv.weight.dtype == np.float32
    assert np.all(np.abs(w) <= bound) and np.std(w) == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert np.all(np.abs(conv.bias.data) <= bound)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert tg.nn.Conv1d(2, 3, 4, bias=False).bias is None


def test_module_reprs():
    assert repr(tg.nn.Conv2d(1, 4, 3, padding=1)) == (
        "Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    )
    assert repr(tg.nn.Conv1d(3, 5, 2, stride=2, bias=False)) == (
        "Conv1d(3, 5, kernel_size=(2,), stride=(2,), bias=False)"
    )
    assert repr(tg.nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(tg.nn.AdaptiveAvgPool2d((2, 3))) == "AdaptiveAvgPool2d(output_size=(2, 3))"


def test_module_argument_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        tg.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size"):
        tg.nn.Conv2d(3, 4, 0)
    with pytest.raises(ValueError, match="padding"):
        tg.nn.Conv2d(3, 4, 3, padding="same")
    with pytest.raises(ValueError, match="at most half"):
        tg.nn.MaxPool2d(2, padding=2)


def test_conv_module_gradcheck():
    conv = tg.nn.Conv2d(2, 3, 2, stride=2, padding=1, dtype="float64")
    x = tg.tensor(_rng().standard_normal((2, 2, 3, 3)))

    def f(xx, w, b):
        return tg.conv2d(xx, w, b, stride=2, padding=1)

    tg.testing.gradcheck(f, [x, conv.weight, conv.bias])


def _copy_conv(tgm, tm):
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(tgm.weight.data))
        if tm.bias is not None:
            tm.bias.copy_(torch.tensor(tgm.bias.data))


@needs_torch
@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.Conv2d(3, 4, 3),
        lambda nn: nn.Conv2d(
            4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2
        ),
        lambda nn: nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False),
        lambda nn: nn.Conv1d(3, 4, 3, stride=2, padding=1),
        lambda nn: nn.Conv1d(4, 4, 2, dilation=2, groups=4),
    ],
)
def test_conv_modules_match_torch(make):
    tgm, tm = make(tg.nn), make(torch.nn).double()
    tgm = type(tgm)(**_ctor_kwargs(tgm), dtype="float64")
    _copy_conv(tgm, tm)
    shape = (2, tgm.in_channels) + ((7, 6) if isinstance(tgm, tg.nn.Conv2d) else (9,))
    x = _rng().standard_normal(shape)
    xt, xtt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = tgm(xt), tm(xtt)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    c = _rng().standard_normal(y.shape)
    tg.sum(y * tg.tensor(c)).backward()
    (yt * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(xt.grad.data, xtt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tgm.weight.grad.data, tm.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    if tm.bias is not None:
        np.testing.assert_allclose(tgm.bias.grad.data, tm.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def _ctor_kwargs(m):
    return {
        "in_channels": m.in_channels,
        "out_channels": m.out_channels,
        "kernel_size": m.kernel_size,
        "stride": m.stride,
        "padding": m.padding,
        "dilation": m.dilation,
        "groups": m.groups,
        "bias": m.bias is not None,
    }


@needs_torch
@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.MaxPool2d(2),
        lambda nn: nn.MaxPool2d(3, stride=2, padding=1),
        lambda nn: nn.AvgPool2d((2, 3), stride=1),
        lambda nn: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        lambda nn: nn.AdaptiveAvgPool2d((3, 2)),
        lambda nn: nn.AdaptiveAvgPool2d(1),
    ],
)
def test_pool_modules_match_torch(make):
    tgm, tm = make(tg.nn), make(torch.nn)
    x = np.random.default_rng(5).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.1
    xt, xtt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = tgm(xt), tm(xtt)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    c = _rng().standard_normal(y.shape)
    tg.sum(y * tg.tensor(c)).backward()
    (yt * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(xt.grad.data, xtt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_small_cnn_trains():
    tg.random.seed(0)
    rng = _rng()
    model = tg.nn.Sequential(
        tg.nn.Conv2d(1, 4, 3, padding=1),
        tg.nn.MaxPool2d(2),
        tg.nn.AdaptiveAvgPool2d(1),
    )
    x = tg.tensor(rng.standard_normal((8, 1, 6, 6)).astype(np.float32))
    target = tg.tensor(rng.standard_normal((8, 4, 1, 1)).astype(np.float32))
    params = list(model.parameters())
    losses = []
    for _ in range(30):
        loss = tg.mean((model(x) - target) ** 2)
        losses.append(float(loss.data))
        model.zero_grad()
        loss.backward()
        for p in params:
            p.data -= 0.1 * p.grad.data
    assert losses[-1] < losses[0]
