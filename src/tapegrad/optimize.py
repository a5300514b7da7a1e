"""Interop with ``scipy.optimize``: tapegrad functions as objectives (scipy is optional).

``scipy_objective(f)`` gives what ``scipy.optimize.minimize`` wants: ``fun(x) -> (value,
gradient)`` for ``jac=True``, ``hessp(x, p)`` (a Hessian-vector product by
forward-over-reverse, about the cost of one gradient) and ``hess(x)``.  ``minimize`` wires
them in.

Examples
--------
>>> import numpy as np, tapegrad as tg
>>> def rosen(x):
...     return tg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
>>> res = tg.optimize.minimize(rosen, np.zeros(5), method="Newton-CG", options={"xtol": 1e-10})
>>> bool(np.allclose(res.x, 1.0, atol=1e-6))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import MissingDependencyError, ShapeMismatchError
from .transforms import hessian, hvp, value_and_grad

__all__ = ["ScipyObjective", "scipy_objective", "minimize"]

_HESSP_METHODS = {"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"}
_HESS_METHODS = {"dogleg", "trust-exact"}


class ScipyObjective:
    """A scalar function of a 1-D float64 array, with its derivatives for scipy.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> scalar Tensor`` written with tapegrad ops.
    args : tuple
        Extra arguments passed to ``f`` (not differentiated).

    Attributes
    ----------
    n_fun, n_hessp : int
        How many value-and-gradient and Hessian-vector evaluations scipy asked for.
    """

    def __init__(self, f: Callable[..., Any], args: tuple = ()) -> None:
        self.f = f
        self.args = tuple(args)
        self._vg = value_and_grad(f)
        self.n_fun = 0
        self.n_hessp = 0

    def _x(self, x: Any) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 1:
            raise ShapeMismatchError(f"minimize: scipy passes 1-D arrays; got shape {arr.shape}")
        return arr

    def fun(self, x: Any) -> tuple[float, np.ndarray]:
        """``(f(x), grad f(x))`` as ``(float, float64 array)`` (use with ``jac=True``)."""
        self.n_fun += 1
        v, g = self._vg(self._x(x), *self.args)
        return float(v), np.asarray(g, dtype=np.float64)

    def hessp(self, x: Any, p: Any) -> np.ndarray:
        """The Hessian at ``x`` times ``p`` (forward-over-reverse)."""
        self.n_hessp += 1
        _, hv = hvp(lambda z: self.f(z, *self.args), (self._x(x),), (self._x(p),))
        return np.asarray(hv, dtype=np.float64)

    def hess(self, x: Any) -> np.ndarray:
        """The full Hessian at ``x`` (one batched forward-over-reverse pass)."""
        return np.asarray(hessian(lambda z: self.f(z, *self.args))(self._x(x)), dtype=np.float64)


def scipy_objective(f: Callable[..., Any], args: tuple = ()) -> ScipyObjective:
    """Wrap ``f`` for ``scipy.optimize``: ``obj.fun`` (with ``jac=True``), ``obj.hessp``,
    ``obj.hess``."""
    return ScipyObjective(f, args)


def minimize(
    f: Callable[..., Any], x0: Any, args: tuple = (), method: str = "BFGS", **kwargs: Any
) -> Any:
    """``scipy.optimize.minimize`` with the gradient (and Hessian products, for the methods
    that use them) from tapegrad.  Returns scipy's ``OptimizeResult``.

    Raises
    ------
    ImportError
        When scipy is not installed (``pip install scipy``).
    """
    try:
        from scipy import optimize
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "tapegrad.optimize.minimize needs scipy: pip install scipy"
        ) from e
    obj = ScipyObjective(f, args)
    m = method.lower()
    if m in _HESSP_METHODS and "hess" not in kwargs and "hessp" not in kwargs:
        kwargs["hessp"] = obj.hessp
    if m in _HESS_METHODS and "hess" not in kwargs:
        kwargs["hess"] = obj.hess
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    return optimize.minimize(obj.fun, x0, jac=True, method=method, **kwargs)
