"""W6: the Jacobian of a 100 -> 100 map by forward mode, batched against looped.

``f(x) = tanh(W @ x + b) * x`` (a matmul plus elementwise ops), W with entries of variance
1/n (so ``W @ x`` is O(1) and tanh does not saturate), b small, float64.  The number this
workload is about is the ratio of two tapegrad ways to get the Jacobian:

* ``tg.jacfwd(f)(x)``: the n basis tangents go through f at once, as a batch axis;
* the loop an AD system without batching would run: n separate ``tg.jvp(f, (x,), (e_i,))``
  calls with the basis vectors, stacking the columns (written here, in the benchmark).

The target is batched <= 0.2x looped.  ``torch.func.jacfwd`` (vmap over jvp) is the
reference.  The NumPy baseline is the analytic Jacobian
``J = diag(tanh(z)) + diag(x * (1 - tanh(z)**2)) @ W`` with ``z = W @ x + b``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W6"
N = 100
TARGET = 0.2


def columns(n: int) -> tuple[tuple[str, ...], ...]:
    return (
        ("NumPy (by hand)", "time", "numpy"),
        ("tapegrad jacfwd", "time", "tapegrad"),
        (f"tapegrad {n} x jvp", "time", "tapegrad_loop"),
        ("torch.func.jacfwd", "time", "torch"),
        ("jacfwd/looped", "ratio", "tapegrad", "tapegrad_loop"),
        ("jacfwd tapegrad/PyTorch", "ratio", "tapegrad", "torch"),
        ("jacfwd tapegrad/NumPy", "ratio", "tapegrad", "numpy"),
        ("target", "target"),
    )


def make_inputs(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, n)) / np.sqrt(n)
    b = 0.1 * rng.standard_normal(n)
    x = rng.standard_normal(n)
    return W, b, x


def numpy_jacobian(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.tanh(W @ x + b)
    J = (x * (1.0 - t * t))[:, None] * W
    J.reshape(-1)[:: x.size + 1] += t
    return J


def numpy_impl(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> Impl:
    return lambda: {"J": numpy_jacobian(W, b, x)}


def _tg_f(W: np.ndarray, b: np.ndarray) -> Any:
    import tapegrad as tg

    Wt, bt, tanh = tg.tensor(W), tg.tensor(b), tg.tanh
    return lambda z: tanh(Wt @ z + bt) * z


def tapegrad_impl(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> Impl:
    import tapegrad as tg

    jac = tg.jacfwd(_tg_f(W, b))
    return lambda: {"J": jac(x)}


def tapegrad_loop_impl(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> Impl:
    import tapegrad as tg

    f, jvp = _tg_f(W, b), tg.jvp
    basis = list(np.eye(x.size))

    def run() -> dict[str, Any]:
        cols = [jvp(f, (x,), (e,))[1] for e in basis]
        return {"J": np.stack(cols, axis=1)}

    return run


def torch_impl(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> Impl:
    import torch
    from torch.func import jacfwd

    Wt, bt, xt = torch.tensor(W), torch.tensor(b), torch.tensor(x)
    jac = jacfwd(lambda z: torch.tanh(Wt @ z + bt) * z)
    return lambda: {"J": jac(xt).numpy()}


def build(n: int = N, seed: int = 0) -> Workload:
    W, b, x = make_inputs(n, seed)
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(W, b, x),
            "tapegrad": lambda: tapegrad_impl(W, b, x),
            "tapegrad_loop": lambda: tapegrad_loop_impl(W, b, x),
            "torch": lambda: torch_impl(W, b, x),
        }
    )
    return Workload(
        name=NAME,
        title=f"Jacobian of tanh(W @ x + b) * x, {n} -> {n}, float64: batched jacfwd vs "
        f"{n} jvp calls",
        impls=impls,
        tol=1e-9,
        repeats=21,
        quick_repeats=3,
        columns=columns(n),
        target=f"jacfwd ≤ {TARGET:g}x looped",
        target_pair=("tapegrad", "tapegrad_loop", TARGET),
        skipped=skipped,
    )
