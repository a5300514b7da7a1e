"""Layers take inputs of their parameters' dtype only; the default dtype of new parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad import nn

# name -> (tapegrad layer factory, torch layer factory, input shape)
LAYERS = {
    "Linear": (lambda **k: nn.Linear(3, 2, **k), lambda: torch.nn.Linear(3, 2), (4, 3)),
    "Conv1d": (lambda **k: nn.Conv1d(3, 2, 2, **k), lambda: torch.nn.Conv1d(3, 2, 2), (1, 3, 5)),
    "Conv2d": (
        lambda **k: nn.Conv2d(3, 2, 2, **k),
        lambda: torch.nn.Conv2d(3, 2, 2),
        (1, 3, 5, 5),
    ),
    "BatchNorm1d": (lambda **k: nn.BatchNorm1d(3, **k), lambda: torch.nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (
        lambda **k: nn.BatchNorm2d(3, **k),
        lambda: torch.nn.BatchNorm2d(3),
        (2, 3, 4, 4),
    ),
    "LayerNorm": (lambda **k: nn.LayerNorm(3, **k), lambda: torch.nn.LayerNorm(3), (4, 3)),
    "RNNCell": (lambda **k: nn.RNNCell(3, 2, **k), lambda: torch.nn.RNNCell(3, 2), (4, 3)),
    "LSTMCell": (lambda **k: nn.LSTMCell(3, 2, **k), lambda: torch.nn.LSTMCell(3, 2), (4, 3)),
}

BAD = [("float64", torch.float64), ("int64", torch.int64), ("int32", torch.int32)]


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("dtype, torch_dtype", BAD)
def test_float32_layer_rejects_other_input_dtypes_as_torch(name, dtype, torch_dtype):
    make, make_torch, shape = LAYERS[name]
    with pytest.raises((RuntimeError, NotImplementedError)):
        make_torch()(torch.ones(shape, dtype=torch_dtype))
    layer = make()
    x = tg.tensor(np.ones(shape, dtype))
    with pytest.raises(tg.DtypeMismatchError) as info:
        layer(x)
    err = info.value
    assert isinstance(err, tg.TapegradError)
    assert isinstance(err, RuntimeError) and isinstance(err, TypeError)
    msg = str(err)
    assert name in msg and dtype in msg and "float32" in msg
    assert "x.float()" in msg
    if dtype == "float64":
        assert "model.double()" in msg and "tg.set_default_dtype('float64')" in msg
    # NumPy arrays are checked the same way
    with pytest.raises(tg.DtypeMismatchError):
        layer(np.ones(shape, dtype))


@pytest.mark.parametrize("name", list(LAYERS))
def test_float64_layer_rejects_float32_and_takes_float64(name):
    make, _, shape = LAYERS[name]
    layer = make(dtype="float64")
    with pytest.raises(tg.DtypeMismatchError, match=r"float32.*float64.*x\.double\(\)") as info:
        layer(tg.ones(shape, dtype="float32"))
    assert "model.float()" in str(info.value)
    out = layer(tg.ones(shape))
    out = out[0] if isinstance(out, tuple) else out
    assert out.dtype == np.float64


@pytest.mark.parametrize("name", list(LAYERS))
def test_matching_dtypes_keep_the_parameters_dtype(name):
    make, make_torch, shape = LAYERS[name]
    out = make()(tg.ones(shape, dtype="float32"))
    out = out[0] if isinstance(out, tuple) else out
    ref = make_torch()(torch.ones(shape))
    ref = ref[0] if isinstance(ref, tuple) else ref
    assert out.dtype == np.float32 and ref.dtype == torch.float32


@pytest.mark.parametrize("name", list(LAYERS))
def test_model_double_then_float64_input_works(name):
    make, _, shape = LAYERS[name]
    model = nn.Sequential(make()).double()
    out = model(tg.ones(shape))
    out = out[0] if isinstance(out, tuple) else out
    assert out.dtype == np.float64


def test_recurrent_state_dtype_is_checked_as_torch():
    with pytest.raises(RuntimeError):
        torch.nn.RNNCell(3, 2)(torch.ones(4, 3), torch.ones(4, 2, dtype=torch.float64))
    with pytest.raises(RuntimeError):
        torch.nn.LSTMCell(3, 2)(torch.ones(4, 3), (torch.ones(4, 2, dtype=torch.float64),) * 2)
    x = tg.ones((4, 3), dtype="float32")
    h32, h64 = tg.zeros((4, 2), dtype="float32"), tg.zeros((4, 2))
    with pytest.raises(tg.DtypeMismatchError, match="RNNCell: the hx has dtype float64"):
        nn.RNNCell(3, 2)(x, h64)
    with pytest.raises(tg.DtypeMismatchError, match="LSTMCell: the h has dtype float64"):
        nn.LSTMCell(3, 2)(x, (h64, h32))
    with pytest.raises(tg.DtypeMismatchError, match="LSTMCell: the c has dtype float64"):
        nn.LSTMCell(3, 2)(x, (h32, h64))
    assert nn.RNNCell(3, 2)(x, h32).dtype == np.float32


def test_norm_layers_without_parameters_follow_torch():
    # no parameters and no running statistics: any floating input, as torch
    x64 = np.ones((4, 3))
    assert torch.nn.LayerNorm(3, elementwise_affine=False)(torch.tensor(x64)).dtype == (
        torch.float64
    )
    assert nn.LayerNorm(3, elementwise_affine=False)(tg.tensor(x64)).dtype == np.float64
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    tbn = torch.nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert tbn(torch.tensor(x64)).dtype == torch.float64
    assert bn(tg.tensor(x64)).dtype == np.float64
    # ... but not integers
    with pytest.raises(NotImplementedError):
        tbn(torch.ones(4, 3, dtype=torch.int64))
    with pytest.raises(tg.DtypeMismatchError, match="BatchNorm1d.*int64.*floating"):
        bn(tg.tensor(np.ones((4, 3), np.int64)))
    with pytest.raises(tg.DtypeMismatchError, match="LayerNorm.*int64"):
        nn.LayerNorm(3, elementwise_affine=False)(tg.tensor(np.ones((4, 3), np.int64)))
    # running statistics without affine parameters still fix the dtype (torch: RuntimeError)
    with pytest.raises(RuntimeError):
        torch.nn.BatchNorm1d(3, affine=False)(torch.tensor(x64))
    with pytest.raises(tg.DtypeMismatchError, match="BatchNorm1d.*float64.*float32"):
        nn.BatchNorm1d(3, affine=False)(tg.tensor(x64))
    with pytest.raises(tg.DtypeMismatchError, match="BatchNorm1d.*float64.*float32"):
        nn.BatchNorm1d(3, affine=False).eval()(tg.tensor(x64))


def test_embedding_indices_must_be_integers_output_is_weight_dtype():
    with pytest.raises(RuntimeError):
        torch.nn.Embedding(3, 2)(torch.ones(4, dtype=torch.float64))
    emb = nn.Embedding(3, 2)
    with pytest.raises(tg.DtypeMismatchError, match="integer indices.*float64") as info:
        emb(tg.tensor([0.0, 1.0]))
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, TypeError)
    for dt in ("int32", "int64", "uint8"):
        assert emb(np.array([0, 2], dt)).dtype == np.float32
    assert nn.Embedding(3, 2, dtype="float64")(np.array([1])).dtype == np.float64


def test_default_dtype_is_float32_like_torch():
    assert tg.get_default_dtype() == np.float32
    assert torch.get_default_dtype() == torch.float32
    assert nn.Linear(2, 2).weight.dtype == np.float32


@pytest.mark.parametrize(
    "spec", ["float64", np.float64, np.dtype("float64"), tg.zeros(1).dtype, "f8", "double"]
)
def test_set_default_dtype_accepts_float64_spellings(spec):
    tg.set_default_dtype(spec)
    assert tg.get_default_dtype() == np.float64
    assert isinstance(tg.get_default_dtype(), np.dtype)


def test_set_default_dtype_makes_every_layer_in_it():
    tg.set_default_dtype(np.float64)
    made = [
        nn.Linear(3, 2).weight,
        nn.Linear(3, 2).bias,
        nn.Conv1d(1, 1, 2).weight,
        nn.Conv2d(1, 1, 2).bias,
        nn.BatchNorm1d(2).weight,
        nn.BatchNorm2d(2).running_mean,
        nn.BatchNorm2d(2).running_var,
        nn.LayerNorm(2).bias,
        nn.Embedding(3, 2).weight,
        nn.RNNCell(2, 2).weight_hh,
        nn.LSTMCell(2, 2).bias_ih,
        nn.Parameter(),
    ]
    assert [p.dtype for p in made] == [np.dtype(np.float64)] * len(made)
    # an explicit dtype= wins over the default
    assert nn.Linear(3, 2, dtype="float32").weight.dtype == np.float32
    # the step counter stays an integer
    assert nn.BatchNorm1d(2).num_batches_tracked.dtype == np.int64
    # float64 data now feeds new layers directly
    assert nn.Linear(3, 2)(tg.ones((1, 3))).dtype == np.float64
    tg.set_default_dtype("float32")
    assert nn.Linear(3, 2).weight.dtype == np.float32
    assert nn.Parameter().dtype == np.float32


def test_default_dtype_does_not_change_data_from_python_floats():
    # Unlike torch (where torch.tensor(1.0) follows the default), data keeps NumPy's dtypes.
    for dt in ("float32", "float64"):
        tg.set_default_dtype(dt)
        assert tg.tensor(1.0).dtype == np.float64
        assert tg.tensor([1.0, 2.0]).dtype == np.float64
        assert tg.zeros(2).dtype == np.float64
        assert tg.tensor([1.0], dtype="float32").dtype == np.float32


@pytest.mark.parametrize(
    "spec", ["int64", np.int32, "float16", np.complex128, "bool", None, "nonsense", 3, object]
)
def test_set_default_dtype_rejects_others(spec):
    with pytest.raises(TypeError):  # torch takes floating dtypes only too
        torch.set_default_dtype(torch.int64)
    with pytest.raises(tg.DtypeMismatchError, match="float32 or float64") as info:
        tg.set_default_dtype(spec)
    assert isinstance(info.value, TypeError)
    assert tg.get_default_dtype() == np.float32  # unchanged


@pytest.mark.parametrize("bad", ["int64", "bool", "nonsense"])
def test_layer_dtype_argument_must_be_floating(bad):
    with pytest.raises(TypeError, match="Linear"):
        nn.Linear(2, 2, dtype=bad)
    with pytest.raises(TypeError, match="Conv2d"):
        nn.Conv2d(1, 1, 2, dtype=bad)


def test_dropout_in_training_mode_refuses_integer_input_like_torch():
    x = tg.tensor(np.array([1, 2, 3]))
    with pytest.raises(tg.DtypeMismatchError, match="Dropout: the input has dtype int64"):
        tg.nn.Dropout(0.5)(x)
    with pytest.raises(RuntimeError):  # torch refuses it too
        torch.nn.functional.dropout(torch.tensor([1, 2, 3]), 0.5, True)
    drop = tg.nn.Dropout(0.5)
    drop.eval()
    assert drop(x) is x  # eval mode passes anything through, as torch does
