"""Behaviour of the reductions: axis handling, conventions at zeros and ties, errors.

The generic spec tests (tests/test_ops.py with tests/opinfo/reduce.py) check values,
gradients and second derivatives on fixed samples; here hypothesis draws shapes and axis
arguments, and the conventions are pinned one by one.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import tapegrad as tg

torch = pytest.importorskip("torch")


# --------------------------------------------------------------------------- strategies
@st.composite
def array_and_axis(draw, min_side=0, distinct=False, max_dims=4, max_side=4):
    """(x, axis, keepdims, reduced axes): axis None, an int or a tuple, negative allowed."""
    shape = draw(array_shapes(min_dims=0, max_dims=max_dims, min_side=min_side, max_side=max_side))
    nd = len(shape)
    if distinct:
        n = int(np.prod(shape))
        perm = draw(st.permutations(range(n)))
        x = (np.array(perm, dtype=np.float64).reshape(shape) - n / 2) * 0.37 + 0.05
    else:
        x = draw(
            arrays(
                np.float64,
                shape,
                elements=st.floats(-10, 10, allow_nan=False, allow_subnormal=False),
            )
        )
    kind = draw(st.sampled_from(["none", "int", "tuple"]) if nd else st.just("none"))
    if kind == "none":
        axis, axes = None, tuple(range(nd))
    else:
        picked = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        signed = [a - nd if draw(st.booleans()) else a for a in picked]
        axes = tuple(sorted(picked))
        axis = signed[0] if kind == "int" else tuple(signed)
        if kind == "int":
            axes = (picked[0],)
    return x, axis, draw(st.booleans()), axes


def _grad(fn, x, cot=None, **kw):
    t = tg.tensor(x, requires_grad=True)
    out = fn(t, **kw)
    if cot is None:
        cot = np.random.default_rng(0).standard_normal(out.shape)
    (g,) = tg.autograd.grad(out, t, grad_outputs=cot)
    return out, g.data, cot


def _expand(v, shape, axes, keepdims):
    if not keepdims:
        v = np.reshape(v, [1 if i in axes else d for i, d in enumerate(shape)])
    return np.broadcast_to(v, shape)


# --------------------------------------------------------------------------- hypothesis
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # mean of empty slices: nan
@given(array_and_axis())
def test_sum_and_mean_gradients_broadcast_the_cotangent(case):
    x, axis, keep, axes = case
    out, g, cot = _grad(tg.sum, x, axis=axis, keepdims=keep)
    np.testing.assert_allclose(out.data, np.sum(x, axis=axes, keepdims=keep), atol=1e-12)
    np.testing.assert_array_equal(g, _expand(cot, x.shape, axes, keep))
    out, g, cot = _grad(tg.mean, x, axis=axis, keepdims=keep)
    n = max(int(np.prod([x.shape[a] for a in axes])), 1)
    assert out.shape == np.sum(x, axis=axes, keepdims=keep).shape
    np.testing.assert_allclose(g, _expand(cot, x.shape, axes, keep) / n, rtol=1e-14)


@given(array_and_axis(min_side=1))
def test_max_and_min_split_the_gradient_evenly_between_ties(case):
    x, axis, keep, axes = case
    x = np.round(x)  # integers in [-10, 10]: plenty of ties
    for fn, ref in ((tg.max, np.max), (tg.min, np.min)):
        out, g, cot = _grad(fn, x, axis=axis, keepdims=keep)
        r = ref(x, axis=axes, keepdims=True)
        np.testing.assert_array_equal(out.data, ref(x, axis=axes, keepdims=keep))
        hit = (x == r).astype(np.float64)
        expected = _expand(cot, x.shape, axes, keep) * hit / hit.sum(axis=axes, keepdims=True)
        np.testing.assert_allclose(g, expected, rtol=1e-14)


@given(array_and_axis(), st.sampled_from([0, 1]))
def test_var_gradient_matches_the_closed_form(case, ddof):
    x, axis, keep, axes = case
    n = int(np.prod([x.shape[a] for a in axes]))
    if n - ddof <= 0:
        return
    out, g, cot = _grad(tg.var, x, axis=axis, ddof=ddof, keepdims=keep)
    np.testing.assert_allclose(
        out.data, np.var(x, axis=axes, ddof=ddof, keepdims=keep), rtol=1e-12, atol=1e-12
    )
    expected = (
        _expand(cot, x.shape, axes, keep) * 2 * (x - x.mean(axis=axes, keepdims=True)) / (n - ddof)
    )
    np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-9)


@given(array_and_axis(distinct=True, max_dims=3, max_side=3))
def test_prod_max_and_logsumexp_pass_gradcheck(case):
    x, axis, keep, axes = case
    fns = [tg.prod, tg.logsumexp]
    if 0 not in [x.shape[a] for a in axes]:
        fns.append(tg.max)
    for fn in fns:
        tg.testing.gradcheck(lambda t: fn(t, axis=axis, keepdims=keep), [tg.tensor(x)])


@given(array_and_axis(min_side=1, distinct=True))
def test_argmax_and_argmin_agree_with_numpy(case):
    x, axis, keep, _ = case
    if isinstance(axis, tuple):
        axis = axis[0]
    for fn, ref in ((tg.argmax, np.argmax), (tg.argmin, np.argmin)):
        out = fn(tg.tensor(x, requires_grad=True), axis, keep)
        ax = None if x.ndim == 0 else axis
        np.testing.assert_array_equal(out.data, ref(x, axis=ax, keepdims=keep))
        assert out.dtype == np.int64
        assert not out.requires_grad


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # var/mean of empty slices: nan
@given(array_and_axis())
def test_keepdims_keeps_reduced_axes_as_size_one(case):
    x, axis, _, axes = case
    expected = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    t = tg.tensor(x)
    for fn in (tg.sum, tg.mean, tg.prod, tg.logsumexp, tg.any, tg.all):
        assert fn(t, axis, True).shape == expected, fn.__name__
    assert tg.var(t, axis, 0, True).shape == expected
    assert tg.std(t, axis, 0, True).shape == expected
    if 0 not in [x.shape[a] for a in axes]:
        assert tg.max(t, axis, True).shape == expected
        assert tg.min(t, axis, True).shape == expected


# --------------------------------------------------------------------------- prod
def _torch_grad_hess(fn_torch, x):
    tx = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(fn_torch(tx), tx, create_graph=True)
    h = torch.stack(
        [
            torch.autograd.grad(gi, tx, retain_graph=True)[0]
            if gi.requires_grad
            else torch.zeros_like(tx)
            for gi in g.reshape(-1)
        ]
    )
    return g.detach().numpy(), h.reshape(x.size, x.size).numpy()


def _tg_grad_hess(fn, x):
    t = tg.tensor(x, requires_grad=True)
    (g,) = tg.autograd.grad(fn(t), t, create_graph=True)
    flat = g.reshape(-1)
    rows = [
        tg.autograd.grad(flat[i], t, retain_graph=True, allow_unused=True)[0] for i in range(x.size)
    ]
    h = np.stack([np.zeros(x.shape) if r is None else r.data for r in rows])
    return g.data, h.reshape(x.size, x.size)


@pytest.mark.parametrize(
    "x",
    [
        [2.0, 3.0, 0.5, -1.5],  # no zero
        [2.0, 0.0, 0.5, -1.5],  # one zero
        [0.0, 3.0, 0.0, -1.5],  # two zeros
        [0.0, 0.0, 0.0, 2.0],  # three zeros
        [0.0],
    ],
)
def test_prod_gradient_and_hessian_with_zeros_match_torch(x):
    x = np.array(x)
    g, h = _tg_grad_hess(tg.prod, x)
    tgd, th = _torch_grad_hess(torch.prod, x)
    np.testing.assert_allclose(g, tgd, atol=1e-14)
    np.testing.assert_allclose(h, th, atol=1e-14)


def test_prod_gradient_with_one_zero_is_the_product_of_the_others():
    x = tg.tensor([2.0, 0.0, 3.0, -1.0], requires_grad=True)
    tg.prod(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, -6.0, 0.0, 0.0])


def test_prod_gradient_with_two_zeros_is_zero():
    x = tg.tensor([[2.0, 0.0, 0.0], [1.0, 2.0, 3.0]], requires_grad=True)
    tg.prod(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.0, 0.0], [6.0, 3.0, 2.0]])


def test_prod_with_zeros_over_several_axes_matches_torch():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (3, 2, 4))
    x[0, 1, 2] = x[2, 0, 0] = x[2, 1, 3] = 0.0
    t = tg.tensor(x, requires_grad=True)
    tg.prod(t, axis=(0, -1)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tx.permute(1, 0, 2).reshape(2, -1).prod(1).sum().backward()
    np.testing.assert_allclose(t.grad.data, tx.grad.numpy(), rtol=1e-13)


def test_prod_third_derivative_through_zeros_is_exact():
    # d^3/dx0 dx1 dx2 of x0*x1*x2*x3 is x3, also at x = 0.
    x = tg.tensor([0.0, 0.0, 0.0, 5.0], requires_grad=True)
    (g,) = tg.autograd.grad(tg.prod(x), x, create_graph=True)
    (h0,) = tg.autograd.grad(g[0], x, create_graph=True)
    (t01,) = tg.autograd.grad(h0[1], x)
    np.testing.assert_array_equal(t01.data, [0.0, 0.0, 5.0, 0.0])


def test_prod_with_zeros_keeps_float32():
    x = tg.tensor(np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]], np.float32), requires_grad=True)
    tg.prod(x, axis=1).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])


# --------------------------------------------------------------------------- cumprod / cumsum
@pytest.mark.parametrize(
    "x",
    [
        [2.0, 3.0, 0.5, -1.5, 1.2],
        [2.0, 0.0, 0.5, -1.5, 1.2],
        [0.0, 3.0, 0.0, -1.5, 1.2],
        [1.5, 3.0, 0.5, -1.5, 0.0],
        [0.0, 0.0, 0.0, 2.0, 0.0],
    ],
)
def test_cumprod_gradient_and_hessian_with_zeros_match_torch(x):
    x = np.array(x)
    w = np.array([0.3, -1.0, 2.0, 0.7, 1.1])

    def f_tg(t):
        return tg.sum(tg.cumprod(t) * w)

    def f_torch(t):
        return (torch.cumprod(t, 0) * torch.tensor(w)).sum()

    g, h = _tg_grad_hess(f_tg, x)
    tgd, th = _torch_grad_hess(f_torch, x)
    np.testing.assert_allclose(g, tgd, atol=1e-13)
    np.testing.assert_allclose(h, th, atol=1e-13)


def test_cumprod_with_zeros_along_an_inner_axis_matches_torch():
    rng = np.random.default_rng(4)
    x = rng.uniform(-2.0, 2.0, (3, 5, 2))
    x[0, 1, 0] = x[0, 3, 0] = x[2, 0, 1] = x[1, 4, 1] = 0.0
    cot = rng.standard_normal(x.shape)
    t = tg.tensor(x, requires_grad=True)
    tg.cumprod(t, -2).backward(cot)
    tx = torch.tensor(x, requires_grad=True)
    torch.cumprod(tx, 1).backward(torch.tensor(cot))
    np.testing.assert_allclose(t.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_cumsum_and_cumprod_with_axis_none_flatten_like_numpy():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    np.testing.assert_array_equal(tg.cumsum(tg.tensor(x)).data, np.cumsum(x))
    np.testing.assert_array_equal(tg.cumprod(tg.tensor(x)).data, np.cumprod(x))
    assert tg.cumsum(tg.tensor(2.0)).shape == (1,)
    t = tg.tensor(x, requires_grad=True)
    tg.cumsum(t).backward(np.ones(6))
    np.testing.assert_array_equal(t.grad.data, [[6.0, 5.0, 4.0], [3.0, 2.0, 1.0]])


def test_cumsum_takes_one_axis():
    with pytest.raises(TypeError, match="one axis"):
        tg.cumsum(tg.ones(2, 3), (0, 1))


# --------------------------------------------------------------------------- max / min ties
def test_max_three_way_tie_gives_a_third_each_like_torch_amax():
    x = np.array([[1.0, 3.0, 3.0, 3.0], [2.0, -1.0, 2.0, 0.0]])
    t = tg.tensor(x, requires_grad=True)
    tg.max(t, axis=1).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    torch.amax(tx, dim=1).sum().backward()
    np.testing.assert_allclose(t.grad.data, tx.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(t.grad.data[0], [0.0, 1 / 3, 1 / 3, 1 / 3])


def test_min_tie_over_all_axes():
    t = tg.tensor([[0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    tg.min(t).backward()
    np.testing.assert_allclose(t.grad.data, [[1 / 3, 0.0], [1 / 3, 1 / 3]])


def test_max_over_an_empty_axis_raises_a_clear_error():
    with pytest.raises(ValueError, match="size 0"):
        tg.max(tg.zeros(2, 0), axis=1)
    assert tg.max(tg.zeros(2, 0), axis=0).shape == (0,)


def test_amax_and_amin_are_aliases():
    assert tg.amax is tg.max and tg.amin is tg.min


# --------------------------------------------------------------------------- var / std
def test_std_derivative_at_zero_is_zero_like_torch():
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    t = tg.tensor(x, requires_grad=True)
    tg.std(t, axis=1, ddof=1).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    torch.std(tx, dim=1, correction=1).sum().backward()
    np.testing.assert_allclose(t.grad.data, tx.grad.numpy(), rtol=1e-13)
    np.testing.assert_array_equal(t.grad.data[0], [0.0, 0.0, 0.0])


def test_var_ddof_is_the_torch_correction():
    x = np.random.default_rng(5).standard_normal((4, 6))
    for ddof in (0, 1, 2):
        np.testing.assert_allclose(
            tg.var(tg.tensor(x), 1, ddof).data,
            torch.var(torch.tensor(x), 1, correction=ddof).numpy(),
        )


def test_var_rejects_a_non_numeric_ddof():
    with pytest.raises(TypeError, match="ddof"):
        tg.var(tg.ones(3), ddof="1")


# --------------------------------------------------------------------------- logsumexp
def test_logsumexp_is_stable_and_its_gradient_is_softmax():
    x = np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1001.0, -np.inf]])
    t = tg.tensor(x, requires_grad=True)
    out = tg.logsumexp(t, axis=1)
    np.testing.assert_allclose(out.data, torch.logsumexp(torch.tensor(x), 1).numpy())
    out.sum().backward()
    # exp(x - logsumexp) at |x| = 1000 carries ~1e-13 relative rounding (as in PyTorch).
    np.testing.assert_allclose(t.grad.data, torch.softmax(torch.tensor(x), 1).numpy(), rtol=1e-12)


def test_logsumexp_of_an_empty_axis_is_minus_inf():
    out = tg.logsumexp(tg.zeros(0, 3), axis=0)
    np.testing.assert_array_equal(out.data, [-np.inf] * 3)


def test_logsumexp_of_integers_is_float64():
    assert tg.logsumexp(np.array([1, 2, 3])).dtype == np.float64


# --------------------------------------------------------------------------- norm
@pytest.mark.parametrize("ord", [None, 2, 1, 3, 1.5, 0.5, np.inf, -np.inf])
def test_norm_gradient_at_the_zero_vector_is_zero(ord):
    t = tg.tensor(np.zeros(4), requires_grad=True)
    tg.norm(t, ord).backward()
    np.testing.assert_array_equal(t.grad.data, np.zeros(4))


def test_norm_of_a_zero_entry_with_p_below_one_has_zero_gradient_there():
    x = np.array([0.0, 2.0, -1.0])
    t = tg.tensor(x, requires_grad=True)
    tg.norm(t, 0.5).backward()
    tx = torch.tensor(x, requires_grad=True)
    torch.linalg.vector_norm(tx, 0.5).backward()
    np.testing.assert_allclose(t.grad.data, tx.grad.numpy(), rtol=1e-13)
    assert t.grad.data[0] == 0.0


def test_norm_ord_zero_counts_nonzeros_without_gradient():
    t = tg.tensor([[0.0, 1.0, -2.0], [0.0, 0.0, 3.0]], requires_grad=True)
    out = tg.norm(t, 0, axis=1)
    np.testing.assert_array_equal(out.data, [2.0, 1.0])
    assert out.dtype == np.float64 and not out.requires_grad


def test_norm_follows_numpy_for_axis_none():
    x = np.random.default_rng(6).standard_normal((2, 3, 4))
    np.testing.assert_allclose(tg.norm(tg.tensor(x)).data, np.linalg.norm(x))
    m = x[0]
    for ord in (None, "fro", 1, -1, np.inf, -np.inf):
        np.testing.assert_allclose(tg.norm(tg.tensor(m), ord).data, np.linalg.norm(m, ord))
    np.testing.assert_allclose(tg.norm(np.array([3, 4])).data, 5.0)


def test_norm_rejects_bad_orders_and_axes_with_clear_messages():
    x = tg.ones(2, 3, 4)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        tg.norm(x, 1)
    with pytest.raises(ValueError, match="for vectors"):
        tg.norm(tg.ones(3), "fro")
    with pytest.raises(ValueError, match="for matrices"):
        tg.norm(tg.ones(2, 3), 3)
    with pytest.raises(ValueError, match="same axis twice"):
        tg.norm(x, None, (1, -2))
    with pytest.raises(ValueError, match="one axis .* or two"):
        tg.norm(x, None, (0, 1, 2))
    with pytest.raises(np.exceptions.AxisError):
        tg.norm(x, None, 3)


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_matrix_norms_from_singular_values_match_numpy_and_linalg(ord):
    a = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(tg.norm(tg.tensor(a), ord).item(), np.linalg.norm(a, ord))
    np.testing.assert_allclose(
        tg.norm(tg.tensor(a), ord, (0, 1)).item(), tg.linalg.norm(tg.tensor(a), ord).item()
    )
    tg.testing.gradcheck(lambda t: tg.norm(t, ord), [a])


def test_norm_method_and_keepdims():
    x = tg.tensor(np.arange(12.0).reshape(3, 4))
    assert x.norm(None, 1, True).shape == (3, 1)
    assert tg.norm(x, "fro", (0, 1), keepdims=True).shape == (1, 1)


# --------------------------------------------------------------------------- axis errors
def test_out_of_bounds_axis_says_which_axes_are_valid():
    with pytest.raises(np.exceptions.AxisError, match=r"axis 2 is out of bounds .* \[-2, 1\]"):
        tg.sum(tg.ones(2, 3), axis=2)
    with pytest.raises(IndexError):  # AxisError is also an IndexError, as in NumPy
        tg.mean(tg.ones(2, 3), axis=-3)


def test_repeated_axis_is_rejected():
    with pytest.raises(ValueError, match="repeated axis"):
        tg.sum(tg.ones(2, 3), axis=(1, -1))


def test_non_integer_axis_is_rejected():
    with pytest.raises(TypeError, match="axis"):
        tg.prod(tg.ones(2, 3), axis=1.0)
    with pytest.raises(TypeError, match="one axis"):
        tg.argmax(tg.ones(2, 3), axis=(0, 1))


def test_zero_dim_input_accepts_axis_zero_and_minus_one():
    t = tg.tensor(3.0, requires_grad=True)
    for fn in (tg.sum, tg.mean, tg.prod, tg.max, tg.min, tg.logsumexp):
        out = fn(t, -1)
        assert out.shape == () and out.item() == pytest.approx(3.0)
    assert tg.argmax(t, 0).item() == 0


# --------------------------------------------------------------------------- misc
def test_any_and_all_are_boolean_and_not_differentiable():
    t = tg.tensor([[0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    a = tg.any(t, axis=1)
    assert a.dtype == np.bool_ and not a.requires_grad
    np.testing.assert_array_equal(a.data, [True, False])
    np.testing.assert_array_equal(tg.all(t, axis=0, keepdims=True).data, [[False, False]])


def test_tensor_methods_reach_the_reductions():
    x = tg.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    assert x.prod(dim=1, keepdim=True).shape == (2, 1)
    np.testing.assert_allclose(x.var(1, 1).data, [1.0, 1.0])
    np.testing.assert_array_equal(x.argmax(1).data, [2, 2])
    np.testing.assert_array_equal(x.cumsum(dim=0).data, [[1, 2, 3], [5, 7, 9]])
    x.logsumexp().backward()
    np.testing.assert_allclose(x.grad.data.sum(), 1.0)


def test_engine_unbroadcast_still_sums_gradients_back():
    x = tg.tensor(np.ones((3, 1)), requires_grad=True)
    y = tg.tensor(np.ones((2, 3, 4)), requires_grad=True)
    tg.sum(x * y).backward()
    np.testing.assert_array_equal(x.grad.data, np.full((3, 1), 8.0))
