"""Op specs for the nn family (see tests/opinfo/__init__.py).

Integer class labels are int64 arrays in ``Sample.args`` (not differentiated); float
probability targets and BCE targets/weights are differentiated, as PyTorch differentiates
them too.  Class weights of ``cross_entropy``/``nll_loss`` are constants (kwargs), as in
PyTorch.
"""

from __future__ import annotations

import numpy as np

import tapegrad as tg

from . import OpSpec, Sample, real, unary_samples

F = tg.nn.functional


def _tf(torch):
    return torch.nn.functional


def _kw_to_torch(torch, kw):
    return {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


# --------------------------------------------------------------------------- softmax

_SOFTMAX_CASES = [
    ((), -1),
    ((5,), -1),
    ((5,), 0),
    ((2, 3), 0),
    ((2, 3), 1),
    ((2, 3), -1),
    ((3, 1, 2), 1),
    ((3, 1, 2), -3),
    ((2, 3, 4), 2),
    ((0, 3), -1),
    ((1, 1), 0),
]


def _softmax_samples(rng, dtype):
    out = [Sample((real(rng, s, dtype),), {"axis": a}) for s, a in _SOFTMAX_CASES]
    out.append(Sample((real(rng, (2, 4), dtype),), {"dim": 0}))
    out.append(Sample((real(rng, (3, 4), dtype) + dtype(300.0),), {"axis": 1}))
    return out


def _np_softmax(x, axis=-1, dim=None):
    axis = dim if dim is not None else axis
    if x.ndim == 0:
        return np.ones_like(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True)) if x.size else np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def _np_log_softmax(x, axis=-1, dim=None):
    axis = dim if dim is not None else axis
    if x.ndim == 0:
        return np.zeros_like(x)
    if not x.size:
        return x.copy()
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _torch_softmax(name):
    def fn(torch, x, axis=-1, dim=None):
        return getattr(torch, name)(x, dim=dim if dim is not None else axis)

    return fn


def _wide(rng, shape, dtype):
    return np.asarray(rng.uniform(-8.0, 8.0, shape), dtype=dtype)


# --------------------------------------------------------------------------- cross entropy


def _labels(rng, shape, c):
    return rng.integers(0, c, shape).astype(np.int64)


def _weight(rng, c, dtype):
    return np.asarray(rng.uniform(0.3, 2.0, c), dtype=dtype)


def _ce_label_samples(rng, dtype):
    out = []
    for red in ("mean", "sum", "none"):
        out.append(Sample((real(rng, (4, 3), dtype), _labels(rng, (4,), 3)), {"reduction": red}))
    out.append(Sample((real(rng, (3, 4, 2), dtype), _labels(rng, (3, 2), 4)), {}))
    out.append(
        Sample((real(rng, (2, 3, 2, 2), dtype), _labels(rng, (2, 2, 2), 3)), {"reduction": "none"})
    )
    out.append(Sample((real(rng, (5,), dtype), np.array(2, dtype=np.int64)), {}))
    out.append(
        Sample(
            (real(rng, (5,), dtype), np.array(4, dtype=np.int64)),
            {"reduction": "none", "label_smoothing": 0.2},
        )
    )
    out.append(
        Sample(
            (real(rng, (2, 3, 4), dtype), _labels(rng, (2, 3), 4)),
            {"axis": -1, "label_smoothing": 0.1},
        )
    )
    out.append(Sample((real(rng, (1, 1), dtype), np.zeros(1, dtype=np.int64)), {}))
    out.append(
        Sample((real(rng, (0, 3), dtype), np.zeros(0, dtype=np.int64)), {"reduction": "sum"})
    )
    # weights, ignore_index and label smoothing, alone and together
    out.append(
        Sample(
            (real(rng, (5, 3), dtype), _labels(rng, (5,), 3)), {"weight": _weight(rng, 3, dtype)}
        )
    )
    y = _labels(rng, (6,), 4)
    y[[1, 4]] = -100
    out.append(Sample((real(rng, (6, 4), dtype), y), {}))
    y = _labels(rng, (3, 2), 3)
    y[0, 1] = 1
    out.append(
        Sample(
            (real(rng, (3, 3, 2), dtype), y), {"weight": _weight(rng, 3, dtype), "ignore_index": 1}
        )
    )
    y = _labels(rng, (5,), 3)
    y[2] = -100
    for red in ("mean", "sum", "none"):
        out.append(
            Sample(
                (real(rng, (5, 3), dtype), y),
                {"weight": _weight(rng, 3, dtype), "label_smoothing": 0.3, "reduction": red},
            )
        )
    out.append(Sample((real(rng, (4, 3), dtype), _labels(rng, (4,), 3)), {"label_smoothing": 1.0}))
    return out


