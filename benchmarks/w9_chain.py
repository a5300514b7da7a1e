"""W9: a long chain of cheap time steps through ``checkpoint_chain``: flat memory, optimal work.

Model: 64 independent damped pendulums, state ``(x, v)`` (two float64 vectors of 64),
explicit Euler steps ``x <- x + dt v``, ``v <- v - dt (c v + w2 sin x)`` with dt = 1e-3,
``c`` = 0.05 and ``w2`` = 4 (scalars that require grad); loss ``sum(x_n) + sum(v_n)``;
gradients w.r.t. ``c``, ``w2`` and the initial state.  One call is one forward and one
backward pass over ``n`` steps, for n = 1,000, 10,000 and 100,000 (one row each).

Implementations:

* ``numpy``: the forward sweep and the adjoint sweep written out by hand (it stores the
  whole trajectory): the baseline every other implementation is checked against;
* ``plain``: a Python loop of tapegrad steps, every step on the tape (only up to
  ``PLAIN_MAX`` steps: at 100,000 steps the plain tape holds 800,000 entries);
* ``chain``: ``tg.checkpoint_chain(step, (x, v), n, snapshots=20)``.

The times are per call, and per step in brackets ("µs/op" is per step here).  The peak
saved bytes (``tg.autograd.peak_saved_bytes``) and the number of step evaluations of the
chain (counted by wrapping the step) are measured once at setup, outside the timed calls,
and shown in the target column: the evaluations must equal ``binomial_steps(n, 20)``, and
the chain's peak should not grow with ``n``.

``--quick`` (read from the runner's command line) uses n = 100, 1,000 and 3,000.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W9"
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 3_000)
PLAIN_MAX = 10_000
SNAPSHOTS = 20
N_PENDULUMS = 64
DT = 1e-3
C = 0.05
W2 = 4.0

COLUMNS = (
    ("NumPy (by hand)", "time", "numpy"),
    ("tapegrad plain tape", "time", "plain"),
    (f"checkpoint_chain s={SNAPSHOTS}", "time", "chain"),
    ("chain/plain", "ratio", "chain", "plain"),
    ("chain/NumPy", "ratio", "chain", "numpy"),
    ("step evaluations; peak saved bytes", "target"),
)


def quick_from_argv() -> bool:
    """Whether the benchmark runner was started with ``--quick`` (its worker gets the flag)."""
    return "--quick" in sys.argv[1:]


def make_state(p: int = N_PENDULUMS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Initial angles in [-1, 1] and velocities in [-0.5, 0.5], float64."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, p), rng.uniform(-0.5, 0.5, p)


def numpy_impl(x0: np.ndarray, v0: np.ndarray, n: int) -> Impl:
    """Hand-written forward sweep (keeping the trajectory) and adjoint sweep."""

    def call() -> dict[str, Any]:
        xs = np.empty((n, x0.size))
        vs = np.empty((n, x0.size))
        x, v = x0, v0
        for k in range(n):
            xs[k] = x
            vs[k] = v
            x, v = x + DT * v, v - DT * (C * v + W2 * np.sin(x))
        loss = x.sum() + v.sum()
        lx = np.ones_like(x)
        lv = np.ones_like(v)
        dc = 0.0
        dw2 = 0.0
        for k in range(n - 1, -1, -1):
            xk, vk = xs[k], vs[k]
            dc -= DT * float(lv @ vk)
            dw2 -= DT * float(lv @ np.sin(xk))
            lx, lv = lx - DT * W2 * np.cos(xk) * lv, DT * lx + (1.0 - DT * C) * lv
        return {"loss": loss, "dc": dc, "dw2": dw2, "dx0": lx, "dv0": lv}

    return call


def _tapegrad_parts(x0: np.ndarray, v0: np.ndarray) -> tuple[Any, Any, Any, Any, Any]:
    import tapegrad as tg

    c = tg.tensor(C, requires_grad=True)
    w2 = tg.tensor(W2, requires_grad=True)
    x = tg.tensor(x0, requires_grad=True)
    v = tg.tensor(v0, requires_grad=True)
    sin = tg.sin

    def step(state: tuple[Any, Any]) -> tuple[Any, Any]:
        x, v = state
        return x + DT * v, v - DT * (c * v + w2 * sin(x))

    return step, c, w2, x, v


def tapegrad_impl(x0: np.ndarray, v0: np.ndarray, n: int, chain: bool) -> Impl:
    """The plain taped loop (``chain=False``) or ``checkpoint_chain`` with 20 snapshots."""
    import tapegrad as tg

    step, c, w2, x, v = _tapegrad_parts(x0, v0)
    leaves = (c, w2, x, v)

    def call() -> dict[str, Any]:
        if chain:
            xn, vn = tg.checkpoint_chain(step, (x, v), n, snapshots=SNAPSHOTS)
        else:
            xn, vn = x, v
            for _ in range(n):
                xn, vn = step((xn, vn))
        loss = xn.sum() + vn.sum()
        loss.backward()
        out = {
            "loss": loss.data,
            "dc": c.grad.data,
            "dw2": w2.grad.data,
            "dx0": x.grad.data,
            "dv0": v.grad.data,
        }
        for t in leaves:
            t.grad = None
        return out

    return call


def chain_account(x0: np.ndarray, v0: np.ndarray, n: int) -> tuple[int, int]:
    """``(step evaluations, peak saved bytes)`` of one forward+backward through the chain."""
    import tapegrad as tg

    step, c, w2, x, v = _tapegrad_parts(x0, v0)
    calls = 0

    def counted(state: tuple[Any, Any]) -> tuple[Any, Any]:
        nonlocal calls
        calls += 1
        return step(state)

    with tg.autograd.peak_saved_bytes() as mem:
        xn, vn = tg.checkpoint_chain(counted, (x, v), n, snapshots=SNAPSHOTS)
        (xn.sum() + vn.sum()).backward()
    return calls, mem.peak - mem.start


def plain_peak(x0: np.ndarray, v0: np.ndarray, n: int) -> int:
    """Peak saved bytes of one forward+backward through the plain taped loop."""
    import tapegrad as tg

    step, c, w2, x, v = _tapegrad_parts(x0, v0)
    with tg.autograd.peak_saved_bytes() as mem:
        xn, vn = x, v
        for _ in range(n):
            xn, vn = step((xn, vn))
        (xn.sum() + vn.sum()).backward()
    return mem.peak - mem.start


def _kib(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.1f} KiB"


def build_one(n: int, plain_max: int = PLAIN_MAX, seed: int = 0) -> Workload:
    from tapegrad.checkpoint import binomial_steps

    x0, v0 = make_state(seed=seed)
    evals, chain_peak = chain_account(x0, v0, n)
    optimum = binomial_steps(n, SNAPSHOTS)
    factories = {
        "numpy": lambda: numpy_impl(x0, v0, n),
        "chain": lambda: tapegrad_impl(x0, v0, n, chain=True),
    }
    if n <= plain_max:
        factories["plain"] = lambda: tapegrad_impl(x0, v0, n, chain=False)
        peak_p = plain_peak(x0, v0, n)
        mem = f"peak {_kib(chain_peak)} (plain {_kib(peak_p)})"
    else:
        mem = f"peak {_kib(chain_peak)} (plain tape not run above {plain_max:,} steps)"
    impls, skipped = collect_impls(factories)
    if "plain" not in factories:
        # the runner's marker for a column that is left out on purpose: shown as n/a, not
        # as an error (the target column says why)
        skipped["plain"] = "not installed"
    verdict = "= binomial optimum" if evals == optimum else f"≠ binomial optimum {optimum:,}"
    return Workload(
        name=NAME,
        variant=f"n={n:,}",
        title=(
            f"{n:,} explicit Euler steps of {N_PENDULUMS} damped pendulums (float64), "
            f"forward+backward, gradient w.r.t. 2 parameters and the initial state; "
            f"checkpoint_chain with {SNAPSHOTS} snapshots: {evals:,} step evaluations "
            f"({evals / n:.2f} per step), peak saved {_kib(chain_peak)}"
        ),
        impls=impls,
        tol=1e-9,
        repeats=3 if n <= 10_000 else 1,
        quick_repeats=1,
        warmup=1,
        rounds=1,
        block_warmup=0,
        n_ops=n,
        columns=COLUMNS,
        target=f"{evals:,} {verdict}; {mem}",
        skipped=skipped,
    )


def build(
    sizes: tuple[int, ...] | None = None,
    plain_max: int = PLAIN_MAX,
    seed: int = 0,
    quick: bool | None = None,
) -> list[Workload]:
    """One workload per chain length; ``sizes`` defaults to the full or the quick ones."""
    if quick is None:
        quick = quick_from_argv()
    if sizes is None:
        sizes = QUICK_SIZES if quick else SIZES
    return [build_one(n, plain_max, seed) for n in sizes]
