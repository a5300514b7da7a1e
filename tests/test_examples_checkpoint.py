"""The checkpointing examples, in their quick modes: they train / fit, and checkpointing
changes memory, not results."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

pytest.importorskip("checkpoint_schedules")


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def deep_mlp():
    return load("deep_mlp_checkpoint")


@pytest.fixture(scope="module")
def ode():
    return load("ode_fit_checkpoint_chain")


# --------------------------------------------------------------------------- deep MLP


@pytest.fixture(scope="module")
def mlp_runs(deep_mlp):
    return deep_mlp.main(["--quick", "--epochs", "2"], verbose=False)


def test_deep_mlp_loss_goes_down(mlp_runs):
    plain, _ = mlp_runs
    steps = len(plain.losses) // 2
    first, last = plain.losses[:steps].mean(), plain.losses[steps:].mean()
    assert np.all(np.isfinite(plain.losses))
    assert last < 0.9 * first, (first, last)
    assert plain.losses[0] > 2.0  # ~ln(10) at the start: the test measures learning
    assert plain.accuracy > 0.3  # 10 classes: chance is 0.1


def test_deep_mlp_checkpointing_changes_memory_not_results(deep_mlp, mlp_runs):
    plain, ckpt = mlp_runs
    assert not plain.checkpointed and ckpt.checkpointed
    assert deep_mlp.same_results(plain, ckpt)
    np.testing.assert_array_equal(plain.losses, ckpt.losses)
    assert plain.accuracy == ckpt.accuracy
    # 26 modules in 5 segments: the boundaries and one segment instead of every layer
    assert 0 < ckpt.peak_bytes < 0.5 * plain.peak_bytes


def test_deep_mlp_same_results_notices_a_difference(deep_mlp, mlp_runs):
    plain, ckpt = mlp_runs
    key = next(iter(ckpt.state))
    changed = dict(ckpt.state, **{key: ckpt.state[key] + 1e-7})
    other = deep_mlp.RunResult(
        True, ckpt.losses, ckpt.final_loss, ckpt.accuracy, ckpt.peak_bytes, ckpt.epoch_s, changed
    )
    assert not deep_mlp.same_results(plain, other)


def test_deep_mlp_model_depth(deep_mlp):
    model = deep_mlp.build_model(7, 16)
    assert len(model) == 9
    assert sum(isinstance(m, deep_mlp.ResidualTanh) for m in model) == 7


# --------------------------------------------------------------------------- ODE fit


@pytest.fixture(scope="module")
def ode_run(ode):
    return ode.main(["--quick"], verbose=False)


def test_ode_fit_recovers_the_parameters(ode, ode_run):
    fitted, history = ode_run["fitted"], ode_run["history"]
    assert history[-1] < 1e-2 * history[0]
    # noise 0.01 on 40 observations: the fit lands within a few 1e-3 of the truth
    np.testing.assert_allclose(fitted, ode.TRUE, atol=0.01)
    assert abs(fitted[0] - ode.START[0]) > 0.25  # it moved from the start


def test_ode_chain_gradient_equals_plain_tape_with_optimal_work(ode_run):
    chain, plain = ode_run["chain"], ode_run["plain"]
    np.testing.assert_allclose(chain["grad"], plain["grad"], rtol=1e-12, atol=1e-15)
    assert chain["loss"] == pytest.approx(plain["loss"], rel=1e-14)
    assert chain["evals"] == ode_run["binomial"]
    assert plain["evals"] == 200
    assert chain["peak"] < plain["peak"] / 10


def test_ode_chain_memory_does_not_grow_with_the_number_of_steps(ode):
    import tapegrad as tg

    peaks = []
    for n in (200, 1000):
        prob = ode.make_problem(n)
        params = tg.tensor(np.log(ode.START), requires_grad=True)
        peaks.append(ode.measure_gradient(params, prob, 20)["peak"])
    # 20 snapshots and one step's tape either way (the taped step at the peak may be an
    # observed one, with a few more saved scalars): 5x the steps, the same memory
    assert 0 < peaks[1] <= 1.1 * peaks[0]


def test_ode_adam_steps_lower_the_loss(ode):
    fitted, history, seconds = ode.fit(ode.make_problem(80), "adam", 4, verbose=False)
    assert len(history) == len(seconds) == 4
    assert all(b < a for a, b in zip(history, history[1:]))
    assert fitted[0] > ode.START[0]  # omega moves up, towards 2


def test_ode_fit_rejects_an_unknown_optimizer(ode):
    with pytest.raises(ValueError, match="lbfgs"):
        ode.fit(ode.make_problem(40), "newton", 1, verbose=False)


def test_ode_problem_checks_the_number_of_steps(ode):
    with pytest.raises(ValueError, match="multiple of 40"):
        ode.make_problem(130)


@pytest.mark.parametrize("script", ["deep_mlp_checkpoint.py", "ode_fit_checkpoint_chain.py"])
def test_example_help_runs(script):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout
