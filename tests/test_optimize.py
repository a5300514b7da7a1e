"""scipy interop and the examples that use it (skipped without scipy)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg

pytest.importorskip("scipy")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_objective_value_gradient_and_hessian_products():
    f = lambda x: tg.sum(x**4) + x[0] * x[1]  # noqa: E731
    obj = tg.optimize.scipy_objective(f)
    x = np.array([1.0, 2.0, -1.0])
    v, g = obj.fun(x)
    assert v == pytest.approx(1 + 16 + 1 + 2)
    np.testing.assert_allclose(g, [4 + 2, 32 + 1, -4])
    H = np.diag(12 * x**2) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    p = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(obj.hessp(x, p), H @ p)
    np.testing.assert_allclose(obj.hess(x), H)
    with pytest.raises(ValueError, match="1-D"):
        obj.fun(np.ones((2, 2)))


def test_minimize_wires_hessp_for_newton_cg():
    rosen = _example("rosenbrock_newton_cg").rosen
    res = tg.optimize.minimize(rosen, np.zeros(4), method="Newton-CG", options={"xtol": 1e-10})
    np.testing.assert_allclose(res.x, 1.0, atol=1e-5)
    res = tg.optimize.minimize(rosen, np.zeros(4), method="trust-exact", options={"gtol": 1e-10})
    np.testing.assert_allclose(res.x, 1.0, atol=1e-5)


def test_rosenbrock_example_converges():
    res = _example("rosenbrock_newton_cg").main(n=10, verbose=False)
    assert res.success
    np.testing.assert_allclose(res.x, 1.0, atol=1e-6)


def test_ode_fit_example_recovers_parameters():
    res, true = _example("ode_fit").main(verbose=False)
    assert res.success
    np.testing.assert_allclose(res.x, true, rtol=0.05)


def test_ode_gradient_matches_finite_differences():
    ode = _example("ode_fit")
    data = ode.make_data()
    tg.testing.gradcheck(lambda p: ode.loss(p, data), [np.array([1.8, 0.2])], rtol=1e-4)
