"""tg.data: Dataset, TensorDataset, DataLoader, the bundled digits, and --data files."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.data import DataFileError, load_data_file

# ---------------------------------------------------------------------------- datasets


def test_tensor_dataset_basics():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = tg.tensor(np.arange(6))
    ds = tg.data.TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[4]
    assert isinstance(a, tg.Tensor) and isinstance(b, tg.Tensor)
    np.testing.assert_array_equal(a.data, [8.0, 9.0])
    assert a.dtype == np.float32
    assert int(b.item()) == 4
    assert "6 samples" in repr(ds)


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match="at least one"):
        tg.data.TensorDataset()
    with pytest.raises(tg.ShapeMismatchError, match="same length along axis 0"):
        tg.data.TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="0-d"):
        tg.data.TensorDataset(np.float32(1.0))


def test_dataset_base_needs_methods():
    with pytest.raises(NotImplementedError):
        len(tg.data.Dataset())
    with pytest.raises(NotImplementedError):
        tg.data.Dataset()[0]


class _Pairs(tg.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(3, i, dtype=np.float32), i


class _Single(tg.data.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.full((2, 2), i, dtype=np.float32)


# ---------------------------------------------------------------------------- loader


@pytest.mark.parametrize(
    "n,bs,drop_last",
    [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (2, 5, True), (0, 4, False)],
)
def test_loader_batches_in_order(n, bs, drop_last):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    for ds in (tg.data.TensorDataset(x, y), _Pairs(n)):
        loader = tg.data.DataLoader(ds, batch_size=bs, drop_last=drop_last)
        batches = list(loader)
        assert len(batches) == len(loader)
        sizes = [len(b[1]) for b in batches]
        if drop_last:
            assert sizes == [bs] * (n // bs)
        else:
            assert sum(sizes) == n and all(s == bs for s in sizes[:-1])
        seen = np.concatenate([b[1].data for b in batches]) if batches else np.array([], int)
        np.testing.assert_array_equal(seen, np.arange(len(seen)))
        for bx, by in batches:
            assert isinstance(bx, tg.Tensor) and isinstance(by, tg.Tensor)
            assert bx.dtype == np.float32 and by.dtype.kind == "i"
            assert not bx.requires_grad


def test_loader_default_batch_size_is_one():
    loader = tg.data.DataLoader(tg.data.TensorDataset(np.zeros((3, 2), np.float32)))
    assert len(loader) == 3
    (b,) = next(iter(loader))
    assert b.shape == (1, 2)


def test_loader_single_field_dataset_gives_tensor():
    batches = list(tg.data.DataLoader(_Single(), batch_size=2))
    assert [b.shape for b in batches] == [(2, 2, 2), (2, 2, 2), (1, 2, 2)]
    assert isinstance(batches[0], tg.Tensor)


def test_loader_fast_path_matches_generic_path():
    n = 23
    x = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    y = np.arange(n)

    class Plain(tg.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return x[i], y[i]

    a = list(tg.data.DataLoader(tg.data.TensorDataset(x, y), 5, shuffle=True, seed=3))
    b = list(tg.data.DataLoader(Plain(), 5, shuffle=True, seed=3))
    for (ax, ay), (bx, by) in zip(a, b, strict=True):
        np.testing.assert_array_equal(ax.data, bx.data)
        np.testing.assert_array_equal(ay.data, by.data)


def test_loader_fast_path_has_no_per_sample_loop():
    class Counting(tg.data.TensorDataset):
        calls = 0

        def __getitem__(self, i):
            type(self).calls += 1
            return super().__getitem__(i)

    ds = Counting(np.zeros((100, 2), np.float32), np.arange(100))
    for _ in tg.data.DataLoader(ds, batch_size=10, shuffle=True, seed=0):
        pass
    assert Counting.calls == 0


def test_loader_batches_do_not_alias_dataset():
    x = np.zeros((4, 2), np.float32)
    (bx,) = next(iter(tg.data.DataLoader(tg.data.TensorDataset(x), batch_size=4)))
    bx.data[...] = 7
    assert (x == 0).all()


def _epochs(loader, k):
    return [np.concatenate([b[1].data for b in loader]) for _ in range(k)]


def test_shuffle_reproducible_with_seed():
    ds = tg.data.TensorDataset(np.zeros((50, 1), np.float32), np.arange(50))
    e1 = _epochs(tg.data.DataLoader(ds, 8, shuffle=True, seed=123), 3)
    e2 = _epochs(tg.data.DataLoader(ds, 8, shuffle=True, generator=123), 3)
    e3 = _epochs(tg.data.DataLoader(ds, 8, shuffle=True, generator=np.random.default_rng(123)), 3)
    for a, b, c in zip(e1, e2, e3, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(np.sort(a), np.arange(50))  # a permutation
    assert not np.array_equal(e1[0], e1[1])  # a new order each epoch
    assert not np.array_equal(e1[0], np.arange(50))
    other = _epochs(tg.data.DataLoader(ds, 8, shuffle=True, seed=124), 1)[0]
    assert not np.array_equal(e1[0], other)


def test_shuffle_uses_global_generator_by_default():
    ds = tg.data.TensorDataset(np.arange(30))
    tg.random.seed(5)
    a = [b[0].data.tolist() for b in tg.data.DataLoader(ds, 7, shuffle=True)]
    tg.random.seed(5)
    b = [b[0].data.tolist() for b in tg.data.DataLoader(ds, 7, shuffle=True)]
    assert a == b


def test_shuffle_drop_last():
    ds = tg.data.TensorDataset(np.arange(10))
    batches = list(tg.data.DataLoader(ds, 4, shuffle=True, drop_last=True, seed=0))
    assert [len(b[0]) for b in batches] == [4, 4]
    assert len(set(np.concatenate([b[0].data for b in batches]).tolist())) == 8


def test_loader_argument_errors():
    ds = tg.data.TensorDataset(np.arange(4))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        tg.data.DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        tg.data.DataLoader(ds, batch_size=2.5)
    with pytest.raises(ValueError, match="not both"):
        tg.data.DataLoader(ds, generator=1, seed=1)
    with pytest.raises(TypeError, match="generator"):
        tg.data.DataLoader(ds, generator="abc")
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        tg.data.DataLoader(5)


def test_collate():
    x, y = tg.data.default_collate([(tg.tensor([1.0, 2.0]), 3), (np.array([4.0, 5.0]), 6)])
    assert x.shape == (2, 2) and y.data.tolist() == [3, 6]
    with pytest.raises(ValueError, match="tuple of 2 fields"):
        tg.data.default_collate([(1, 2), (3,)])
    with pytest.raises(ValueError, match="zero samples"):
        tg.data.default_collate([])


def test_custom_collate_fn_is_used():
    ds = tg.data.TensorDataset(np.arange(6))
    out = list(tg.data.DataLoader(ds, 3, collate_fn=lambda s: len(s)))
    assert out == [3, 3]


# ---------------------------------------------------------------------------- digits


def test_digits_shapes_and_classes():
    xa, ya = tg.data.load_digits("all")
    xtr, ytr = tg.data.load_digits("train")
    xte, yte = tg.data.load_digits("test")
    assert xa.shape == (1797, 64) and ya.shape == (1797,)
    assert xtr.shape == (1438, 64) and xte.shape == (359, 64)
    assert xa.dtype == np.float32 and ya.dtype == np.int64
    assert 0.0 <= xa.min() and xa.max() == 1.0
    assert set(ya.tolist()) == set(range(10))
    # stratified: every class has ~20% of its samples in the test split
    frac = np.bincount(yte, minlength=10) / np.bincount(ya, minlength=10)
    assert np.all(np.abs(frac - 0.2) < 0.01)


def test_digits_split_is_fixed_and_disjoint():
    xa, _ = tg.data.load_digits("all", normalize=False, dtype=np.uint8)
    xtr, _ = tg.data.load_digits("train", normalize=False, dtype=np.uint8)
    xte, _ = tg.data.load_digits("test", normalize=False, dtype=np.uint8)
    # the union is the whole set, and the split never changes
    assert sorted(map(bytes, xa)) == sorted(map(bytes, np.concatenate([xtr, xte])))
    _, yte = tg.data.load_digits("test")
    digest = hashlib.sha256(xte.tobytes() + yte.astype(np.int64).tobytes()).hexdigest()
    assert digest == EXPECTED_TEST_DIGEST
    np.testing.assert_array_equal(tg.data.load_digits("test")[1], yte)


EXPECTED_TEST_DIGEST = "826963a532f58747e45f843803411f2afb4c2e16e591d55ed6edb2c01e575154"


def test_digits_options():
    x, _ = tg.data.load_digits("test", normalize=False, dtype=np.float64)
    assert x.dtype == np.float64 and x.max() == 16.0
    xi, y = tg.data.load_digits("train", images=True)
    assert xi.shape == (1438, 1, 8, 8) and xi.dtype == np.float32
    np.testing.assert_array_equal(xi.reshape(-1, 64), tg.data.load_digits("train")[0])
    with pytest.raises(ValueError, match="split must be"):
        tg.data.load_digits("valid")
    with pytest.raises(TypeError, match="normalize=False"):
        tg.data.load_digits(dtype=np.int32)


def test_digits_file_and_license_ship_in_package():
    root = resources.files("tapegrad.data")
    with np.load(root.joinpath("digits.npz").open("rb")) as d:
        assert d["x"].dtype == np.uint8 and d["x"].shape == (1797, 64)
        assert d["y"].dtype == np.uint8 and d["y"].shape == (1797,)
        assert d["x"].max() == 16
    text = root.joinpath("DIGITS_LICENSE.txt").read_text()
    assert "10.24432/C50P49" in text and "CC BY 4.0" in text
    assert "10.24432/C50P49" in tg.data.DIGITS_CITATION


# ---------------------------------------------------------------------------- --data files


def test_load_npz_and_csv(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 3))
    y = np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    gx, gy = load_data_file(tmp_path / "d.npz")
    assert gx.dtype == np.float32 and gy.dtype == np.int64
    np.testing.assert_allclose(gx, x.astype(np.float32))
    np.testing.assert_array_equal(gy, y)
    np.savez(tmp_path / "img.npz", x=np.zeros((4, 1, 8, 8)), y=np.zeros((4, 1)))
    assert load_data_file(tmp_path / "img.npz", dtype=np.float64)[0].shape == (4, 1, 8, 8)

    np.savetxt(tmp_path / "d.csv", np.column_stack([x, y]), delimiter=",")
    cx, cy = load_data_file(str(tmp_path / "d.csv"))
    np.testing.assert_allclose(cx, gx, rtol=1e-6)
    np.testing.assert_array_equal(cy, y)
    (tmp_path / "h.csv").write_text("f1,f2,label\n1,2,0\n3,4,1\n\n")
    hx, hy = load_data_file(tmp_path / "h.csv")
    assert hx.tolist() == [[1, 2], [3, 4]] and hy.tolist() == [0, 1]


def _npz(tmp_path, **arrays):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    return p


def _csv(tmp_path, text):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda t: _npz(t, x=np.zeros((3, 2))), "missing array.*y"),
        (lambda t: _npz(t, features=np.zeros((3, 2)), labels=np.zeros(3)), "missing array.*x, y"),
        (lambda t: _npz(t, x=np.zeros(3), y=np.zeros(3)), "shape \\(N, features\\)"),
        (lambda t: _npz(t, x=np.zeros((3, 2)), y=np.zeros(4)), "3 samples but y has 4"),
        (lambda t: _npz(t, x=np.zeros((3, 2)), y=np.zeros((3, 2))), "y must have shape \\(N,\\)"),
        (lambda t: _npz(t, x=np.array([["a", "b"]] * 3), y=np.zeros(3)), "x must be numeric"),
        (lambda t: _npz(t, x=np.zeros((3, 2)), y=np.array(["a", "b", "c"])), "y must hold numeric"),
        (lambda t: _npz(t, x=np.array([[0.0, np.nan]] * 3), y=np.zeros(3)), "NaN"),
        (lambda t: _npz(t, x=np.zeros((3, 2)), y=np.array([0.0, np.nan, 1])), "NaN"),
        (lambda t: _npz(t, x=np.zeros((3, 2)), y=np.array([0.0, 0.5, 1])), "integer class labels"),
        (lambda t: _npz(t, x=np.zeros((3, 2)), y=np.array([0, -1, 1])), ">= 0"),
        (lambda t: _npz(t, x=np.zeros((0, 2)), y=np.zeros(0)), "no samples"),
        (lambda t: _csv(t, "1,2,0\n3,x,1\n"), "row 2 has a non-numeric value 'x'"),
        (lambda t: _csv(t, "a,b,c\n1,2,0\n3,4\n"), "row 3 has 2 columns"),
        (lambda t: _csv(t, "1,2,0\nnan,4,1\n"), "NaN"),
        (lambda t: _csv(t, "1,2,0.5\n"), "integer class labels"),
        (lambda t: _csv(t, ""), "empty"),
        (lambda t: _csv(t, "a,b,label\n"), "no data rows"),
        (lambda t: _csv(t, "1\n2\n"), "at least one feature"),
        (lambda t: t / "nope.npz", "no such file"),
        (lambda t: t, "is a directory"),
        (lambda t: _csv(t, "1,2\n").rename(t / "d.txt"), "unknown file type '.txt'"),
    ],
)
def test_data_file_errors(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(DataFileError, match=match) as info:
        load_data_file(path)
    assert isinstance(info.value, ValueError)


def test_npz_not_a_zip(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip file")
    with pytest.raises(DataFileError, match="not a readable .npz"):
        load_data_file(p)


def test_npz_object_array_rejected(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, x=np.array([[1, "a"]], dtype=object), y=np.zeros(1))
    with pytest.raises(DataFileError, match="cannot read|numeric"):
        load_data_file(p)
