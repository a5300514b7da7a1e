"""W12: the seed's gradient-descent step on two Python floats: pure dispatch cost.

``L(x, y) = sin(x) + x * y``; one step is
``gx, gy = tg.grad(L, argnums=(0, 1))(x, y); return x - lr * gx, y - lr * gy``, from
``x, y = 1.0, 2.0`` with ``lr = 0.01``, as in the seed (whose loop ends at
x = -13928.111..., y = 13928.148...).  Every call runs ``STEPS`` steps, each feeding the
previous step's results back in (``x, y = step(x, y)``), so the table's per-op figure is
the time of one step.  (W5 is the Hessian-vector product workload: the seed step has its
own id.)

* "Python math (by hand)" is the baseline: the step with the analytic derivative,
  ``x - lr * (cos(x) + y), y - lr * x``, in the ``math`` module on floats;
* "tapegrad": the step as written, eager (``tg.grad`` on floats);
* "tapegrad jit": ``tg.jit(step)``, compiled at setup (its first step sees Python floats,
  the later ones the NumPy float64 scalars it returned: two signatures, both compiled);
* "jit, float() each step": the same, with the results turned back into Python floats
  before the next step (``x, y = float(x), float(y)``): every call takes the cache's
  path for floats;
* "jax.jit": ``jax.jit`` of the same step with ``jax.grad``, compiled at setup, the final
  values waited for with ``block_until_ready``.

The values grow like 1.01**n (the map is a rotation with growth), so libms that differ in
the last bit of ``cos`` still agree to ~1e-13 after 1000 steps.
"""

from __future__ import annotations

import math
from typing import Any

from .common import Impl, Workload, collect_impls

NAME = "W12"
X0, Y0 = 1.0, 2.0
LR = 1e-2
STEPS = 1000
TARGET_S = 5e-6  # per step

COLUMNS = (
    ("Python math (by hand)", "time", "numpy"),
    ("tapegrad", "time", "tapegrad"),
    ("tapegrad jit", "time", "jit"),
    ("jit, float() each step", "time", "jit_float"),
    ("jax.jit", "time", "jax"),
    ("tapegrad/math", "ratio", "tapegrad", "numpy"),
    ("jit/math", "ratio", "jit", "numpy"),
    ("jax.jit/math", "ratio", "jax", "numpy"),
    ("jit/jax.jit", "ratio", "jit", "jax"),
    ("target", "target"),
)


def math_step(x: float, y: float) -> tuple[float, float]:
    """The step with the derivative written by hand: ``dL/dx = cos x + y``, ``dL/dy = x``."""
    return x - LR * (math.cos(x) + y), y - LR * x


def make_step(grad: Any, sin: Any) -> Any:
    """The seed's step for a ``grad`` transform (tapegrad's or jax's) and its ``sin``."""

    def L(x: Any, y: Any) -> Any:
        return sin(x) + x * y

    dL = grad(L, argnums=(0, 1))

    def step(x: Any, y: Any) -> Any:
        gx, gy = dL(x, y)
        return x - LR * gx, y - LR * gy

    return step


def _loop(step: Any, steps: int, as_float: bool = False) -> Impl:
    if as_float:

        def run() -> dict[str, Any]:
            x, y = X0, Y0
            for _ in range(steps):
                x, y = step(x, y)
                x, y = float(x), float(y)
            return {"x": x, "y": y}

        return run

    def run() -> dict[str, Any]:
        x, y = X0, Y0
        for _ in range(steps):
            x, y = step(x, y)
        return {"x": x, "y": y}

    return run


def numpy_impl(steps: int) -> Impl:
    return _loop(math_step, steps)


def tapegrad_impl(steps: int) -> Impl:
    import tapegrad as tg

    return _loop(make_step(tg.grad, tg.sin), steps)


def jit_impl(steps: int, as_float: bool = False) -> Impl:
    import tapegrad as tg

    run = _loop(tg.jit(make_step(tg.grad, tg.sin)), steps, as_float)
    run()  # compiles (both signatures: floats, then float64 scalars)
    return run


def jax_impl(steps: int) -> Impl:
    import jax.numpy as jnp

    from .common import jax_or_none

    jax = jax_or_none()
    loop = _loop(jax.jit(make_step(jax.grad, jnp.sin)), steps)
    block = jax.block_until_ready

    def run() -> dict[str, Any]:
        return block(loop())

    run()
    return run


def build(steps: int = STEPS) -> Workload:
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(steps),
            "tapegrad": lambda: tapegrad_impl(steps),
            "jit": lambda: jit_impl(steps),
            "jit_float": lambda: jit_impl(steps, as_float=True),
            "jax": lambda: jax_impl(steps),
        }
    )
    return Workload(
        name=NAME,
        title=(
            f"the seed's step: grad of sin(x) + x*y on two Python floats, x, y -= lr * grad; "
            f"{steps} steps per call, µs/op = per step"
        ),
        impls=impls,
        tol=1e-9,
        repeats=21,
        quick_repeats=3,
        n_ops=steps,
        columns=COLUMNS,
        target=f"jit ≤ {TARGET_S * 1e6:g} µs per step",
        targets=(("time", "jit", TARGET_S * steps, f"jit ≤ {TARGET_S * 1e6:g} µs/step"),),
        skipped=skipped,
    )
