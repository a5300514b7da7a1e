"""W13: a 20-op elementwise chain on 1e6 float64, forward + backward: memory-bound.

W1's chain (``x * 1.5``, ``+ 0.1``, ``sin``, ``tanh``, ``exp``, in turn; the sum; the
gradient w.r.t. x) with 20 ops on a vector of 1,000,000 elements (``--quick``: 100,000).
Here each op streams 8 MB through memory, so what counts is how many passes over memory a
program makes, not the per-op overhead: ``tg.jit``'s fusion of elementwise chains against
one NumPy call per op.

* "NumPy (by hand)": W1's hand-written forward and reverse sweep (one NumPy call per op,
  out of place);
* "tapegrad": W1's eager implementation;
* "tapegrad jit (auto)": ``tg.jit(tg.value_and_grad(f))``, the default ``fuse="auto"``:
  chains on arrays of at least ``fusion.THRESHOLD`` elements run block by block through
  the same NumPy ufuncs (bit for bit the unfused result);
* "tapegrad jit (numexpr)": ``fuse="numexpr"``, each chain one ``numexpr`` expression
  (the optional ``[jit]`` extra; n/a without numexpr);
* "tapegrad jit (fuse=False)": no fusion, one NumPy call per op (buffers reused in place);
* PyTorch eager and ``jax.jit(jax.value_and_grad(f))`` (XLA fuses the chain itself).

Target (issue 12): the fused jit at most 0.6x the hand-written NumPy time (checked for
both backends).
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
    ("tapegrad jit (auto)", "time", "jit"),
    ("tapegrad jit (numexpr)", "time", "jit_numexpr"),
    ("tapegrad jit (fuse=False)", "time", "jit_nofuse"),
    ("PyTorch eager", "time", "torch"),
    ("jax.jit", "time", "jax"),
    ("tapegrad/NumPy", "ratio", "tapegrad", "numpy"),
    ("jit auto/NumPy", "ratio", "jit", "numpy"),
    ("jit numexpr/NumPy", "ratio", "jit_numexpr", "numpy"),
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
        "jit": lambda: w1_chain.jit_impl(x0, n_ops),
        "jit_numexpr": lambda: w1_chain.jit_impl(x0, n_ops, fuse="numexpr"),
        "jit_nofuse": lambda: w1_chain.jit_impl(x0, n_ops, fuse=False),
        "torch": lambda: w1_chain.torch_impl(x0, n_ops),
        "jax": lambda: w1_chain.jax_impl(x0, n_ops),
    }
    no_numexpr = numexpr_or_none() is None
    if no_numexpr:
        del factories["jit_numexpr"]
    impls, skipped = collect_impls(factories)
    if no_numexpr:
        skipped["jit_numexpr"] = "not installed"  # fuse="numexpr" needs it: shown as n/a
    return Workload(
        name=NAME,
        title=f"chain of {n_ops} elementwise ops, {size:,} x float64, fwd + grad",
        impls=impls,
        tol=1e-9,
        repeats=15,
        quick_repeats=3,
        columns=COLUMNS,
        target=f"jit fused ≤ {TARGET:g}x NumPy",
        targets=(
            ("ratio", "jit", "numpy", TARGET, f"jit auto ≤ {TARGET:g}x NumPy"),
            ("ratio", "jit_numexpr", "numpy", TARGET, f"jit numexpr ≤ {TARGET:g}x NumPy"),
        ),
        skipped=skipped,
    )
