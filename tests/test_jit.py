"""tg.jit's API: the cache and its keys, guards on captured tensors, static and donated
arguments, pytrees, has_aux, concretization errors, eager's errors, memory, lower().

Values are compared with eager mode bit for bit (the compiled program calls the same NumPy
functions in the same order).  The op table is covered by test_jit_ops.py, transforms in
test_jit_transforms.py, random draws and training steps in test_jit_training.py.
"""

from __future__ import annotations

import ast
import gc
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd.node import Node
from tapegrad.errors import (
    ConcretizationError,
    IndexingError,
    InvalidArgumentError,
    InvalidTypeError,
    LinAlgError,
    ShapeMismatchError,
)
from tapegrad.jit import Jitted

from .jitutil import assert_same

RNG = np.random.default_rng(0)
X3 = RNG.standard_normal(3)
Y3 = RNG.standard_normal(3)


def f_elementwise(x, y):
    return tg.sin(x) * y + 1.0


# ---------------------------------------------------------------------- the cache, retracing


def test_same_signature_traces_once_and_computes_new_values():
    j = tg.jit(f_elementwise)
    for k in range(4):
        x, y = X3 + k, Y3 - k
        assert_same(j(x, y), f_elementwise(tg.tensor(x), tg.tensor(y)).data, f"call {k}")
    assert (j.trace_count, j.cache_size) == (1, 1)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param((np.ones(4), np.ones(4)), id="shape"),
        pytest.param((X3.astype(np.float32), Y3.astype(np.float32)), id="dtype"),
        pytest.param((tg.tensor(X3), tg.tensor(Y3)), id="tensor-vs-ndarray"),
        pytest.param((X3, tg.tensor(Y3)), id="one-tensor"),
    ],
)
def test_new_signature_retraces(other):
    j = tg.jit(f_elementwise)
    j(X3, Y3)
    got = j(*other)
    assert (j.trace_count, j.cache_size) == (2, 2)
    want = f_elementwise(*[tg.tensor(a) if not isinstance(a, tg.Tensor) else a for a in other])
    assert_same(got.data if isinstance(got, tg.Tensor) else got, want.data)
    assert isinstance(got, tg.Tensor) == any(isinstance(a, tg.Tensor) for a in other)
    j(X3 + 1, Y3)
    j(*other)
    assert j.trace_count == 2


def test_requires_grad_is_part_of_the_key():
    j = tg.jit(lambda x: tg.sum(x * x))
    j(tg.tensor(X3))
    j(tg.tensor(X3, requires_grad=True))
    assert j.trace_count == 2
    j(tg.tensor(X3, requires_grad=True))
    j(tg.tensor(X3))
    assert j.trace_count == 2


def test_pytree_structure_is_part_of_the_key():
    j = tg.jit(lambda t: t[0] * t[1])
    j([X3, Y3])
    j((X3, Y3))
    assert j.trace_count == 2
    d = tg.jit(lambda d: d["a"] - d["b"])
    assert_same(d({"a": X3, "b": Y3}), X3 - Y3)
    assert_same(d({"a": X3, "b": Y3, "c": Y3}), X3 - Y3)
    assert d.trace_count == 2


def test_python_float_and_int_are_traced_with_their_own_keys():
    j = tg.jit(lambda x, s: x * s)
    assert_same(j(X3, 2.0), X3 * 2.0)
    assert_same(j(X3, 3.5), X3 * 3.5)  # a traced float: not baked in
    assert j.trace_count == 1
    assert_same(j(X3, 3), (tg.tensor(X3) * tg.tensor(np.int64(3))).data)
    assert_same(j(X3, 5), X3 * 5)
    assert j.trace_count == 2
    i = tg.jit(lambda n: n * 2)
    r = i(3)
    assert isinstance(r, np.integer) and r == 6
    assert i(7) == 14 and i.trace_count == 1
    f = i(2.5)
    assert isinstance(f, np.floating) and f == 5.0 and i.trace_count == 2


def test_static_value_is_part_of_the_key():
    j = tg.jit(lambda x, n: x * n, static_argnums=1)
    assert_same(j(X3, 2), X3 * 2)
    assert_same(j(X3, 3), X3 * 3)
    assert_same(j(X3, 2), X3 * 2)
    assert (j.trace_count, j.cache_size) == (2, 2)


