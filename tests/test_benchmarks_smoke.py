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
from benchmarks import w1_chain
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
