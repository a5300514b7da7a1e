"""W4: the full Hessian of the Rosenbrock function, n = 100 and n = 500.

``f(x) = sum(100 (x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)``, float64, x drawn uniformly
from [-1.2, 1.2].  tapegrad's ``tg.hessian`` (forward-over-reverse: the whole basis of n
tangents rides through one reverse sweep as a batch axis) against ``torch.func.hessian``
(``jacfwd(jacrev)`` under vmap).

The NumPy baseline is the analytic Hessian, tridiagonal, written into a dense n x n array
(what the other two return):

* ``H[i, i] = 1200 x_i**2 - 400 x_{i+1} + 2`` for i < n-1, plus 200 for i > 0;
* ``H[i, i+1] = H[i+1, i] = -400 x_i``.

It is the floor for any implementation that returns the dense matrix (a few vector ops and
an n^2 fill), not something an AD system can reach: the AD systems push n tangents of
length n through every op, O(n^2) work per op.  :mod:`benchmarks.w1_chain`'s per-op
overhead matters at n = 100, the batched NumPy work at n = 500.

``build`` returns one workload per size (rows "W4 n=100", "W4 n=500"); the target
(tapegrad not slower than PyTorch) is at n = 100.

Compiled: ``tg.jit(tg.hessian(f))`` and ``jax.jit(jax.hessian(f))`` (jax's on a device
array, waited for with ``block_until_ready``), compiled at setup; the issue-12 target,
tapegrad jit at most 2x jax.jit, is at n = 100 too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W4"
SIZES = (100, 500)
TARGET_SIZE = 100

COLUMNS = (
    ("NumPy (by hand)", "time", "numpy"),
    ("tapegrad hessian", "time", "tapegrad"),
    ("torch.func.hessian", "time", "torch"),
    ("tapegrad/NumPy", "ratio", "tapegrad", "numpy"),
    ("tapegrad/PyTorch", "ratio", "tapegrad", "torch"),
    ("PyTorch/NumPy", "ratio", "torch", "numpy"),
    ("tapegrad jit hessian", "time", "jit"),
    ("jax.jit hessian", "time", "jax"),
    ("jit/jax.jit", "ratio", "jit", "jax"),
    ("jit/NumPy", "ratio", "jit", "numpy"),
    ("target", "target"),
)


def make_input(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.2, 1.2, n)


def rosenbrock(x: Any, total: Any) -> Any:
    """The Rosenbrock function of a tapegrad Tensor or torch tensor; ``total`` sums."""
    a = x[:-1]
    return total(100.0 * (x[1:] - a * a) ** 2 + (1.0 - a) ** 2)


def numpy_value(x: np.ndarray) -> float:
    return float(rosenbrock(x, np.sum))


def numpy_grad(x: np.ndarray) -> np.ndarray:
    """The analytic gradient (for the finite-difference test of the Hessian)."""
    a, b = x[:-1], x[1:]
    r = b - a * a
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * r - 2.0 * (1.0 - a)
    g[1:] += 200.0 * r
    return g


def numpy_hessian(x: np.ndarray) -> np.ndarray:
    """The analytic (tridiagonal) Hessian as a dense n x n array."""
    n = x.size
    a = x[:-1]
    diag = np.full(n, 200.0)
    diag[0] = 0.0
    diag[:-1] += 1200.0 * a * a - 400.0 * x[1:] + 2.0
    off = -400.0 * a
    H = np.zeros((n, n))
    flat = H.reshape(-1)
    flat[:: n + 1] = diag
    flat[1 :: n + 1] = off  # (i, i+1)
    flat[n :: n + 1] = off  # (i+1, i)
    return H


def numpy_impl(x: np.ndarray) -> Impl:
    return lambda: {"H": numpy_hessian(x)}


def tapegrad_impl(x: np.ndarray) -> Impl:
    import tapegrad as tg

    total = tg.sum
    hess = tg.hessian(lambda v: rosenbrock(v, total))

    def run() -> dict[str, Any]:
        return {"H": hess(x)}

    return run


def jit_impl(x: np.ndarray) -> Impl:
    """``tg.jit(tg.hessian(f))``, compiled here."""
    import tapegrad as tg

    total = tg.sum
    hess = tg.jit(tg.hessian(lambda v: rosenbrock(v, total)))
    hess(x)

    def run() -> dict[str, Any]:
        return {"H": hess(x)}

    return run


def jax_impl(x: np.ndarray) -> Impl:
    """``jax.jit(jax.hessian(f))`` on a device array, compiled here."""
    import jax.numpy as jnp

    from .common import jax_or_none

    jax = jax_or_none()
    hess = jax.jit(jax.hessian(lambda v: rosenbrock(v, jnp.sum)))
    xj = jax.device_put(x)
    block = jax.block_until_ready
    block(hess(xj))

    def run() -> dict[str, Any]:
        return {"H": block(hess(xj))}

    return run


def torch_impl(x: np.ndarray) -> Impl:
    import torch
    from torch.func import hessian

    xt = torch.tensor(x, dtype=torch.float64)
    hess = hessian(lambda v: rosenbrock(v, torch.sum))

    def run() -> dict[str, Any]:
        return {"H": hess(xt).numpy()}

    return run


def build_one(n: int, seed: int = 0) -> Workload:
    x = make_input(n, seed)
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(x),
            "tapegrad": lambda: tapegrad_impl(x),
            "torch": lambda: torch_impl(x),
            "jit": lambda: jit_impl(x),
            "jax": lambda: jax_impl(x),
        }
    )
    at_target = n == TARGET_SIZE
    return Workload(
        name=NAME,
        variant=f"n={n}",
        title=f"full Hessian of Rosenbrock, n={n}, float64 ({n}x{n} result)",
        impls=impls,
        tol=1e-9,
        repeats=51 if n <= 200 else 15,
        quick_repeats=3,
        columns=COLUMNS,
        target="tapegrad ≤ PyTorch" if at_target else f"- (target at n={TARGET_SIZE})",
        target_pair=("tapegrad", "torch", 1.0) if at_target else None,
        targets=(("ratio", "jit", "jax", 2.0, "jit ≤ 2x jax.jit"),) if at_target else (),
        skipped=skipped,
    )


def build(sizes: tuple[int, ...] = SIZES, seed: int = 0) -> list[Workload]:
    return [build_one(n, seed) for n in sizes]