def test_clear_cache_forgets_every_signature():
    j = tg.jit(f_elementwise)
    j(X3, Y3)
    j(np.ones(2), np.ones(2))
    assert j.cache_size == 2
    j.clear_cache()
    assert j.cache_size == 0
    assert_same(j(X3, Y3), f_elementwise(tg.tensor(X3), tg.tensor(Y3)).data)
    assert (j.trace_count, j.cache_size) == (3, 1)


def test_captured_tensor_changing_shape_retraces():
    w = tg.tensor(np.arange(3.0))
    j = tg.jit(lambda x: x * w)
    assert_same(j(X3), X3 * np.arange(3.0))
    w.data = np.arange(6.0).reshape(2, 3)  # broadcasts with x: same call signature
    got = j(X3)
    assert got.shape == (2, 3)
    assert_same(got, X3 * np.arange(6.0).reshape(2, 3))
    assert (j.trace_count, j.cache_size) == (2, 2)
    w.data = np.ones(3)  # the first program applies again
    assert_same(j(X3), X3 * np.ones(3))
    assert j.trace_count == 2


def test_captured_tensor_changing_dtype_retraces():
    w = tg.tensor(np.ones(3))
    j = tg.jit(lambda x: x + w)
    j(X3.astype(np.float32))
    w.data = np.ones(3, np.float32)
    got = j(X3.astype(np.float32))
    assert got.dtype == np.float32 and j.trace_count == 2


def test_captured_tensor_is_read_at_call_time():
    w = tg.tensor(np.ones(3))
    j = tg.jit(lambda x: x * w)
    j(X3)
    w.data[:] = 2.0  # in place, behind the tape's back
    assert_same(j(X3), X3 * 2.0)
    with tg.no_grad():
        w.mul_(3.0)  # in place through tapegrad
    assert_same(j(X3), X3 * 6.0)
    w.data = np.full(3, -1.0)  # a new array of the same signature
    assert_same(j(X3), -X3)
    assert j.trace_count == 1


def test_captured_module_parameters_are_read_at_call_time():
    tg.random.seed(0)
    lin = tg.nn.Linear(3, 2, dtype="float64")
    j = tg.jit(lambda x: lin(x))
    x = tg.tensor(RNG.standard_normal((4, 3)))
    assert_same(j(x), lin(x))
    with tg.no_grad():
        lin.weight.add_(1.0)
    assert_same(j(x), lin(x))
    assert j.trace_count == 1


def test_a_captured_grad_is_guarded_and_read_at_call_time():
    w = tg.tensor(np.ones(3), requires_grad=True)

    def f(x):
        g = w.grad
        return x if g is None else x + g

    j = tg.jit(f)
    assert_same(j(X3), X3)
    w.grad = tg.tensor(np.full(3, 2.0))  # None -> an array: a new program
    assert_same(j(X3), X3 + 2.0)
    w.grad.data[:] = 5.0
    assert_same(j(X3), X3 + 5.0)
    w.grad = tg.tensor(np.full(3, 7.0))
    assert_same(j(X3), X3 + 7.0)
    assert j.trace_count == 2
    w.grad = None
    assert_same(j(X3), X3)
    assert j.trace_count == 2


def test_grad_accumulation_into_a_captured_tensor():
    w, we = tg.tensor(np.ones(3), requires_grad=True), tg.tensor(np.ones(3), requires_grad=True)

    def acc(x):
        tg.sum(w * x * x).backward()
        return tg.sum(w.grad)

    j = tg.jit(acc)
    for k in range(4):
        got = j(X3 + k)
        xe = tg.tensor(X3 + k)
        tg.sum(we * xe * xe).backward()
        assert_same(w.grad, we.grad, f"call {k}")
        assert_same(got, np.sum(we.grad.data), f"call {k}")
    assert j.trace_count == 2  # .grad None, then an array


# ---------------------------------------------------------------------- static arguments


def repeat_flag_mode(x, n, negate, mode):
    for _ in range(n):
        x = x * 2.0
    if negate:
        x = -x
    return x + 1.0 if mode == "add" else x - 1.0


