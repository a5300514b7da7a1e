"""Variadic ops scale linearly with their number of inputs.

Not timed (machines are noisy): the rules of ``stack``/``concatenate`` are wrapped with
counters, and the total number of arguments they receive over a whole backward (or
forward-mode) pass must be O(n).  With one rule per input, each called with all ``n``
inputs, it was n**2 (30,000 leaves: 9e8 arguments, minutes).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.autograd import forward_ad as fwad
from tapegrad.ops import shape as shape_ops

N = 30_000


class Counter:
    """Wraps every rule of a primitive; ``args`` counts the arguments they received."""

    def __init__(self, prim, monkeypatch):
        self.calls = 0
        self.args = 0
        for name in ("vjps", "jvps"):
            rules = getattr(prim, name)
            monkeypatch.setattr(prim, name, tuple(self.wrap(r) for r in rules))
        for name in ("joint", "jvp"):
            rule = getattr(prim, name)
            if rule is not None:
                monkeypatch.setattr(prim, name, self.wrap(rule))

    def wrap(self, rule):
        if rule is None:
            return None

        def counted(*args, **kwargs):
            self.calls += 1
            self.args += len(args) + len(kwargs)
            return rule(*args, **kwargs)

        return counted


def _leaves(n, shape=(2,)):
    data = np.random.default_rng(0).normal(size=(n, *shape))
    return [tg.tensor(data[i], requires_grad=True) for i in range(n)], data


def _prepare(op, n):
    # The variadic primitives grow their per-input rule tables on first use: do it
    # before wrapping them.
    op([tg.zeros(2)] * n)


OPS = [
    ("stack", tg.stack, shape_ops._stack, lambda d: np.ones_like(d)),
    ("concatenate", tg.concatenate, shape_ops._concat, lambda d: np.ones_like(d)),
    ("vstack", tg.vstack, shape_ops._concat, lambda d: np.ones_like(d)),
    ("hstack", tg.hstack, shape_ops._concat, lambda d: np.ones_like(d)),
]


@pytest.mark.parametrize("name,op,prim,expect", OPS, ids=[o[0] for o in OPS])
def test_backward_of_many_inputs_is_linear(name, op, prim, expect, monkeypatch):
    _prepare(op, N)
    count = Counter(prim, monkeypatch)
    xs, data = _leaves(N)
    y = op(xs)
    y.sum().backward()
    assert count.calls <= 2, f"{name}: {count.calls} rule calls for one node"
    assert count.args <= 10, f"{name}: rules received {count.args} arguments"
    for k in (0, N // 2, N - 1):
        np.testing.assert_array_equal(xs[k].grad.data, expect(data[k]))


def test_backward_values_of_many_inputs_match_torch():
    n = 2000
    xs, data = _leaves(n, (3,))
    w = np.random.default_rng(1).normal(size=(3, n))
    y = (tg.stack(xs, axis=1) * tg.tensor(w)).sum() + (tg.concatenate(xs) ** 2).sum()
    y.backward()
    tx = [torch.tensor(data[i], requires_grad=True) for i in range(n)]
    ty = (torch.stack(tx, 1) * torch.tensor(w)).sum() + (torch.cat(tx) ** 2).sum()
    ty.backward()
    for x, t in zip(xs, tx):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "op,prim", [(tg.stack, shape_ops._stack), (tg.concatenate, shape_ops._concat)]
)
def test_second_order_through_many_inputs(op, prim, monkeypatch):
    n = 3000
    _prepare(op, n)
    xs, data = _leaves(n)
    count = Counter(prim, monkeypatch)
    y = (op(xs) ** 3).sum()
    gs = tg.autograd.grad(y, xs, create_graph=True)
    tg.stack(list(gs)).sum().backward()  # d/dx of sum(3 x**2) = 6 x
    assert count.args <= 20 * 10, f"rules received {count.args} arguments"
    for k in (0, n - 1):
        np.testing.assert_allclose(xs[k].grad.data, 6 * data[k], rtol=1e-12)


@pytest.mark.parametrize(
    "op,prim", [(tg.stack, shape_ops._stack), (tg.concatenate, shape_ops._concat)]
)
def test_forward_mode_of_many_tangents_is_linear(op, prim, monkeypatch):
    _prepare(op, N)
    data = np.random.default_rng(0).normal(size=(N, 2))
    count = Counter(prim, monkeypatch)
    with fwad.dual_level():
        xs = [fwad.make_dual(tg.tensor(data[i]), tg.tensor(data[i] * 2)) for i in range(N)]
        xs[3] = tg.tensor(data[3])  # one input without a tangent: zeros there
        t = fwad.unpack_dual(op(xs)).tangent
    want = data * 2
    want[3] = 0
    np.testing.assert_array_equal(t.data, op([tg.tensor(w) for w in want]).data)
    # One joint rule call with the n inputs (the nested stack of the tangents is one more).
    assert count.args <= 3 * (N + 10), f"rules received {count.args} arguments"


def test_forward_mode_batched_tangents_and_mixed_dtypes():
    a = np.arange(6.0).reshape(2, 3)
    # jacfwd of a stack: one batched pass; tangents only for the first argument.
    jac = tg.jacfwd(lambda x, y: tg.stack([x, y, x * 2], axis=1))(a[0], a[1])
    want = np.zeros((3, 3, 3))
    for i in range(3):
        want[i, 0, i] = 1.0
        want[i, 2, i] = 2.0
    np.testing.assert_array_equal(jac, want)
    jc = tg.jacfwd(lambda x: tg.concatenate([x, tg.tensor(a[1]), x]))(a[0])
    np.testing.assert_array_equal(jc, np.concatenate([np.eye(3), np.zeros((3, 3)), np.eye(3)]))
    with fwad.dual_level():
        x = fwad.make_dual(tg.tensor(np.ones(2, np.float32)), tg.tensor(np.ones(2, np.float32)))
        y = tg.stack([x, tg.tensor(np.ones(2))])  # promoted to float64
        t = fwad.unpack_dual(y).tangent
        assert t.dtype == np.float64 and y.dtype == np.float64
        np.testing.assert_array_equal(t.data, [[1.0, 1.0], [0.0, 0.0]])


def test_split_into_many_pieces_backward_is_linear(monkeypatch):
    x = tg.tensor(np.arange(float(N)), requires_grad=True)
    pieces = tg.split(x, N)
    prim = pieces[0].grad_fn.prim
    count = Counter(prim, monkeypatch)
    count_cat = Counter(shape_ops._concat, monkeypatch)
    tg.stack([p * k for k, p in enumerate(pieces[:100])]).sum().backward()
    assert count.args + count_cat.args <= 20
    np.testing.assert_array_equal(x.grad.data[:100], np.arange(100.0))
    assert not x.grad.data[100:].any()
