"""A tensor's and a node's fields are set by ``new_tensor`` and ``new_node``; the two hot
recording paths of ``Primitive.__call__`` write them out (a call there costs a few percent of
an op) and must set exactly the same fields, with the same defaults."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd.node import Node, new_node
from tapegrad.tensor import Tensor, new_tensor


def _slots(cls: type) -> list[str]:
    names = []
    for k in cls.__mro__:
        names += [n for n in k.__dict__.get("__slots__", ()) if n != "__weakref__"]
    return names


def _state(obj: object, cls: type) -> dict[str, object]:
    """The set fields of ``obj``; their values where the constructor fills in a default."""
    out = {}
    for n in _slots(cls):
        if hasattr(obj, n):
            v = getattr(obj, n)
            out[n] = v if v is None or isinstance(v, (bool, int)) else "<value>"
    return out


def _tensor_state(t: Tensor) -> dict[str, object]:
    st = _state(t, Tensor)
    st["data"] = "<value>"
    st["grad_fn"] = None if t.grad_fn is None else "<node>"
    return st


def _node_state(n: Node) -> dict[str, object]:
    st = _state(n, Node)
    for k in ("prim", "parents", "pidx", "args", "ans", "params", "versions"):
        if k in st:
            st[k] = "<value>"
    return st


x = tg.tensor([1.0, -2.0], requires_grad=True)
c = tg.tensor([3.0, 4.0])

OUTPUTS = {
    "unary recorded": lambda: tg.sin(x),
    "unary constant": lambda: tg.sin(c),
    "binary recorded": lambda: x * c,
    "binary constant": lambda: c + 1.0,
    "general recorded": lambda: tg.where(c > 3.5, x, c),
    "general constant": lambda: tg.where(c > 3.5, c, 0.0),
    "multi-output": lambda: tg.linalg.qr(tg.reshape(x, (2, 1)) * c)[1],
    "Tensor()": lambda: Tensor([1.0], requires_grad=True),
    "Parameter": lambda: tg.nn.Parameter(tg.zeros(2)),
}


@pytest.mark.parametrize("how", list(OUTPUTS))
def test_every_tensor_has_the_fields_of_new_tensor(how):
    t = OUTPUTS[how]()
    ref = new_tensor(t.data, t.requires_grad, t.grad_fn, t._idx)
    assert _tensor_state(t) == _tensor_state(ref)


@pytest.mark.parametrize("how", [k for k in OUTPUTS if "recorded" in k or k == "multi-output"])
def test_every_node_has_the_fields_of_new_node(how):
    n = OUTPUTS[how]().grad_fn
    ref = new_node(n.prim, n.parents, n.pidx, n.args, n.ans, n.params, n.versions, n.out_meta)
    assert _node_state(n) == _node_state(ref)
    assert (n.hooks, n.dirty, n.fw) == (None, False, None)


def test_new_tensor_fills_a_given_tensor():
    t = Tensor.__new__(Tensor)
    assert new_tensor(np.zeros(2), False, None, 0, t) is t
    assert _tensor_state(t) == _tensor_state(tg.zeros(2))