@pytest.mark.parametrize(
    "static",
    [
        pytest.param({"static_argnums": (1, 2, 3)}, id="argnums"),
        pytest.param({"static_argnums": (1,), "static_argnames": ("negate", "mode")}, id="names"),
    ],
)
def test_static_int_bool_and_string(static):
    j = tg.jit(repeat_flag_mode, **static)
    calls = [(2, True, "add"), (2, True, "add"), (3, True, "add"), (3, False, "sub")]
    for n, negate, mode in calls:
        want = repeat_flag_mode(tg.tensor(X3), n, negate, mode).data
        if "static_argnames" in static:
            got = j(X3, n, negate=negate, mode=mode)
        else:
            got = j(X3, n, negate, mode)
        assert_same(got, want, str((n, negate, mode)))
    assert j.trace_count == 3


def test_bool_and_string_arguments_are_static_without_asking():
    j = tg.jit(lambda x, negate, mode: repeat_flag_mode(x, 1, negate, mode))
    assert_same(j(X3, True, "add"), repeat_flag_mode(tg.tensor(X3), 1, True, "add").data)
    assert_same(j(X3, False, "sub"), repeat_flag_mode(tg.tensor(X3), 1, False, "sub").data)
    assert j.trace_count == 2


def test_python_int_in_range_needs_static_argnums():
    j = tg.jit(repeat_flag_mode)
    with pytest.raises(ConcretizationError):
        j(X3, 2, True, "add")


@pytest.mark.parametrize("how", ["argnums", "argnames"])
def test_unhashable_static_argument_is_a_clear_error(how):
    if how == "argnums":
        j = tg.jit(lambda x, n: x * len(n), static_argnums=1)
        call = lambda: j(X3, [1, 2])
    else:
        j = tg.jit(lambda x, n: x * len(n), static_argnames="n")
        call = lambda: j(X3, n=[1, 2])
    with pytest.raises(InvalidTypeError, match="hashable") as e:
        call()
    assert isinstance(e.value, TypeError)
    assert "list" in str(e.value) and "tuple" in str(e.value)


def test_keyword_arguments_are_traced():
    def f(x, *, scale, shift=0.0):
        return x * scale + shift

    j = tg.jit(f)
    assert_same(j(X3, scale=2.0), X3 * 2.0 + 0.0)
    assert_same(j(X3, scale=3.0, shift=1.0), X3 * 3.0 + 1.0)
    assert_same(j(X3, shift=-1.0, scale=0.5), X3 * 0.5 - 1.0)  # order does not matter
    assert j.trace_count == 2
    assert_same(j(X3, scale=Y3), X3 * Y3 + 0.0)
    assert j.trace_count == 3


def test_decorator_forms():
    @tg.jit
    def plain(x, y):
        return x * y

    @tg.jit(static_argnums=1)
    def powered(x, n):
        out = x
        for _ in range(n - 1):
            out = out * x
        return out

    assert isinstance(plain, Jitted) and isinstance(powered, Jitted)
    assert plain.__name__ == "plain" and powered.__name__ == "powered"
    assert_same(plain(X3, Y3), X3 * Y3)
    assert_same(powered(X3, 3), X3 * X3 * X3)
    assert_same(powered(X3, 2), X3 * X3)
    assert powered.trace_count == 2


def test_method():
    class Scaler:
        def __init__(self, a):
            self.a = tg.tensor(a)

        @tg.jit
        def __call__(self, x):
            return x * self.a + 1.0

    s1, s2 = Scaler(np.full(3, 2.0)), Scaler(np.full(3, -3.0))
    assert_same(s1(X3), X3 * 2.0 + 1.0)
    assert_same(s2(X3), X3 * -3.0 + 1.0)
    assert_same(s1(Y3), Y3 * 2.0 + 1.0)
    assert Scaler.__call__.trace_count == 2  # self is static: one program per instance


# ---------------------------------------------------------------------- pytrees


def nested(d):
    a = d["a"]
    b0, b1 = d["b"]
    return {
        "sum": a + b0,
        "list": [b1 * 2.0, None, (a * b1, a - b1)],
        "const": 3,
        "text": "ok",
        "scale": 1.5,
        "tuple": (a,),
    }


