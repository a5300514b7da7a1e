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
from benchmarks import (
    runner,
    w1_chain,
    w2_mlp,
    w4_hessian,
    w5_hvp,
    w6_jacobian,
    w7_epoch,
    w8_checkpoint,
    w9_chain,
    w10_stack,
    w11_import,
    w12_seed,
    w13_large,
    w14_train_jit,
    w15_compile,
)
from benchmarks.common import SELF_TIME_KEY, compare, jax_or_none, measure, torch_or_none

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
    expected = _expected({"jit"})
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


def _expected(
    extra: set[str] = frozenset(),
    torch_extra: set[str] = frozenset(),
    jax: bool = True,
    torch: bool = True,
) -> set[str]:
    """The implementations a workload has here: the optional ones where installed."""
    out = {"numpy", "tapegrad"} | set(extra)
    if torch and torch_or_none() is not None:
        out |= {"torch"} | set(torch_extra)
    if jax and jax_or_none() is not None:
        out.add("jax")
    return out


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
        (lambda: w4_hessian.build(sizes=(6, 11)), {"jit"}, set()),
        (lambda: [w5_hvp.build(n=13)], {"tapegrad_grad"}, {"torch_grad"}),
        (lambda: [w6_jacobian.build(n=7)], {"tapegrad_loop"}, set()),
    ],
    ids=["W4", "W5", "W6"],
)
def test_forward_mode_workloads_agree_with_their_baselines(build, extra, torch_extra):
    wls = build()
    for wl in wls:
        jax = "jit" in extra  # W4 is also compiled (tg.jit, jax.jit)
        assert set(wl.impls) == _expected(extra, torch_extra, jax=jax), wl.skipped
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


# --------------------------------------------------------------------------- W8, W9
# Checkpointing: tiny sizes; every variant against the plain tape (W8) or the hand-written
# adjoint (W9), the memory account and the step count; nothing timed.


def _needs_schedules():
    pytest.importorskip("checkpoint_schedules")


def test_w8_tiny_variants_agree_and_checkpointing_saves_memory():
    _needs_schedules()
    wl = w8_checkpoint.build(n_layers=16, width=8, batch=3, quick=False)
    expected = {"plain", "sqrt", "chain"} | (
        {"torch", "torch_ckpt"} if torch_or_none() is not None else set()
    )
    assert set(wl.impls) == expected, wl.skipped
    assert wl.reference == "plain" and wl.target_pair == ("sqrt", "plain", 1.4)
    outputs = {name: fn() for name, fn in wl.impls.items()}
    for name in ("sqrt", "chain"):  # recomputation replays the same float32 operations
        for key, val in outputs["plain"].items():
            np.testing.assert_array_equal(outputs[name][key], val, err_msg=f"{name} {key}")
    assert set(outputs["plain"]) == {"loss", "dW_first", "dW_mid", "dW_last"}
    res = measure(wl, repeats=1, warmup=1)
    assert res["errors"] == [], res["errors"]
    assert set(res["median_s"]) == expected
    # plain keeps the input and the 16 tanh outputs (each the next matmul's input, counted
    # once); 4 segments keep the boundaries and one segment's values
    plain = w8_checkpoint.peak_bytes("plain", *w8_checkpoint.make_problem(16, 8, 3))
    sqrt = w8_checkpoint.peak_bytes("sqrt", *w8_checkpoint.make_problem(16, 8, 3))
    assert plain == 17 * 3 * 8 * 4
    assert 0 < sqrt <= plain // 2
    assert "peak saved bytes: plain" in wl.title and "sqrt(n) peak" in wl.target


def test_w8_compare_flags_a_wrong_checkpointed_gradient():
    _needs_schedules()
    wl = w8_checkpoint.build(n_layers=4, width=8, batch=2, quick=False)
    outputs = {name: fn() for name, fn in wl.impls.items()}
    outputs["sqrt"] = dict(outputs["sqrt"], dW_mid=outputs["sqrt"]["dW_mid"] * 1.01)
    _, errors = compare(outputs, wl.tol, reference="plain")
    assert any("sqrt" in e and "'dW_mid'" in e for e in errors)


