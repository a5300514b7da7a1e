"""Guards in the core: complex data refused where it would be differentiated, every error a
member of the tapegrad family naming its op, and untrusted input to tg.tensor refused."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import forward_ad as fwad
from tapegrad.errors import (
    AxisError,
    ComplexNotSupportedError,
    IndexingError,
    InvalidArgumentError,
    InvalidStateError,
    InvalidTypeError,
    LinAlgError,
    NotDifferentiableError,
    ShapeMismatchError,
    TapegradError,
)
from tapegrad.ops.registry import Primitive

from .opinfo import all_specs


# --------------------------------------------------------------------------- complex
def _complex_raises(what: str):
    """pytest.raises for the complex error, checking that the message names ``what`` and
    says what to do."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(ComplexNotSupportedError)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            msg = str(self.info.value)
            assert msg.startswith(f"{what}:"), msg
            assert "complex differentiation is not supported yet" in msg
            assert "real and imaginary parts" in msg and ".detach()" in msg
            return handled

    return _Check()


def test_complex_error_is_a_not_differentiable_type_error():
    assert issubclass(ComplexNotSupportedError, NotDifferentiableError)
    assert issubclass(ComplexNotSupportedError, TypeError)
    assert issubclass(ComplexNotSupportedError, TapegradError)


def test_grad_through_a_complex_product_raises_instead_of_returning_zero():
    # Before: returned 0.0 (the right answer is sqrt(2)).
    with _complex_raises("multiply"):
        tg.grad(lambda z: abs(z * (1 + 1j)))(1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tg.tensor(1j, requires_grad=True),
        lambda: tg.Tensor([1j, 2.0], requires_grad=True),
        lambda: tg.tensor([1j]).requires_grad_(),
        lambda: tg.zeros(2, dtype=np.complex64, requires_grad=True),
        lambda: tg.ones(2, dtype=np.complex128, requires_grad=True),
    ],
    ids=["tensor", "Tensor", "requires_grad_", "zeros", "ones"],
)
def test_requires_grad_on_complex_data_raises(make):
    with _complex_raises("requires_grad"):
        make()


def test_complex_parameter_raises():
    with _complex_raises("Parameter"):
        tg.nn.Parameter(np.array([1j]))


@pytest.mark.parametrize(
    "fn, op",
    [
        (lambda x: x * 1j, "multiply"),
        (lambda x: x + tg.tensor([1j, 2j]), "add"),
        (lambda x: tg.tensor([1j, 2j]) - x, "subtract"),
        (lambda x: x.astype(np.complex128), "astype"),
        (lambda x: tg.where(tg.tensor([True, False]), x, tg.tensor([1j, 2j])), "where"),
        (lambda x: tg.matmul(x, np.array([1j, 1.0])), "matmul"),
    ],
    ids=["unary-scalar", "binary-tensor", "binary-reversed", "astype", "where", "matmul"],
)
def test_a_real_tensor_meeting_complex_data_on_the_tape_raises(fn, op):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with _complex_raises(op):
        fn(x)


def test_a_complex_output_of_a_multi_output_call_raises():
    prim = Primitive("_guard_split_mul", lambda x, z: (x * 2.0, x * z), nout=2, register=False)
    tg.ops.defvjp(prim, lambda g, ans, x, z: g[0] * 2.0)
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with _complex_raises("_guard_split_mul"):
        prim(x, np.array([1j, 1j]))
    a, b = prim(x.detach(), np.array([1j, 1j]))  # nothing differentiated: computes
    assert np.allclose(b.data, [1j, 2j])


def test_backward_with_a_complex_gradient_raises():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with _complex_raises("backward"):
        y.backward(gradient=np.array([1j, 1.0]))
    assert x.grad is None


def test_vjp_with_a_complex_cotangent_raises():
    _, pullback = tg.vjp(lambda z: z * 2, np.array([1.0, 2.0]))
    with _complex_raises("vjp cotangent"):
        pullback(np.array([1j, 2.0]))


def test_complex_data_that_is_not_differentiated_keeps_working():
    z = tg.tensor([1j, 2.0])
    assert np.allclose((z * 2).data, [2j, 4.0])
    assert np.allclose(tg.abs(z * (1 + 1j)).data, np.abs(np.array([1j, 2.0]) * (1 + 1j)))
    assert tg.sum(z).data == 2 + 1j
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        w = x * 1j
    assert not w.requires_grad and np.allclose(w.data, [1j, 2j])
    d = x.detach() * 1j
    assert np.allclose(d.data, [1j, 2j])