def _tree_of_tensors(t):
    if isinstance(t, dict):
        return {k: _tree_of_tensors(v) for k, v in t.items()}
    if isinstance(t, (list, tuple)):
        return type(t)(_tree_of_tensors(v) for v in t)
    return tg.tensor(t) if isinstance(t, np.ndarray) else t


def _tree_of_arrays(t):
    if isinstance(t, dict):
        return {k: _tree_of_arrays(v) for k, v in t.items()}
    if isinstance(t, (list, tuple)):
        return type(t)(_tree_of_arrays(v) for v in t)
    return t.data if isinstance(t, tg.Tensor) else t


@pytest.mark.parametrize("as_tensors", [False, True])
def test_nested_pytree_inputs_and_outputs(as_tensors):
    j = tg.jit(nested)
    for k in range(3):
        inp = {"a": X3 + k, "b": [Y3, X3 * Y3 - k]}
        want = nested(_tree_of_tensors(inp))
        if as_tensors:
            got = j(_tree_of_tensors(inp))
            assert isinstance(got["sum"], tg.Tensor)
        else:
            got = j(inp)
            assert isinstance(got["sum"], np.ndarray)
        assert_same(_tree_of_arrays(got), _tree_of_arrays(want), f"call {k}")
    assert j.trace_count == 1


def test_pytree_outputs_of_a_differentiable_call():
    j = tg.jit(nested)
    x = tg.tensor(X3, requires_grad=True)
    for k in range(2):
        got = j({"a": x, "b": [tg.tensor(Y3), tg.tensor(X3)]})
        want = nested({"a": x, "b": [tg.tensor(Y3), tg.tensor(X3)]})
        assert_same(_tree_of_arrays(got), _tree_of_arrays(want), f"call {k}")
        assert got["sum"].grad_fn is not None
    assert j.trace_count == 1


def test_none_leaves_in_the_inputs():
    def f(x, extra=None, opts=(None, 2.0)):
        out = x if extra is None else x + extra
        return out * opts[1]

    j = tg.jit(f)
    assert_same(j(X3), X3 * 2.0)
    assert_same(j(X3, None), X3 * 2.0)
    assert_same(j(X3, Y3), (X3 + Y3) * 2.0)
    assert_same(j(X3, None, (None, 3.0)), X3 * 3.0)
    assert j.trace_count == 4
    assert_same(j(X3, None, (None, 4.0)), X3 * 4.0)  # the float beside None is traced
    assert j.trace_count == 4


def test_constant_outputs():
    j = tg.jit(lambda x: (1, "s", None, 2.5, x * 2.0))
    for _ in range(2):
        got = j(X3)
        assert got[:4] == (1, "s", None, 2.5)
        assert type(got[0]) is int and type(got[3]) is float
        assert_same(got[4], X3 * 2.0)


# ---------------------------------------------------------------------- has_aux


def loss_with_aux(w, x):
    y = tg.sum(w * x)
    return y * y, {"y": y, "n": 1}


@pytest.mark.parametrize("as_tensors", [False, True])
def test_value_and_grad_with_aux(as_tensors):
    vg = tg.value_and_grad(loss_with_aux, has_aux=True)
    j = tg.jit(vg)
    for k in range(3):
        w, x = X3 + k, Y3
        (we, aux_e), ge = vg(tg.tensor(w), tg.tensor(x))
        args = (tg.tensor(w), tg.tensor(x)) if as_tensors else (w, x)
        (v, aux), g = j(*args)
        assert_same(v, we.data)
        assert_same(aux["y"], aux_e["y"].data)
        assert aux["n"] == 1 and type(aux["n"]) is int
        assert_same(g, ge.data)
    assert j.trace_count == 1


def test_grad_with_aux():
    gf = tg.grad(loss_with_aux, has_aux=True)
    j = tg.jit(gf)
    for k in range(3):
        w = X3 * (k + 1)
        ge, aux_e = gf(w, Y3)
        g, aux = j(w, Y3)
        assert_same(g, ge)
        assert_same(aux["y"], aux_e["y"].data)
        assert aux["n"] == 1
    assert j.trace_count == 1


