"""W5: one Hessian-vector product of Rosenbrock at n = 100000 against one gradient.

The function is :func:`benchmarks.w4_hessian.rosenbrock`, x uniform in [-1.2, 1.2], v
standard normal, float64.  The number this workload is about is the ratio of two tapegrad
calls at the same point: ``tg.hvp(f, (x,), (v,))`` (forward-over-reverse; returns the
gradient and H v) over ``tg.grad(f)(x)``.  Theory puts an HVP at a small constant times a
gradient (each op of the reverse sweep also pushes a tangent); the target is <= 4x.

References: PyTorch's ``torch.func.jvp(torch.func.grad(f), (x,), (v,))`` (the same
forward-over-reverse scheme) and, for PyTorch's own hvp/grad ratio, ``torch.func.grad``.
The NumPy baseline computes the analytic gradient and H v (H is tridiagonal, see W4) and is
what every implementation is checked against; its time is the floor for grad + H v.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls
from .w4_hessian import numpy_grad, rosenbrock

NAME = "W5"
N = 100_000
TARGET = 4.0

COLUMNS = (
    ("NumPy (by hand, grad + Hv)", "time", "numpy"),
    ("tapegrad hvp", "time", "tapegrad"),
    ("tapegrad grad", "time", "tapegrad_grad"),
    ("PyTorch hvp", "time", "torch"),
    ("PyTorch grad", "time", "torch_grad"),
    ("tapegrad hvp/grad", "ratio", "tapegrad", "tapegrad_grad"),
    ("PyTorch hvp/grad", "ratio", "torch", "torch_grad"),
    ("hvp tapegrad/PyTorch", "ratio", "tapegrad", "torch"),
    ("hvp tapegrad/NumPy", "ratio", "tapegrad", "numpy"),
    ("target", "target"),
)


def make_inputs(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.2, 1.2, n), rng.standard_normal(n)


def numpy_hvp(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H(x) @ v with the analytic tridiagonal Hessian, never forming H."""
    a = x[:-1]
    diag = np.full(x.size, 200.0)
    diag[0] = 0.0
    diag[:-1] += 1200.0 * a * a - 400.0 * x[1:] + 2.0
    off = -400.0 * a
    hv = diag * v
    hv[:-1] += off * v[1:]
    hv[1:] += off * v[:-1]
    return hv


def numpy_impl(x: np.ndarray, v: np.ndarray) -> Impl:
    return lambda: {"grad": numpy_grad(x), "Hv": numpy_hvp(x, v)}


def _tg_f() -> Any:
    import tapegrad as tg

    total = tg.sum
    return lambda z: rosenbrock(z, total)


def tapegrad_impl(x: np.ndarray, v: np.ndarray) -> Impl:
    import tapegrad as tg

    f, hvp = _tg_f(), tg.hvp

    def run() -> dict[str, Any]:
        g, hv = hvp(f, (x,), (v,))
        return {"grad": g, "Hv": hv}

    return run


def tapegrad_grad_impl(x: np.ndarray) -> Impl:
    import tapegrad as tg

    g = tg.grad(_tg_f())
    return lambda: {"grad": g(x)}


def torch_impl(x: np.ndarray, v: np.ndarray) -> Impl:
    import torch
    from torch.func import grad, jvp

    xt, vt = torch.tensor(x), torch.tensor(v)
    g = grad(lambda z: rosenbrock(z, torch.sum))

    def run() -> dict[str, Any]:
        gx, hv = jvp(g, (xt,), (vt,))[:2]
        return {"grad": gx.numpy(), "Hv": hv.numpy()}

    return run


def torch_grad_impl(x: np.ndarray) -> Impl:
    import torch
    from torch.func import grad

    xt = torch.tensor(x)
    g = grad(lambda z: rosenbrock(z, torch.sum))
    return lambda: {"grad": g(xt).numpy()}


def build(n: int = N, seed: int = 0) -> Workload:
    x, v = make_inputs(n, seed)
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(x, v),
            "tapegrad": lambda: tapegrad_impl(x, v),
            "tapegrad_grad": lambda: tapegrad_grad_impl(x),
            "torch": lambda: torch_impl(x, v),
            "torch_grad": lambda: torch_grad_impl(x),
        }
    )
    return Workload(
        name=NAME,
        title=f"one Hessian-vector product vs one gradient of Rosenbrock, n={n}, float64",
        impls=impls,
        tol=1e-9,
        repeats=21,
        quick_repeats=3,
        columns=COLUMNS,
        check_keys={"tapegrad_grad": ("grad",), "torch_grad": ("grad",)},
        target=f"tapegrad hvp ≤ {TARGET:g}x grad",
        target_pair=("tapegrad", "tapegrad_grad", TARGET),
        skipped=skipped,
    )
