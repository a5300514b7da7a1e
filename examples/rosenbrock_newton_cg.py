"""Minimise the Rosenbrock function with scipy's Newton-CG, derivatives from tapegrad.

The gradient comes from reverse mode and each Hessian-vector product from
forward-over-reverse (``tg.hvp``), so no Hessian is ever formed.

Run:  python examples/rosenbrock_newton_cg.py
"""

from __future__ import annotations

import numpy as np

import tapegrad as tg


def rosen(x):
    return tg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def main(n: int = 20, verbose: bool = True):
    obj = tg.optimize.scipy_objective(rosen)
    from scipy.optimize import minimize

    x0 = np.full(n, -1.2)
    x0[1::2] = 1.0
    res = minimize(
        obj.fun, x0, jac=True, hessp=obj.hessp, method="Newton-CG", options={"xtol": 1e-10}
    )
    if verbose:
        print(f"converged: {res.success}  f = {res.fun:.3e}  iterations = {res.nit}")
        print(f"value+gradient evaluations: {obj.n_fun}, Hessian-vector products: {obj.n_hessp}")
        print(f"max |x - 1| = {np.max(np.abs(res.x - 1.0)):.2e}")
    return res


if __name__ == "__main__":
    main()
