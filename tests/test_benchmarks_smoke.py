"""Smoke test of the benchmark suite: the workloads compute the same gradients.

Tiny sizes, one repeat; nothing here looks at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from benchmarks import runner, w1_chain, w4_hessian, w5_hvp, w6_jacobian, w7_epoch
from benchmarks.common import compare, measure, torch_or_none

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("n_ops", [20, 23])
def test_w1_hand_written_numpy_gradient_matches_finite_differences(n_ops):
    x0 = w1_chain.make_input(4, seed=1)
    out = w1_chain.numpy_chain(x0, n_ops)
    eps = 1e-6
    fd = np.empty_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e[i] = eps
        fd[i] = (
            w1_chain.numpy_chain(x0 + e, n_ops)["y"] - w1_chain.numpy_chain(x0 - e, n_ops)["y"]
        ) / (2 * eps)
    np.testing.assert_allclose(out["dx"], fd, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("n_ops", [20, 23])
def test_w1_implementations_agree(n_ops):
    wl = w1_chain.build(n_ops=n_ops, size=16)
    expected = {"numpy", "tapegrad"} | ({"torch"} if torch_or_none() is not None else set())
    assert set(wl.impls) == expected, wl.skipped
    outputs = {name: fn() for name, fn in wl.impls.items()}
    ref = outputs["numpy"]
    for name, out in outputs.items():
        np.testing.assert_allclose(out["y"], ref["y"], rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(out["dx"], ref["dx"], rtol=1e-10, err_msg=name)
    worst, errors = compare(outputs, wl.tol)
    assert errors == []
    assert set(worst) == expected - {"numpy"}


def test_w1_measure_reports_every_implementation_without_errors():
    wl = w1_chain.build(n_ops=20, size=16)
    res = measure(wl, repeats=1, warmup=1)
    assert res["errors"] == []
    assert set(res["median_s"]) == set(wl.impls)
    assert all(len(ts) == 1 for ts in res["times_s"].values())


def test_compare_flags_a_wrong_gradient():
    wl = w1_chain.build(n_ops=20, size=16)
    outputs = {name: fn() for name, fn in wl.impls.items()}
    outputs["tapegrad"] = dict(outputs["tapegrad"], dx=outputs["tapegrad"]["dx"] * 1.01)
    _, errors = compare(outputs, wl.tol)
    assert any("tapegrad" in e and "'dx'" in e for e in errors)


def test_runner_quick_w1_exits_cleanly():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "W1",
            "--threads",
            "1",
            "--repeats",
            "1",
            "--markdown",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| W1 | 1 |" in proc.stdout
    assert "ERROR" not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- W4-W6
# Forward mode and Hessians: tiny sizes; the hand-written baselines against finite
# differences, then every implementation against the baseline.


def _expected(extra: set[str] = frozenset(), torch_extra: set[str] = frozenset()) -> set[str]:
    torch = {"torch"} | set(torch_extra) if torch_or_none() is not None else set()
    return {"numpy", "tapegrad"} | set(extra) | torch


def _fd_jacobian(f, x, eps=1e-6):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1)


def test_w4_hand_written_gradient_and_hessian_match_finite_differences():
    x = w4_hessian.make_input(7, seed=3)
    fd_grad = _fd_jacobian(w4_hessian.numpy_value, x)
    np.testing.assert_allclose(w4_hessian.numpy_grad(x), fd_grad, rtol=1e-6, atol=1e-6)
    fd_hess = _fd_jacobian(w4_hessian.numpy_grad, x)
    np.testing.assert_allclose(w4_hessian.numpy_hessian(x), fd_hess, rtol=1e-6, atol=1e-5)


def test_w5_hand_written_hvp_is_the_hessian_times_v():
    x, v = w5_hvp.make_inputs(9, seed=2)
    np.testing.assert_allclose(
        w5_hvp.numpy_hvp(x, v), w4_hessian.numpy_hessian(x) @ v, rtol=1e-12, atol=1e-10
    )


def test_w6_hand_written_jacobian_matches_finite_differences():
    W, b, x = w6_jacobian.make_inputs(6, seed=4)
    fd = _fd_jacobian(lambda z: np.tanh(W @ z + b) * z, x)
    np.testing.assert_allclose(w6_jacobian.numpy_jacobian(W, b, x), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "build, extra, torch_extra",
    [
        (lambda: w4_hessian.build(sizes=(6, 11)), set(), set()),
        (lambda: [w5_hvp.build(n=13)], {"tapegrad_grad"}, {"torch_grad"}),
        (lambda: [w6_jacobian.build(n=7)], {"tapegrad_loop"}, set()),
    ],
    ids=["W4", "W5", "W6"],
)
def test_forward_mode_workloads_agree_with_their_baselines(build, extra, torch_extra):
    wls = build()
    for wl in wls:
        assert set(wl.impls) == _expected(extra, torch_extra), wl.skipped
        outputs = {name: fn() for name, fn in wl.impls.items()}
        worst, errors = compare(outputs, wl.tol, wl.check_keys)
        assert errors == [], errors
        assert set(worst) == set(wl.impls) - {"numpy"}
        res = measure(wl, repeats=1, warmup=1)
        assert res["errors"] == []
        assert set(res["median_s"]) == set(wl.impls)


def test_w4_has_one_workload_per_size_and_the_target_at_n_100():
    wls = w4_hessian.build(sizes=(5, 100))
    assert [wl.variant for wl in wls] == ["n=5", "n=100"]
    assert wls[0].target_pair is None
    assert wls[1].target_pair == ("tapegrad", "torch", 1.0)


def test_compare_flags_a_wrong_hessian_vector_product():
    wl = w5_hvp.build(n=13)
    outputs = {name: fn() for name, fn in wl.impls.items()}
    outputs["tapegrad"] = dict(outputs["tapegrad"], Hv=outputs["tapegrad"]["Hv"] * 1.01)
    _, errors = compare(outputs, wl.tol, wl.check_keys)
    assert any("tapegrad" in e and "'Hv'" in e for e in errors)


def test_forward_mode_workloads_get_their_own_tables():
    wls = [*w4_hessian.build(sizes=(6, 100)), w5_hvp.build(n=13), w6_jacobian.build(n=7)]
    wls.insert(0, w1_chain.build(n_ops=5, size=4))
    record = {"threads": 1, "results": [measure(wl, repeats=1, warmup=1) for wl in wls]}
    out = runner.render([record], ["W1", "W4", "W5", "W6"], markdown=True)
    blocks = [block.strip() for block in out.split("\n\n")]
    tables = [block for block in blocks if block.startswith("| workload |")]
    assert len(tables) == 4, out  # W1's, then one each for W4, W5, W6
    assert tables[0].splitlines()[0] == "| " + " | ".join(runner.HEADER) + " |"
    assert "| W4 n=6 | 1 |" in tables[1] and "| W4 n=100 | 1 |" in tables[1]
    assert "| W5 | 1 |" in tables[2] and "tapegrad hvp/grad" in tables[2]
    assert "| W6 | 1 |" in tables[3] and "jacfwd/looped" in tables[3]
    assert "tapegrad ≤ PyTorch" in tables[1]
    assert "- W4 n=100: full Hessian" in out
    assert "ERROR" not in out


# --------------------------------------------------------------------------- W7
# One training epoch: a tiny epoch (96 images, batches of 32) of each model; PyTorch is
# checked against tapegrad (there is no hand-written baseline), nothing is timed.


@pytest.mark.parametrize("model", w7_epoch.MODELS)
def test_w7_tiny_epoch_agrees_between_tapegrad_and_torch(model):
    (wl,) = w7_epoch.build(models=(model,), n=96, batch=32)
    expected = {"tapegrad"} | ({"torch"} if torch_or_none() is not None else set())
    assert set(wl.impls) == expected, wl.skipped
    assert wl.reference == "tapegrad" and wl.variant == model
    first = wl.impls["tapegrad"]()
    assert first["losses"].shape == (3,) and np.all(np.isfinite(first["losses"]))
    # every call starts from the same weights and a fresh optimizer: the same epoch again
    again = wl.impls["tapegrad"]()
    for key, val in first.items():
        np.testing.assert_array_equal(again[key], val, err_msg=key)
    res = measure(wl, repeats=1, warmup=1)
    assert res["errors"] == [], res["errors"]
    assert set(res["median_s"]) == expected
    if "torch" in expected:
        assert res["rel_err"]["torch"] <= wl.tol


def test_w7_compare_against_tapegrad_flags_a_wrong_parameter():
    (wl,) = w7_epoch.build(models=("mlp",), n=64, batch=32)
    if "torch" not in wl.impls:
        pytest.skip("torch not installed")
    outputs = {name: fn() for name, fn in wl.impls.items()}
    outputs["torch"] = dict(outputs["torch"], **{"0.weight": outputs["torch"]["0.weight"] * 1.01})
    _, errors = compare(outputs, wl.tol, reference="tapegrad")
    assert any("PyTorch" in e and "'0.weight'" in e and "tapegrad reference" in e for e in errors)
