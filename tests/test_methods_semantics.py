"""Tensor methods: PyTorch's spelling behaves as torch.Tensor's, NumPy's keywords as ndarray's.

Every method of the table in docs/guides/semantics.md: PyTorch-form calls against torch
(values, indices, dtypes, gradients through the values), NumPy-form calls and ``np.<func>(t)``
dispatch against NumPy, mixing the two styles raises, ``dtype=`` casts and ``out=`` writes.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import ArgumentError, ShapeMismatchError, TapegradError

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.permutation(np.arange(12.0) * 0.5 - 2.0).reshape(3, 4)  # distinct values
TIES = np.array([[3.0, 1.0, 3.0, 0.0], [2.0, 2.0, -1.0, 2.0]])


def _pair(a, dtype=None):
    """A tapegrad tensor and a torch tensor with the same values, both requiring grad."""
    a = np.asarray(a, dtype=dtype)
    rg = a.dtype.kind == "f"
    return tg.tensor(a, requires_grad=rg), torch.tensor(a, requires_grad=rg)


def _same(ours, theirs, exact_dtype=True):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert isinstance(ours, tg.Tensor)
    np.testing.assert_allclose(ours.data, theirs, rtol=1e-12, atol=1e-12)
    assert ours.shape == theirs.shape
    if exact_dtype:
        assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)


def _same_grad(out, tout, x, tx):
    """Backward with one cotangent through both and compare the gradients."""
    cot = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(cot))
    tout.backward(torch.tensor(cot))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- max / min
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("data", [X, TIES], ids=["distinct", "ties"])
@pytest.mark.parametrize(
    "args,kwargs",
    [((1,), {}), ((0,), {}), ((-1, True), {}), ((), {"dim": 1}), ((), {"dim": 0, "keepdim": True})],
)
def test_max_min_with_dim_are_values_and_indices_like_torch(name, data, args, kwargs):
    x, tx = _pair(data)
    res = getattr(x, name)(*args, **kwargs)
    tres = getattr(tx, name)(*args, **kwargs)
    assert type(res).__name__ == name and res._fields == ("values", "indices")
    values, indices = res  # `_, pred = logits.max(1)` unpacks the indices
    _same(values, tres.values)
    _same(indices, tres.indices)
    assert res.values is values and res.indices is indices
    _same_grad(values, tres.values, x, tx)  # ties: the gradient goes to the index only


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_without_dim_is_the_value_and_ties_share_the_gradient(name):
    x, tx = _pair(TIES)
    out, tout = getattr(x, name)(), getattr(tx, name)()
    _same(out, tout)
    _same_grad(out, tout, x, tx)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_of_a_tensor_is_elementwise_like_torch(name):
    x, tx = _pair(X)
    y, ty = _pair(X[::-1].copy())
    out, tout = getattr(x, name)(y), getattr(tx, name)(ty)
    _same(out, tout)
    _same_grad(out, tout, x, tx)


def test_max_min_with_dim_of_a_0d_tensor_and_with_nan():
    x, tx = _pair(3.0)
    for name in ("max", "min"):
        res, tres = getattr(x, name)(0), getattr(tx, name)(0)
        _same(res.values, tres.values)
        _same(res.indices, tres.indices)
    nan = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    x, tx = _pair(nan)
    for name in ("max", "min"):
        res, tres = getattr(x, name)(1), getattr(tx, name)(1)
        np.testing.assert_array_equal(res.values.data, tres.values.detach().numpy())
        _same(res.indices, tres.indices)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_numpy_keywords_give_values_over_several_axes(name):
    x = tg.tensor(TIES)
    for kw in ({"axis": 1}, {"axis": (0, 1)}, {"axis": 0, "keepdims": True}, {"axis": None}):
        _same(getattr(x, name)(**kw), getattr(TIES, name)(**kw))
    _same(getattr(np, name)(x, axis=1), getattr(np, name)(TIES, axis=1))
    _same(getattr(np, "a" + name)(x), getattr(np, "a" + name)(TIES))


def test_max_with_a_tuple_dim_or_keepdim_alone_raises():
    x = tg.tensor(X)
    with pytest.raises(ArgumentError, match="axis="):
        x.max((0, 1))
    with pytest.raises(ArgumentError, match="needs a dim"):
        x.max(keepdim=True)
    with pytest.raises(ArgumentError, match="elementwise"):
        x.max(x, axis=0)


def test_amax_amin_are_torch_like():
    x, tx = _pair(TIES)
    _same(x.amax(1), tx.amax(1))
    _same(x.amin(dim=(0, 1), keepdim=True), tx.amin(dim=(0, 1), keepdim=True))
    out, tout = x.amax(), tx.amax()
    _same(out, tout)
    _same_grad(out, tout, x, tx)


# --------------------------------------------------------------------------- argmax / argmin
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_both_spellings(name):
    x, tx = tg.tensor(TIES), torch.tensor(TIES)
    for args, kw in [((), {}), ((1,), {}), ((0, True), {}), ((), {"dim": -1, "keepdim": True})]:
        _same(getattr(x, name)(*args, **kw), getattr(tx, name)(*args, **kw))
    _same(getattr(x, name)(axis=1), getattr(TIES, name)(axis=1).astype(np.int64))
    _same(getattr(np, name)(x, axis=0), getattr(np, name)(TIES, axis=0).astype(np.int64))
    _same(getattr(np, name)(x), np.int64(getattr(np, name)(TIES)))


# --------------------------------------------------------------------------- var / std
@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((), {}),
        ((1,), {}),
        ((0, True, True), {}),
        ((False,), {}),
        ((), {"dim": 1, "unbiased": False}),
        ((), {"dim": (0, 1), "correction": 2}),
        ((1,), {"correction": 0, "keepdim": True}),
        ((), {"unbiased": True}),
    ],
)
def test_var_std_torch_spelling_is_unbiased_by_default(name, args, kwargs):
    x, tx = _pair(X)
    out, tout = getattr(x, name)(*args, **kwargs), getattr(tx, name)(*args, **kwargs)
    _same(out, tout)
    _same_grad(out, tout, x, tx)


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"axis": None},
        {"axis": 1},
        {"axis": 0, "ddof": 1},
        {"axis": (0, 1), "keepdims": True},
        {"ddof": 2},
        {"axis": 1, "correction": 1},
    ],
)
def test_var_std_numpy_keywords_use_ddof_zero_by_default(name, kwargs):
    x = tg.tensor(X)
    _same(getattr(x, name)(**kwargs), getattr(np, name)(X, **kwargs))
    _same(getattr(np, name)(x, **kwargs), getattr(np, name)(X, **kwargs))


def test_np_std_and_var_dispatch_and_keep_the_tape():
    x = tg.tensor(X, requires_grad=True)
    out = np.std(x, axis=1, ddof=1)
    assert isinstance(out, tg.Tensor) and out.requires_grad
    _same(out, np.std(X, axis=1, ddof=1))
    out.sum().backward()
    tx = torch.tensor(X, requires_grad=True)
    tx.std(1).sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)
    _same(np.var(tg.tensor(X)), np.var(X))


def test_var_std_conflicting_arguments_raise():
    x = tg.tensor(X)
    with pytest.raises(ArgumentError, match="mixes PyTorch's"):
        x.std(dim=1, ddof=1)
    with pytest.raises(ArgumentError, match="mixes"):
        x.var(1, keepdims=True)
    with pytest.raises(ArgumentError, match="correction"):
        x.var(unbiased=True, correction=1)
    with pytest.raises(ArgumentError, match="ddof= and correction="):
        x.var(axis=0, ddof=1, correction=1)


# --------------------------------------------------------------------------- sum / mean / prod
@pytest.mark.parametrize("name", ["sum", "mean", "prod"])
def test_sum_mean_prod_both_spellings_and_dtype(name):
    x, tx = _pair(X)
    for args, kw in [((), {}), ((1,), {}), ((0, True), {}), ((), {"dim": (0, 1)})]:
        if name == "prod" and "dim" in kw:
            continue  # torch.prod takes one dim
        out, tout = getattr(x, name)(*args, **kw), getattr(tx, name)(*args, **kw)
        _same(out, tout)
    out, tout = getattr(x, name)(1, dtype=np.float32), getattr(tx, name)(1, dtype=torch.float32)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-6)
    assert out.dtype == np.float32
    _same(getattr(x, name)(axis=1, keepdims=True), getattr(X, name)(axis=1, keepdims=True))
    _same(getattr(np, name)(x, axis=0), getattr(np, name)(X, axis=0))
    _same(getattr(np, name)(x), getattr(np, name)(X))


def test_sum_of_ints_with_dtype_casts_like_numpy_and_torch():
    i = np.arange(6, dtype=np.int32).reshape(2, 3)
    t = tg.tensor(i)
    _same(t.sum(1, dtype=np.float64), torch.tensor(i).sum(1, dtype=torch.float64))
    _same(np.sum(t, axis=0, dtype=np.float32), np.sum(i, axis=0, dtype=np.float32))
    _same(np.mean(t, dtype=np.float32), np.mean(i, dtype=np.float32))
    assert np.sum(tg.tensor(i)).dtype == np.sum(i).dtype


def test_bad_dtype_raises():
    with pytest.raises(ArgumentError, match="not a dtype"):
        tg.tensor(X).sum(dtype="not-a-dtype")
    with pytest.raises(TypeError):  # ArgumentError is a TypeError
        tg.tensor(X).mean(dtype=torch.float32)


def test_a_positional_dtype_is_not_taken_for_keepdim():
    with pytest.raises(ArgumentError, match="keepdim must be True or False"):
        tg.tensor(X).sum(0, np.float64)


def test_sum_dim_with_keepdims_mixes_and_raises():
    with pytest.raises(ArgumentError, match="mixes"):
        tg.tensor(X).sum(dim=0, keepdims=True)
    with pytest.raises(ArgumentError, match="mixes"):
        tg.tensor(X).mean(0, axis=1)


# --------------------------------------------------------------------------- out=
def test_out_writes_into_the_given_tensor_like_torch():
    x, tx = tg.tensor(X), torch.tensor(X)
    out, tout = tg.zeros(4), torch.zeros(4, dtype=torch.float64)
    res = x.sum(0, out=out)
    torch.sum(tx, 0, out=tout)
    assert res is out
    _same(out, tout)
    v, i = tg.zeros(3), tg.zeros(3, dtype="int64")
    res = x.max(1, out=(v, i))
    tres = tx.max(1)
    assert res.values is v and res.indices is i
    _same(v, tres.values)
    _same(i, tres.indices)
    e = tg.zeros((3, 4))
    assert x.exp(out=e) is e
    _same(e, tx.exp())
    version = out._version
    x.mean(0, out=out)
    assert out._version > version  # tape entries that saved `out` see the change


def test_out_raises_while_recording_a_gradient_or_for_a_wrong_shape():
    x = tg.tensor(X, requires_grad=True)
    with pytest.raises(ArgumentError, match="can't be recorded"):
        x.sum(0, out=tg.zeros(4))
    with pytest.raises(ArgumentError, match="can't be recorded"):
        tg.tensor(X).sum(0, out=tg.zeros(4, requires_grad=True))
    with tg.no_grad():
        out = tg.zeros(4)
        x.sum(0, out=out)
    np.testing.assert_allclose(out.data, X.sum(0))
    with pytest.raises(ShapeMismatchError):
        tg.tensor(X).sum(0, out=tg.zeros(3))
    with pytest.raises(ArgumentError, match="needs a Tensor"):
        tg.tensor(X).sum(0, out=np.zeros(4))
    with pytest.raises(ArgumentError, match="compatible dtype"):
        tg.tensor(X).sum(0, out=tg.zeros(4, dtype="int64"))


# --------------------------------------------------------------------------- scans, norm, lse
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumsum_cumprod(name):
    x, tx = _pair(X)
    out, tout = getattr(x, name)(1), getattr(tx, name)(1)
    _same(out, tout)
    _same_grad(out, tout, x, tx)
    _same(getattr(x, name)(dim=0, dtype=np.float32), getattr(tx, name)(0, dtype=torch.float32))
    _same(getattr(x, name)(), getattr(X, name)())  # no axis: flattened (NumPy)
    _same(getattr(np, name)(tg.tensor(X), axis=0), getattr(np, name)(X, axis=0))
    with pytest.raises(ArgumentError, match="mixes"):
        getattr(x, name)(0, axis=1)


@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((), {}),
        ((1,), {}),
        ((float("inf"),), {}),
        ((3, 1), {}),
        ((2, (0, 1)), {}),
        (("fro", 1, True), {}),
        (("nuc",), {}),
        ((), {"p": 0.5, "dim": 0}),
    ],
)
def test_norm_torch_spelling(args, kwargs):
    x, tx = _pair(X)
    out, tout = x.norm(*args, **kwargs), tx.norm(*args, **kwargs)
    _same(out, tout)
    if args[:1] != ("nuc",):
        _same_grad(out, tout, x, tx)


def test_norm_numpy_keywords():
    x = tg.tensor(X)
    for kw in ({"ord": 1}, {"ord": np.inf}, {"ord": 2, "axis": 1}, {"axis": 0, "keepdims": True}):
        _same(x.norm(**kw), np.linalg.norm(X, **kw))
    with pytest.raises(ArgumentError, match="mixes"):
        x.norm(1, axis=0)


def test_logsumexp():
    x, tx = _pair(X)
    out, tout = x.logsumexp(1), tx.logsumexp(1)
    _same(out, tout)
    _same_grad(out, tout, x, tx)
    _same(x.logsumexp(dim=0, keepdim=True), tx.logsumexp(0, keepdim=True))


# --------------------------------------------------------------------------- any / all
@pytest.mark.parametrize("name", ["any", "all"])
def test_any_all(name):
    b = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])
    x, tx = tg.tensor(b), torch.tensor(b)
    for args, kw in [((), {}), ((1,), {}), ((0, True), {}), ((), {"dim": 1})]:
        _same(getattr(x, name)(*args, **kw), getattr(tx, name)(*args, **kw))
    _same(getattr(np, name)(x, axis=0), getattr(np, name)(b, axis=0))
    _same(getattr(x, name)(axis=1, keepdims=True), getattr(b, name)(axis=1, keepdims=True))


# --------------------------------------------------------------------------- sort family
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"dim": 0}, {"descending": True}, {"dim": -1, "descending": True, "stable": True}],
)
def test_sort_is_values_and_indices_like_torch(kwargs):
    x, tx = _pair(X)
    res, tres = x.sort(**kwargs), tx.sort(**kwargs)
    assert type(res).__name__ == "sort"
    _same(res.values, tres.values)
    _same(res.indices, tres.indices)
    _same_grad(res.values, tres.values, x, tx)


def test_sort_with_ties_and_nan_matches_torch_stable():
    data = np.array([[2.0, np.nan, 1.0, 2.0, np.nan, 1.0], [0.0, 0.0, 0.0, -1.0, 5.0, 5.0]])
    x, tx = tg.tensor(data), torch.tensor(data)
    for desc in (False, True):
        res, tres = x.sort(descending=desc), tx.sort(descending=desc, stable=True)
        np.testing.assert_array_equal(res.values.data, tres.values.numpy())
        _same(res.indices, tres.indices)
        _same(x.argsort(descending=desc), tx.argsort(descending=desc, stable=True))


def test_sort_rejects_numpy_in_place_keywords():
    with pytest.raises(TypeError):
        tg.tensor(X).sort(axis=0)


def test_argsort_both_spellings():
    x, tx = tg.tensor(X), torch.tensor(X)
    _same(x.argsort(), tx.argsort())
    _same(x.argsort(0), tx.argsort(0))
    _same(x.argsort(axis=0), np.argsort(X, axis=0).astype(np.int64))
    _same(x.argsort(axis=None), np.argsort(X, axis=None).astype(np.int64))
    _same(np.argsort(x), np.argsort(X).astype(np.int64))
    with pytest.raises(ArgumentError, match="mixes"):
        x.argsort(0, axis=1)


@pytest.mark.parametrize(
    "args,kwargs", [((2,), {}), ((1, 0), {}), ((3,), {"largest": False}), ((4, -1, True, True), {})]
)
def test_topk_like_torch(args, kwargs):
    x, tx = _pair(X)
    res, tres = x.topk(*args, **kwargs), tx.topk(*args, **kwargs)
    assert type(res).__name__ == "topk"
    _same(res.values, tres.values)
    _same(res.indices, tres.indices)
    _same_grad(res.values, tres.values, x, tx)


def test_topk_bad_k_raises():
    with pytest.raises(ValueError, match="out of range"):
        tg.tensor(X).topk(5)


@pytest.mark.parametrize(
    "args,kwargs", [((1,), {}), ((0,), {}), ((-1, True), {}), ((), {"dim": 0})]
)
def test_median_with_dim_is_the_lower_median_with_indices(args, kwargs):
    x, tx = _pair(X)
    res, tres = x.median(*args, **kwargs), tx.median(*args, **kwargs)
    assert type(res).__name__ == "median"
    _same(res.values, tres.values)
    _same(res.indices, tres.indices)
    _same_grad(res.values, tres.values, x, tx)


def test_median_without_dim_is_torchs_lower_median():
    for data in (X, TIES, np.array([1.0, 2.0, 2.0, 3.0]), np.array([np.nan, 1.0, np.nan])):
        x, tx = _pair(data)
        out, tout = x.median(), tx.median()
        np.testing.assert_array_equal(out.data, tout.detach().numpy())
        _same_grad(out, tout, x, tx)


def test_median_with_nan_in_a_slice():
    data = np.array([[1.0, np.nan, 3.0, np.nan], [4.0, 2.0, 3.0, 1.0]])
    res, tres = tg.tensor(data).median(1), torch.tensor(data).median(1)
    np.testing.assert_array_equal(res.values.data, tres.values.numpy())
    _same(res.indices, tres.indices)
    np.testing.assert_array_equal(tg.median(tg.tensor(data), axis=1).data, np.median(data, axis=1))


def test_functional_sort_argsort_median_are_numpy_style():
    x = tg.tensor(X)
    _same(tg.sort(x), np.sort(X))
    _same(tg.sort(x, axis=0), np.sort(X, axis=0))
    _same(tg.sort(x, axis=None), np.sort(X, axis=None))
    _same(tg.argsort(x, axis=0), np.argsort(X, axis=0, kind="stable").astype(np.int64))
    for kw in ({}, {"axis": 1}, {"axis": 0, "keepdims": True}, {"axis": (0, 1)}):
        _same(tg.median(x, **kw), np.median(X, **kw))
    i = np.arange(4)
    _same(tg.median(tg.tensor(i)), np.median(i))
    # Even count: the mean of the two middle values, each with half of the gradient.
    v = tg.tensor([4.0, 1.0, 3.0, 2.0], requires_grad=True)
    tg.median(v).backward()
    np.testing.assert_array_equal(v.grad.data, [0.0, 0.0, 0.5, 0.5])


# --------------------------------------------------------------------------- shape methods
def test_repeat_positional_is_torchs_tile():
    for data, sizes in [(X, (2, 3)), (X, (2, 1, 2)), (np.array([1.0, 2.0]), (3,))]:
        x, tx = _pair(data)
        out, tout = x.repeat(*sizes), tx.repeat(*sizes)
        _same(out, tout)
        _same(x.repeat(sizes), tout)
        _same_grad(out, tout, x, tx)
    with pytest.raises(ShapeMismatchError, match="repeat_interleave"):
        tg.tensor(X).repeat(2)
    with pytest.raises(TapegradError):
        tg.tensor(X).repeat()


def test_repeat_with_axis_is_numpys_and_repeat_interleave_is_torchs():
    x, tx = _pair(X)
    _same(x.repeat(2, axis=1), X.repeat(2, axis=1))
    _same(x.repeat(2, axis=None), X.repeat(2))
    _same(np.repeat(tg.tensor(X), 2), np.repeat(X, 2))
    _same(np.repeat(tg.tensor(X), [1, 2, 0], axis=0), np.repeat(X, [1, 2, 0], axis=0))
    out, tout = x.repeat_interleave(2, dim=0), tx.repeat_interleave(2, dim=0)
    _same(out, tout)
    _same_grad(out, tout, x, tx)
    _same(tg.tensor(X).repeat_interleave(3), torch.tensor(X).repeat_interleave(3))


def test_squeeze_torch_ignores_non_unit_dims_numpy_raises():
    a = np.zeros((2, 1, 3, 1))
    x, tx = tg.tensor(a), torch.tensor(a)
    for dims in (0, 1, (0, 1), (1, 3), -1):
        _same(x.squeeze(dims), tx.squeeze(dims))
    _same(x.squeeze(), tx.squeeze())
    _same(x.squeeze(dim=None), tx.squeeze())
    _same(x.squeeze(axis=1), a.squeeze(axis=1))
    _same(np.squeeze(x), np.squeeze(a))
    with pytest.raises(ShapeMismatchError):
        x.squeeze(axis=0)
    with pytest.raises(ArgumentError, match="mixes"):
        x.squeeze(0, axis=1)


def test_flip_requires_dims_like_torch_or_numpys_axis():
    x, tx = _pair(X)
    for dims in ((0,), (0, 1), ([0, 1],), (-1,)):
        _same(x.flip(*dims), tx.flip(*dims))
    _same(x.flip(axis=None), np.flip(X))
    _same(x.flip(axis=1), np.flip(X, axis=1))
    with pytest.raises(ArgumentError, match="needs the dims"):
        x.flip()
    out, tout = x.flip(1), tx.flip(1)
    _same_grad(out, tout, x, tx)


def test_roll_both_spellings():
    x, tx = tg.tensor(X), torch.tensor(X)
    _same(x.roll(1), tx.roll(1))
    _same(x.roll(1, 0), tx.roll(1, 0))
    _same(x.roll((1, -2), (0, 1)), tx.roll((1, -2), (0, 1)))
    _same(x.roll(shifts=2, dims=1), tx.roll(shifts=2, dims=1))
    _same(x.roll(shift=2, axis=1), np.roll(X, 2, axis=1))
    with pytest.raises(ArgumentError, match="mixes"):
        x.roll(1, axis=0)


def test_clamp_clip_keywords_and_tensor_bounds():
    x, tx = _pair(X)
    lo, tlo = _pair(np.full(4, -0.5))
    out, tout = x.clamp(min=lo, max=tg.tensor(1.0)), tx.clamp(min=tlo, max=torch.tensor(1.0))
    _same(out, tout)
    _same_grad(out, tout, x, tx)
    np.testing.assert_allclose(lo.grad.data, tlo.grad.numpy())
    x = tg.tensor(X)
    _same(x.clamp(max=0.0), torch.tensor(X).clamp(max=0.0))
    _same(x.clip(-1.0, 1.0), torch.tensor(X).clip(-1.0, 1.0))
    _same(x.clamp(2.0, 1.0), torch.tensor(X).clamp(2.0, 1.0))  # min > max: every value is max
    _same(np.clip(x, -1.0, 0.5), np.clip(X, -1.0, 0.5))
    _same(x.clip(a_min=0.0), np.clip(X, 0.0, None))
    with pytest.raises(ArgumentError, match="min or max"):
        x.clamp()


def test_take_both_spellings():
    x, tx = _pair(X)
    idx = np.array([[0, 5], [-1, 11]])
    out, tout = x.take(tg.tensor(idx)), tx.take(torch.tensor(idx))
    _same(out, tout)
    _same_grad(out, tout, x, tx)
    _same(np.take(tg.tensor(X), [0, 3], axis=1), np.take(X, [0, 3], axis=1))
    _same(tg.tensor(X).take([1, 14], mode="wrap"), np.take(X, [1, 14], mode="wrap"))
    _same(tg.tensor(X).take([-3, 20], axis=1, mode="clip"), np.take(X, [-3, 20], 1, mode="clip"))


def test_diagonal_and_trace_both_spellings():
    a = np.arange(24.0).reshape(2, 3, 4)
    x, tx = _pair(a)
    for args, kw in [((), {}), ((1,), {}), ((0, 1, 2), {}), ((-1,), {"dim1": 2, "dim2": 0})]:
        _same(x.diagonal(*args, **kw), tx.diagonal(*args, **kw))
    _same(x.diagonal(1, axis1=1, axis2=2), a.diagonal(1, axis1=1, axis2=2))
    with pytest.raises(ArgumentError, match="mixes"):
        x.diagonal(0, dim1=0, axis2=1)
    m, tm = _pair(X[:, :3])
    out, tout = m.trace(), tm.trace()
    _same(out, tout)
    _same_grad(out, tout, m, tm)
    _same(tg.tensor(a).trace(0, 1, 2), a.trace(0, 1, 2))
    _same(tg.tensor(a).trace(dtype=np.float32), a.trace(dtype=np.float32))


def test_transpose_T_reshape_view_flatten():
    x, tx = tg.tensor(X), torch.tensor(X)
    _same(x.transpose(0, 1), tx.transpose(0, 1))  # NumPy's transpose(0, 1) would be identity
    _same(x.T, tx.T)
    _same(x.transpose(), X.transpose())
    _same(np.transpose(x), np.transpose(X))
    _same(np.transpose(x, (1, 0)), np.transpose(X, (1, 0)))
    _same(x.reshape(2, 6), tx.reshape(2, 6))
    _same(x.view(-1, 3), tx.view(-1, 3))
    _same(np.reshape(x, (6, 2)), np.reshape(X, (6, 2)))
    _same(x.view(np.int64), tx.view(torch.int64))
    _same(x.flatten(), tx.flatten())
    a = np.zeros((2, 3, 4))
    _same(tg.tensor(a).flatten(1), torch.tensor(a).flatten(1))
    _same(x.flatten("F"), X.flatten("F"))
    _same(x.flatten(order="C"), X.flatten(order="C"))
    with pytest.raises(ArgumentError):
        x.reshape(3, 4, order="F")
    with pytest.raises(tg.NotDifferentiableError):
        tg.tensor(X, requires_grad=True).view(np.int64)


# --------------------------------------------------------------------------- elementwise methods
def test_round_decimals_and_unary_method_arguments():
    d = np.array([1.2345, -2.5, 0.5, 1234.5])
    x, tx = _pair(d)
    for dec in (0, 2, -1):
        _same(x.round(decimals=dec), tx.round(decimals=dec))
        _same(np.round(tg.tensor(d), dec), np.round(d, dec))
    out, tout = x.round(decimals=1), tx.round(decimals=1)
    _same_grad(out, tout, x, tx)
    g, tgl = _pair(X)
    _same(g.gelu(approximate="tanh"), torch.nn.functional.gelu(tgl, approximate="tanh"))
    with pytest.raises(TypeError):
        g.exp(2)


# --------------------------------------------------------------------------- size, return types
def test_size_is_numpys_count_and_called_is_torchs_shape():
    a = np.zeros((2, 3, 4))
    x, tx = tg.tensor(a), torch.tensor(a)
    assert x.size == a.size == 24 and np.size(x) == 24
    assert x.size() == tuple(tx.size()) and x.size(1) == tx.size(1) == 3
    assert x.size(-1) == 4
    with pytest.raises(np.exceptions.AxisError):
        x.size(3)


def test_return_types_are_named_tuples_that_pickle():
    import pickle

    res = tg.tensor(X).max(1)
    assert isinstance(res, tg.return_types.max) and isinstance(res, tuple)
    back = pickle.loads(pickle.dumps(res))
    _same(back.values, res.values)
    _same(back.indices, res.indices)
    assert type(tg.topk(tg.tensor(X), 1)) is tg.return_types.topk