def _ce_prob_samples(rng, dtype):
    def probs(shape, axis):
        p = rng.uniform(0.1, 1.0, shape)
        return np.asarray(p / p.sum(axis=axis, keepdims=True), dtype=dtype)

    out = []
    for red in ("mean", "sum", "none"):
        out.append(Sample((real(rng, (4, 3), dtype), probs((4, 3), 1)), {"reduction": red}))
    out.append(
        Sample(
            (real(rng, (3, 4, 2), dtype), probs((3, 4, 2), 1)),
            {"weight": _weight(rng, 4, dtype), "label_smoothing": 0.2},
        )
    )
    out.append(Sample((real(rng, (5,), dtype), probs((5,), 0)), {}))
    out.append(
        Sample(
            (real(rng, (2, 3, 4), dtype), probs((2, 3, 4), -1)), {"axis": -1, "reduction": "none"}
        )
    )
    return out


def _torch_ce(torch, x, t, axis=None, **kw):
    kw = _kw_to_torch(torch, kw)
    if axis is not None and x.ndim > 1 and axis % x.ndim != 1:
        x = x.movedim(axis, 1)
        if t.is_floating_point():
            t = t.movedim(axis, 1)
    return _tf(torch).cross_entropy(x, t, **kw)


def _nll_samples(rng, dtype):
    out = []
    for red in ("mean", "sum", "none"):
        out.append(Sample((real(rng, (4, 3), dtype), _labels(rng, (4,), 3)), {"reduction": red}))
    out.append(
        Sample(
            (real(rng, (3, 4, 2), dtype), _labels(rng, (3, 2), 4)),
            {"weight": _weight(rng, 4, dtype)},
        )
    )
    out.append(Sample((real(rng, (5,), dtype), np.array(3, dtype=np.int64)), {}))
    y = _labels(rng, (6,), 3)
    y[[0, 3]] = -100
    for red in ("mean", "none"):
        out.append(
            Sample(
                (real(rng, (6, 3), dtype), y), {"weight": _weight(rng, 3, dtype), "reduction": red}
            )
        )
    out.append(Sample((real(rng, (6, 3), dtype), y), {}))
    return out


def _torch_nll(torch, x, t, **kw):
    return _tf(torch).nll_loss(x, t, **_kw_to_torch(torch, kw))


# --------------------------------------------------------------------------- regression

_PAIR_SHAPES = [(), (5,), (2, 3), (3, 1, 2), (0, 3)]


def _pair_samples(**extra):
    def make(rng, dtype):
        out = []
        for k, s in enumerate(_PAIR_SHAPES):
            red = ("mean", "sum", "none")[k % 3]
            a = np.asarray(rng.uniform(-3, 3, s), dtype=dtype)
            b = np.asarray(rng.uniform(-3, 3, s), dtype=dtype)
            out.append(Sample((a, b), {"reduction": red, **extra}))
        return out

    return make


def _bce_samples(rng, dtype):
    def t(s):
        return np.asarray(rng.uniform(0.05, 0.95, s), dtype=dtype)

    out = []
    for k, s in enumerate([(), (5,), (2, 3), (3, 1, 2)]):
        red = ("mean", "sum", "none")[k % 3]
        out.append(Sample((_wide(rng, s, dtype), t(s)), {"reduction": red}))
    out.append(Sample((np.zeros((2, 2), dtype=dtype), t((2, 2))), {"reduction": "none"}))
    # weight and pos_weight are constants here: PyTorch does not differentiate them.
    out.append(
        Sample(
            (real(rng, (4, 3), dtype), t((4, 3))),
            {"weight": np.asarray(rng.uniform(0.5, 2, (4, 3)), dtype=dtype)},
        )
    )
    out.append(
        Sample(
            (real(rng, (4, 3), dtype), t((4, 3))),
            {
                "reduction": "sum",
                "weight": np.asarray(rng.uniform(0.5, 2, (3,)), dtype=dtype),
                "pos_weight": np.asarray(rng.uniform(0.5, 3, (3,)), dtype=dtype),
            },
        )
    )
    out.append(
        Sample(
            (real(rng, (2, 3), dtype), t((2, 3))),
            {"reduction": "none", "pos_weight": np.asarray(rng.uniform(0.5, 3, (3,)), dtype=dtype)},
        )
    )
    return out


