"""Fit the parameters of an ODE model to noisy data, differentiating through the solver.

Model: a damped oscillator x'' + 2*zeta*omega*x' + omega^2*x = 0, x(0) = 1, x'(0) = 0,
integrated with the classical Runge-Kutta method written in tapegrad.  The loss is the mean
squared error against noisy observations of x; scipy's L-BFGS-B takes the value and the
gradient (reverse mode through every RK4 stage) from ``tg.optimize.scipy_objective``.

Run:  python examples/ode_fit.py
"""

from __future__ import annotations

import numpy as np

import tapegrad as tg

DT = 0.05
STEPS = 200


def simulate(params, steps: int = STEPS, dt: float = DT):
    """Positions x(t_k) for k = 1..steps, RK4, differentiable in ``params = (omega, zeta)``."""
    omega, zeta = params[0], params[1]

    def f(x, v):
        return v, -2.0 * zeta * omega * v - omega * omega * x

    x, v = tg.tensor(1.0), tg.tensor(0.0)
    xs = []
    for _ in range(steps):
        k1x, k1v = f(x, v)
        k2x, k2v = f(x + 0.5 * dt * k1x, v + 0.5 * dt * k1v)
        k3x, k3v = f(x + 0.5 * dt * k2x, v + 0.5 * dt * k2v)
        k4x, k4v = f(x + dt * k3x, v + dt * k3v)
        x = x + (dt / 6.0) * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        v = v + (dt / 6.0) * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        xs.append(x)
    return tg.stack(xs)


def loss(params, data):
    return tg.mean((simulate(params) - data) ** 2)


def make_data(true=(2.0, 0.15), noise: float = 0.02, seed: int = 0) -> np.ndarray:
    clean = simulate(tg.tensor(np.array(true))).numpy()
    return clean + noise * np.random.default_rng(seed).standard_normal(clean.shape)


def main(verbose: bool = True):
    from scipy.optimize import minimize

    true = np.array([2.0, 0.15])
    data = make_data(tuple(true))
    obj = tg.optimize.scipy_objective(loss, args=(data,))
    res = minimize(
        obj.fun, np.array([1.5, 0.4]), jac=True, method="L-BFGS-B", bounds=[(0.1, 10.0), (0.0, 2.0)]
    )
    if verbose:
        print(
            f"fitted omega = {res.x[0]:.4f} (true {true[0]}), "
            f"zeta = {res.x[1]:.4f} (true {true[1]})"
        )
        print(f"loss = {res.fun:.3e}, gradient evaluations = {obj.n_fun}")
    return res, true


if __name__ == "__main__":
    main()
