"""Forward mode through the nn family: second derivatives (jvp of jvp, forward-over-reverse
Hessians) against PyTorch, both outputs of the fused cross-entropy, batched tangents, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")
F = tg.nn.functional
TF = torch.nn.functional


def _torch_hessian(f, x):
    return torch.autograd.functional.hessian(f, torch.tensor(x)).numpy()


def _labels(rng, shape, c):
    return rng.integers(0, c, shape).astype(np.int64)


# (logit shape, label shape, C, kwargs)
_CE_CASES = [
    ((4, 3), (4,), 3, {}),
    ((4, 3), (4,), 3, {"reduction": "sum"}),
    ((3, 4, 2), (3, 2), 4, {"weight": "w"}),
    ((5, 3), (5,), 3, {"weight": "w", "label_smoothing": 0.3, "ignore": True}),
    ((5,), (), 5, {"label_smoothing": 0.2}),
    ((2, 3, 4), (2, 3), 4, {"axis": -1, "label_smoothing": 0.1}),
]


def _ce_case(rng, xs, ys, c, kw):
    x = rng.standard_normal(xs)
    y = _labels(rng, ys, c)
    kw = dict(kw)
    if kw.pop("ignore", False):
        y[1] = -100
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.3, 2.0, c)
    return x, y, kw


def _torch_ce(x, y, kw):
    kw = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    axis = kw.pop("axis", None)
    if axis is not None and x.ndim > 1 and axis % x.ndim != 1:
        x = x.movedim(axis, 1)
    return TF.cross_entropy(x, torch.tensor(y), **kw)


@pytest.mark.parametrize("case", range(len(_CE_CASES)))
def test_cross_entropy_hessian_forward_over_reverse_matches_torch(case):
    rng = np.random.default_rng(case)
    x, y, kw = _ce_case(rng, *_CE_CASES[case])
    h = tg.hessian(lambda v: F.cross_entropy(v, y, **kw))(x)
    th = _torch_hessian(lambda v: _torch_ce(v, y, kw), x)
    np.testing.assert_allclose(h, th, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", [0, 2, 5])
def test_cross_entropy_hessian_forward_over_forward_matches_torch(case):
    rng = np.random.default_rng(case)
    x, y, kw = _ce_case(rng, *_CE_CASES[case])
    h = tg.jacfwd(tg.jacfwd(lambda v: F.cross_entropy(v, y, **kw)))(x)
    th = _torch_hessian(lambda v: _torch_ce(v, y, kw), x)
    np.testing.assert_allclose(h, th, rtol=1e-9, atol=1e-12)


def test_cross_entropy_per_sample_jacobian_matches_reverse_mode():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((3, 4, 2)), _labels(rng, (3, 2), 4)
    w = rng.uniform(0.5, 2.0, 4)

    def f(v):
        return F.cross_entropy(v, y, weight=w, label_smoothing=0.25, reduction="none")

    np.testing.assert_allclose(tg.jacfwd(f)(x), tg.jacrev(f)(x), rtol=1e-12, atol=1e-14)


def test_cross_entropy_softmax_output_carries_the_softmax_tangent():
    from tapegrad.ops.nn import _cross_entropy

    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((4, 3)), _labels(rng, (4,), 3)
    u = rng.standard_normal((2, 4, 3))  # a batch of two tangents
    kw = dict(axis=1, ignore_index=None, reduction="mean", label_smoothing=0.0)
    (_, p), (_, tp) = tg.jvp(lambda v: _cross_entropy(v, y, None, **kw), (x,), (u[0],))
    _, ts = tg.jvp(lambda v: tg.softmax(v, axis=1), (x,), (u[0],))
    np.testing.assert_allclose(tp, ts, rtol=1e-12, atol=1e-15)
    jac = tg.jacfwd(lambda v: _cross_entropy(v, y, None, **kw)[1])(x)
    np.testing.assert_allclose(jac, tg.jacrev(lambda v: tg.softmax(v, axis=1))(x), atol=1e-15)


@pytest.mark.parametrize(
    "fn,tfn", [(tg.softmax, torch.softmax), (tg.log_softmax, torch.log_softmax)]
)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_second_derivatives_forward_over_forward(fn, tfn, axis):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3))
    v = rng.standard_normal((2, 3))

    def f(a):  # a scalar of the vector output, so both sides are Hessians
        return tg.sum(fn(a, axis=axis) * v)

    h = tg.jacfwd(tg.jacfwd(f))(x)
    th = _torch_hessian(lambda a: (tfn(a, dim=axis) * torch.tensor(v)).sum(), x)
    np.testing.assert_allclose(h, th, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tg.hessian(f)(x), th, rtol=1e-9, atol=1e-12)


def test_softmax_of_zero_dim_input_has_zero_tangent():
    out, t = tg.jvp(tg.softmax, (np.array(0.7),), (np.array(2.0),))
    assert out == 1.0 and t == 0.0
    out, t = tg.jvp(tg.log_softmax, (np.array(0.7),), (np.array(2.0),))
    assert out == 0.0 and t == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_nll_loss_second_order_through_gather_and_scatter(reduction):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 3)), _labels(rng, (5,), 3)
    y[2] = -100
    w = rng.uniform(0.5, 2.0, 3)

    def f(v):  # nonlinear around the gather, so the Hessian is not zero
        return F.nll_loss(tg.log_softmax(v * v, axis=1), y, weight=w, reduction=reduction)

    th = _torch_hessian(
        lambda v: TF.nll_loss(
            torch.log_softmax(v * v, 1), torch.tensor(y), torch.tensor(w), reduction=reduction
        ),
        x,
    )
    np.testing.assert_allclose(tg.hessian(f)(x), th, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tg.jacfwd(tg.jacfwd(f))(x), th, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "fn,tfn",
    [
        (
            lambda a: F.huber_loss(a, np.zeros(6), delta=0.8),
            lambda a: TF.huber_loss(a, torch.zeros(6, dtype=a.dtype), delta=0.8),
        ),
        (lambda a: tg.sum(F.logsigmoid(a) ** 2), lambda a: (TF.logsigmoid(a) ** 2).sum()),
        (
            lambda a: F.binary_cross_entropy_with_logits(a * a, np.full(6, 0.3)),
            lambda a: TF.binary_cross_entropy_with_logits(
                a * a, torch.full((6,), 0.3, dtype=a.dtype)
            ),
        ),
    ],
)
def test_elementwise_losses_hessians_match_torch(fn, tfn):
    x = np.array([-2.5, -0.5, -0.1, 0.3, 1.2, 3.0])
    th = _torch_hessian(tfn, x)
    np.testing.assert_allclose(tg.hessian(fn)(x), th, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tg.jacfwd(tg.jacfwd(fn))(x), th, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: tg.softmax(a, axis=0),
        lambda a: tg.log_softmax(a, axis=1),
        lambda a: F.logsigmoid(a),
        lambda a: F.cross_entropy(a, np.array([0, 2]), label_smoothing=0.1),
        lambda a: F.nll_loss(a, np.array([1, 0])),
        lambda a: F.huber_loss(a, np.zeros((2, 3), np.float32), reduction="none"),
    ],
)
def test_float32_tangents_stay_float32(fn):
    x = np.array([[0.1, -0.4, 0.9], [1.2, 0.0, -0.7]], np.float32)
    out, t = tg.jvp(fn, (x,), (np.ones_like(x),))
    assert out.dtype == np.float32 and t.dtype == np.float32


def test_jvp_of_grad_of_cross_entropy_is_the_hessian_vector_product():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 4)), _labels(rng, (6,), 4)
    u = rng.standard_normal((6, 4))
    w = rng.uniform(0.5, 2.0, 4)
    kw = {"weight": w, "label_smoothing": 0.2}
    _, hv = tg.hvp(lambda v: F.cross_entropy(v, y, **kw), (x,), (u,))
    th = _torch_hessian(lambda v: _torch_ce(v, y, kw), x).reshape(24, 24)
    np.testing.assert_allclose(
        np.asarray(hv).reshape(-1), th @ u.reshape(-1), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3, 1.0])
def test_hessian_with_a_cotangent_that_carries_a_tangent(reduction, smoothing, weighted):
    # Squaring the loss makes the cotangent reaching cross_entropy/nll_loss depend on x, so
    # the tangents flow into the per-sample scales of the fused gradient and into the
    # scatter that transposes nll_loss's gather (0-d scales for "mean").
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((4, 3)), _labels(rng, (4,), 3)
    w = rng.uniform(0.5, 2.0, 3) if weighted else None
    kw = {"weight": w, "label_smoothing": smoothing, "reduction": reduction}

    def f(v):
        return tg.sum(F.cross_entropy(v, y, **kw) ** 2) + tg.sum(
            F.nll_loss(v, y, weight=w, reduction=reduction) ** 2
        )

    def tf(v):
        tkw = {"weight": None if w is None else torch.tensor(w), "reduction": reduction}
        ce = TF.cross_entropy(v, torch.tensor(y), label_smoothing=smoothing, **tkw)
        return (ce**2).sum() + (TF.nll_loss(v, torch.tensor(y), **tkw) ** 2).sum()

    th = _torch_hessian(tf, x)
    np.testing.assert_allclose(tg.hessian(f)(x), th, rtol=1e-9, atol=1e-12)
    u = rng.standard_normal((4, 3))
    _, hv = tg.hvp(f, (x,), (u,))
    np.testing.assert_allclose(
        np.asarray(hv).reshape(-1), th.reshape(12, 12) @ u.reshape(-1), rtol=1e-9, atol=1e-12
    )