def test_w8_and_w9_quick_sizes_follow_the_runner_flag(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--worker", "--quick"])
    assert w8_checkpoint.quick_from_argv() and w9_chain.quick_from_argv()
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--worker"])
    assert not w8_checkpoint.quick_from_argv()


def test_w9_hand_written_adjoint_matches_finite_differences():
    x0, v0 = w9_chain.make_state(p=3, seed=5)
    n = 40
    out = w9_chain.numpy_impl(x0, v0, n)()
    eps = 1e-6

    def loss(x, v):
        return w9_chain.numpy_impl(x, v, n)()["loss"]

    for i in range(3):
        e = np.zeros(3)
        e[i] = eps
        fd_x = (loss(x0 + e, v0) - loss(x0 - e, v0)) / (2 * eps)
        fd_v = (loss(x0, v0 + e) - loss(x0, v0 - e)) / (2 * eps)
        assert out["dx0"][i] == pytest.approx(fd_x, rel=1e-6)
        assert out["dv0"][i] == pytest.approx(fd_v, rel=1e-6)


def test_w9_hand_written_parameter_gradients_match_tapegrad_plain_tape():
    x0, v0 = w9_chain.make_state(p=5, seed=1)
    ref = w9_chain.numpy_impl(x0, v0, 30)()
    got = w9_chain.tapegrad_impl(x0, v0, 30, chain=False)()
    for key in ("loss", "dc", "dw2", "dx0", "dv0"):
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-12, err_msg=key)


def test_w9_tiny_chains_agree_count_optimal_steps_and_keep_flat_memory():
    _needs_schedules()
    from tapegrad.checkpoint import binomial_steps

    wls = w9_chain.build(sizes=(60, 300), plain_max=100)
    assert [wl.variant for wl in wls] == ["n=60", "n=300"]
    assert set(wls[0].impls) == {"numpy", "plain", "chain"}
    assert set(wls[1].impls) == {"numpy", "chain"}  # above plain_max: no plain tape
    assert wls[1].skipped == {"plain": "not installed"}  # shown as n/a, not as an error
    for wl, n in zip(wls, (60, 300), strict=True):
        assert wl.n_ops == n
        assert f"{binomial_steps(n, 20):,} = binomial optimum" in wl.target
        res = measure(wl, repeats=1, warmup=1)
        assert res["errors"] == [], res["errors"]
        assert res["rel_err"]["chain"] <= 1e-12
    x0, v0 = w9_chain.make_state()
    counts = [w9_chain.chain_account(x0, v0, n) for n in (100, 1000)]
    assert counts[0][0] == binomial_steps(100, 20)
    assert counts[1][0] == binomial_steps(1000, 20)
    assert counts[0][1] == counts[1][1] > 0  # the peak does not grow with n
    assert w9_chain.plain_peak(x0, v0, 100) > 5 * counts[0][1]


def test_checkpoint_workloads_get_their_own_tables():
    _needs_schedules()
    wls = [w8_checkpoint.build(n_layers=4, width=8, batch=2, quick=False)]
    wls += w9_chain.build(sizes=(30, 50), plain_max=40)
    record = {"threads": 1, "results": [measure(wl, repeats=1, warmup=1) for wl in wls]}
    out = runner.render([record], ["W8", "W9"], markdown=True)
    tables = [b.strip() for b in out.split("\n\n") if b.strip().startswith("| workload |")]
    assert len(tables) == 2, out
    assert "| W8 | 1 |" in tables[0] and "sqrt(n)/plain" in tables[0]
    assert "| W9 n=30 | 1 |" in tables[1] and "| W9 n=50 | 1 |" in tables[1]
    assert "= binomial optimum" in tables[1] and "plain tape not run above 40" in tables[1]
    assert "| W9 n=50 | 1 |" in tables[1] and "| error |" not in tables[1]
    assert "| n/a |" in tables[1]
    assert "ERROR" not in out


