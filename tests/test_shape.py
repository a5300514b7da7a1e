"""Behaviour of the shape and indexing ops: semantics, views, in-place writes, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import InplaceModificationError, ShapeMismatchError


def _leaf(a, dtype=np.float64):
    return tg.tensor(np.asarray(a, dtype=dtype), requires_grad=True)


def _grad_of(fn, a):
    x = _leaf(a)
    tg.sum(fn(x)).backward()
    return x.grad.data


# --------------------------------------------------------------------------- indexing semantics
def test_repeated_integer_indices_accumulate_in_the_gradient():
    np.testing.assert_array_equal(
        _grad_of(lambda x: x[[0, 0, 2, 0]], [1.0, 2.0, 3.0]), [3.0, 0.0, 1.0]
    )


def test_repeated_index_pairs_accumulate_in_2d():
    g = _grad_of(lambda x: x[[0, 0, 1], [2, 2, 0]], np.zeros((2, 3)))
    np.testing.assert_array_equal(g, [[0, 0, 2], [1, 0, 0]])


def test_repeated_rows_accumulate_with_a_weighted_cotangent():
    x = _leaf(np.zeros((3, 2)))
    y = x[[2, 2, 0]]
    y.backward(np.array([[1.0, 2.0], [10.0, 20.0], [5.0, 6.0]]))
    np.testing.assert_array_equal(x.grad.data, [[5, 6], [0, 0], [11, 22]])


def test_boolean_mask_selects_and_routes_the_gradient():
    a = np.array([[1.0, -2.0], [-3.0, 4.0]])
    x = _leaf(a)
    y = x[x.detach() > 0]
    np.testing.assert_array_equal(y.data, [1.0, 4.0])
    tg.sum(y * y).backward()
    np.testing.assert_array_equal(x.grad.data, [[2.0, 0.0], [0.0, 8.0]])


def test_boolean_tensor_mask_and_integer_tensor_index_are_used_by_value():
    x = _leaf([1.0, 2.0, 3.0])
    mask = tg.tensor([True, False, True])
    idx = tg.tensor([2, 2])
    np.testing.assert_array_equal(x[mask].data, [1.0, 3.0])
    tg.sum(x[idx]).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 2.0])
    assert x[tg.tensor(1)].shape == ()


def test_negative_step_slices_match_numpy_and_scatter_back():
    a = np.arange(10.0).reshape(2, 5)
    x = _leaf(a)
    y = x[::-1, 4:0:-2]
    np.testing.assert_array_equal(y.data, a[::-1, 4:0:-2])
    tg.sum(y).backward()
    expected = np.zeros_like(a)
    expected[::-1, 4:0:-2] = 1
    np.testing.assert_array_equal(x.grad.data, expected)


def test_none_and_ellipsis_insert_and_skip_axes():
    x = _leaf(np.arange(24.0).reshape(2, 3, 4))
    y = x[None, ..., 1, None]
    assert y.shape == (1, 2, 3, 1)
    np.testing.assert_array_equal(y.data, x.data[None, ..., 1, None])
    tg.sum(y).backward()
    assert x.grad.data[..., 1].sum() == 6 and x.grad.data.sum() == 6


def test_integer_indexing_to_a_scalar_is_a_0d_tensor():
    x = _leaf(np.arange(6.0).reshape(2, 3))
    y = x[1, 2]
    assert y.shape == () and y.item() == 5.0
    y.backward()
    assert x.grad.data[1, 2] == 1.0 and x.grad.data.sum() == 1.0


def test_basic_indexing_is_a_view_and_advanced_indexing_a_copy():
    x = tg.tensor(np.arange(6.0))
    assert np.shares_memory(x[1:4].data, x.data)
    assert np.shares_memory(x[..., 2].data, x.data)
    assert not np.shares_memory(x[[1, 2]].data, x.data)
    assert not np.shares_memory(x[x.data > 2].data, x.data)


def test_separated_advanced_indices_put_the_index_axes_first_like_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = _leaf(a)
    key = ([0, 1], slice(None), [3, 3])
    y = x[key]
    np.testing.assert_array_equal(y.data, a[key])
    assert y.shape == (2, 3)
    tg.sum(y).backward()
    expected = np.zeros_like(a)
    np.add.at(expected, key, 1.0)
    np.testing.assert_array_equal(x.grad.data, expected)


def test_second_derivative_through_repeated_indices():
    x = _leaf([1.0, 2.0])
    y = tg.sum(x[[0, 0, 1]] ** 3)
    (g,) = tg.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.data, [6.0, 12.0])  # 2 * 3x^2 and 3x^2
    (h,) = tg.autograd.grad(tg.sum(g), x)
    np.testing.assert_allclose(h.data, [12.0, 12.0])  # 2 * 6x and 6x


def test_iterating_a_tensor_yields_differentiable_rows():
    x = _leaf(np.arange(6.0).reshape(3, 2))
    total = None
    for k, row in enumerate(x):
        term = tg.sum(row) * float(k)
        total = term if total is None else total + term
    total.backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0], [1, 1], [2, 2]])


def test_float32_scatter_stays_float32():
    x = _leaf(np.ones((4, 3)), np.float32)
    tg.sum(x[[1, 1, 3]]).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data[:, 0], [0, 2, 0, 1])


def test_bad_index_type_raises_index_error():
    x = tg.tensor(np.zeros(3))
    with pytest.raises(IndexError, match="integers or booleans"):
        x[np.array([0.5])]
    with pytest.raises(IndexError, match="can't index with"):
        x["a"]
    with pytest.raises(IndexError):
        x[5]


# --------------------------------------------------------------------------- __setitem__
def test_setitem_out_of_the_graph_writes_in_place():
    x = tg.tensor(np.zeros((2, 3)))
    data = x.data
    x[0, tg.tensor([0, 2])] = 5.0
    x[tg.tensor(1)] = tg.tensor([1.0, 2.0, 3.0])
    assert x.data is data
    np.testing.assert_array_equal(x.data, [[5, 0, 5], [1, 2, 3]])
    assert x._version == 2


def test_setitem_on_a_recorded_tensor_routes_gradients_to_old_values_and_the_value():
    a = np.arange(12.0).reshape(3, 4)
    w = np.random.default_rng(0).standard_normal((3, 4))
    x = _leaf(a)
    v = _leaf([10.0, 20.0])
    y = x * 2.0
    y[1, [0, 2]] = v
    expected = a * 2.0
    expected[1, [0, 2]] = [10.0, 20.0]
    np.testing.assert_array_equal(y.data, expected)
    tg.sum(y * w).backward()
    gx = 2.0 * w
    gx[1, [0, 2]] = 0.0
    np.testing.assert_allclose(x.grad.data, gx)
    np.testing.assert_allclose(v.grad.data, w[1, [0, 2]])


def test_setitem_with_a_broadcast_value_sums_its_gradient():
    x = _leaf(np.ones((3, 4)))
    v = _leaf(3.0)
    y = x + 0.0
    y[:, 1:3] = v
    (y * y).sum().backward()
    np.testing.assert_allclose(v.grad.data, 6 * 2 * 3.0)
    np.testing.assert_allclose(x.grad.data[:, 1:3], 0.0)
    np.testing.assert_allclose(x.grad.data[:, 0], 2.0)


def test_setitem_with_a_mask_and_a_constant_cuts_the_gradient_there():
    x = _leaf([-1.0, 2.0, -3.0])
    y = x * 1.0
    y[y.detach() < 0] = 0.0
    tg.sum(y).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 0.0])


def test_setitem_value_requiring_grad_into_a_constant_tensor():
    y = tg.zeros(4)
    v = _leaf([1.0, 2.0])
    y[1:3] = v
    assert y.requires_grad
    tg.sum(y * tg.tensor([1.0, 2.0, 3.0, 4.0])).backward()
    np.testing.assert_array_equal(v.grad.data, [2.0, 3.0])


def test_setitem_on_a_leaf_that_requires_grad_raises():
    x = _leaf([1.0, 2.0])
    with pytest.raises(InplaceModificationError, match="leaf"):
        x[0] = 3.0
    with tg.no_grad():
        x[0] = 3.0  # allowed: not recorded
    assert x.data[0] == 3.0


def test_index_update_leaves_its_input_unchanged():
    x = tg.tensor([1.0, 2.0, 3.0])
    y = tg.index_update(x, [0, 2], tg.tensor(9.0))
    np.testing.assert_array_equal(x.data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y.data, [9.0, 2.0, 9.0])


def test_unwrap_index_replaces_tensors_by_arrays():
    i = tg.tensor([0, 1])
    k = tg.unwrap_index((i, slice(None), 3))
    assert k[0] is i.data and k[1] == slice(None) and k[2] == 3
    assert tg.unwrap_index(i) is i.data
    assert tg.unwrap_index(2) == 2


# --------------------------------------------------------------------------- views and versions
def test_inplace_change_through_a_view_is_caught_by_an_op_that_saved_the_base():
    x = _leaf([0.5, 1.0, 1.5])
    b = x * 1.0
    s = tg.sin(b)  # saves b
    v = b[0:2]
    with tg.no_grad():
        v[0] = 7.0
    assert b.data[0] == 7.0  # the write went through the view
    with pytest.raises(InplaceModificationError):
        tg.sum(s).backward()


@pytest.mark.parametrize(
    "make_view",
    [
        lambda b: b.T,
        lambda b: tg.reshape(b, (-1,)),
        lambda b: tg.split(b, 2, axis=1)[1],
        lambda b: tg.flip(b, 0),
        lambda b: b[..., None],
        lambda b: tg.moveaxis(b, 0, 1),
    ],
)
def test_every_view_op_shares_the_version_of_its_base(make_view):
    x = _leaf(np.arange(4.0).reshape(2, 2) + 0.5)
    b = x * 1.0
    s = tg.sin(b)  # saves b
    v = make_view(b)
    assert np.shares_memory(v.data, b.data)
    with tg.no_grad():
        v += 1.0
    with pytest.raises(InplaceModificationError):
        tg.sum(s).backward()


def test_inplace_change_of_the_base_is_caught_by_an_op_that_saved_a_view():
    x = _leaf([0.5, 1.0, 1.5])
    b = x * 1.0
    v = b[1:]
    s = tg.sin(v)  # saves the view
    with tg.no_grad():
        b[0] = 3.0
    with pytest.raises(InplaceModificationError):
        tg.sum(s).backward()


def test_a_copy_does_not_share_the_version():
    x = _leaf([0.5, 1.0])
    b = x * 1.0
    s = tg.sin(b)
    c = b[[0, 1]]  # advanced indexing: a copy
    with tg.no_grad():
        c[0] = 3.0
    tg.sum(s).backward()
    np.testing.assert_allclose(x.grad.data, np.cos([0.5, 1.0]))


# --------------------------------------------------------------------------- split
def test_split_into_uneven_sections_raises_and_names_array_split():
    x = tg.tensor(np.arange(5.0))
    with pytest.raises(ShapeMismatchError, match="array_split"):
        tg.split(x, 3)
    assert [p.shape for p in tg.array_split(x, 3)] == [(2,), (2,), (1,)]


def test_split_at_points_gives_uneven_pieces_and_unused_pieces_get_zero_gradient():
    x = _leaf(np.arange(7.0))
    a, b, c = tg.split(x, [2, 3])
    assert (a.shape, b.shape, c.shape) == ((2,), (1,), (4,))
    tg.sum(c * 2.0).backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0, 0, 2, 2, 2, 2])


def test_split_pieces_are_views_of_one_node():
    x = _leaf(np.arange(6.0).reshape(3, 2))
    pieces = tg.array_split(x, 2, axis=0)
    assert all(np.shares_memory(p.data, x.data) for p in pieces)
    assert pieces[0].grad_fn is pieces[1].grad_fn
    assert pieces[0].grad_fn.name == "split"
    tg.sum(pieces[0] * 3.0 + 0.0).backward()
    np.testing.assert_array_equal(x.grad.data, [[3, 3], [3, 3], [0, 0]])


def test_split_into_one_piece_returns_a_tuple():
    out = tg.split(tg.tensor(np.arange(3.0)), 1)
    assert isinstance(out, tuple) and len(out) == 1 and out[0].shape == (3,)


# --------------------------------------------------------------------------- joins and others
def test_concatenate_and_stack_of_many_tensors_give_every_input_a_gradient():
    xs = [_leaf([float(i), 1.0]) for i in range(40)]
    tg.sum(tg.concatenate(xs) * 2.0).backward()
    tg.sum(tg.stack(xs, axis=1) * 3.0).backward()
    for x in xs:
        np.testing.assert_array_equal(x.grad.data, [5.0, 5.0])


def test_concatenate_mixes_tensors_constants_and_dtypes():
    x = _leaf([1.0], np.float32)
    y = tg.concatenate([x, np.array([2.0, 3.0])])
    assert y.dtype == np.float64
    tg.sum(y).backward()
    assert x.grad.dtype == np.float32


def test_repeat_with_per_element_counts_including_zero():
    x = _leaf([1.0, 2.0, 3.0])
    y = tg.repeat(x, [2, 0, 3])
    np.testing.assert_array_equal(y.data, [1, 1, 3, 3, 3])
    y.backward(np.arange(5.0))
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 9.0])


def test_take_and_take_along_axis_accumulate_repeats():
    x = _leaf(np.zeros((2, 3)))
    tg.sum(tg.take(x, [1, 1, 2], axis=1)).backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 2, 1], [0, 2, 1]])
    x = _leaf(np.zeros((2, 3)))
    tg.sum(tg.take_along_axis(x, np.array([[0, 0], [2, 1]]), axis=1)).backward()
    np.testing.assert_array_equal(x.grad.data, [[2, 0, 0], [0, 1, 1]])


def test_pad_copying_modes_sum_gradients_onto_the_copied_elements():
    g = _grad_of(lambda x: tg.pad(x, (2, 1), mode="edge"), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [3.0, 1.0, 2.0])
    g = _grad_of(lambda x: tg.pad(x, (2, 2), mode="reflect"), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [2.0, 3.0, 2.0])  # [3, 2, 1, 2, 3, 2, 1]


def test_tensor_method_spellings():
    x = tg.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.T.shape == (4, 3, 2)
    assert x.mT.shape == (2, 4, 3)
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert x.permute(1, 2, 0).shape == (3, 4, 2)
    assert x[0].T.shape == (4, 3)
    assert x[0].transpose(1, 0).shape == (4, 3)
    assert x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert x.flatten().shape == (24,) and x.ravel().shape == (24,)
    assert x.squeeze(dim=None).shape == (2, 3, 4)
    assert x.repeat(2, axis=0).shape == (4, 3, 4)
    assert x.tile((2, 1, 1)).shape == (4, 3, 4)
    assert x.diagonal(0, 1, 2).shape == (2, 3)
    assert x.trace(0, 1, 2).shape == (2,)
    assert x.take([0, 0], 1).shape == (2, 2, 4)


def test_diagonal_is_a_view_and_trace_sums_it():
    x = tg.tensor(np.arange(9.0).reshape(3, 3))
    d = tg.diagonal(x)
    assert np.shares_memory(d.data, x.data)
    assert tg.trace(x).item() == 12.0
    assert tg.trace(x, 1).item() == 1.0 + 5.0


def test_flatten_of_a_0d_tensor_is_1d_like_torch():
    assert tg.flatten(tg.tensor(3.0)).shape == (1,)


# --------------------------------------------------------------------------- errors
def test_bad_reshape_says_both_shapes():
    with pytest.raises(ShapeMismatchError, match=r"shape \(2, 3\).*\(4,\)"):
        tg.reshape(tg.zeros((2, 3)), (4,))
    with pytest.raises(ValueError):  # ShapeMismatchError is a ValueError
        tg.zeros((2, 3)).reshape(5, -1)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: tg.transpose(x, (0, 3, 1)),
        lambda x: tg.swapaxes(x, 0, 3),
        lambda x: tg.moveaxis(x, 0, -4),
        lambda x: tg.squeeze(x, 5),
        lambda x: tg.expand_dims(x, 5),
        lambda x: tg.flatten(x, 3),
        lambda x: tg.concatenate([x, x], axis=3),
        lambda x: tg.stack([x, x], axis=-5),
        lambda x: tg.split(x, 1, axis=3),
        lambda x: tg.repeat(x, 2, axis=3),
        lambda x: tg.flip(x, 3),
        lambda x: tg.roll(x, 1, axis=3),
        lambda x: tg.take(x, [0], axis=3),
        lambda x: tg.diagonal(x, 0, 0, 3),
    ],
)
def test_bad_axis_raises_axis_error_with_the_valid_range(call):
    x = tg.zeros((2, 3, 1))
    with pytest.raises(np.exceptions.AxisError, match=r"out of bounds.*use a value in \[-"):
        call(x)


def test_bad_axis_on_a_0d_tensor_says_it_has_no_axes():
    with pytest.raises(np.exceptions.AxisError, match="no axes"):
        tg.flip(tg.tensor(1.0), 0)


def test_shape_errors_say_what_was_wrong():
    x = tg.zeros((2, 3))
    with pytest.raises(ShapeMismatchError, match="length is 3, not 1"):
        tg.squeeze(x, 1)
    with pytest.raises(ShapeMismatchError, match="tensor 1 has shape"):
        tg.concatenate([x, tg.zeros((3, 3))], axis=1)
    with pytest.raises(ShapeMismatchError, match="0-d"):
        tg.concatenate([tg.tensor(1.0), tg.tensor(2.0)])
    with pytest.raises(ShapeMismatchError, match="same shape"):
        tg.stack([x, tg.zeros((3, 2))])
    with pytest.raises(ShapeMismatchError, match="broadcast"):
        tg.broadcast_to(x, (3, 3))
    with pytest.raises(ShapeMismatchError, match="at least 2 dimensions"):
        tg.diagonal(tg.zeros(3))
    with pytest.raises(ShapeMismatchError, match="at least 2 dimensions"):
        tg.tril(tg.zeros(3))
    with pytest.raises(ShapeMismatchError, match="repeat counts"):
        tg.repeat(x, [1, 2], axis=1)
    with pytest.raises(ShapeMismatchError, match="same number"):
        tg.take_along_axis(x, np.array([0, 1]), axis=1)
    with pytest.raises(ValueError, match="permutation"):
        tg.transpose(x, (0,))
    with pytest.raises(ValueError, match="repeated"):
        tg.transpose(x, (1, 1))
    with pytest.raises(ValueError, match="must not come after"):
        tg.flatten(tg.zeros((2, 3, 4)), 2, 1)
    with pytest.raises(ValueError, match="different axes"):
        tg.diagonal(x, 0, 1, -1)


def test_pad_errors():
    x = tg.zeros((2, 3))
    with pytest.raises(ValueError, match="non-negative"):
        tg.pad(x, -1)
    with pytest.raises(ValueError, match="not supported"):
        tg.pad(x, 1, mode="median")
    with pytest.raises(ValueError, match="doesn't fit"):
        tg.pad(x, ((1, 1), (1, 1), (1, 1)))


def test_fast_row_scatter_matches_np_add_at():
    from tapegrad.ops.indexing import _index_add_impl

    rng = np.random.default_rng(0)
    for trial in range(300):
        nd = int(rng.integers(1, 4))
        shape = tuple(int(d) for d in rng.integers(1, 5, nd))
        p = int(rng.integers(0, nd))
        n = shape[p]
        idx = rng.integers(-n, n, (5,) if trial % 3 else (2, 3))
        key = [
            (slice(None),) * p + (idx,),
            (slice(None),) * p + (idx, Ellipsis),
            (Ellipsis, idx) + (slice(None),) * (nd - p - 1),
        ][trial % 3]
        dt = (np.float64, np.float32)[trial % 2]
        g = rng.standard_normal(np.zeros(shape)[key].shape).astype(dt)
        ref = np.zeros(shape, dt)
        np.add.at(ref, key, g)
        out = _index_add_impl(g, key=key, shape=shape, mode="accumulate")
        assert out.dtype == dt and out.shape == shape
        np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


def test_tensor_transpose_with_two_ints_swaps_like_pytorch():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    assert x.transpose(0, 1).shape == (3, 2)
    assert x.transpose(1, 0).shape == (3, 2)
    y = tg.tensor(np.zeros((2, 3, 4)))
    assert y.transpose(0, 2).shape == (4, 3, 2)
    assert y.transpose(1, 2, 0).shape == (3, 4, 2)
    assert y.transpose((2, 0, 1)).shape == (4, 2, 3)
    assert y.transpose().shape == (4, 3, 2)


def test_index_array_is_copied_when_recorded():
    x = tg.tensor(np.arange(4.0), requires_grad=True)
    idx = np.array([0, 1])
    y = tg.sum(x[idx] * 1.0)
    idx[:] = 3
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 0.0, 0.0])