@pytest.mark.parametrize(
    "call, what",
    [
        (
            lambda: tg.grad(lambda z: tg.sum(z * z))(np.array([1j, 2.0])),
            "a differentiated argument",
        ),
        (lambda: tg.grad(lambda z: tg.sum(z * z))(1.0 + 2j), "a differentiated argument"),
        (lambda: tg.jvp(lambda z: z * 2, (1.0 + 1j,), (1.0 + 0j,)), "each primal"),
        (lambda: tg.jvp(lambda z: z * 2, (1.0,), (1.0 + 1j,)), "each tangent"),
        (lambda: tg.jvp(lambda z: z * (1 + 1j), (1.0,), (1.0,)), "multiply"),
        (lambda: tg.jacfwd(lambda z: z * 2)(np.array([1j, 2.0])), "each differentiated input"),
        (lambda: tg.jacfwd(lambda z: z * 2j)(np.array([1.0, 2.0])), "multiply"),
        (lambda: tg.jacrev(lambda z: z * 2j)(np.array([1.0, 2.0])), "multiply"),
        (lambda: tg.hessian(lambda z: tg.sum(z * z))(np.array([1j, 2.0])), "each differentiated"),
        (lambda: tg.hessian(lambda z: tg.sum(tg.abs(z * 1j)))(np.array([1.0, 2.0])), "multiply"),
        (
            lambda: tg.hvp(lambda z: tg.sum(z * z), (np.array([1.0, 2.0]),), (np.array([1j, 2]),)),
            "each tangent",
        ),
    ],
    ids=[
        "grad-array",
        "grad-scalar",
        "jvp-primal",
        "jvp-tangent",
        "jvp-op",
        "jacfwd-input",
        "jacfwd-op",
        "jacrev-op",
        "hessian-input",
        "hessian-op",
        "hvp-tangent",
    ],
)
def test_transforms_given_complex_data_raise(call, what):
    with pytest.raises(ComplexNotSupportedError) as info:
        call()
    assert str(info.value).startswith(what)
    assert "complex differentiation is not supported yet" in str(info.value)


def test_make_dual_with_complex_primal_or_tangent_raises():
    with fwad.dual_level():
        with _complex_raises("make_dual"):
            fwad.make_dual(tg.tensor(1j), tg.tensor(1.0 + 0j))
        with _complex_raises("make_dual"):
            fwad.make_dual(tg.tensor(1.0), tg.tensor(1j))


def test_a_dual_number_meeting_complex_data_raises():
    with fwad.dual_level():
        x = fwad.make_dual(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 0.0]))
        with _complex_raises("multiply"):
            x * 1j
        with _complex_raises("add"):
            x + tg.tensor([1j, 0.0])


class _TimesI(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1j

    @staticmethod
    def backward(ctx, g):
        return g

    @staticmethod
    def jvp(ctx, t):
        return t * 1j


def test_custom_function_with_complex_output_raises_only_when_differentiated():
    with _complex_raises("_TimesI"):
        _TimesI.apply(tg.tensor(1.0, requires_grad=True))
    with _complex_raises("_TimesI"):
        tg.jvp(_TimesI.apply, (1.0,), (1.0,))
    assert _TimesI.apply(tg.tensor(2.0)).data == 2j


def test_custom_vjp_and_custom_jvp_with_complex_output_raise():
    @tg.custom_vjp
    def f(x):
        return x * 1j

    f.defvjp(lambda x: (x * 1j, None), lambda r, g: (g,))
    with _complex_raises("f"):
        f(tg.tensor(1.0, requires_grad=True))

    @tg.custom_jvp
    def h(x):
        return x * 1j

    @h.defjvp
    def _h_jvp(primals, tangents):
        return primals[0] * 1j, tangents[0] * 1j

    with _complex_raises("h"):
        tg.jvp(h, (1.0,), (1.0,))


# --------------------------------------------------------------------------- one family
def test_broadcast_error_names_the_op():
    with pytest.raises(ShapeMismatchError) as info:
        tg.add(tg.ones(3), tg.ones(4))
    msg = str(info.value)
    assert msg.startswith("add: operands could not be broadcast together with shapes (3,) (4,)")
    assert "check the shapes" in msg
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, ValueError)
    assert not isinstance(info.value.__cause__, TapegradError)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_binary_error_on_every_call_path(requires_grad):
    x = tg.ones(3, requires_grad=requires_grad)
    with pytest.raises(ShapeMismatchError, match="^multiply: "):
        x * tg.ones(4)
    with pytest.raises(ShapeMismatchError, match="^multiply: "):
        tg.multiply(np.ones(3), np.ones(4))  # raw arrays: the path rules take in backward
    with pytest.raises(ShapeMismatchError, match="^where: "):
        tg.where(np.array([True, False]), x, tg.ones(4))