# --------------------------------------------------------------------------- W10
def test_w10_tiny_stacks_agree_and_get_their_own_table():
    wls = w10_stack.build(sizes=(3, 50))
    for wl in wls:
        outputs = {name: fn() for name, fn in wl.impls.items()}
        worst, errors = compare(outputs, wl.tol)
        assert errors == [], errors
        x, w = w10_stack.make_inputs(wl.n_ops)
        np.testing.assert_allclose(outputs["tapegrad"]["dx"], w + 2 * x, rtol=1e-12)
    record = {"threads": 1, "results": [measure(wl, repeats=1, warmup=1) for wl in wls]}
    out = runner.render([record], ["W10"], markdown=True)
    tables = [b.strip() for b in out.split("\n\n") if b.strip().startswith("| workload |")]
    assert len(tables) == 1, out
    assert "| W10 n=3 | 1 |" in tables[0] and "| W10 n=50 | 1 |" in tables[0]
    assert "µs/op" in tables[0] and "ERROR" not in out and "| error |" not in tables[0]


def test_w10_quick_sizes_follow_the_runner_flag(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python", "--quick"])
    assert w10_stack.quick_from_argv()
    assert [wl.n_ops for wl in w10_stack.build(sizes=None)] == list(w10_stack.QUICK_SIZES)


# --------------------------------------------------------------------------- W11
def test_w11_times_imports_in_fresh_interpreters_and_gets_its_own_table():
    wl = w11_import.build(quick=True)
    assert set(wl.impls) == {"numpy", "tapegrad"}, wl.skipped
    assert wl.self_timed and wl.target_pair == ("tapegrad", "numpy", 1.5)
    res = measure(wl, repeats=2, warmup=1)
    assert res["errors"] == [], res["errors"]
    assert all(len(ts) == 2 and all(0 < t < 60 for t in ts) for ts in res["times_s"].values())
    out = runner.render([{"threads": 1, "results": [res]}], ["W11"], markdown=True)
    tables = [b.strip() for b in out.split("\n\n") if b.strip().startswith("| workload |")]
    assert len(tables) == 1, out
    assert "| W11 | 1 |" in tables[0] and "import tapegrad ≤ 1.5x import numpy" in tables[0]
    assert "ERROR" not in out and "| error |" not in tables[0]


def test_w11_child_environment_writes_bytecode_and_finds_this_tapegrad(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    here = w11_import.package_dir("tapegrad")
    env = w11_import.child_env(here)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPATH"].split(os.pathsep) == [str(here.parent), "/elsewhere"]


# --------------------------------------------------------------------------- tg.jit
# The compiled implementations (issue 12) at tiny sizes: tg.jit and jax.jit (where jax is
# installed) against the hand-written baselines; then some through measure and the report.


@pytest.fixture
def no_collect(monkeypatch):
    """measure without its gc.collect before each block: it only steadies the timings, and
    with torch and jax loaded each collection takes 0.1-0.2 s."""
    from types import SimpleNamespace

    from benchmarks import common

    monkeypatch.setattr(common, "gc", SimpleNamespace(collect=lambda: 0))


def _needs_numexpr() -> bool:
    from benchmarks.common import numexpr_or_none

    return numexpr_or_none() is not None


def _check(wl, reference="numpy"):
    """Every implementation's outputs, checked against the reference's as measure does."""
    outputs = {name: fn() for name, fn in wl.impls.items()}
    checked = {  # as measure does: a self-timed call's duration is not compared
        name: {k: v for k, v in out.items() if not (wl.self_timed and k == SELF_TIME_KEY)}
        for name, out in outputs.items()
    }
    worst, errors = compare(checked, wl.tol, wl.check_keys, reference)
    assert errors == [], errors
    assert set(worst) == set(wl.impls) - {reference}
    return outputs


def _measured(wl):
    res = measure(wl, repeats=1, warmup=1)
    assert res["errors"] == [], res["errors"]
    assert set(res["median_s"]) == set(wl.impls)
    return res


def test_w2_both_step_forms_compile_and_agree_with_numpy():
    functional, module = w2_mlp.build(sizes=(8, 16, 16, 4), batch=6)
    assert functional.variant == "" and module.variant == "module"
    assert set(functional.impls) == _expected({"jit"}), functional.skipped
    assert set(module.impls) == _expected({"jit"}, jax=False), module.skipped
    _check(functional)
    outputs = _check(module)
    # the compiled Module + SGD step does eager's arithmetic
    for key, val in outputs["tapegrad"].items():
        np.testing.assert_array_equal(outputs["jit"][key], val, err_msg=key)


def test_w1_compare_flags_a_wrong_compiled_gradient():
    wl = w1_chain.build(n_ops=10, size=4)
    outputs = {name: fn() for name, fn in wl.impls.items()}
    outputs["jit"] = dict(outputs["jit"], dx=outputs["jit"]["dx"] * 1.01)
    _, errors = compare(outputs, wl.tol)
    assert any("tapegrad jit" in e and "'dx'" in e for e in errors), errors


def test_w12_seed_step_matches_the_seed_and_every_implementation_agrees():
    # the seed's loop: 1000 steps from x, y = 1, 2 with lr = 1e-2, as it prints them
    final = w12_seed.numpy_impl(1000)()
    assert final == {"x": -13928.111031430128, "y": 13928.148130601208}
    wl = w12_seed.build(steps=30)
    assert set(wl.impls) == _expected({"jit", "jit_float"}, torch=False), wl.skipped
    assert wl.n_ops == 30 and wl.targets[0][:3] == ("time", "jit", 30 * w12_seed.TARGET_S)
    _check(wl)


def test_w13_large_chain_fused_and_unfused_agree_with_numpy():
    wl = w13_large.build(size=1000)
    extra = {"jit", "jit_nofuse"} | ({"jit_numexpr"} if _needs_numexpr() else set())
    assert set(wl.impls) == _expected(extra), wl.skipped
    outputs = _check(wl)
    for key, val in outputs["tapegrad"].items():  # the NumPy backends: eager's arithmetic
        np.testing.assert_array_equal(outputs["jit_nofuse"][key], val, err_msg=key)
        np.testing.assert_array_equal(outputs["jit"][key], val, err_msg=key)


def test_w14_jitted_training_epoch_equals_eager_bit_for_bit():
    wl, run = w14_train_jit.build(n=80, quick=True)
    assert (wl.variant, run.variant) == ("", "train.run") and run.self_timed
    for w in (wl, run):
        assert set(w.impls) == {"tapegrad", "jit"} and w.reference == "tapegrad"
    outputs = _check(wl, reference="tapegrad")
    assert outputs["tapegrad"]["losses"].shape == (3,)  # 80 samples: batches 32, 32, 16
    for key, val in outputs["tapegrad"].items():
        np.testing.assert_array_equal(outputs["jit"][key], val, err_msg=key)
    again = wl.impls["jit"]()  # every call: the same epoch from the same start
    for key, val in outputs["jit"].items():
        np.testing.assert_array_equal(again[key], val, err_msg=key)
    # tapegrad.train.run with and without jit: the same run (3 epochs on 64 of the 80)
    outputs = _check(run, reference="tapegrad")
    assert outputs["jit"]["history_train_loss"].shape == (3,)
    for key, val in outputs["tapegrad"].items():
        if key != SELF_TIME_KEY:
            np.testing.assert_array_equal(outputs["jit"][key], val, err_msg=key)
        else:
            assert 0 < outputs["jit"][key] < 10


def test_w15_compile_times_are_measured_and_get_their_own_table(no_collect):
    wls = w15_compile.build(quick=True, n_ops=10)
    assert [wl.variant for wl in wls] == ["W1 (10 ops)", "W2", "W2 module", "W4 n=100", "W12"]
    for wl in wls:
        lowers = {"jit", "lower", "lower_trace", "lower_compile"}
        jax = "module" not in wl.variant and jax_or_none() is not None
        assert set(wl.impls) == lowers | ({"jax"} if jax else set()), wl.skipped
        outputs = _check(wl, reference="jit")  # jax's first call against tg.jit's
        assert all(0 < out["seconds"] < 60 for out in outputs.values())
        assert set(outputs["lower"]) == {"seconds"}
    results = [_measured(wl) for wl in (wls[0], wls[2])]
    assert all(0 < t < 60 for res in results for ts in res["times_s"].values() for t in ts)
    out = runner.render([{"threads": 1, "results": results}], ["W15"], markdown=True)
    tables = [b.strip() for b in out.split("\n\n") if b.strip().startswith("| workload |")]
    assert len(tables) == 1, out
    assert "| W15 W1 (10 ops) | 1 |" in tables[0] and "first call ≤ 1 s: " in tables[0]
    assert "first call ≤ 0.3 s: " in tables[0] and "| error |" not in tables[0]
    assert "ERROR" not in out


def test_jit_rows_show_compiled_columns_and_their_targets(no_collect):
    wls = [w1_chain.build(n_ops=5, size=4), w2_mlp.build(sizes=(8, 16, 16, 4), batch=6)[1]]
    wls += [w12_seed.build(steps=5), w13_large.build(size=100), w14_train_jit.build(n=40)[0]]
    record = {"threads": 1, "results": [_measured(wl) for wl in wls]}
    out = runner.render([record], ["W1", "W2", "W12", "W13", "W14"], markdown=True)
    tables = [b.strip() for b in out.split("\n\n") if b.strip().startswith("| workload |")]
    assert len(tables) == 4, out  # W1 and W2 share the default table; W12-W14 their own
    header = tables[0].splitlines()[0]
    assert "| tapegrad jit |" in header and "| jax.jit |" in header and "| jit/NumPy |" in header
    rows = {r.split(" | ")[0]: r for r in tables[0].splitlines()[2:]}
    assert "≤ 3x NumPy: " in rows["| W1"] and "jit ≤ 1x NumPy: " in rows["| W1"]
    assert rows["| W2 module"].count("| - |") >= 2  # no jax.jit of the Module step
    assert "jit ≤ 5 µs/step: " in tables[1] and "| jit/jax.jit |" in tables[1].splitlines()[0]
    assert "| W13 | 1 |" in tables[2] and "jit auto ≤ 0.6x NumPy: " in tables[2]
    assert "| W14 | 1 |" in tables[3] and "jit ≤ 0.6x eager: " in tables[3]
    assert "| error |" not in out and "ERROR" not in out


def test_jax_missing_is_shown_as_not_installed(monkeypatch, no_collect):
    from benchmarks import common

    monkeypatch.setitem(common.OPTIONAL, "jax", lambda: None)
    wl = w12_seed.build(steps=3)
    assert "jax" not in wl.impls and wl.skipped == {"jax": "not installed"}
    res = measure(wl, repeats=1, warmup=1)
    assert res["errors"] == []
    row = runner._row(res, 1)
    assert row[runner_col(res, "jax.jit")] == "n/a"
    assert row[runner_col(res, "jit/jax.jit")] == "n/a"


def runner_col(res, header):
    """The index of the column ``header`` in a row of ``res``'s table."""
    return 2 + [c[0] for c in runner._columns(res)].index(header)


def test_one_thread_tells_xla_to_run_single_threaded(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    env = runner._thread_env(1)
    assert env["OMP_NUM_THREADS"] == env["NUMEXPR_NUM_THREADS"] == "1"
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x " + runner.XLA_ONE_THREAD
    assert "XLA_FLAGS" not in runner._thread_env(2)


def test_fusion_threshold_chains_agree_and_the_crossover_is_the_last_run_of_wins(capsys):
    from benchmarks import fusion_threshold as ft

    x = np.random.default_rng(1).uniform(-1, 1, 50)
    for chain in ft.CHAINS:
        ref = ft.numpy_alloc(x, chain)
        np.testing.assert_array_equal(ft.numpy_out(x, np.empty_like(x), chain), ref)
        out = ft.blocked(x, np.empty_like(x), np.empty(16), chain)  # 3 blocks and a part
        np.testing.assert_array_equal(out, ref)
        if _needs_numexpr():
            import numexpr

            got = numexpr.evaluate(ft.chain_expr(chain), local_dict={"x": x})
            np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert ft.chain_expr("w1", 5) == "exp(tanh(sin(((x) * 1.5) + 0.1)))"
    rows = [
        {"size": n, "numpy_out": 1.0, "blocked": e}
        for n, e in ((10, 0.5), (100, 2.0), (1000, 0.9), (10000, 0.8))
    ]
    assert ft.crossover(rows, fused="blocked") == 1000
    rows[-1]["blocked"] = 1.5
    assert ft.crossover(rows, fused="blocked") is None
    assert ft.main(["--sizes", "100,300", "--repeat", "1", "--chain", "arith"]) == 0
    out = capsys.readouterr().out
    assert "| 300 |" in out and "chain 'arith': crossover (blocked faster" in out
    assert ("numexpr faster" in out) == _needs_numexpr()
