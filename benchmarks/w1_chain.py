"""W1: a long chain of small elementwise ops: the per-op overhead of the tape.

``y = sum(f_n(... f_2(f_1(x))))`` on a float64 vector of 16 elements, where ``f_i`` cycles
through ``x * 1.5``, ``x + 0.1``, ``sin``, ``tanh``, ``exp``; the gradient is taken w.r.t.
``x``.  The values stay in [0.4, 2.2] whatever the length (sin, tanh and exp bound them) and
the composed map is contracting, so the three implementations, whose libms differ in the
last bit, agree to ~1e-13.  The gradient shrinks by ~0.55 per cycle of five ops
(~1e-104 after 2000 ops): far from the subnormal range, which would slow every
implementation down.

The NumPy baseline stores what the reverse sweep needs (sin's input, tanh's and exp's
outputs) and runs the sweep by hand, one straight-line block per cycle like the others.

Compiled (the ``tg.jit`` targets of issue 12): ``tg.jit(tg.value_and_grad(f))`` and
``jax.jit(jax.value_and_grad(f))``, each compiled once at setup; the timed call is the
compiled call (jax's input is already a device array, its outputs are waited for with
``block_until_ready``).  W13 runs the same chain on 1e6 elements; W15 times the compilation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W1"
SCALE = 1.5
SHIFT = 0.1
CYCLE = 5  # mul, add, sin, tanh, exp


def make_input(size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size)


def numpy_chain(x0: np.ndarray, n_ops: int) -> dict[str, Any]:
    """Hand-written forward and reverse sweep: ``{"y": sum, "dx": gradient}``."""
    sin_in: list[np.ndarray] = []
    tanh_out: list[np.ndarray] = []
    exp_out: list[np.ndarray] = []
    x = x0
    full, rest = divmod(n_ops, CYCLE)
    for _ in range(full):
        x = x * SCALE
        x = x + SHIFT
        sin_in.append(x)
        x = np.sin(x)
        x = np.tanh(x)
        tanh_out.append(x)
        x = np.exp(x)
        exp_out.append(x)
    if rest > 0:
        x = x * SCALE
    if rest > 1:
        x = x + SHIFT
    if rest > 2:
        sin_in.append(x)
        x = np.sin(x)
    if rest > 3:
        x = np.tanh(x)
        tanh_out.append(x)
    y = x.sum()

    g = np.ones_like(x)
    if rest > 3:
        t = tanh_out.pop()
        g = g * (1.0 - t * t)
    if rest > 2:
        g = g * np.cos(sin_in.pop())
    if rest > 0:
        g = g * SCALE
    for _ in range(full):
        g = g * exp_out.pop()
        t = tanh_out.pop()
        g = g * (1.0 - t * t)
        g = g * np.cos(sin_in.pop())
        g = g * SCALE
    return {"y": y, "dx": g}


def _chain(x: Any, n_ops: int, sin: Any, tanh: Any, exp: Any) -> Any:
    full, rest = divmod(n_ops, CYCLE)
    for _ in range(full):
        x = x * SCALE
        x = x + SHIFT
        x = sin(x)
        x = tanh(x)
        x = exp(x)
    if rest > 0:
        x = x * SCALE
    if rest > 1:
        x = x + SHIFT
    if rest > 2:
        x = sin(x)
    if rest > 3:
        x = tanh(x)
    return x


def tapegrad_fn(n_ops: int) -> Any:
    """``f(x) = sum(chain(x))`` in tapegrad's functional form (what ``tg.jit`` compiles)."""
    import tapegrad as tg

    sin, tanh, exp, tsum = tg.sin, tg.tanh, tg.exp, tg.sum
    return lambda x: tsum(_chain(x, n_ops, sin, tanh, exp))


def jax_fn(n_ops: int) -> Any:
    """The same function in jax.numpy."""
    import jax.numpy as jnp

    return lambda x: jnp.sum(_chain(x, n_ops, jnp.sin, jnp.tanh, jnp.exp))


def numpy_impl(x0: np.ndarray, n_ops: int) -> Impl:
    return lambda: numpy_chain(x0, n_ops)


def tapegrad_impl(x0: np.ndarray, n_ops: int) -> Impl:
    import tapegrad as tg

    x = tg.tensor(x0, requires_grad=True)
    sin, tanh, exp, tsum, grad = tg.sin, tg.tanh, tg.exp, tg.sum, tg.autograd.grad

    def run() -> dict[str, Any]:
        y = tsum(_chain(x, n_ops, sin, tanh, exp))
        (dx,) = grad(y, [x])
        return {"y": y.data, "dx": dx.data}

    return run


def jit_impl(x0: np.ndarray, n_ops: int, fuse: Any = "auto") -> Impl:
    """``tg.jit(tg.value_and_grad(f))``, compiled here (the first call), then timed."""
    import tapegrad as tg

    step = tg.jit(tg.value_and_grad(tapegrad_fn(n_ops)), fuse=fuse)
    step(x0)

    def run() -> dict[str, Any]:
        y, dx = step(x0)
        return {"y": y, "dx": dx}

    return run


def jax_impl(x0: np.ndarray, n_ops: int) -> Impl:
    """``jax.jit(jax.value_and_grad(f))`` on a device array, compiled here."""
    from .common import jax_or_none

    jax = jax_or_none()
    step = jax.jit(jax.value_and_grad(jax_fn(n_ops)))
    x = jax.device_put(x0)
    jax.block_until_ready(step(x))
    block = jax.block_until_ready

    def run() -> dict[str, Any]:
        y, dx = block(step(x))
        return {"y": y, "dx": dx}

    return run


def torch_impl(x0: np.ndarray, n_ops: int) -> Impl:
    import torch

    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    sin, tanh, exp, grad = torch.sin, torch.tanh, torch.exp, torch.autograd.grad

    def run() -> dict[str, Any]:
        y = _chain(x, n_ops, sin, tanh, exp).sum()
        (dx,) = grad(y, [x])
        return {"y": y.detach().numpy(), "dx": dx.numpy()}

    return run


def build(n_ops: int = 2000, size: int = 16, seed: int = 0) -> Workload:
    x0 = make_input(size, seed)
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(x0, n_ops),
            "tapegrad": lambda: tapegrad_impl(x0, n_ops),
            "jit": lambda: jit_impl(x0, n_ops),
            "torch": lambda: torch_impl(x0, n_ops),
            "jax": lambda: jax_impl(x0, n_ops),
        }
    )
    return Workload(
        name=NAME,
        title=f"chain of {n_ops} elementwise ops, {size} x float64, fwd + grad",
        impls=impls,
        tol=1e-9,
        repeats=42,
        quick_repeats=5,
        n_ops=n_ops,
        target="tapegrad <= 3x NumPy",
        target_ratio=3.0,
        targets=(("ratio", "jit", "numpy", 1.0, "jit ≤ 1x NumPy"),),
        skipped=skipped,
    )