def test_error_inside_forward_mode_names_the_op():
    with pytest.raises(ShapeMismatchError, match="^add: "):
        tg.jvp(lambda x: x + np.ones(4), (np.ones(3),), (np.ones(3),))


def test_axis_out_of_range_is_an_axis_error_naming_the_op():
    x = tg.ones(3)
    with pytest.raises(AxisError) as info:
        tg.sum(x, axis=5)
    e = info.value
    assert isinstance(e, np.exceptions.AxisError)
    assert isinstance(e, ValueError) and isinstance(e, IndexError)
    msg = str(e)
    assert msg.startswith("sum: ") and "dimension 1" in msg and "5" in msg
    with pytest.raises(AxisError, match="^mean: "):
        tg.mean(x, axis=-2)
    with pytest.raises(AxisError, match="^squeeze: "):
        tg.squeeze(x, axis=3)
    with pytest.raises(AxisError, match="^concatenate: "):
        tg.concatenate([x, x], axis=1)


def test_repeated_axis_and_bad_permutation_name_the_op():
    x = tg.ones((2, 3))
    with pytest.raises(InvalidArgumentError, match="^sum: repeated axis"):
        tg.sum(x, axis=(0, 0))
    with pytest.raises(InvalidArgumentError, match="^transpose: repeated axis"):
        tg.transpose(x, (0, 0))
    with pytest.raises(InvalidArgumentError, match="^transpose: axes"):
        tg.transpose(x, (0,))
    with pytest.raises(ValueError):
        tg.transpose(x, (1, 0, 2))


def test_reshape_and_matmul_shape_errors_name_the_op():
    with pytest.raises(ShapeMismatchError, match="^reshape: "):
        tg.reshape(tg.ones((2, 3)), (4,))
    with pytest.raises(ShapeMismatchError, match="^matmul: "):
        tg.matmul(tg.ones((2, 3)), tg.ones((2, 3)))


def test_getitem_out_of_range_is_an_indexing_error():
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(IndexingError) as info:
        x[5]
    assert isinstance(info.value, IndexError)
    assert str(info.value).startswith("getitem: index 5 is out of bounds")
    with pytest.raises(IndexingError, match="^getitem: too many indices"):
        tg.tensor(1.0)[0]


def test_singular_matrix_is_a_linalg_error_in_the_family():
    with pytest.raises(LinAlgError) as info:
        tg.linalg.inv(tg.zeros((2, 2)))
    assert isinstance(info.value, np.linalg.LinAlgError)
    assert str(info.value).startswith("inv: ")


def test_an_unnamed_builtin_class_is_kept_as_a_base():
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError) as info:
            tg.divide(tg.ones(1), tg.zeros(1))
    assert isinstance(info.value, TapegradError)
    assert str(info.value).startswith("divide: divide by zero")


def test_a_tapegrad_error_from_an_impl_passes_through_unchanged():
    err = ShapeMismatchError("inner: a message of its own")

    def impl(x):
        raise err

    prim = Primitive("_guard_raises", impl, register=False)
    with pytest.raises(ShapeMismatchError) as info:
        prim(tg.ones(2))
    assert info.value is err


def test_make_dual_outside_a_level_is_a_state_error():
    with pytest.raises(InvalidStateError) as info:
        fwad.make_dual(tg.tensor(1.0), tg.tensor(1.0))
    assert isinstance(info.value, RuntimeError) and "dual_level" in str(info.value)