# ---------------------------------------------------------------------- donate_argnums


def chain(x):
    return tg.exp(tg.sin(x) * 2.0 + 1.0)


def test_donated_buffer_is_reused_by_an_elementwise_chain():
    x = np.linspace(-1.0, 1.0, 7)
    want = chain(tg.tensor(x)).data
    j = tg.jit(chain, donate_argnums=0)
    assert_same(j(x.copy()), want)  # the trace run
    for _ in range(2):
        buf = x.copy()
        got = j(buf)
        assert_same(got, want)
        assert np.shares_memory(got, buf)
    assert j.trace_count == 1


def test_without_donation_the_input_is_left_alone():
    x = np.linspace(-1.0, 1.0, 7)
    j = tg.jit(chain)
    j(x)
    buf = x.copy()
    got = j(buf)
    assert not np.shares_memory(got, buf)
    assert_same(buf, x)


def test_donating_one_of_two_arguments():
    j = tg.jit(lambda x, y: tg.sin(x) * y + y, donate_argnums=(1,))
    x, y = X3.copy(), Y3.copy()
    want = (tg.sin(tg.tensor(x)) * tg.tensor(y) + tg.tensor(y)).data
    j(x, y.copy())
    buf = y.copy()
    assert_same(j(x, buf), want)
    assert_same(x, X3)  # not donated: unchanged


def test_static_and_donated_argument_is_an_error():
    with pytest.raises(InvalidArgumentError, match="static and donated"):
        tg.jit(chain, static_argnums=0, donate_argnums=0)
    with pytest.raises(InvalidArgumentError):
        tg.jit(chain, static_argnums=(0, 1), donate_argnums=(1,))


# ---------------------------------------------------------------------- concretization

CONCRETIZE = {
    "if": (lambda x: x if tg.sum(x) > 0 else -x, "bool(tensor)"),
    "float": (lambda x: x * float(tg.sum(x)), "float(tensor)"),
    "int": (lambda x: x * int(tg.sum(x)), "int(tensor)"),
    "item": (lambda x: x * tg.sum(x).item(), "item()"),
    "bool": (lambda x: x * bool(tg.sum(x)), "bool(tensor)"),
    "tolist": (lambda x: x.tolist(), "tolist()"),
    "asarray": (lambda x: np.asarray(x), "np.asarray"),
    "numpy": (lambda x: x.numpy(), "numpy()"),
    "mask": (lambda x: x[x > 0], "boolean mask"),
    "while": (lambda x: _halve_until_small(x), "bool(tensor)"),
}


def _halve_until_small(x):
    while tg.max(x) > 1.0:
        x = x / 2.0
    return x


@pytest.mark.parametrize("name", list(CONCRETIZE))
@pytest.mark.parametrize("as_tensor", [False, True])
def test_concretizing_a_traced_value_raises(name, as_tensor):
    f, what = CONCRETIZE[name]
    f(tg.tensor(X3))  # fine in eager mode
    arg = tg.tensor(X3) if as_tensor else X3
    with pytest.raises(ConcretizationError) as e:
        tg.jit(f)(arg)
    msg = str(e.value)
    assert isinstance(e.value, TypeError)
    assert what in msg
    assert "tg.where" in msg and "static_argnums" in msg


def test_concretizing_a_captured_constant_is_allowed():
    c = tg.tensor(np.array([2.0, -1.0, 0.5]))
    s = tg.tensor(np.array(3.0))
    m = np.array([True, False, True])

    def f(x):
        scale = float(s) + s.item() + int(s)
        first = c.tolist()[0]
        arr = np.asarray(c)
        out = x * scale + first + arr[1]
        if bool(s):
            out = out + 1.0
        return out[m]

    want = f(tg.tensor(X3)).data
    j = tg.jit(f)
    assert_same(j(X3), want)
    assert_same(j(X3), want)


def test_concretization_error_leaves_no_tracer_behind():
    j = tg.jit(CONCRETIZE["float"][0])
    with pytest.raises(ConcretizationError):
        j(X3)
    assert j.cache_size == 0
    assert tg.autograd.grad_mode.active_tracer() is None
    assert_same(tg.jit(f_elementwise)(X3, Y3), f_elementwise(tg.tensor(X3), tg.tensor(Y3)).data)