def _torch_bce(torch, x, t, **kw):
    return _tf(torch).binary_cross_entropy_with_logits(x, t, **_kw_to_torch(torch, kw))


def _bce_weight_grad_samples(rng, dtype):
    def u(s, lo, hi):
        return np.asarray(rng.uniform(lo, hi, s), dtype=dtype)

    x = real(rng, (4, 3), dtype)
    return [
        Sample((x, u((4, 3), 0.05, 0.95), u((4, 3), 0.5, 2)), {}),
        Sample((x, u((4, 3), 0.05, 0.95), u((3,), 0.5, 2), u((3,), 0.5, 3)), {"reduction": "sum"}),
        Sample(
            (x[:2], u((2, 3), 0.05, 0.95), u((), 0.5, 2), u((1, 3), 0.5, 3)), {"reduction": "none"}
        ),
    ]


# --------------------------------------------------------------------------- one_hot


def _one_hot_samples(rng, dtype):
    return [
        Sample((np.array([0, 2, 1], dtype=np.int64),), {"num_classes": 3}),
        Sample((np.array([[0, 4], [3, 1]], dtype=np.int64),), {"num_classes": 6}),
        Sample((np.array(2, dtype=np.int64),), {"num_classes": 4}),
        Sample((np.array([1, 3, 0], dtype=np.int64),), {}),
        Sample((np.zeros(0, dtype=np.int64),), {"num_classes": 2}),
    ]


def _np_one_hot(labels, num_classes=-1):
    c = int(labels.max()) + 1 if num_classes == -1 else num_classes
    return np.eye(c, dtype=np.int64)[labels]


def _torch_one_hot(torch, labels, num_classes=-1):
    return _tf(torch).one_hot(labels, num_classes)


SPECS: list[OpSpec] = [
    OpSpec(
        "softmax",
        F.softmax,
        _softmax_samples,
        prims=("softmax",),
        torch_fn=_torch_softmax("softmax"),
        numpy_ref=_np_softmax,
    ),
    OpSpec(
        "log_softmax",
        F.log_softmax,
        _softmax_samples,
        prims=("log_softmax",),
        torch_fn=_torch_softmax("log_softmax"),
        numpy_ref=_np_log_softmax,
    ),
    OpSpec(
        "logsigmoid",
        F.logsigmoid,
        unary_samples(_wide),
        prims=("logsigmoid",),
        torch_fn=lambda torch, x: _tf(torch).logsigmoid(x),
        numpy_ref=lambda x: -np.logaddexp(0, -x),
    ),
    OpSpec(
        "cross_entropy",
        F.cross_entropy,
        _ce_label_samples,
        prims=("cross_entropy", "cross_entropy_grad", "softmax", "nn_gather"),
        torch_fn=_torch_ce,
    ),
    OpSpec(
        "cross_entropy_probs",
        F.cross_entropy,
        _ce_prob_samples,
        prims=("log_softmax",),
        torch_fn=_torch_ce,
    ),
    OpSpec(
        "nll_loss", F.nll_loss, _nll_samples, prims=("nn_gather", "nn_scatter"), torch_fn=_torch_nll
    ),
    OpSpec(
        "mse_loss",
        F.mse_loss,
        _pair_samples(),
        torch_fn=lambda torch, a, b, **k: _tf(torch).mse_loss(a, b, **k),
    ),
    OpSpec(
        "l1_loss",
        F.l1_loss,
        _pair_samples(),
        torch_fn=lambda torch, a, b, **k: _tf(torch).l1_loss(a, b, **k),
    ),
    OpSpec(
        "huber_loss",
        F.huber_loss,
        _pair_samples(delta=1.5),
        prims=("huber_loss",),
        torch_fn=lambda torch, a, b, **k: _tf(torch).huber_loss(a, b, **k),
    ),
    OpSpec(
        "smooth_l1_loss",
        F.smooth_l1_loss,
        _pair_samples(beta=0.7),
        prims=("huber_loss",),
        torch_fn=lambda torch, a, b, **k: _tf(torch).smooth_l1_loss(a, b, **k),
    ),
    OpSpec(
        "smooth_l1_loss_beta0",
        F.smooth_l1_loss,
        _pair_samples(beta=0.0),
        torch_fn=lambda torch, a, b, **k: _tf(torch).smooth_l1_loss(a, b, **k),
    ),
    OpSpec(
        "binary_cross_entropy_with_logits",
        F.binary_cross_entropy_with_logits,
        _bce_samples,
        prims=("logsigmoid",),
        torch_fn=_torch_bce,
    ),
    OpSpec(
        "bce_with_logits_weight_grads",
        F.binary_cross_entropy_with_logits,
        _bce_weight_grad_samples,
        prims=("logsigmoid",),
        torch_skip="PyTorch does not differentiate weight and pos_weight; tapegrad does",
    ),
    OpSpec(
        "one_hot",
        F.one_hot,
        _one_hot_samples,
        prims=("one_hot",),
        torch_fn=_torch_one_hot,
        numpy_ref=_np_one_hot,
        grad=False,
        gradgrad=False,
    ),
]


