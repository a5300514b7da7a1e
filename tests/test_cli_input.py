"""Untrusted input to the command line: each bad file or option exits 2 with a clear message."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import train as train_mod
from tapegrad.cli import main
from tapegrad.data import files as files_mod
from tapegrad.data import load_data_file

SRC = str(Path(tg.__file__).resolve().parents[1])


def cli(argv, capsys):
    """Run ``tapegrad ARGV`` in-process: (exit code, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def train(data, tmp_path, capsys, *extra):
    out = tmp_path / "out"
    argv = ["train", "--data", str(data), "--epochs", "1", "--out", str(out), "--quiet", *extra]
    return cli(argv, capsys)


def blobs(n=40, classes=2, features=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    return rng.normal(size=(n, features)) + 3.0 * np.eye(classes, features)[y], y


def npy_bytes(shape, dtype="<f4", payload=b""):
    """A .npy file whose header claims ``shape`` followed by ``payload`` bytes of data."""
    buf = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + payload


def zip_with(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def npy_of(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


# ---------------------------------------------------------------------------- .npz headers


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_npz_header_claiming_a_huge_shape_is_rejected_before_loading(tmp_path, capsys, compression):
    members = {
        "x.npy": npy_bytes((10**12, 10), payload=b"\0" * 64),
        "y.npy": npy_of(np.zeros(4, np.int64)),
    }
    p = zip_with(tmp_path / "huge.npz", members, compression)
    code, _, err = train(p, tmp_path, capsys)
    assert code == 2
    assert "array 'x' claims shape (1000000000000, 10)" in err and "truncated or corrupt" in err
    assert not (tmp_path / "out").exists()


def test_npz_array_over_the_size_limit_is_rejected(tmp_path, monkeypatch):
    x, y = blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert load_data_file(tmp_path / "d.npz")[0].shape == (40, 3)
    monkeypatch.setattr(files_mod, "MAX_ARRAY_BYTES", 100)
    with pytest.raises(tg.data.DataFileError, match=r"'x' has shape \(40, 3\).*more than the 100"):
        load_data_file(tmp_path / "d.npz")


def test_highly_compressed_npz_still_loads(tmp_path):
    # zeros deflate close to the format's limit (~1032:1): a real file is not mistaken for a lie
    x = np.zeros((1000, 500))
    x[:, 0] = np.arange(1000) % 2
    np.savez_compressed(tmp_path / "z.npz", x=x, y=np.arange(1000) % 2)
    with zipfile.ZipFile(tmp_path / "z.npz") as zf:
        info = zf.getinfo("x.npy")
        assert info.file_size / info.compress_size > 500
    assert load_data_file(tmp_path / "z.npz")[0].shape == (1000, 500)


def test_npz_object_array_is_never_unpickled(tmp_path, capsys):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    buf = io.BytesIO()
    np.save(buf, np.array([[Boom()]], dtype=object), allow_pickle=True)
    p = zip_with(tmp_path / "obj.npz", {"x.npy": buf.getvalue(), "y.npy": npy_of(np.zeros(1))})
    code, _, err = train(p, tmp_path, capsys)
    assert code == 2 and "x must be numeric, got dtype object" in err
    assert "never unpickled" in err
    assert not (tmp_path / "pwned").exists()


def test_npz_member_with_a_broken_header(tmp_path, capsys):
    p = zip_with(tmp_path / "b.npz", {"x.npy": b"\x93NUMPY\x01\x00garbage", "y.npy": b"nope"})
    code, _, err = train(p, tmp_path, capsys)
    assert code == 2 and "array 'x' has no valid .npy header" in err


# ---------------------------------------------------------------------------- labels


def write_csv(path, x, y):
    np.savetxt(path, np.column_stack([x, y]), delimiter=",")
    return path


def test_huge_label_is_rejected_not_a_memory_error(tmp_path, capsys):
    x, y = blobs()
    y = y.astype(np.float64)
    y[5] = 1e12
    code, _, err = train(write_csv(tmp_path / "d.csv", x, y), tmp_path, capsys)
    assert code == 2
    assert "largest label is 1000000000000" in err and "more than the 40 samples" in err
    assert "np.unique" in err


def test_more_classes_than_the_cap(tmp_path, capsys, monkeypatch):
    x, y = blobs(n=20, classes=5)
    monkeypatch.setattr(train_mod, "MAX_CLASSES", 3)
    code, _, err = train(write_csv(tmp_path / "d.csv", x, y), tmp_path, capsys)
    assert code == 2 and "5 outputs, more than MAX_CLASSES = 3" in err


@pytest.mark.parametrize(
    "label, shown",
    [(3e19, "3e+19"), (-3e19, "-3e+19"), (-2.0, "-2"), (2.5, "2.5")],
)
def test_out_of_range_label_is_reported_as_written(tmp_path, capsys, label, shown):
    x, y = blobs()
    y = y.astype(np.float64)
    y[7] = label
    code, _, err = train(write_csv(tmp_path / "d.csv", x, y), tmp_path, capsys)
    assert code == 2
    assert f"got {shown} at sample 7" in err
    assert "-9223372036854775808" not in err


def test_uint64_label_too_large_for_int64(tmp_path):
    x, y = blobs()
    y = y.astype(np.uint64)
    y[3] = 2**64 - 1
    np.savez(tmp_path / "u.npz", x=x, y=y)
    with pytest.raises(tg.data.DataFileError, match=f"got {2**64 - 1} at sample 3, too large"):
        load_data_file(tmp_path / "u.npz")


# ---------------------------------------------------------------------------- CSV text


def test_csv_field_over_the_reader_limit(tmp_path, capsys):
    p = tmp_path / "long.csv"
    p.write_text("1,2,0\n" + "1" * 200_000 + ",2,1\n")
    code, _, err = train(p, tmp_path, capsys)
    assert code == 2
    assert "line 2 has a field longer than 131072 characters" in err


def test_csv_with_nul_byte(tmp_path, capsys):
    p = tmp_path / "nul.csv"
    p.write_bytes(b"1,2,0\n3,\x00,1\n")
    code, _, err = train(p, tmp_path, capsys)
    assert code == 2 and "nul.csv" in err


def test_csv_with_a_byte_order_mark_is_accepted(tmp_path, capsys):
    x, y = blobs()
    text = "".join(f"{a:.6f},{b:.6f},{c:.6f},{k}\n" for (a, b, c), k in zip(x, y))
    for header in ("", "f1,f2,f3,label\n"):
        p = tmp_path / "bom.csv"
        p.write_bytes(b"\xef\xbb\xbf" + (header + text).encode())
        gx, gy = load_data_file(p)
        assert gx.shape == (40, 3) and gy.tolist() == y.tolist()
    code, out, err = train(p, tmp_path, capsys)
    assert code == 0, err
    assert "test accuracy" in out


def test_csv_that_is_not_utf8(tmp_path, capsys):
    p = tmp_path / "latin.csv"
    p.write_bytes("1,2,0\n3,4\xe9,1\n".encode("latin-1"))
    code, _, err = train(p, tmp_path, capsys)
    assert code == 2 and "is not a UTF-8 text CSV file" in err


# ---------------------------------------------------------------------------- features


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features(tmp_path, capsys, bad):
    x, y = blobs()
    x[4, 1] = bad
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, _, err = train(tmp_path / "d.npz", tmp_path, capsys)
    assert code == 2 and "NaN or infinite value(s), the first at index (4, 1)" in err


def test_csv_feature_that_overflows(tmp_path, capsys):
    p = tmp_path / "big.csv"
    p.write_text("1,2,0\n3,1e400,1\n" * 5)
    code, _, err = train(p, tmp_path, capsys)
    assert code == 2 and "NaN or infinite" in err


def test_feature_too_large_for_float32(tmp_path, capsys):
    x, y = blobs()
    x[2, 0] = 1e39
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, _, err = train(tmp_path / "d.npz", tmp_path, capsys)
    assert code == 2 and "too large for float32 (the first, 1e+39" in err


def test_no_features(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 0)), y=np.arange(6) % 2)
    code, _, err = train(tmp_path / "d.npz", tmp_path, capsys)
    assert code == 2 and "x has no features" in err


# ---------------------------------------------------------------------------- small data


def test_tiny_data_set_warns(tmp_path, capsys):
    x, y = blobs(n=6)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, out, err = train(tmp_path / "d.npz", tmp_path, capsys)
    assert code == 0
    assert "tapegrad train: warning:" in err and "only 6 samples; 1 of them" in err


def test_class_missing_from_the_training_split_warns(tmp_path, capsys):
    x, y = blobs(n=30)
    y[29] = 2  # the one sample of class 2
    seed = next(s for s in range(100) if 29 in np.random.default_rng(s).permutation(30)[:6])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, _, err = train(tmp_path / "d.npz", tmp_path, capsys, "--seed", str(seed))
    assert code == 0
    assert "1 class(es) (2) have no sample in the training split (24 of 30" in err
    with pytest.warns(train_mod.TrainWarning, match="no sample in the training split"):
        train_mod.load_dataset(str(tmp_path / "d.npz"), "mlp", seed)


# ---------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["--epochs", "-3"], "--epochs must be >= 1, got -3"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--batch-size", "-2"], "--batch-size must be >= 1"),
        (["--lr", "0"], "--lr must be a finite number > 0"),
        (["--lr", "-0.1"], "--lr must be a finite number > 0"),
        (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
        (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    ],
)
def test_bad_numbers_are_rejected_before_training(tmp_path, capsys, argv, match):
    code, out, err = cli(["train", *argv, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and match in err
    assert "training" not in out and not (tmp_path / "o").exists()


def test_config_lr_must_be_finite(tmp_path):
    with pytest.raises(train_mod.TrainError, match="learning rate must be > 0, got inf"):
        train_mod.run(train_mod.TrainConfig(lr=float("inf"), out=str(tmp_path)))


def test_out_under_a_file(tmp_path, capsys):
    x, y = blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    (tmp_path / "f").write_text("a file")
    out = tmp_path / "f" / "sub"
    argv = ["train", "--data", str(tmp_path / "d.npz"), "--out", str(out), "--quiet"]
    code, stdout, err = cli(argv, capsys)
    assert code == 2
    assert "is a file, so no folder can be made under it" in err
    assert "training" not in stdout  # nothing was trained


def test_out_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("a file")
    code, stdout, err = cli(["train", "--out", str(tmp_path / "f"), "--quiet"], capsys)
    assert code == 2 and "is a file; give a folder" in err and "training" not in stdout


def test_out_holding_a_folder_named_like_an_output(tmp_path, capsys):
    (tmp_path / "o" / "metrics.json").mkdir(parents=True)
    code, stdout, err = cli(["train", "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "metrics.json is a folder" in err and "training" not in stdout


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to any folder"
)
def test_out_not_writable(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, stdout, err = cli(["train", "--out", str(ro / "o"), "--quiet"], capsys)
    finally:
        ro.chmod(0o700)
    assert code == 2 and "cannot be created or written to" in err and "training" not in stdout


def test_out_is_created_before_training(tmp_path, capsys, monkeypatch):
    seen = []

    def fake_train(config, *args):
        seen.append(os.path.isdir(config.out))
        return {}

    monkeypatch.setattr(train_mod, "_train", fake_train)
    code, _, _ = cli(["train", "--out", str(tmp_path / "a" / "b"), "--quiet"], capsys)
    assert code == 0 and seen == [True]


def test_out_of_memory_is_an_error_message(tmp_path, capsys, monkeypatch):
    def boom(config, *args):
        raise MemoryError

    monkeypatch.setattr(train_mod, "_train", boom)
    code, _, err = cli(["train", "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "out of memory" in err


# ---------------------------------------------------------------------------- explain


def test_explain_normalises_bindings_as_python_normalises_names(capsys):
    code, out, err = cli(["explain", "ｘ*2", "ｘ=1"], capsys)
    assert code == 0, err
    assert "∂L/∂x" in out
    code, out, _ = cli(["explain", "x*y", "ｘ=3", "ｙ=2"], capsys)
    assert code == 0 and "∂L/∂x = w̄1 = 2" in out
    code, _, err = cli(["explain", "x*2", "x=1", "ｘ=2"], capsys)
    assert code == 2 and "x is given twice (ｘ is x, as in Python)" in err


# ---------------------------------------------------------------------------- a real process


def run_cli(*argv):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "tapegrad", *argv], capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip


def test_subprocess_huge_header_and_bad_options_exit_2(tmp_path):
    p = zip_with(
        tmp_path / "huge.npz",
        {"x.npy": npy_bytes((2**40, 2**20)), "y.npy": npy_of(np.zeros(3))},
    )
    r = run_cli("train", "--data", str(p), "--out", str(tmp_path / "o"), "--quiet")
    assert r.returncode == 2, r.stderr
    assert "claims shape" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("train", "--epochs", "0", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "--epochs must be >= 1" in r.stderr
    assert "Traceback" not in r.stderr
