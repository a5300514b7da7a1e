"""W8: checkpointing a deep tanh network: peak saved memory and time of one forward+backward.

Model: ``h <- tanh(h @ W_i)`` for i = 1..200, W_i of shape (1024, 1024) (entries drawn with
variance 1/width), input of shape (256, 1024), float32; loss ``sum(h)``; gradients w.r.t.
every W_i (the input is a constant).  One call is one forward and one backward pass.

Implementations (checked against ``plain`` before timing: the loss and the gradients of
the first, middle and last weight):

* ``plain``: the tape keeps every layer's saved values;
* ``sqrt``: ``tg.checkpoint_sequential(layers, None, x)``, round(sqrt(n)) segments (Chen et
  al. 2016): one extra forward pass;
* ``chain``: ``tg.checkpoint_chain(layers, x, snapshots=10)``, the list of layers as the
  steps of a chain, binomial (Revolve) schedule with 10 snapshots;
* ``torch`` / ``torch_ckpt``: PyTorch eager on the same weights, without and with
  ``torch.utils.checkpoint.checkpoint_sequential`` (same number of segments,
  ``use_reentrant=False``), when torch is installed.

The peak saved bytes (``tg.autograd.peak_saved_bytes``: what the tapes hold for the
backward pass; the weights, being leaves, are not counted) are measured once per
variant at setup, outside the timed calls (the account adds work to every recorded op),
and shown in the legend and the target column: the issue's target is a sqrt(n) peak of at
most 1/5 of the plain peak, at most 1.4x its time.

``--quick`` (read from the runner's command line) shrinks the model to 40 layers of width
256, batch 64.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W8"
N_LAYERS = 200
WIDTH = 1024
BATCH = 256
SNAPSHOTS = 10
QUICK = (40, 256, 64)  # layers, width, batch under --quick
TIME_TARGET = 1.4
PEAK_TARGET = 0.2

COLUMNS = (
    ("tapegrad plain", "time", "plain"),
    ("sqrt(n) segments", "time", "sqrt"),
    (f"chain s={SNAPSHOTS}", "time", "chain"),
    ("PyTorch plain", "time", "torch"),
    ("PyTorch checkpoint_sequential", "time", "torch_ckpt"),
    ("sqrt(n)/plain", "ratio", "sqrt", "plain"),
    ("chain/plain", "ratio", "chain", "plain"),
    ("PyTorch ckpt/plain", "ratio", "torch_ckpt", "torch"),
    ("sqrt(n) tapegrad/PyTorch", "ratio", "sqrt", "torch_ckpt"),
    ("target", "target"),
)
KIND_LABELS = {"plain": "plain", "sqrt": "sqrt(n) segments", "chain": f"chain s={SNAPSHOTS}"}


def quick_from_argv() -> bool:
    """Whether the benchmark runner was started with ``--quick`` (its worker gets the flag)."""
    return "--quick" in sys.argv[1:]


def make_problem(
    n_layers: int = N_LAYERS, width: int = WIDTH, batch: int = BATCH, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """The weights (n_layers arrays of shape (width, width)) and the input, float32."""
    rng = np.random.default_rng(seed)
    scale = 1.0 / math.sqrt(width)
    weights = [
        (scale * rng.standard_normal((width, width))).astype(np.float32) for _ in range(n_layers)
    ]
    x = rng.standard_normal((batch, width)).astype(np.float32)
    return weights, x


def segments(n_layers: int) -> int:
    """The number of segments ``checkpoint_sequential`` picks by default: round(sqrt(n))."""
    return max(1, round(math.sqrt(n_layers)))


def _picked(n_layers: int) -> dict[str, int]:
    return {"dW_first": 0, "dW_mid": n_layers // 2, "dW_last": n_layers - 1}


def tapegrad_impl(kind: str, weights0: list[np.ndarray], x: np.ndarray) -> Impl:
    """One forward+backward of the plain, ``sqrt`` or ``chain`` variant."""
    import tapegrad as tg

    if kind not in KIND_LABELS:
        raise ValueError(f"W8: kind must be one of {sorted(KIND_LABELS)}, got {kind!r}")
    weights = [tg.tensor(w, requires_grad=True) for w in weights0]
    xt = tg.tensor(x)
    tanh = tg.tanh
    layers = [(lambda h, W=W: tanh(h @ W)) for W in weights]
    picked = _picked(len(weights))

    def forward() -> Any:
        if kind == "plain":
            h = xt
            for f in layers:
                h = f(h)
            return h
        if kind == "sqrt":
            return tg.checkpoint_sequential(layers, None, xt)
        return tg.checkpoint_chain(layers, xt, snapshots=SNAPSHOTS)

    def call() -> dict[str, Any]:
        loss = forward().sum()
        loss.backward()
        out = {"loss": loss.data, **{k: weights[i].grad.data for k, i in picked.items()}}
        for W in weights:
            W.grad = None
        return out

    return call


def _grad(w: Any) -> np.ndarray:
    if w.grad is None:
        raise RuntimeError("W8: a weight got no gradient from PyTorch's backward pass")
    return w.grad.numpy().copy()


def torch_impl(weights0: list[np.ndarray], x: np.ndarray, checkpointed: bool) -> Impl:
    import torch
    from torch.utils.checkpoint import checkpoint_sequential

    weights = [torch.tensor(w, requires_grad=True) for w in weights0]
    xt = torch.from_numpy(x.copy())
    layers = [(lambda h, W=W: torch.tanh(h @ W)) for W in weights]
    n_seg = segments(len(weights))
    picked = _picked(len(weights))

    def call() -> dict[str, Any]:
        if checkpointed:
            h = checkpoint_sequential(layers, n_seg, xt, use_reentrant=False)
        else:
            h = xt
            for f in layers:
                h = f(h)
        loss = h.sum()
        loss.backward()
        out = {
            "loss": loss.detach().numpy(),
            **{k: _grad(weights[i]) for k, i in picked.items()},
        }
        for W in weights:
            W.grad = None
        return out

    return call


def peak_bytes(kind: str, weights0: list[np.ndarray], x: np.ndarray) -> int:
    """Peak saved bytes of one forward+backward of ``kind`` (above what was held before)."""
    import tapegrad as tg

    call = tapegrad_impl(kind, weights0, x)
    with tg.autograd.peak_saved_bytes() as mem:
        call()
    return mem.peak - mem.start


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def build(
    n_layers: int | None = None,
    width: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    quick: bool | None = None,
) -> Workload:
    """The W8 workload; sizes default to the full ones, or the quick ones under ``--quick``."""
    if quick is None:
        quick = quick_from_argv()
    dl, dw, db = QUICK if quick else (N_LAYERS, WIDTH, BATCH)
    n_layers = dl if n_layers is None else n_layers
    width = dw if width is None else width
    batch = db if batch is None else batch
    if n_layers < 2:
        raise ValueError(f"W8 needs at least 2 layers, got {n_layers}")
    weights0, x = make_problem(n_layers, width, batch, seed)
    peaks = {kind: peak_bytes(kind, weights0, x) for kind in KIND_LABELS}
    impls, skipped = collect_impls(
        {
            "plain": lambda: tapegrad_impl("plain", weights0, x),
            "sqrt": lambda: tapegrad_impl("sqrt", weights0, x),
            "chain": lambda: tapegrad_impl("chain", weights0, x),
            "torch": lambda: torch_impl(weights0, x, checkpointed=False),
            "torch_ckpt": lambda: torch_impl(weights0, x, checkpointed=True),
        }
    )
    plain = max(peaks["plain"], 1)
    ratio = peaks["sqrt"] / plain
    mem = ", ".join(f"{KIND_LABELS[k]} {_mib(v)} ({v / plain:.3f}x)" for k, v in peaks.items())
    verdict = "met" if ratio <= PEAK_TARGET else "not met"
    return Workload(
        name=NAME,
        title=(
            f"{n_layers} layers of tanh(h @ W), width {width}, batch {batch}, float32, one "
            f"forward+backward; {segments(n_layers)} segments for sqrt(n); "
            f"peak saved bytes: {mem}"
        ),
        impls=impls,
        tol=1e-4,
        repeats=3,
        quick_repeats=1,
        warmup=1,
        rounds=3,  # one timed call per block, the order rotating: drifts hit all alike
        block_warmup=0,
        columns=COLUMNS,
        target=(
            f"sqrt(n) peak {ratio:.3f}x plain (≤ {PEAK_TARGET:g}: {verdict}); "
            f"time ≤ {TIME_TARGET:g}x plain"
        ),
        target_pair=("sqrt", "plain", TIME_TARGET),
        reference="plain",
        skipped=skipped,
    )