def _bad_calls(spec, sample):
    """Calls of ``spec.op`` that must fail: an axis out of range, and each array argument
    of a several-array call replaced by one whose every axis is 3 longer."""
    try:
        params = list(inspect.signature(spec.op).parameters)
    except (TypeError, ValueError):
        params = []
    arrays = [i for i, a in enumerate(sample.args) if isinstance(a, np.ndarray)]
    calls = []
    if arrays and ("axis" in params or "axis" in sample.kwargs):
        big = sample.args[arrays[0]].ndim + 3
        pos = params.index("axis") if "axis" in params else len(sample.args)
        if pos < len(sample.args):
            args = list(sample.args)
            args[pos] = big
            calls.append(("axis", tuple(args), sample.kwargs))
        else:
            calls.append(("axis", sample.args, {**sample.kwargs, "axis": big}))
    if len(arrays) > 1:
        for i in arrays:
            a = sample.args[i]
            if a.ndim:
                args = list(sample.args)
                args[i] = np.ones(tuple(d + 3 for d in a.shape), a.dtype)
                calls.append((f"shape of argument {i}", tuple(args), sample.kwargs))
    return calls


def test_bad_calls_of_every_op_in_the_spec_table_raise_family_errors_naming_the_op():
    failures = []
    raised = 0
    for spec in all_specs():
        samples = spec.samples(np.random.default_rng(0), np.float64)
        if not samples:
            continue
        # A spec of a variant ("topk_indices", "max_dim") is named after its op plus a suffix.
        names = {spec.name, spec.name.split("_")[0], getattr(spec.op, "__name__", "")}
        names = (names | set(spec.prims)) - {"", "<lambda>"}
        for kind, args, kwargs in _bad_calls(spec, samples[0]):
            for requires_grad in (False, True):
                inputs = [
                    tg.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f")
                    if isinstance(a, np.ndarray)
                    else a
                    for a in args
                ]
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        spec.op(*inputs, **kwargs)
                except Exception as e:  # noqa: BLE001 - every exception is inspected
                    raised += 1
                    if not isinstance(e, TapegradError) or not any(n in str(e) for n in names):
                        failures.append(f"{spec.name} ({kind}): {type(e).__name__}: {e}")
    assert not failures, "\n".join(failures)
    assert raised >= 150  # the bad calls really are bad: most of them raise


# --------------------------------------------------------------------------- tensor input
def _gen():
    yield 1.0


UNTRUSTED = [
    (None, "None"),
    (_gen(), "generator"),
    (np.array([1, "a"], dtype=object), "dtype object"),
    ("abc", "str"),
    (b"x", "bytes"),
    ({"a": 1}, "dict"),
    ({1, 2}, "set"),
    (np.array(["a", "b"]), "dtype <U1"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
]


@pytest.mark.parametrize(
    "make", [tg.tensor, tg.as_tensor, tg.Tensor], ids=["tensor", "as_tensor", "Tensor"]
)
@pytest.mark.parametrize("data, said", UNTRUSTED, ids=[s for _, s in UNTRUSTED])
def test_non_numeric_input_to_tensor_raises(make, data, said):
    with pytest.raises(InvalidTypeError) as info:
        make(data)
    msg = str(info.value)
    assert isinstance(info.value, TypeError)
    assert said in msg
    assert "pass a number, a (nested) list or tuple of numbers" in msg
    assert "bool or numeric dtype" in msg


@pytest.mark.parametrize(
    "make", [tg.tensor, tg.as_tensor, tg.Tensor], ids=["tensor", "as_tensor", "Tensor"]
)
def test_ragged_nested_sequence_raises_a_shape_error(make):
    with pytest.raises(ShapeMismatchError, match="same length"):
        make([[1.0, 2.0], [3.0]])


def test_numeric_input_to_tensor_keeps_working():
    assert tg.tensor(True).dtype == np.bool_
    assert tg.tensor([1, 2]).dtype == np.int64
    assert tg.tensor([[1.0], [2.0]]).shape == (2, 1)
    assert tg.tensor(np.float32(1.5)).dtype == np.float32
    assert tg.tensor(1j).dtype == np.complex128
    a = np.ones(3, np.float32)
    assert np.shares_memory(tg.as_tensor(a).data, a)
    assert tg.Tensor(tg.ones(2)).shape == (2,)
    assert tg.tensor([1.0, 2.0], requires_grad=True).requires_grad


def test_misuse_of_the_core_raises_family_errors():
    t = tg.tensor([1.0, 2.0])
    with pytest.raises(InvalidStateError) as info:
        t.sum().backward()
    assert isinstance(info.value, RuntimeError) and "requires_grad=True" in str(info.value)
    with pytest.raises(InvalidStateError):
        t.register_hook(lambda g: g)
    with pytest.raises(InvalidTypeError):
        len(tg.tensor(1.0))
    x = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(InvalidArgumentError):
        tg.autograd.backward([x * 2], [np.ones(1), np.ones(1)])
