"""W10: ``stack`` / ``concatenate`` of many leaves, forward + backward: linear in n.

Model: ``n`` leaves ``x_i`` (float64 vectors of 4) that require grad; loss
``sum(stack(xs) * W) + sum(concatenate(xs) ** 2)`` with a fixed ``W`` of shape (n, 4);
gradient ``dx_i = W_i + 2 x_i`` w.r.t. every leaf.  One call is one forward and one backward
pass, for n = 1,000, 10,000 and 100,000 (one row each).

Implementations:

* ``numpy``: the value and the gradient written out (the baseline);
* ``tapegrad``: ``tg.stack`` and ``tg.concatenate`` of the leaves, then ``backward``;
* ``torch``: ``torch.stack`` and ``torch.cat`` of the leaves, then ``backward``.

The times are per call, and per leaf in brackets ("µs/op" is per leaf here): the per-leaf
time should stay flat as n grows (each input's cotangent used to cost O(n), so the backward
pass was O(n**2): 12 s at 30,000 leaves).

``--quick`` (read from the runner's command line) uses n = 100, 1,000 and 3,000.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls, torch_or_none

NAME = "W10"
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 3_000)
WIDTH = 4

COLUMNS = (
    ("NumPy (by hand)", "time", "numpy"),
    ("tapegrad", "time", "tapegrad"),
    ("PyTorch", "time", "torch"),
    ("tapegrad/PyTorch", "ratio", "tapegrad", "torch"),
    ("tapegrad/NumPy", "ratio", "tapegrad", "numpy"),
    ("target", "target"),
)


def quick_from_argv() -> bool:
    """Whether the benchmark runner was started with ``--quick`` (its worker gets the flag)."""
    return "--quick" in sys.argv[1:]


def make_inputs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The leaves (rows of an (n, 4) array) and the weights ``W``, float64."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, WIDTH)), rng.normal(size=(n, WIDTH))


def numpy_impl(x: np.ndarray, w: np.ndarray) -> Impl:
    def call() -> dict[str, Any]:
        rows = [x[i] for i in range(x.shape[0])]
        s = np.stack(rows)
        c = np.concatenate(rows)
        loss = (s * w).sum() + (c**2).sum()
        return {"loss": loss, "dx": w + 2 * x}

    return call


def tapegrad_impl(x: np.ndarray, w: np.ndarray) -> Impl:
    import tapegrad as tg

    leaves = [tg.tensor(x[i], requires_grad=True) for i in range(x.shape[0])]
    wt = tg.tensor(w)

    def call() -> dict[str, Any]:
        loss = (tg.stack(leaves) * wt).sum() + (tg.concatenate(leaves) ** 2).sum()
        loss.backward()
        dx = np.stack([t.grad.data for t in leaves])
        for t in leaves:
            t.grad = None
        return {"loss": loss.data, "dx": dx}

    return call


def torch_impl(x: np.ndarray, w: np.ndarray) -> Impl:
    torch = torch_or_none()
    if torch is None:
        raise ImportError("torch is not installed")
    leaves = [torch.tensor(x[i], requires_grad=True) for i in range(x.shape[0])]
    wt = torch.tensor(w)

    def call() -> dict[str, Any]:
        loss = (torch.stack(leaves) * wt).sum() + (torch.cat(leaves) ** 2).sum()
        loss.backward()
        dx = torch.stack([t.grad for t in leaves]).numpy()
        for t in leaves:
            t.grad = None
        return {"loss": loss.detach().numpy(), "dx": dx}

    return call


def build_one(n: int, seed: int = 0) -> Workload:
    x, w = make_inputs(n, seed)
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(x, w),
            "tapegrad": lambda: tapegrad_impl(x, w),
            "torch": lambda: torch_impl(x, w),
        }
    )
    return Workload(
        name=NAME,
        variant=f"n={n:,}",
        title=(
            f"stack and concatenate of {n:,} leaves (float64 vectors of {WIDTH}), "
            "forward+backward, gradient w.r.t. every leaf"
        ),
        impls=impls,
        tol=1e-12,
        repeats=3 if n <= 10_000 else 1,
        quick_repeats=1,
        warmup=1,
        rounds=1,
        block_warmup=0,
        n_ops=n,
        columns=COLUMNS,
        target="time per leaf flat in n",
        skipped=skipped,
    )


def build(
    sizes: tuple[int, ...] | None = None, seed: int = 0, quick: bool | None = None
) -> list[Workload]:
    """One workload per number of leaves; ``sizes`` defaults to the full or the quick ones."""
    if quick is None:
        quick = quick_from_argv()
    if sizes is None:
        sizes = QUICK_SIZES if quick else SIZES
    return [build_one(n, seed) for n in sizes]
