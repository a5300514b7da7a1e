"""Behaviour of tg.nn.functional: stability, PyTorch conventions, reductions, errors.

Values and gradients over many shapes are covered by the generic spec tests
(tests/opinfo/nn.py); this file checks what those do not.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import ShapeMismatchError

F = tg.nn.functional

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def _grad(loss, x):
    (g,) = tg.autograd.grad(loss, [x])
    return g.data


def _rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- exports


def test_names_are_exported_in_both_namespaces():
    for name in (
        "softmax",
        "log_softmax",
        "cross_entropy",
        "nll_loss",
        "mse_loss",
        "binary_cross_entropy_with_logits",
        "one_hot",
        "l1_loss",
        "huber_loss",
        "smooth_l1_loss",
        "logsigmoid",
    ):
        assert getattr(tg, name) is getattr(F, name)


# --------------------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_with_huge_logits_is_finite(dtype):
    x = tg.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype), requires_grad=True)
    y = np.array([1, 2])
    loss = F.cross_entropy(x, y)
    g = _grad(loss, x)
    assert np.isfinite(loss.data) and np.all(np.isfinite(g))
    assert loss.dtype == dtype and g.dtype == dtype
    # sample 0: -log p[1] = 2e4; sample 1: -log p[2] = log 2
    np.testing.assert_allclose(loss.item(), (2e4 + np.log(2)) / 2, rtol=1e-6)
    np.testing.assert_allclose(g, [[0.5, -0.5, 0.0], [0.0, 0.25, -0.25]], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_and_log_softmax_with_huge_logits_are_finite(dtype):
    x = tg.tensor(np.array([1e4, 1e4 - 1.0, -1e4], dtype=dtype), requires_grad=True)
    for f in (F.softmax, F.log_softmax):
        out = f(x)
        g = _grad(tg.sum(out * tg.tensor(np.array([1.0, 2.0, 3.0], dtype=dtype))), x)
        assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(g))
        assert out.dtype == dtype
    np.testing.assert_allclose(F.softmax(x).data[:2].sum(), 1.0, rtol=1e-6)


def test_probability_target_and_bce_with_huge_logits_are_finite():
    x = tg.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    t = np.array([[0.3, 0.7], [1.0, 0.0]])
    for loss in (
        F.cross_entropy(x, t),
        F.binary_cross_entropy_with_logits(x, t),
        tg.sum(F.logsigmoid(x)),
    ):
        assert np.isfinite(loss.data)
        assert np.all(np.isfinite(_grad(loss, x)))
    bce = F.binary_cross_entropy_with_logits(x, t, reduction="none").data
    np.testing.assert_allclose(bce, [[0.7e4, 0.7e4], [1e4, 1e4]], rtol=1e-12)


# --------------------------------------------------------------------------- cross entropy


def test_cross_entropy_is_one_fused_primitive():
    x = tg.tensor(_rng().standard_normal((4, 3)), requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, 1, 2, 1]))
    assert loss.grad_fn.prim.name == "cross_entropy"
    assert loss.grad_fn.parents[0] is x


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    x = _rng().standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    xt = tg.tensor(x, requires_grad=True)
    g = _grad(F.cross_entropy(xt, y), xt)
    p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    np.testing.assert_allclose(g, (p - np.eye(4)[y]) / 5, rtol=1e-12, atol=1e-15)


def test_cross_entropy_hessian_is_softmax_covariance():
    x = tg.tensor(_rng().standard_normal((1, 4)), requires_grad=True)
    (g,) = tg.autograd.grad(F.cross_entropy(x, np.array([2])), [x], create_graph=True)
    rows = [
        tg.autograd.grad(tg.sum(g * np.eye(4)[k][None]), [x], retain_graph=True)[0].data[0]
        for k in range(4)
    ]
    p = F.softmax(x.data[0])
    np.testing.assert_allclose(np.array(rows), np.diag(p) - np.outer(p, p), atol=1e-12)


def test_reductions_are_consistent():
    rng = _rng()
    x = rng.standard_normal((6, 3, 2))
    y = rng.integers(0, 3, (6, 2))
    none = F.cross_entropy(x, y, reduction="none")
    assert none.shape == (6, 2)
    np.testing.assert_allclose(F.cross_entropy(x, y, reduction="sum"), none.sum())
    np.testing.assert_allclose(F.cross_entropy(x, y, reduction="mean"), none.mean())


def test_axis_and_dim_select_the_class_axis():
    rng = _rng()
    x = rng.standard_normal((2, 3, 5))
    y = rng.integers(0, 5, (2, 3))
    a = F.cross_entropy(x, y, axis=-1)
    b = F.cross_entropy(x, y, dim=2)
    c = F.cross_entropy(np.moveaxis(x, 2, 1), y)
    np.testing.assert_allclose(a, c, rtol=1e-14)
    np.testing.assert_allclose(b, c, rtol=1e-14)
    np.testing.assert_allclose(F.softmax(x, dim=0), F.softmax(x, axis=0))


def test_one_dimensional_logits_take_a_scalar_label():
    x = np.array([1.0, 2.0, 3.0])
    loss = F.cross_entropy(x, np.array(2))
    np.testing.assert_allclose(loss, -np.log(np.exp(3) / np.exp(x).sum()))
    assert np.shape(F.cross_entropy(x, np.array(0), reduction="none")) == ()


def test_ignore_index_rows_get_no_loss_and_no_gradient():
    rng = _rng()
    x = tg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = np.array([0, -100, 2, -100])
    loss = F.cross_entropy(x, y)
    g = _grad(loss, x)
    assert np.all(g[[1, 3]] == 0)
    # the mean is over the two counted rows only
    ref = F.cross_entropy(x.data[[0, 2]], y[[0, 2]])
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-14)
    np.testing.assert_allclose(F.cross_entropy(x, y, reduction="none").data[[1, 3]], 0.0)


def test_ignore_index_may_be_a_valid_class():
    x = _rng().standard_normal((4, 3))
    y = np.array([0, 1, 2, 1])
    full = F.cross_entropy(x, y, reduction="none")
    np.testing.assert_allclose(
        F.cross_entropy(x, y, ignore_index=1), (full[0] + full[2]) / 2, rtol=1e-14
    )


def test_mean_over_no_target_is_nan_with_zero_gradient():
    for f in (F.cross_entropy, lambda x, y: F.nll_loss(F.log_softmax(x, axis=1), y)):
        x = tg.tensor(_rng().standard_normal((2, 3)), requires_grad=True)
        loss = f(x, np.array([-100, -100]))
        assert np.isnan(loss.item())
        np.testing.assert_array_equal(_grad(loss, x), 0.0)


def test_weighted_mean_divides_by_the_sum_of_target_weights():
    rng = _rng()
    x = rng.standard_normal((5, 3))
    y = np.array([0, 2, 2, 1, 0])
    w = np.array([0.2, 1.0, 3.0])
    per = F.cross_entropy(x, y, reduction="none")
    np.testing.assert_allclose(F.cross_entropy(x, y, weight=w, reduction="none"), per * w[y])
    np.testing.assert_allclose(
        F.cross_entropy(x, y, weight=w), (per * w[y]).sum() / w[y].sum(), rtol=1e-14
    )
    np.testing.assert_allclose(
        F.nll_loss(F.log_softmax(x, axis=1), y, weight=w),
        (per * w[y]).sum() / w[y].sum(),
        rtol=1e-14,
    )


def test_weight_is_a_constant():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    x = tg.tensor([[0.1, 0.3]], requires_grad=True)
    loss = F.cross_entropy(x, np.array([1]), weight=w)
    (gw,) = tg.autograd.grad(loss, [w], allow_unused=True)
    assert gw is None


def test_label_smoothing_mixes_the_target_with_uniform():
    rng = _rng()
    x = rng.standard_normal((4, 5))
    y = rng.integers(0, 5, 4)
    eps = 0.25
    q = (1 - eps) * np.eye(5)[y] + eps / 5
    np.testing.assert_allclose(
        F.cross_entropy(x, y, label_smoothing=eps), F.cross_entropy(x, q), rtol=1e-13
    )
    # equal logits: every target gives log C
    np.testing.assert_allclose(
        F.cross_entropy(np.zeros((3, 5)), y[:3], label_smoothing=0.4), np.log(5), rtol=1e-14
    )


def test_probability_targets_match_labels_for_one_hot_and_are_differentiable():
    rng = _rng()
    x = tg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = np.array([2, 0, 1, 1])
    t = tg.tensor(np.eye(3)[y], requires_grad=True)
    a = F.cross_entropy(x, t)
    np.testing.assert_allclose(a.item(), F.cross_entropy(x.data, y), rtol=1e-14)
    gx, gt = tg.autograd.grad(a, [x, t])
    np.testing.assert_allclose(gx.data, _grad(F.cross_entropy(x, y), x), atol=1e-15)
    np.testing.assert_allclose(gt.data, -F.log_softmax(x.data, axis=1) / 4, rtol=1e-14)


@needs_torch
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"reduction": "sum"},
        {"reduction": "none"},
        {"label_smoothing": 0.3},
        {"ignore_index": 0, "label_smoothing": 0.2, "weight": np.array([0.5, 2.0, 1.0, 0.1])},
        {"weight": np.array([0.5, 2.0, 1.0, 0.1]), "reduction": "sum", "label_smoothing": 0.5},
    ],
)
def test_cross_entropy_float32_matches_torch(kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 4, 3)).astype(np.float32)
    y = rng.integers(0, 4, (8, 3))
    tkw = {
        k: torch.tensor(v, dtype=torch.float32) if isinstance(v, np.ndarray) else v
        for k, v in kw.items()
    }
    xt = tg.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, y, **kw)
    gy = np.ones(loss.shape, dtype=np.float32)
    (g,) = tg.autograd.grad(loss, [xt], grad_outputs=[gy])
    tx = torch.tensor(x, requires_grad=True)
    tl = TF.cross_entropy(tx, torch.tensor(y), **tkw)
    tl.backward(torch.tensor(gy))
    assert loss.dtype == np.float32 and g.dtype == np.float32
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(g.data, tx.grad.numpy(), rtol=2e-5, atol=1e-6)


def _loss_and_grad(x, y, **kw):
    xt = tg.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, y, **kw)
    (g,) = tg.autograd.grad(loss, [xt], grad_outputs=[np.ones(loss.shape, dtype=x.dtype)])
    return loss.data, g.data


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_class_axis_last_matches_the_general_path(reduction):
    # Class axis last (no weight, ignored label or smoothing) takes a target-shifted fast
    # path; with a trailing length-1 axis (class axis 1 of 3-D) the max-shifted one.
    rng = _rng()
    x = rng.standard_normal((7, 5)) * 4
    y = rng.integers(0, 5, 7)
    la, ga = _loss_and_grad(x, y, reduction=reduction)
    lb, gb = _loss_and_grad(x[:, :, None], y[:, None], reduction=reduction)
    np.testing.assert_allclose(la, lb.reshape(la.shape), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ga, gb[:, :, 0], rtol=1e-13, atol=1e-15)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_with_infinite_logits_matches_torch_and_adds_no_warning(dtype):
    x = np.array([[-np.inf, 0.0, 1.0], [0.0, -np.inf, 2.0], [3.0, 0.0, -np.inf]], dtype)
    y = np.array([0, 2, 1])  # row 0: the target's logit is -inf, the loss inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.cross_entropy(x, y, reduction="none")
    ref = TF.cross_entropy(torch.tensor(x), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(loss, ref, rtol=1e-6)


def test_cross_entropy_of_non_contiguous_logits():
    base = _rng().standard_normal((6, 8))
    for x in (np.asfortranarray(base), base[:, ::2], base.T[:, :6]):
        y = np.arange(x.shape[0]) % x.shape[1]
        for reduction in ("mean", "none"):
            la, ga = _loss_and_grad(x, y, reduction=reduction)
            lb, gb = _loss_and_grad(np.ascontiguousarray(x), y, reduction=reduction)
            np.testing.assert_allclose(la, lb, rtol=1e-14)
            np.testing.assert_allclose(ga, gb, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8, np.uint64, ">i8"])
def test_cross_entropy_and_nll_take_any_integer_label_dtype(dtype):
    x = _rng().standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    for kw in ({}, {"reduction": "none"}, {"label_smoothing": 0.1}):
        la, ga = _loss_and_grad(x, y.astype(dtype), **kw)
        lb, gb = _loss_and_grad(x, y, **kw)
        np.testing.assert_allclose(la, lb, rtol=1e-15)
        np.testing.assert_allclose(ga, gb, rtol=1e-15)
    np.testing.assert_allclose(F.nll_loss(x, y.astype(dtype)), F.nll_loss(x, y), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, ">i8"])
def test_negative_labels_other_than_ignore_index_raise(dtype):
    x = np.zeros((3, 3))
    for f in (F.cross_entropy, F.nll_loss):
        with pytest.raises(ValueError, match=r"label -3 is out of range for 3 classes"):
            f(x, np.array([0, -3, -100], dtype))
        with pytest.raises(ValueError, match=r"label 3 is out of range for 3 classes"):
            f(x, np.array([-100, 3, 1], dtype))
    # only ignore_index itself may be out of range
    loss = F.cross_entropy(x, np.array([0, -100, 1], dtype))
    np.testing.assert_allclose(loss, np.log(3.0), rtol=1e-15)
    with pytest.raises(ValueError, match=r"label 9 is out of range for 3 classes"):
        F.cross_entropy(x, np.array([9, 0, 1], np.uint8))


def test_cross_entropy_second_order_on_the_fast_path_with_a_used_softmax_cotangent():
    # create_graph records the gradient through the primitive's softmax output; the
    # Hessian-vector product must match finite differences of the gradient.
    rng = _rng()
    x0 = rng.standard_normal((3, 4))
    y = np.array([1, 0, 3])
    v = rng.standard_normal((3, 4))

    def grad_at(xv):
        return _loss_and_grad(xv, y)[1]

    xt = tg.tensor(x0, requires_grad=True)
    (g,) = tg.autograd.grad(F.cross_entropy(xt, y), [xt], create_graph=True)
    (hv,) = tg.autograd.grad(tg.sum(g * v), [xt])
    h = 1e-6
    fd = (grad_at(x0 + h * v) - grad_at(x0 - h * v)) / (2 * h)
    np.testing.assert_allclose(hv.data, fd, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- other losses


def test_bce_with_logits_gradient_at_zero_is_half_minus_target():
    x = tg.tensor(np.zeros(3), requires_grad=True)
    t = np.array([0.0, 0.25, 1.0])
    g = _grad(F.binary_cross_entropy_with_logits(x, t, reduction="sum"), x)
    np.testing.assert_allclose(g, 0.5 - t, rtol=1e-15)


def test_bce_with_logits_differentiates_the_target():
    x = np.array([0.3, -2.0])
    t = tg.tensor([0.2, 0.9], requires_grad=True)
    g = _grad(F.binary_cross_entropy_with_logits(x, t, reduction="sum"), t)
    np.testing.assert_allclose(g, -x, rtol=1e-15)


def test_huber_and_smooth_l1_conventions():
    d = tg.tensor([-3.0, -1.5, 0.0, 0.5, 1.5], requires_grad=True)
    z = np.zeros(5)
    g = _grad(F.huber_loss(d, z, reduction="sum", delta=1.5), d)
    np.testing.assert_allclose(g, [-1.5, -1.5, 0.0, 0.5, 1.5])
    g = _grad(F.smooth_l1_loss(d, z, reduction="sum", beta=1.5), d)
    np.testing.assert_allclose(g, [-1.0, -1.0, 0.0, 0.5 / 1.5, 1.0])
    g = _grad(F.l1_loss(d, z, reduction="sum"), d)
    np.testing.assert_allclose(g, [-1.0, -1.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(F.smooth_l1_loss(d, z, beta=0.0).data, F.l1_loss(d, z).data)


def test_mse_loss_reductions_and_target_gradient():
    a = tg.tensor([1.0, 2.0, 4.0], requires_grad=True)
    b = tg.tensor([0.0, 2.0, 1.0], requires_grad=True)
    np.testing.assert_allclose(F.mse_loss(a, b, reduction="none").data, [1.0, 0.0, 9.0])
    np.testing.assert_allclose(F.mse_loss(a, b, reduction="sum").item(), 10.0)
    ga, gb = tg.autograd.grad(F.mse_loss(a, b), [a, b])
    np.testing.assert_allclose(ga.data, [2 / 3, 0.0, 2.0])
    np.testing.assert_allclose(gb.data, -ga.data)


def test_mse_loss_warns_when_the_target_broadcasts():
    with pytest.warns(UserWarning, match="broadcast"):
        F.mse_loss(np.ones((3, 1)), np.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(np.ones(3), np.ones(3))


def test_one_hot():
    out = F.one_hot(np.array([[0, 2], [1, 0]]))
    assert isinstance(out, tg.Tensor) and out.dtype == np.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.data[0], [[1, 0, 0], [0, 0, 1]])
    assert F.one_hot(tg.tensor([1]), num_classes=4).tolist() == [[0, 1, 0, 0]]
    assert not out.requires_grad


# --------------------------------------------------------------------------- errors


def test_bad_reduction_is_named():
    x, y = np.zeros((2, 3)), np.array([0, 1])
    for call in (
        lambda: F.cross_entropy(x, y, reduction="avg"),
        lambda: F.nll_loss(x, y, reduction="avg"),
        lambda: F.mse_loss(x, x, reduction="avg"),
        lambda: F.binary_cross_entropy_with_logits(x, x, reduction="avg"),
    ):
        with pytest.raises(ValueError, match="reduction must be one of .*'avg'"):
            call()


def test_labels_out_of_range_raise():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"label 4 is out of range for 4 classes"):
        F.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"label -1 is out of range"):
        F.nll_loss(x, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"label 5 is out of range for 3 classes"):
        F.one_hot(np.array([5]), 3)


def test_wrong_target_shape_raises_shape_mismatch():
    x = np.zeros((3, 4))
    with pytest.raises(ShapeMismatchError, match=r"shape without the class axis.*\(3,\)"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ShapeMismatchError, match=r"class probabilities.*\(3, 4\)"):
        F.cross_entropy(x, np.zeros((3, 5)))
    with pytest.raises(ShapeMismatchError):
        F.nll_loss(x, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(ShapeMismatchError, match="must equal input shape"):
        F.binary_cross_entropy_with_logits(x, np.zeros(4))
    with pytest.raises(ShapeMismatchError, match="do not broadcast"):
        F.mse_loss(x, np.zeros(3))
    with pytest.raises(ShapeMismatchError, match="one entry per class"):
        F.cross_entropy(x, np.array([0, 1, 2]), weight=np.ones(3))
    with pytest.raises(ShapeMismatchError, match="0-d"):
        F.cross_entropy(np.array(1.0), np.array(0))


def test_wrong_target_dtype_raises():
    x = np.zeros((3, 4))
    with pytest.raises(ShapeMismatchError, match="integer dtype"):
        F.cross_entropy(x, np.array([0.0, 1.0, 2.0]))  # float labels
    with pytest.raises(ValueError, match="integer class labels or float"):
        F.cross_entropy(x, np.array([True, False, True]))
    with pytest.raises(ValueError, match="integer class labels"):
        F.nll_loss(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="must be floating point"):
        F.cross_entropy(np.zeros((3, 4), dtype=np.int64), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="labels must be integers"):
        F.one_hot(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="softmax: input must be floating point"):
        F.log_softmax(np.array([1, 2]))


def test_other_bad_arguments_raise():
    x, y = np.zeros((3, 4)), np.array([0, 1, 2])
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x, y, label_smoothing=1.5)
    with pytest.raises(np.exceptions.AxisError, match="out of bounds"):
        F.softmax(x, axis=2)
    with pytest.raises(np.exceptions.AxisError):
        F.cross_entropy(x, y, axis=-3)
    with pytest.raises(ValueError, match="delta must be positive"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="beta must be non-negative"):
        F.smooth_l1_loss(x, x, beta=-1.0)
