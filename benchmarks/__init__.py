"""tapegrad's benchmark suite: ``python -m benchmarks --help``.

Each workload computes the same value and gradient several ways, hand-written NumPy (the
baseline: the limit for a NumPy backend), tapegrad, tapegrad compiled with ``tg.jit``,
PyTorch eager and ``jax.jit`` (both optional), checks that they agree, and times them in
the same run.  See BENCHMARKS.md.

Workloads (one module each):

* W1 (:mod:`benchmarks.w1_chain`): 2000 small elementwise ops, per-op overhead.
* W2 (:mod:`benchmarks.w2_mlp`): one SGD step of a small MLP with cross-entropy (rows
  "W2": tensors, compiled in the functional form; "W2 module": Module + optimizer).
* W3 (:mod:`benchmarks.w3_matmul`): 1024^3 matmuls, BLAS-bound.

Forward mode and Hessians (their own tables; the baseline is the analytic derivative):

* W4 (:mod:`benchmarks.w4_hessian`): full Hessian of Rosenbrock, n = 100 and 500.
* W5 (:mod:`benchmarks.w5_hvp`): one Hessian-vector product vs one gradient, n = 100000.
* W6 (:mod:`benchmarks.w6_jacobian`): Jacobian of a 100 -> 100 map, batched jacfwd vs
  looped jvp.

Training (its own table; no NumPy baseline, PyTorch is checked against tapegrad):

* W7 (:mod:`benchmarks.w7_epoch`): one Adam epoch on the bundled 8x8 digits, an MLP and a
  small CNN.

Checkpointing (their own tables; the peak saved bytes are measured once at setup and shown
in the target column and the legend; ``--quick`` also shrinks the sizes):

* W8 (:mod:`benchmarks.w8_checkpoint`): 200 layers of tanh(h @ W), width 1024, batch 256:
  plain tape vs ``checkpoint_sequential`` (sqrt(n) segments) vs ``checkpoint_chain``
  (10 snapshots) vs ``torch.utils.checkpoint``.
* W9 (:mod:`benchmarks.w9_chain`): 1,000 to 100,000 explicit Euler steps through
  ``checkpoint_chain`` (20 snapshots) vs a plain taped loop vs a hand-written adjoint.

Scale in the number of inputs (its own table; time per leaf, which should be flat):

* W10 (:mod:`benchmarks.w10_stack`): ``stack`` and ``concatenate`` of 1,000 to 100,000
  leaves, forward + backward.

Import time (its own table; each call is a fresh interpreter):

* W11 (:mod:`benchmarks.w11_import`): the cold ``import tapegrad`` against ``import numpy``.

Compiled (``tg.jit``, issue 12; W1, W2 and W4 also have "tapegrad jit" and "jax.jit"
implementations; each table its own):

* W12 (:mod:`benchmarks.w12_seed`): the seed's gradient-descent step on two Python floats.
* W13 (:mod:`benchmarks.w13_large`): a 20-op elementwise chain on 1e6 float64, fused
  (numexpr) and not.
* W14 (:mod:`benchmarks.w14_train_jit`): one epoch of ``tapegrad train`` (MLP, digits),
  eager vs the step in ``tg.jit``.
* W15 (:mod:`benchmarks.w15_compile`): compile times, ``tg.jit`` against ``jax.jit``.

``benchmarks/fusion_threshold.py`` (a script, not a workload) measures the array size from
which one ``numexpr.evaluate`` beats one NumPy call per op.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run from a checkout without installing: fall back to the source tree's package.
if importlib.util.find_spec("tapegrad") is None and (ROOT / "src" / "tapegrad").is_dir():
    sys.path.insert(0, str(ROOT / "src"))

WORKLOADS = {
    "W1": "benchmarks.w1_chain",
    "W2": "benchmarks.w2_mlp",
    "W3": "benchmarks.w3_matmul",
    "W4": "benchmarks.w4_hessian",
    "W5": "benchmarks.w5_hvp",
    "W6": "benchmarks.w6_jacobian",
    "W7": "benchmarks.w7_epoch",
    "W8": "benchmarks.w8_checkpoint",
    "W9": "benchmarks.w9_chain",
    "W10": "benchmarks.w10_stack",
    "W11": "benchmarks.w11_import",
    "W12": "benchmarks.w12_seed",
    "W13": "benchmarks.w13_large",
    "W14": "benchmarks.w14_train_jit",
    "W15": "benchmarks.w15_compile",
}
