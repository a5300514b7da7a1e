"""The ``tapegrad train`` command end to end (CLI, files, reproducibility, --data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main
from tapegrad.train import TrainConfig, build_model, run

SRC = str(Path(tg.__file__).resolve().parents[1])


def _metrics(out):
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


def _check_outputs(out, epochs, n_classes=10):
    assert (out / "model.npz").is_file() and (out / "metrics.json").is_file()
    m = _metrics(out)
    assert len(m["history"]) == epochs
    for rec in m["history"]:
        assert set(rec) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"}
        assert np.isfinite(rec["train_loss"]) and 0.0 <= rec["test_acc"] <= 1.0
    assert set(m["final"]) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert m["config"]["n_classes"] == n_classes
    assert len(m["timing"]["epoch_seconds"]) == epochs
    return m


def test_cli_train_one_epoch_end_to_end(tmp_path):
    """What CI runs: `python -m tapegrad train --epochs 1` into a temporary folder."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "tapegrad", "train", "--epochs", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy:" in proc.stdout
    m = _check_outputs(out, 1)
    assert m["config"]["model"] == "mlp" and m["config"]["optimizer"] == "adam"
    assert m["final"]["test_acc"] > 0.8
    # the saved state_dict loads back into the same architecture and gives the same accuracy
    model = build_model("mlp", (64,), 10)
    with np.load(out / "model.npz") as sd:
        model.load_state_dict(dict(sd))
    x, y = tg.data.load_digits("test")
    model.eval()
    with tg.no_grad():
        acc = float((np.argmax(model(tg.tensor(x)).data, axis=1) == y).mean())
    assert acc == m["final"]["test_acc"]
    if (out / "curves.png").exists():
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "plot skipped" in proc.stdout


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_train_models_and_optimizers(tmp_path, capsys, model, optimizer):
    argv = ["train", "--model", model, "--optimizer", optimizer, "--epochs", "2"]
    assert main([*argv, "--batch-size", "64", "--out", str(tmp_path)]) == 0
    m = _check_outputs(tmp_path, 2)
    assert m["config"]["batch_size"] == 64
    assert m["history"][1]["train_loss"] < m["history"][0]["train_loss"]
    text = capsys.readouterr().out
    assert "epoch   2/2" in text or "it/s" in text or "batch" in text


def _arrays(out):
    with np.load(out / "model.npz") as d:
        return {k: d[k] for k in d.files}


def _reproducible_part(m):
    m = dict(m)
    m.pop("timing")
    m["config"] = {k: v for k, v in m["config"].items() if k != "out"}
    return m


@pytest.mark.parametrize("model", ["mlp", "cnn"])  # the cnn has dropout
def test_same_seed_is_bit_for_bit(tmp_path, model):
    outs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for out, seed in zip(outs, [3, 3, 4]):
        cfg = TrainConfig(model=model, epochs=2, seed=seed, out=str(out), progress=False)
        run(cfg, log=lambda s: None)
    a, b, c = (_arrays(o) for o in outs)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype == np.float32
        assert a[k].tobytes() == b[k].tobytes(), k
    assert _reproducible_part(_metrics(outs[0])) == _reproducible_part(_metrics(outs[1]))
    assert any(a[k].tobytes() != c[k].tobytes() for k in a)


def test_run_restores_global_generator(tmp_path):
    tg.random.seed(99)
    expected = tg.random.default_generator().random()
    tg.random.seed(99)
    run(TrainConfig(epochs=1, out=str(tmp_path), progress=False), log=lambda s: None)
    assert tg.random.default_generator().random() == expected


def test_default_mlp_reaches_97_percent(tmp_path):
    m = run(TrainConfig(out=str(tmp_path), progress=False), log=lambda s: None)
    assert m["final"]["test_acc"] >= 0.97


def test_default_cnn_reaches_98_percent(tmp_path):
    m = run(TrainConfig(model="cnn", out=str(tmp_path), progress=False), log=lambda s: None)
    assert m["final"]["test_acc"] >= 0.98


def _blobs(n=120, classes=3, features=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, features)) + 3.0 * np.eye(classes, features)[y]
    return x, y


def test_train_on_npz_and_csv(tmp_path):
    x, y = _blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--epochs", "3",
                 "--out", str(tmp_path / "n"), "--quiet"]) == 0  # fmt: skip
    m = _check_outputs(tmp_path / "n", 3, n_classes=3)
    assert m["config"]["n_train"] == 96 and m["config"]["n_test"] == 24
    assert m["final"]["test_acc"] > 0.8
    np.savetxt(tmp_path / "d.csv", np.column_stack([x, y]), delimiter=",")
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--epochs", "1",
                 "--out", str(tmp_path / "c"), "--quiet"]) == 0  # fmt: skip
    _check_outputs(tmp_path / "c", 1, n_classes=3)


def test_cnn_on_flat_square_data(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "img.npz", x=rng.normal(size=(20, 16)), y=np.arange(20) % 2)
    assert main(["train", "--model", "cnn", "--data", str(tmp_path / "img.npz"),
                 "--epochs", "1", "--out", str(tmp_path / "o"), "--quiet"]) == 0  # fmt: skip
    np.savez(tmp_path / "odd.npz", x=rng.normal(size=(20, 15)), y=np.arange(20) % 2)
    assert main(["train", "--model", "cnn", "--data", str(tmp_path / "odd.npz"),
                 "--epochs", "1", "--out", str(tmp_path / "o2"), "--quiet"]) == 2  # fmt: skip


