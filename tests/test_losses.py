"""Loss modules against the same PyTorch modules (values and input gradients)."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

rng = np.random.default_rng(0)
REDUCTIONS = ["mean", "sum", "none"]


def _compare(make, x, target, dtype=np.float64, target_is_float=True, grad_target=False):
    torch = pytest.importorskip("torch")
    tdt = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    x = x.astype(dtype)
    if target_is_float:
        target = target.astype(dtype)
    xi = tg.tensor(x, requires_grad=True)
    ti = tg.tensor(target, requires_grad=grad_target)
    out = make(tg.nn, lambda a: None if a is None else tg.tensor(np.asarray(a, dtype)))(xi, ti)
    txi = torch.tensor(x, requires_grad=True)
    tti = torch.tensor(target, requires_grad=grad_target)
    tout = make(torch.nn, lambda a: None if a is None else torch.tensor(np.asarray(a), dtype=tdt))(
        txi, tti
    )
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    seed = rng.normal(size=out.shape).astype(dtype)
    out.backward(tg.tensor(seed))
    tout.backward(torch.tensor(seed))
    np.testing.assert_allclose(xi.grad.data, txi.grad.numpy(), rtol=tol, atol=tol)
    assert xi.grad.dtype == dtype
    if grad_target:
        np.testing.assert_allclose(ti.grad.data, tti.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"weight": [0.2, 1.0, 3.0, 0.5]},
        {"ignore_index": 2},
        {"label_smoothing": 0.1},
        {"weight": [0.2, 1.0, 3.0, 0.5], "ignore_index": 1, "label_smoothing": 0.2},
    ],
)
def test_cross_entropy_loss(kw, reduction, dtype):
    x = rng.normal(size=(6, 4))
    y = np.array([0, 1, 2, 3, 2, 1])

    def make(nn, w):
        return nn.CrossEntropyLoss(**{**kw, "weight": w(kw.get("weight"))}, reduction=reduction)

    _compare(make, x, y, dtype, target_is_float=False)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_loss_spatial_and_probabilities(reduction):
    x = rng.normal(size=(2, 3, 4, 5))
    y = rng.integers(0, 3, size=(2, 4, 5))
    _compare(lambda nn, w: nn.CrossEntropyLoss(reduction=reduction), x, y, target_is_float=False)
    p = rng.dirichlet(np.ones(3), size=5)
    _compare(
        lambda nn, w: nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.1),
        rng.normal(size=(5, 3)),
        p,
        grad_target=True,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kw", [{}, {"weight": [1.0, 2.0, 0.5]}, {"ignore_index": 0}])
def test_nll_loss(kw, reduction):
    x = rng.normal(size=(5, 3))
    y = np.array([0, 1, 2, 0, 1])

    def make(nn, w):
        return nn.NLLLoss(**{**kw, "weight": w(kw.get("weight"))}, reduction=reduction)

    _compare(make, x, y, target_is_float=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name,kw",
    [
        ("MSELoss", {}),
        ("L1Loss", {}),
        ("HuberLoss", {"delta": 0.7}),
        ("SmoothL1Loss", {"beta": 0.5}),
        ("SmoothL1Loss", {"beta": 0.0}),
    ],
)
def test_regression_losses(name, kw, reduction, dtype):
    x = rng.normal(size=(4, 5))
    t = rng.normal(size=(4, 5))
    _compare(
        lambda nn, w: getattr(nn, name)(reduction=reduction, **kw), x, t, dtype, grad_target=True
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "kw", [{}, {"weight": np.linspace(0.5, 2, 3)}, {"pos_weight": [0.5, 2.0, 3.0]}]
)
def test_bce_with_logits_loss(kw, reduction, dtype):
    x = rng.normal(size=(4, 3)) * 3
    t = rng.uniform(size=(4, 3))

    def make(nn, w):
        return nn.BCEWithLogitsLoss(
            weight=w(kw.get("weight")), pos_weight=w(kw.get("pos_weight")), reduction=reduction
        )

    _compare(make, x, t, dtype)


def test_loss_modules_are_modules_with_buffers_and_repr():
    loss = tg.nn.CrossEntropyLoss(weight=tg.tensor([1.0, 2.0]))
    assert isinstance(loss, tg.nn.Module)
    assert list(loss.state_dict()) == ["weight"]
    assert list(loss.parameters()) == []
    assert repr(tg.nn.MSELoss()) == "MSELoss()"
    assert (
        repr(tg.nn.HuberLoss(reduction="sum", delta=2.0)) == "HuberLoss(reduction='sum', delta=2.0)"
    )
    x = tg.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    model = tg.nn.Module()
    model.loss = tg.nn.L1Loss()
    assert "(loss): L1Loss()" in repr(model)
    assert tg.nn.L1Loss()(x, tg.zeros((3, 2))).shape == ()


def test_loss_errors():
    with pytest.raises(ValueError, match="reduction"):
        tg.nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        tg.nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="delta"):
        tg.nn.HuberLoss(delta=0.0)
    with pytest.raises(ValueError, match="beta"):
        tg.nn.SmoothL1Loss(beta=-1.0)
    with pytest.raises(ValueError):
        tg.nn.MSELoss()(tg.zeros((2, 3)), tg.zeros((4, 3)))
