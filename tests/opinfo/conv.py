"""Op specs for convolution and pooling (see tests/opinfo/__init__.py)."""

from __future__ import annotations

import numpy as np

import tapegrad as tg

from . import OpSpec, Sample, distinct, real

_CONV = ("conv2d", "conv2d_input_grad", "conv2d_weight_grad")


def _conv2d_samples(rng, dtype):
    cases = [
        # x shape, w shape, bias?, kwargs
        ((2, 3, 5, 5), (4, 3, 3, 3), True, {}),
        ((1, 2, 6, 5), (3, 2, 2, 3), False, {"stride": 2, "padding": 1}),
        (
            (2, 4, 7, 6),
            (6, 2, 3, 2),
            True,
            {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2},
        ),
        ((1, 3, 4, 4), (3, 1, 3, 3), False, {"padding": 1, "groups": 3}),  # depthwise
        ((2, 2, 3, 3), (2, 2, 1, 1), True, {}),  # 1x1
        ((1, 2, 4, 5), (3, 2, 1, 1), False, {"stride": 2, "padding": 1}),  # pad > reach
        ((3, 4, 4), (2, 3, 2, 2), True, {"dilation": 2}),  # unbatched
    ]
    out = []
    for xs, ws, bias, kw in cases:
        args = (real(rng, xs, dtype), real(rng, ws, dtype))
        if bias:
            args += (real(rng, (ws[0],), dtype),)
        out.append(Sample(args, dict(kw)))
    return out


def _conv1d_samples(rng, dtype):
    cases = [
        ((2, 3, 7), (4, 3, 3), True, {}),
        ((1, 4, 9), (6, 2, 3), False, {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}),
        ((3, 6), (2, 3, 2), True, {"padding": 2}),  # unbatched
    ]
    out = []
    for xs, ws, bias, kw in cases:
        args = (real(rng, xs, dtype), real(rng, ws, dtype))
        if bias:
            args += (real(rng, (ws[0],), dtype),)
        out.append(Sample(args, dict(kw)))
    return out


def _pool_samples(dom, cases):
    def make(rng, dtype):
        return [Sample((dom(rng, xs, dtype),), dict(kw)) for xs, kw in cases]

    return make


_POOL_CASES = [
    ((2, 3, 6, 6), {"kernel_size": 2}),
    ((1, 2, 7, 5), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 5, 6), {"kernel_size": (2, 3), "stride": (1, 2)}),
    ((2, 5, 5), {"kernel_size": 3, "stride": 1, "padding": 1}),  # unbatched, overlapping
]


def _ties(rng, dtype):
    # Windows full of equal values: the gradient goes to the first one (row-major).
    x = np.zeros((1, 2, 4, 4), dtype=dtype)
    x[0, 1, 2:, 2:] = 1.0
    return [Sample((x,), {"kernel_size": 2}), Sample((x,), {"kernel_size": 3, "stride": 1})]


SPECS = [
    OpSpec(
        "conv2d",
        tg.conv2d,
        _conv2d_samples,
        prims=_CONV,
        torch_fn=lambda torch, *a, **k: torch.nn.functional.conv2d(*a, **k),
    ),
    OpSpec(
        "conv1d",
        tg.conv1d,
        _conv1d_samples,
        prims=_CONV,
        torch_fn=lambda torch, *a, **k: torch.nn.functional.conv1d(*a, **k),
    ),
    OpSpec(
        "max_pool2d",
        tg.max_pool2d,
        _pool_samples(distinct, _POOL_CASES),
        prims=("max_pool2d_gather", "max_pool2d_scatter", "max_pool2d_index"),
        torch_fn=lambda torch, *a, **k: torch.nn.functional.max_pool2d(*a, **k),
    ),
    OpSpec(
        "max_pool2d_ties",
        tg.max_pool2d,
        _ties,
        torch_fn=lambda torch, *a, **k: torch.nn.functional.max_pool2d(*a, **k),
        grad=False,
        gradgrad=False,
    ),
    OpSpec(
        "avg_pool2d",
        tg.avg_pool2d,
        _pool_samples(
            real,
            _POOL_CASES
            + [
                (
                    (1, 2, 7, 5),
                    {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
                )
            ],
        ),
        prims=("conv2d",),
        torch_fn=lambda torch, *a, **k: torch.nn.functional.avg_pool2d(*a, **k),
    ),
    OpSpec(
        "adaptive_avg_pool2d",
        tg.adaptive_avg_pool2d,
        _pool_samples(
            real,
            [
                ((2, 3, 6, 6), {"output_size": 3}),
                ((1, 2, 7, 5), {"output_size": (3, 4)}),
                ((2, 5, 4), {"output_size": (None, 1)}),
                ((1, 2, 3, 3), {"output_size": 1}),
            ],
        ),
        prims=("matmul",),
        torch_fn=lambda torch, *a, **k: torch.nn.functional.adaptive_avg_pool2d(*a, **k),
    ),
]