@pytest.mark.parametrize(
    "content,match",
    [
        ({"x": np.zeros((4, 2))}, "missing array"),
        ({"x": np.zeros((4, 2)), "y": np.array([0, 1, np.nan, 0])}, "NaN"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4)}, "single class"),
    ],
)
def test_bad_data_file_is_a_clear_error(tmp_path, capsys, content, match):
    np.savez(tmp_path / "bad.npz", **content)
    code = main(["train", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("tapegrad train: error:") and match in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--epochs", "-1"],
        ["--batch-size", "0"],
        ["--lr", "0"],
        ["--model", "rnn"],
        ["--optimizer", "lbfgs"],
    ],
)
def test_bad_arguments(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(["train", *argv, "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_plot_skipped_without_matplotlib(tmp_path, monkeypatch):
    # Hide matplotlib (and any of its submodules another test already imported).
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)
    lines = []
    run(TrainConfig(epochs=1, out=str(tmp_path), progress=False), log=lines.append)
    assert sum("plot skipped" in s for s in lines) == 1
    assert not (tmp_path / "curves.png").exists()


def test_plot_written_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    run(TrainConfig(epochs=2, out=str(tmp_path), progress=False), log=lambda s: None)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_lines_without_tqdm(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    run(TrainConfig(epochs=2, out=str(tmp_path)), log=print)
    out = capsys.readouterr().out
    assert "epoch   1/2: train loss" in out and "epoch   2/2: train loss" in out
    assert "test accuracy:" in out


def test_zero_epochs_still_writes_files(tmp_path):
    m = run(TrainConfig(epochs=0, out=str(tmp_path), progress=False), log=lambda s: None)
    assert m["history"] == [] and (tmp_path / "model.npz").is_file()


def test_progress_uses_tqdm_when_installed(tmp_path, monkeypatch, capsys):
    import types

    bars = []

    class FakeBar:
        def __init__(self, total, desc, leave, unit):
            self.total, self.desc, self.n, self.postfix, self.closed = total, desc, 0, {}, False
            bars.append(self)

        def set_postfix(self, refresh=True, **kw):
            self.postfix = kw

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    run(TrainConfig(epochs=2, batch_size=500, out=str(tmp_path)), log=lambda s: None)
    assert [b.desc for b in bars] == ["epoch 1/2", "epoch 2/2"]
    assert all(b.n == b.total == 3 and b.closed for b in bars)
    assert set(bars[-1].postfix) == {"loss", "acc", "test_acc"}
    assert "train loss" not in capsys.readouterr().out  # no duplicate plain lines


# ----------------------------------------------------------------------------- --jit


def _printed_run(capsys, monkeypatch, argv):
    """The lines `tapegrad train ARGV` prints (per-epoch lines, no tqdm), times left out."""
    import re

    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert main(["train", *argv]) == 0
    out = capsys.readouterr().out
    return [re.sub(r"\(\d+\.\d+s\)", "(s)", line) for line in out.splitlines()]


@pytest.mark.parametrize("model", ["mlp", "cnn"])  # the cnn has dropout: random draws
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_jit_run_is_bit_for_bit_the_eager_run(tmp_path, capsys, monkeypatch, model, optimizer):
    # 2 epochs (the scheduler changes lr between them), batch 64 (a last batch of 30)
    argv = ["--model", model, "--optimizer", optimizer, "--epochs", "2", "--batch-size", "64"]
    eager = _printed_run(capsys, monkeypatch, [*argv, "--out", str(tmp_path / "e")])
    jit = _printed_run(capsys, monkeypatch, [*argv, "--out", str(tmp_path / "j"), "--jit"])
    assert jit[0] == eager[0] + ", jit"
    assert [s.replace("/j/", "/e/") for s in jit[1:]] == eager[1:]
    assert sum("train loss" in s for s in eager) == 2
    me, mj = _metrics(tmp_path / "e"), _metrics(tmp_path / "j")
    assert mj["history"] == me["history"] and mj["final"] == me["final"]
    assert me["config"]["jit"] is False and mj["config"]["jit"] is True
    a, b = _arrays(tmp_path / "e"), _arrays(tmp_path / "j")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_jit_flag_is_in_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    assert "--jit" in capsys.readouterr().out


@pytest.mark.parametrize("batch_size, shapes", [(32, 1), (40, 2)])
def test_jit_step_is_traced_once_per_batch_shape(tmp_path, batch_size, shapes):
    # 96 training samples: batches of 32 have one shape; of 40, two (40 and a last one of 16)
    x, y = _blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = TrainConfig(
        data=str(tmp_path / "d.npz"), epochs=3, batch_size=batch_size, out=str(tmp_path / "o"),
        progress=False, jit=True,
    )  # fmt: skip
    m = run(cfg, log=lambda s: None)
    assert m["config"]["n_train"] == 96 and m["config"]["n_test"] == 24
    assert m["jit"]["step_traces"] == shapes
    assert m["jit"]["eval_traces"] == 2  # the test set (24 rows) and the training set (96)
    assert "jit" not in run(TrainConfig(**{**cfg.__dict__, "jit": False}), log=lambda s: None)
