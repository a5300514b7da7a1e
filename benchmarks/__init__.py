"""tapegrad's benchmark suite: ``python -m benchmarks --help``.

Each workload computes the same value and gradient three ways, hand-written NumPy (the
baseline: the limit for a NumPy backend), tapegrad and PyTorch eager (optional), checks
that they agree, and times them in the same run.  See BENCHMARKS.md.

Workloads (one module each):

* W1 (:mod:`benchmarks.w1_chain`): 2000 small elementwise ops, per-op overhead.
* W2 (:mod:`benchmarks.w2_mlp`): one SGD step of a small MLP with cross-entropy.
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
}
