"""Tensor methods and NumPy ufunc dispatch are generated from the ops' declarations, also for
ops declared after import."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import InvalidArgumentError, NotDifferentiableError
from tapegrad.ops import METHODS, REGISTRY, UFUNCS, Primitive, defvjp, expose, withdraw


@pytest.fixture
def declared():
    """Declare throwaway ops through ``declare(...)``; every one is withdrawn afterwards."""
    made = []

    def declare(fn):
        made.append(fn)
        return fn

    yield declare
    for fn in made:
        withdraw(fn)


def _fabs(declare, name="my_fabs"):
    prim = declare(Primitive(name, np.fabs, save=(0,), elementwise=True, method=True))
    return defvjp(prim, lambda g, ans, x: g * np.sign(x))


def test_late_declaration_is_a_tensor_method(declared):
    prim = _fabs(declared)
    assert METHODS["my_fabs"] is prim and REGISTRY["my_fabs"] is prim
    x = tg.tensor([-2.0, 3.0], requires_grad=True)
    y = x.my_fabs()
    assert y.grad_fn.name == "my_fabs"
    np.testing.assert_array_equal(y.data, [2.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, 1.0])
    assert tg.Tensor.my_fabs.__doc__ == prim.__doc__
    # out= as every generated method (not recorded: under no_grad)
    out = tg.zeros(2)
    with tg.no_grad():
        assert x.my_fabs(out=out) is out
    np.testing.assert_array_equal(out.data, [2.0, 3.0])


def test_late_declaration_dispatches_its_ufunc_and_keeps_the_tape(declared):
    assert "fabs" not in UFUNCS  # (else this test would not show anything)
    prim = _fabs(declared)
    assert UFUNCS["fabs"] is prim and prim.ufuncs == ("fabs",)
    x = tg.tensor([-1.5, 0.5], requires_grad=True)
    y = np.fabs(x)
    assert isinstance(y, tg.Tensor) and y.grad_fn is not None and y.grad_fn.name == "my_fabs"
    (g,) = tg.autograd.grad(y.sum(), x)
    np.testing.assert_array_equal(g.data, [-1.0, 1.0])


def test_withdraw_removes_the_method_and_the_dispatch(declared):
    prim = _fabs(declared)
    withdraw(prim)
    assert "my_fabs" not in METHODS and "my_fabs" not in REGISTRY and "fabs" not in UFUNCS
    x = tg.tensor([-1.0], requires_grad=True)
    assert not hasattr(x, "my_fabs")
    with pytest.raises(NotDifferentiableError, match="numpy.fabs"):
        np.fabs(x)
    # declared again, it is back
    prim2 = _fabs(declared)
    assert x.my_fabs().grad_fn.prim is prim2


def test_duplicate_method_raises_and_registers_nothing(declared):
    _fabs(declared)
    with pytest.raises(InvalidArgumentError, match="Tensor method 'my_fabs' is already declared"):
        Primitive("my_fabs_again", np.abs, method="my_fabs", ufunc=False)
    assert "my_fabs_again" not in REGISTRY


def test_duplicate_ufunc_raises_and_registers_nothing(declared):
    _fabs(declared)
    with pytest.raises(InvalidArgumentError, match="np.fabs already dispatches to"):
        Primitive("my_fabs_too", np.fabs, method=True)
    assert "my_fabs_too" not in REGISTRY and "my_fabs_too" not in METHODS
    assert not hasattr(tg.Tensor, "my_fabs_too")


def test_method_name_taken_by_tensor_raises(declared):
    with pytest.raises(InvalidArgumentError, match="Tensor already has an attribute 'reshape'"):
        Primitive("my_reshape", np.fabs, method="reshape", ufunc=False)
    assert "my_reshape" not in REGISTRY and "reshape" not in METHODS
    assert tg.Tensor.reshape.__module__ == "tapegrad.ops.methods"


def test_expose_a_function_built_on_ops(declared):
    def my_softsign(x):
        """x / (1 + |x|)."""
        return x / (1.0 + tg.abs(x))

    declared(expose(my_softsign, method=True))
    x = tg.tensor([1.0, -3.0], requires_grad=True)
    y = x.my_softsign()
    np.testing.assert_allclose(y.data, [0.5, -0.75])
    assert y.grad_fn is not None


def test_every_declared_method_is_on_tensor():
    for name, fn in METHODS.items():
        meth = getattr(tg.Tensor, name)
        # generated from the declaration, or the hand-written method of the same name
        # (which spells the op's full signature, e.g. round(decimals))
        assert meth.__module__ == "tapegrad.ops.methods" or meth.__doc__ == fn.__doc__, name
    assert tg.Tensor.exp.__qualname__ == "Tensor.exp"
    assert tg.Tensor.round.__module__ == "tapegrad.ops.methods"


def test_operators_and_methods_are_installed_from_the_op_library():
    for name in ("__add__", "__rmatmul__", "__getitem__", "__setitem__", "__eq__", "sum", "max"):
        assert getattr(tg.Tensor, name).__module__ == "tapegrad.ops.methods", name
    assert tg.Tensor.sum.__qualname__ == "Tensor.sum"
    assert isinstance(tg.Tensor.T, property) and isinstance(tg.Tensor.size, property)
    t = tg.zeros(1)
    assert {t: 1}[t] == 1 and {tg.nn.Parameter(tg.zeros(1)): 1}
