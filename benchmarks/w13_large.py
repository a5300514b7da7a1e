"""W13: a 20-op elementwise chain on 1e6 float64, forward + backward: memory-bound.

W1's chain (``x * 1.5``, ``+ 0.1``, ``sin``, ``tanh``, ``exp``, in turn; the sum; the
gradient w.r.t. x) with 20 ops on a vector of 1,000,000 elements (``--quick``: 100,000).
Here each op streams 8 MB through memory, so what counts is how many passes over memory a
program makes, not the per-op overhead: ``tg.jit``'s fusion (``fuse=True``: elementwise
chains become one ``numexpr.evaluate`` each, with the optional ``[jit]`` extra) against one
NumPy call per op (``fuse=False``, buffers reused in place).

* "NumPy (by hand)": W1's hand-written forward and reverse sweep (one NumPy call per op,
  out of place);
* "tapegrad": W1's eager implementation;
* "tapegrad jit": ``tg.jit(tg.value_and_grad(f), fuse=True)`` (n/a without numexpr);
* "tapegrad jit (fuse=False)": the same, pure NumPy;
* PyTorch eager and ``jax.jit(jax.value_and_grad(f))`` (XLA fuses the chain itself).

Target (issue 12): the fused jit at most 0.6x the hand-written NumPy time.
"""

from __future__ import annotations

import sys

from . import w1_chain
from .common import Workload, collect_impls, numexpr_or_none

NAME = "W13"
SIZE = 1_000_000
QUICK_SIZE = 100_000
N_OPS = 20
TARGET = 0.6

COLUMNS = (
    ("NumPy (by hand)", "time", "numpy"),
    ("tapegrad", "time", "tapegrad"),
    ("tapegrad jit (fused)", "time", "jit"),
    ("tapegrad jit (fuse=False)", "time", "jit_nofuse"),
    ("PyTorch eager", "time", "torch"),
    ("jax.jit", "time", "jax"),
    ("tapegrad/NumPy", "ratio", "tapegrad", "numpy"),
    ("jit fused/NumPy", "ratio", "jit", "numpy"),
    ("jit fuse=False/NumPy", "ratio", "jit_nofuse", "numpy"),
    ("jax.jit/NumPy", "ratio", "jax", "numpy"),
    ("target", "target"),
)


def quick_from_argv() -> bool:
    """Whether the benchmark runner was started with ``--quick`` (its worker gets the flag)."""
    return "--quick" in sys.argv[1:]


def build(size: int | None = None, n_ops: int = N_OPS, quick: bool | None = None) -> Workload:
    if quick is None:
        quick = quick_from_argv()
    if size is None:
        size = QUICK_SIZE if quick else SIZE
    x0 = w1_chain.make_input(size)
    factories = {
        "numpy": lambda: w1_chain.numpy_impl(x0, n_ops),
        "tapegrad": lambda: w1_chain.tapegrad_impl(x0, n_ops),
        "jit": lambda: w1_chain.jit_impl(x0, n_ops, fuse=True),
        "jit_nofuse": lambda: w1_chain.jit_impl(x0, n_ops, fuse=False),
        "torch": lambda: w1_chain.torch_impl(x0, n_ops),
        "jax": lambda: w1_chain.jax_impl(x0, n_ops),
    }
    no_numexpr = numexpr_or_none() is None
    if no_numexpr:
        del factories["jit"]
    impls, skipped = collect_impls(factories)
    if no_numexpr:
        skipped["jit"] = "not installed"  # fuse=True needs numexpr: shown as n/a
    return Workload(
        name=NAME,
        title=f"chain of {n_ops} elementwise ops, {size:,} x float64, fwd + grad",
        impls=impls,
        tol=1e-9,
        repeats=15,
        quick_repeats=3,
        columns=COLUMNS,
        target=f"jit fused ≤ {TARGET:g}x NumPy",
        targets=(("ratio", "jit", "numpy", TARGET, f"jit fused ≤ {TARGET:g}x NumPy"),),
        skipped=skipped,
    )