# ---------------------------------------------------------------------- eager's errors


def _error_of(fn, *args):
    with pytest.raises(Exception) as e:
        fn(*args)
    return e


def test_bad_shape_raises_eagers_error():
    mm = lambda a, b: a @ b
    a, b = tg.tensor(np.ones((2, 3))), tg.tensor(np.ones((2, 3)))
    want = _error_of(mm, a, b)
    assert want.type is ShapeMismatchError
    j = tg.jit(mm)
    got = _error_of(j, a, b)
    assert got.type is want.type and str(got.value) == str(want.value)
    got = _error_of(j, np.ones((2, 3)), np.ones((2, 3)))
    assert got.type is want.type and str(got.value) == str(want.value)
    assert j.cache_size == 0
    assert_same(j(np.ones((2, 3)), np.ones((3, 2))), np.full((2, 2), 3.0))


@pytest.mark.parametrize("as_tensors,requires_grad", [(False, False), (True, False), (True, True)])
def test_singular_matrix_on_a_later_call_raises_eagers_error(as_tensors, requires_grad):
    f = lambda a: tg.sum(tg.linalg.inv(a))
    mk = (lambda a: tg.tensor(a, requires_grad=requires_grad)) if as_tensors else (lambda a: a)
    j = tg.jit(f)
    j(mk(np.eye(2) * 2.0))
    assert_same(tg.tensor(j(mk(np.eye(2) * 4.0))).data, f(tg.tensor(np.eye(2) * 4.0)).data)
    want = _error_of(f, tg.tensor(np.zeros((2, 2))))
    assert want.type is LinAlgError
    got = _error_of(j, mk(np.zeros((2, 2))))
    assert got.type is want.type and str(got.value) == str(want.value)
    assert j.trace_count == 1


@pytest.mark.parametrize("as_tensors,requires_grad", [(False, False), (True, False), (True, True)])
def test_index_out_of_range_on_a_later_call_raises_eagers_error(as_tensors, requires_grad):
    f = lambda x, i: x[i] * 2.0
    x = tg.tensor(np.arange(3.0), requires_grad=requires_grad) if as_tensors else np.arange(3.0)
    j = tg.jit(f)
    j(x, np.array([0, 2]))
    want = _error_of(f, tg.tensor(np.arange(3.0)), tg.tensor(np.array([0, 5])))
    assert want.type is IndexingError
    got = _error_of(j, x, np.array([0, 5]))
    assert got.type is want.type and str(got.value) == str(want.value)
    assert j.trace_count == 1


def test_after_an_error_the_program_still_works():
    j = tg.jit(lambda a: tg.linalg.inv(a))
    j(np.eye(2))
    with pytest.raises(LinAlgError):
        j(np.zeros((2, 2)))
    assert_same(j(np.eye(2) * 2.0), np.eye(2) * 0.5)
    assert j.trace_count == 1


# ---------------------------------------------------------------------- memory


def _nodes() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, Node))


def test_compiled_calls_create_no_tape_nodes_when_nothing_requires_grad():
    w = tg.tensor(np.ones(3))
    j = tg.jit(lambda x: tg.sum(tg.sin(x) * x * w))
    x = tg.tensor(X3)
    j(x)
    gc.collect()
    gc.disable()
    try:
        before = _nodes()
        for _ in range(50):
            j(x)
        assert _nodes() == before
        # (the count sees nodes: a differentiable call records one that stays with its result)
        kept = [j(tg.tensor(X3, requires_grad=True)) for _ in range(3)]
        assert _nodes() == before + 3
        del kept
        assert _nodes() == before
    finally:
        gc.enable()


def test_repeated_differentiable_calls_do_not_leak():
    j = tg.jit(lambda x: tg.sum(tg.sin(x) * x))
    x = tg.tensor(X3, requires_grad=True)
    j(x).backward()
    gc.collect()
    gc.disable()
    try:
        before = _nodes()
        for _ in range(50):
            x.grad = None
            j(x).backward()
        assert _nodes() == before
    finally:
        gc.enable()


