"""W3: large matmuls: BLAS-bound, the tape's overhead should vanish.

``y = sum(tanh(A @ B) @ C)`` with A, B, C of 1024 x 1024 float64, gradient w.r.t. A, B and
C.  The entries are scaled so that ``A @ B`` is O(1) and tanh does not saturate.

The NumPy baseline is the reverse sweep written the way an AD system runs it: the cotangent
of the sum is a matrix of ones, then ``dC = T.T @ G``, ``dT = G @ C.T``,
``dZ = dT * (1 - T**2)``, ``dA = dZ @ B.T``, ``dB = A.T @ dZ`` (six 1024^3 matmuls in
all).  A derivation by hand could exploit that G is all ones (``dT`` is then ``C.sum(1)``
broadcast, ``dC`` an outer product) and skip three of the six matmuls; no AD system does that,
so it would measure the algebra rather than the tape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W3"
N = 1024


def make_inputs(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = n**-0.25  # entries of A @ B have unit variance
    return tuple(rng.standard_normal((n, n)) * s for _ in range(3))  # type: ignore[return-value]


def numpy_impl(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> Impl:
    def run() -> dict[str, Any]:
        T = np.tanh(A @ B)
        Y = T @ C
        y = Y.sum()
        G = np.ones_like(Y)
        dC = T.T @ G
        dT = G @ C.T
        dZ = dT * (1.0 - T * T)
        dA = dZ @ B.T
        dB = A.T @ dZ
        return {"y": y, "dA": dA, "dB": dB, "dC": dC}

    return run


def tapegrad_impl(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> Impl:
    import tapegrad as tg

    At, Bt, Ct = (tg.tensor(m, requires_grad=True) for m in (A, B, C))
    tanh, tsum, grad = tg.tanh, tg.sum, tg.autograd.grad

    def run() -> dict[str, Any]:
        y = tsum(tanh(At @ Bt) @ Ct)
        dA, dB, dC = grad(y, [At, Bt, Ct])
        return {"y": y.data, "dA": dA.data, "dB": dB.data, "dC": dC.data}

    return run


def torch_impl(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> Impl:
    import torch

    At, Bt, Ct = (torch.tensor(m, requires_grad=True) for m in (A, B, C))
    tanh, grad = torch.tanh, torch.autograd.grad

    def run() -> dict[str, Any]:
        y = (tanh(At @ Bt) @ Ct).sum()
        dA, dB, dC = grad(y, [At, Bt, Ct])
        return {"y": y.detach().numpy(), "dA": dA.numpy(), "dB": dB.numpy(), "dC": dC.numpy()}

    return run


def build(n: int = N, seed: int = 0) -> Workload:
    A, B, C = make_inputs(n, seed)
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(A, B, C),
            "tapegrad": lambda: tapegrad_impl(A, B, C),
            "torch": lambda: torch_impl(A, B, C),
        }
    )
    return Workload(
        name=NAME,
        title=f"sum(tanh(A @ B) @ C), {n}x{n} float64, grad w.r.t. A, B, C",
        impls=impls,
        tol=1e-9,
        repeats=6,
        quick_repeats=1,
        warmup=1,
        block_warmup=1,
        target="tapegrad <= 1.1x NumPy",
        target_ratio=1.1,
        skipped=skipped,
    )