# --------------------------------------------------------------------------- edge samples
def _edge_logits(dtype):
    """Rows of logits with -inf (some, all), +inf, NaN, huge values and zeros."""
    inf, nan = np.inf, np.nan
    huge = 3e38 if np.dtype(dtype) == np.float32 else 1e300
    rows = [
        [0.0, -0.0, 1.0],
        [-inf, 0.0, 1.0],
        [-inf, -inf, 2.0],
        [-inf, -inf, -inf],
        [inf, 0.0, 1.0],
        [nan, 0.0, 1.0],
        [huge, 0.0, -huge],
        [huge, huge, 0.0],
    ]
    return np.array(rows, dtype=dtype)


def _edge_softmax(rng, dtype):
    x = _edge_logits(dtype)
    return [Sample((x,), {"axis": -1}), Sample((x.T.copy(),), {"axis": 0})]


def _edge_ce(rng, dtype):
    x = _edge_logits(dtype)
    n = x.shape[0]
    hit = np.full(n, 2, dtype=np.int64)  # the label on a finite (or the largest) logit
    miss = np.zeros(n, dtype=np.int64)  # the label on -inf in rows 1-3
    return [
        Sample((x, hit), {"reduction": "none"}),
        Sample((x, miss), {"reduction": "none"}),
        Sample((x[:3], hit[:3]), {"reduction": "mean"}),
        Sample((x, hit), {"reduction": "none", "label_smoothing": 0.1}),
    ]


def _edge_pair(**kwargs):
    def make(rng, dtype):
        from . import edge_values

        v = edge_values(dtype)
        x, y = np.meshgrid(v, v, indexing="ij")
        return [Sample((x.ravel().copy(), y.ravel().copy()), {"reduction": "none", **kwargs})]

    return make


def _edge_unary(rng, dtype):
    from . import edge_values

    return [Sample((edge_values(dtype),))]


_EDGE = {
    "softmax": _edge_softmax,
    "log_softmax": _edge_softmax,
    "logsigmoid": _edge_unary,
    "cross_entropy": _edge_ce,
    "mse_loss": _edge_pair(),
    "l1_loss": _edge_pair(),
    "huber_loss": _edge_pair(delta=1.5),
    "smooth_l1_loss": _edge_pair(beta=0.7),
}
_ZS = (
    "only the signs of some zero results differ: tapegrad composes this from primitives "
    "(sums of +0 and -0 terms) where PyTorch has one fused kernel"
)
_EDGE_ALLOW: dict = {
    "softmax": {(0, "jvp:zero_sign"): _ZS, (1, "jvp:zero_sign"): _ZS},
    "logsigmoid": {
        (0, "value:zero_sign"): "logsigmoid(x) for large x is -0.0 here (-log1p(exp(-x))), "
        "+0.0 in PyTorch's kernel"
    },
    "cross_entropy": {
        (0, "value:zero_sign"): _ZS,
        (0, "grad:zero_sign"): _ZS,
        (0, "jvp:zero_sign"): _ZS,
        (1, "value:zero_sign"): _ZS,
        (1, "grad:zero_sign"): _ZS,
        (1, "jvp:zero_sign"): _ZS,
    },
    "mse_loss": {
        (0, "grad:zero_sign"): _ZS,
        (0, "jvp"): "mse_loss is a composite here (x - y first): its tangent "
        "2 (x - y)(t_x - t_y) is +-inf where PyTorch's fused 2 (x - y) t_x - 2 (x - y) t_y "
        "is inf - inf = NaN (the reverse-mode partials agree)",
    },
    "huber_loss": {
        (0, "grad:zero_sign"): _ZS,
        (0, "jvp:zero_sign"): _ZS,
    },
    "smooth_l1_loss": {(0, "grad:zero_sign"): _ZS, (0, "jvp:zero_sign"): _ZS},
}
for _spec in SPECS:
    if _spec.name in _EDGE:
        _spec.edge_samples = _EDGE[_spec.name]
        _spec.edge_allow = _EDGE_ALLOW.get(_spec.name, {})
