"""Fit a damped pendulum to observations through 10,000 RK4 steps with ``checkpoint_chain``.

Model: theta'' = -omega^2 sin(theta) - 2 zeta omega theta', theta(0) = 1, theta'(0) = 0,
integrated over 10 time units with 10,000 classical Runge-Kutta steps written in tapegrad.
The observations are theta at 40 evenly spaced times, computed with the true parameters
(omega = 2, zeta = 0.1) plus noise of standard deviation 0.01.  Starting from omega = 1.7,
zeta = 0.3, the two parameters are fitted by ``tg.optim.LBFGS`` with a strong Wolfe line
search (about 15 gradients), or by ``tg.optim.Adam`` (``--optimizer adam``: many more
gradients), on the mean squared error; the optimizer works on log(omega) and log(zeta), so
both stay positive.  Each gradient is taken through the whole trajectory.

The time step is the function ``state -> state`` that ``tg.checkpoint_chain`` wants; the
state is ``(y, err, k)``:

* ``y = [theta, theta']``, one tensor of shape (2,): the right-hand side is
  ``f(y) = y @ M + sin(y) @ S`` with 2x2 matrices M and S built from the parameters
  before the chain (the chain finds them as outside tensors and sends their gradients
  back through that construction);
* ``err``: the running sum of squared errors, added to at the observed steps;
* ``k``: the step counter, a plain int (constants ride along in the state unchanged by
  differentiation), which says whether the current step is observed and which observation.

``checkpoint_chain(step, state, 10_000, snapshots=20)`` keeps at most 20 states and one
step's tape; the binomial schedule recomputes the fewest steps possible for that (the
printed count of step evaluations equals ``binomial_steps``).  The script also takes one
gradient with the plain tape (every step recorded) to compare the memory and check that
the two gradients agree.

Run:  python examples/ode_fit_checkpoint_chain.py           (minutes: 15 gradients of ~4.8
                                                             forward sweeps each)
      python examples/ode_fit_checkpoint_chain.py --quick   (200 steps, a few seconds)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad.checkpoint import binomial_steps

TRUE = (2.0, 0.1)  # omega, zeta
START = (1.7, 0.3)
Y0 = (1.0, 0.0)
T_END = 10.0
N_OBS = 40
NOISE = 0.01


def rhs_matrices(omega: Any, zeta: Any) -> tuple[Any, Any]:
    """``M`` and ``S`` with ``f(y) = y @ M + sin(y) @ S`` for y = [theta, theta']."""
    one, zero = tg.tensor([1.0, 0.0]), tg.tensor([0.0, 1.0])
    # column 0 of M: d theta/dt = theta'; column 1: -2 zeta omega theta'
    m = tg.stack([zero, -2.0 * zeta * omega * zero], axis=1)
    s = tg.stack([tg.zeros(2), -(omega * omega) * one], axis=1)
    return m, s


def make_step(
    omega: Any, zeta: Any, dt: float, every: int, obs: np.ndarray
) -> tuple[Any, Any, Any]:
    """The RK4 step ``(y, err, k) -> (y', err', k + 1)`` and the matrices it reads."""
    m, s = rhs_matrices(omega, zeta)
    sin = tg.sin
    h2, h6 = 0.5 * dt, dt / 6.0

    def f(y: Any) -> Any:
        return y @ m + sin(y) @ s

    def step(state: tuple[Any, Any, int]) -> tuple[Any, Any, int]:
        y, err, k = state
        k1 = f(y)
        k2 = f(y + h2 * k1)
        k3 = f(y + h2 * k2)
        k4 = f(y + dt * k3)
        y = y + h6 * (k1 + k4) + (2.0 * h6) * (k2 + k3)
        k += 1
        if k % every == 0:  # observed after this step
            d = y[0] - obs[k // every - 1]
            err = err + d * d
        return y, err, k

    return step, m, s


@dataclass
class Problem:
    n_steps: int
    dt: float
    every: int
    obs: np.ndarray


def make_problem(n_steps: int, seed: int = 0) -> Problem:
    """Observations of theta at ``N_OBS`` evenly spaced steps, from the true parameters."""
    if n_steps % N_OBS:
        raise ValueError(f"n_steps must be a multiple of {N_OBS}, got {n_steps}")
    dt = T_END / n_steps
    every = n_steps // N_OBS
    clean = np.zeros(N_OBS)
    step, _, _ = make_step(tg.tensor(TRUE[0]), tg.tensor(TRUE[1]), dt, every, clean)
    y: Any = tg.tensor(np.array(Y0))
    thetas = []
    with tg.no_grad():
        for k in range(1, n_steps + 1):
            y, _, _ = step((y, tg.tensor(0.0), k - 1))
            if k % every == 0:
                thetas.append(float(y[0].item()))
    noise = NOISE * np.random.default_rng(seed).standard_normal(N_OBS)
    return Problem(n_steps, dt, every, np.array(thetas) + noise)


def loss(
    params: Any, prob: Problem, snapshots: int | None = 20, counter: list[int] | None = None
) -> Any:
    """Mean squared error of the fit at ``(omega, zeta) = exp(params)`` (the logarithms
    keep both positive); ``snapshots=None`` records every step (plain tape).
    ``counter``: a one-element list that counts the step evaluations."""
    omega_zeta = tg.exp(params)
    step, _, _ = make_step(omega_zeta[0], omega_zeta[1], prob.dt, prob.every, prob.obs)
    if counter is not None:
        inner = step

        def step(state: tuple[Any, Any, int]) -> tuple[Any, Any, int]:
            counter[0] += 1
            return inner(state)

    state = (tg.tensor(np.array(Y0)), tg.tensor(0.0), 0)
    if snapshots is None:
        for _ in range(prob.n_steps):
            state = step(state)
    else:
        state = tg.checkpoint_chain(step, state, prob.n_steps, snapshots=snapshots)
    return state[1] / N_OBS


def measure_gradient(params: Any, prob: Problem, snapshots: int | None) -> dict[str, Any]:
    """One value and gradient: its peak saved bytes and step evaluations.

    (Measured under ``peak_saved_bytes``, whose account adds work to every recorded
    operation, so the time of this call is not representative: see benchmark W9.)"""
    counter = [0]
    params.grad = None
    with tg.autograd.peak_saved_bytes() as mem:
        value = loss(params, prob, snapshots, counter)
        value.backward()
    out = {
        "loss": value.item(),
        "grad": params.grad.numpy().copy(),
        "peak": mem.peak - mem.start,
        "evals": counter[0],
    }
    params.grad = None
    return out


def fit(
    prob: Problem,
    optimizer: str = "lbfgs",
    iterations: int = 30,
    snapshots: int = 20,
    verbose: bool = True,
) -> tuple[np.ndarray, list[float], list[float]]:
    """Fit (omega, zeta) from ``START``; returns the fitted values, the loss history and the
    seconds each gradient took.

    The optimizer works on ``log(omega), log(zeta)``."""
    params = tg.tensor(np.log(START), requires_grad=True)
    history: list[float] = []
    seconds: list[float] = []

    def closure() -> Any:
        t0 = time.perf_counter()
        opt.zero_grad()
        value = loss(params, prob, snapshots)
        value.backward()
        seconds.append(time.perf_counter() - t0)
        history.append(value.item())
        if verbose:
            om, ze = np.exp(params.data)
            print(
                f"  gradient {len(history):3d}: loss {history[-1]:.3e}  omega {om:.4f}  "
                f"zeta {ze:.4f}  ({seconds[-1]:.2f} s)"
            )
        return value

    if optimizer == "lbfgs":
        opt: Any = tg.optim.LBFGS(
            [params],
            lr=1.0,
            max_iter=iterations,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
        )
        opt.step(closure)
    elif optimizer == "adam":
        opt = tg.optim.Adam([params], lr=0.01)
        for _ in range(iterations):
            opt.step(closure)
    else:
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    return np.exp(params.detach().numpy()), history, seconds


def main(argv: list[str] | None = None, verbose: bool = True) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="200 steps, 12 LBFGS iterations")
    p.add_argument("--steps", type=int, default=None, help="RK4 steps (default 10,000)")
    p.add_argument("--snapshots", type=int, default=20)
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="LBFGS iterations / Adam steps (default 30 / 150)",
    )
    args = p.parse_args(argv)
    n = args.steps or (200 if args.quick else 10_000)
    iterations = args.iterations or (
        (12 if args.quick else 30) if args.optimizer == "lbfgs" else 150
    )
    prob = make_problem(n)
    s = args.snapshots

    # One gradient both ways at the starting point: memory, work, agreement.
    start = tg.tensor(np.log(START), requires_grad=True)
    chain = measure_gradient(start, prob, s)
    plain = measure_gradient(start, prob, None)
    optimum = binomial_steps(n, s)
    if verbose:
        print(f"{n:,} RK4 steps, {N_OBS} observations of theta, {s} snapshots")
        print(
            f"step evaluations per gradient: {chain['evals']:,} "
            f"(binomial_steps({n}, {s}) = {optimum:,}; {chain['evals'] / n:.2f} per step)"
        )
        print(
            f"peak saved bytes: checkpoint_chain {chain['peak']:,}, plain tape "
            f"{plain['peak']:,} ({plain['peak'] / max(chain['peak'], 1):.0f}x more)"
        )
        rel = np.max(np.abs(chain["grad"] - plain["grad"])) / np.max(np.abs(plain["grad"]))
        print(f"gradients agree: relative difference {rel:.1e}")
        print(f"fitting (omega, zeta) from {START} with {args.optimizer}:")
    fitted, history, seconds = fit(prob, args.optimizer, iterations, s, verbose)
    if verbose:
        print(
            f"fitted omega = {fitted[0]:.4f} (true {TRUE[0]}), zeta = {fitted[1]:.4f} "
            f"(true {TRUE[1]}); loss {history[0]:.3e} -> {history[-1]:.3e} "
            f"in {len(history)} gradients, {np.mean(seconds):.2f} s each"
        )
    return {
        "fitted": fitted,
        "history": history,
        "seconds": seconds,
        "chain": chain,
        "plain": plain,
        "binomial": optimum,
    }


if __name__ == "__main__":
    main()