@pytest.mark.parametrize("requires_grad", [False, True])
def test_the_traces_graph_is_freed_after_tracing(requires_grad):
    seen: list = []

    def f(x):
        y = tg.sin(x) * 2.0
        seen.append(weakref.ref(y))
        return tg.sum(y * x)

    gc.collect()
    gc.disable()
    try:
        out = tg.jit(f)(tg.tensor(X3, requires_grad=requires_grad))
        assert seen[0]() is None
        del out
    finally:
        gc.enable()


# ---------------------------------------------------------------------- lower()


def test_lower_prints_one_equation_per_line():
    j = tg.jit(f_elementwise)
    low = j.lower(X3, Y3)
    text = str(low)
    lines = text.splitlines()
    eqns = [ln for ln in lines if " = " in ln]
    assert len(eqns) == len(low.graph.eqns) == 3
    assert "v0:f64[3], v1:f64[3]" in lines[0]
    assert any("f64[3] = sin(v0)" in ln for ln in eqns)
    assert any("= multiply(" in ln for ln in eqns)
    assert any("= add(" in ln and "1.0" in ln for ln in eqns)
    assert "f32[2,4]" in str(j.lower(np.ones((2, 4), np.float32), np.ones((2, 4), np.float32)))
    assert repr(low).startswith("<Lowered: 3 equations")
    assert low.trace_seconds >= 0 and low.compile_seconds >= 0


def test_lower_source_is_python_with_a_def():
    low = tg.jit(f_elementwise).lower(X3, Y3)
    tree = ast.parse(low.source)
    assert "def " in low.source
    assert any(isinstance(n, ast.FunctionDef) for n in tree.body)


def test_lower_of_a_cached_signature_does_not_retrace():
    j = tg.jit(f_elementwise)
    j(X3, Y3)
    a = j.lower(X3 + 1, Y3)
    b = j.lower(X3, Y3 - 1)
    assert j.trace_count == 1
    assert str(a) == str(b) and a.source == b.source
    j.lower(np.ones(5), np.ones(5))  # a new signature: traced now, and cached for the call
    assert j.trace_count == 2
    j(np.ones(5), np.ones(5))
    assert j.trace_count == 2


def test_lower_shows_captured_tensors():
    w = tg.tensor(np.ones((2, 3)))
    text = str(tg.jit(lambda x: x * w).lower(np.ones(3)))
    assert "captured tensor f64[2,3]" in text


def test_negative_static_and_donated_argnums_count_from_the_end():
    f = tg.jit(lambda x, n: x * n if n > 1 else x, static_argnums=-1)
    assert np.array_equal(f(np.ones(2), 3), [3.0, 3.0])
    assert np.array_equal(f(np.ones(2), 1), [1.0, 1.0])
    assert f.trace_count == 2
    g = tg.jit(lambda x: tg.exp(tg.sin(x)), donate_argnums=-1)
    x = np.linspace(0.0, 1.0, 5)
    g(x.copy())
    buf = x.copy()
    assert np.shares_memory(g(buf), buf)


def test_copies_of_traced_values_follow_the_arguments():
    # tg.tensor / Tensor / as_tensor copy their input: the compiled program copies the
    # argument of this call, not the traced one (and makes a fresh constant every call)
    f = tg.jit(lambda x: tg.tensor(x) * 2.0)
    assert np.array_equal(f(np.ones(2)), [2.0, 2.0])
    assert np.array_equal(f(np.full(2, 5.0)), [10.0, 10.0])
    g = tg.jit(lambda x: tg.Tensor(x) * 2.0)
    assert np.array_equal(g(tg.full(2, 5.0)).data, [10.0, 10.0])
    a = tg.jit(lambda x: tg.as_tensor(x, dtype=np.float64) * 2.0)
    a(np.ones(2, np.int64))
    assert np.array_equal(a(np.full(2, 5, np.int64)), [10.0, 10.0])
    c = tg.jit(lambda x: (x + 0.0, tg.tensor([1.0, 2.0])))
    _, k = c(np.ones(2))
    k += 100.0  # the caller changes its result: the next call's constant is intact
    assert np.array_equal(c(np.ones(2))[1], [1.0, 2.0])
    assert f.trace_count == 1 and a.trace_count == 1
