"""Forward mode through the shape and indexing primitives: tricky keys, batch axes, the
transposes used only inside backward (index_add, segment_sum), and higher orders."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd.dual import make_dual, new_level
from tapegrad.ops.indexing import _index_add
from tapegrad.ops.shape import _segment_sum

RNG = np.random.default_rng(0)


def _jac_agree(f, *args):
    """jacfwd == jacrev with respect to each argument (one at a time, the others fixed)."""
    for i in range(len(args)):

        def fi(a, i=i):
            return f(*args[:i], a, *args[i + 1 :])

        jf = tg.jacfwd(fi)(args[i])
        np.testing.assert_allclose(jf, tg.jacrev(fi)(args[i]), rtol=1e-12, atol=1e-12)


def _batched_matches_loop(f, x, batch=(2, 3)):
    """A tangent with several batch axes gives the tangents of its slices."""
    u = RNG.standard_normal(batch + x.shape)
    level = new_level()
    out = f(make_dual(tg.tensor(x), tg.Tensor(u), level))
    tb = out._fw[level].data
    assert tb.shape == batch + out.shape
    for idx in np.ndindex(*batch):
        lv = new_level()
        o = f(make_dual(tg.tensor(x), tg.Tensor(u[idx]), lv))
        np.testing.assert_allclose(tb[idx], o._fw[lv].data, rtol=1e-14, atol=0)


_M = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
# Keys whose advanced indices NumPy moves to the front (a slice, None or an Ellipsis, even
# one that covers no axis, between them), masks, 0-d booleans, repeats, negative indices.
KEYS = [
    ([0, 2, 2, -1],),
    (np.array([0, 1, 1]), slice(None), np.array([1, 1, 0])),
    (np.array([[0, 2]]), slice(1, 3), 1),
    ([1, 0], None, [3, 3]),
    (Ellipsis, [0, 0], slice(None)),
    (1, slice(None), np.array([[1], [0]])),
    (_M,),
    (_M, 0),
    (slice(None), np.array([True, False, True, False]), [1, 1]),
    (True,),
    ([0, 1], slice(None), True),
    (None, [2, 0], 1, slice(None, None, -1)),
    (slice(None), [], 0),
]


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_advanced_getitem_forward_matches_reverse(key):
    x = RNG.standard_normal((3, 4, 2))
    f = lambda a: a[key]  # noqa: E731
    _jac_agree(f, x)
    _batched_matches_loop(f, x)


def test_ellipsis_covering_no_axis_separates_advanced_indices():
    x = RNG.standard_normal((3, 4))
    f = lambda a: a[[0, 2], ..., [1, 3]]  # noqa: E731
    _jac_agree(f, x)
    _batched_matches_loop(f, x)


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_index_add_forward_matches_reverse(key):
    shape = (3, 4, 2)
    gshape = np.zeros(shape)[key].shape
    from tapegrad.ops.indexing import _normalize_key

    k, mode = _normalize_key(key)
    mode = "accumulate" if mode == "basic" else mode
    g = RNG.standard_normal(gshape)
    f = lambda a: _index_add(a, key=k, shape=shape, mode=mode)  # noqa: E731
    _jac_agree(f, g)
    _batched_matches_loop(f, g)


@pytest.mark.parametrize(
    "key,vshape",
    [
        ((np.array([0, 1]), slice(None), np.array([1, 0])), (4,)),
        ((np.array([0, 1]), slice(None), np.array([1, 0])), (2, 1)),
        ((np.array([0, 1]), slice(None), np.array([1, 0])), (1, 2, 4)),
        ((slice(None), 1), (3, 2)),
        ((_M,), (2,)),
        ((Ellipsis, 0), ()),
    ],
)
def test_index_update_forward_matches_reverse(key, vshape):
    x = RNG.standard_normal((3, 4, 2))
    v = RNG.standard_normal(vshape)
    f = lambda a, b: tg.index_update(a, key, b)  # noqa: E731
    _jac_agree(f, x, v)
    _batched_matches_loop(lambda b: tg.index_update(x, key, b), v)
    _batched_matches_loop(lambda a: tg.index_update(a, key, v), x)


def test_hessians_through_index_add_and_segment_sum():
    # forward-over-reverse: the tangents flow through the vjps (index_add, segment_sum)
    x = RNG.standard_normal((3, 4, 2))

    def f(a):
        b = a[np.array([0, 2, 2]), :, np.array([1, 0, 1])]
        c = tg.repeat(tg.diagonal(a, 0, 0, 2), [2, 0], axis=1)
        return tg.sum(tg.sin(b) ** 2) + tg.sum(c**3)

    h = tg.hessian(f)(x)
    np.testing.assert_allclose(h, tg.jacrev(tg.jacrev(f))(x), rtol=1e-10, atol=1e-12)


def test_segment_sum_forward_matches_reverse():
    g = RNG.standard_normal((2, 6, 3))
    f = lambda a: _segment_sum(a, repeats=np.array([2, 0, 3, 1]), axis=1)  # noqa: E731
    _jac_agree(f, g)
    _batched_matches_loop(f, g)


def test_jvp_of_jvp_through_joins_and_splits():
    x = RNG.standard_normal((2, 3))

    def f(a):
        p, q, r = tg.split(a**2, [1, 2], axis=1)
        s = tg.stack([p, r, q * a[:, :1]], axis=-1)
        return tg.concatenate([tg.flip(s, 0), tg.roll(s, 1)], axis=1)

    jj = tg.jacfwd(tg.jacfwd(f))(x)
    np.testing.assert_allclose(jj, tg.jacrev(tg.jacrev(f))(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 20])
def test_variadic_joins_have_a_rule_per_input(n):
    xs = [RNG.standard_normal((2, k + 1)) for k in range(n)]
    _jac_agree(lambda *a: tg.concatenate(a, axis=1), *xs)
    ys = [RNG.standard_normal((2, 3)) for _ in range(n)]
    _jac_agree(lambda *a: tg.stack(a, axis=1), *ys)


@pytest.mark.parametrize(
    "f",
    [
        lambda a: tg.broadcast_to(a, (2, 2, 3, 4)),
        lambda a: tg.tile(a, (2, 1, 1, 2)),
        lambda a: tg.roll(a, 5),
        lambda a: tg.pad(a, ((1, 0), (0, 2)), constant_values=3.0),
        lambda a: tg.pad(a, 2, mode="reflect"),
        lambda a: tg.split(a, 1, axis=1)[0],
        lambda a: tg.reshape(a, (-1,)),
        lambda a: tg.triu(tg.matrix_transpose(a), 1) + tg.tril(tg.transpose(a), -1),
        lambda a: tg.repeat(a, [0, 2, 1, 1], axis=-1),
    ],
)
def test_two_batch_axes(f):
    x = RNG.standard_normal((3, 4))
    _batched_matches_loop(f, x)
    _jac_agree(f, x)


def test_float32_tangent_stays_float32():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    t = tg.jvp(lambda a: tg.concatenate([a[[0, 0]], tg.pad(a, 1)[1:3, 1:5]]), (x,), (x,))[1]
    assert t.dtype == np.float32
