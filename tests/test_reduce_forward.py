"""Forward mode (jvp rules) of the reductions: higher orders and conventions.

The generic spec tests check first-order tangents (finite differences, transpose of the vjp,
batched tangents).  Here the jvp rules are themselves differentiated -- jvp of jvp, grad of
jvp, forward-over-reverse Hessians -- against PyTorch's second derivatives, including the
exact-at-zeros rules of prod and cumprod, and the conventions at ties and kinks are pinned.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")
F = torch.autograd.functional


def _distinct(shape, seed=0):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2) * 0.37 + 0.05


def _nonzero(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def _with_zeros(shape, seed=0):
    """Rows with no, one, two and three zeros (shape (4, n), n >= 4)."""
    x = _nonzero(shape, seed)
    x[1, 2] = 0.0
    x[2, [0, 3]] = 0.0
    x[3, [0, 1, 3]] = 0.0
    return x


def _vnorm(ord, axis):
    return (
        lambda x: tg.norm(x, ord=ord, axis=axis),
        lambda x: torch.linalg.vector_norm(x, 2 if ord is None else ord, dim=axis),
    )


# name -> (tapegrad f, torch f, input)
CASES = {
    "sum": (lambda x: tg.sum(x, axis=(0, 2)), lambda x: x.sum((0, 2)), _nonzero((2, 3, 4))),
    "mean": (
        lambda x: tg.mean(x, axis=-1, keepdims=True),
        lambda x: x.mean(-1, keepdim=True),
        _nonzero((3, 4)),
    ),
    "prod": (lambda x: tg.prod(x, axis=1), lambda x: x.prod(1), _nonzero((3, 4))),
    "prod_zeros": (lambda x: tg.prod(x, axis=1), lambda x: x.prod(1), _with_zeros((4, 5))),
    "prod_zeros_all": (lambda x: tg.prod(x), lambda x: x.prod(), _with_zeros((4, 4))[1:3]),
    "max": (lambda x: tg.max(x, axis=0), lambda x: x.amax(0), _distinct((3, 4))),
    "min": (
        lambda x: tg.min(x, axis=(0, 1), keepdims=True),
        lambda x: x.amin((0, 1), keepdim=True),
        _distinct((2, 3, 2)),
    ),
    "var": (
        lambda x: tg.var(x, axis=1, ddof=1),
        lambda x: x.var(1, correction=1),
        _nonzero((3, 4)),
    ),
    "std": (lambda x: tg.std(x, axis=0), lambda x: x.std(0, correction=0), _nonzero((4, 3))),
    "logsumexp": (
        lambda x: tg.logsumexp(x, axis=1),
        lambda x: x.logsumexp(1),
        _nonzero((3, 4)),
    ),
    "norm2": (*_vnorm(None, 1), _nonzero((3, 4))),
    "norm1": (*_vnorm(1, 1), _nonzero((3, 4))),
    "norm3": (*_vnorm(3, 0), _nonzero((3, 4))),
    "norm1.5": (*_vnorm(1.5, 1), _nonzero((3, 4))),
    "norm0.5": (*_vnorm(0.5, 1), _nonzero((3, 4))),
    "norm-1": (*_vnorm(-1, 1), _nonzero((3, 4))),
    "norm_inf": (*_vnorm(np.inf, 1), _distinct((3, 4))),
    "norm-inf": (*_vnorm(-np.inf, 0), _distinct((3, 4))),
    "cumsum": (lambda x: tg.cumsum(x, axis=1), lambda x: x.cumsum(1), _nonzero((3, 4))),
    "cumprod": (lambda x: tg.cumprod(x, axis=1), lambda x: x.cumprod(1), _nonzero((3, 4))),
    "cumprod_zeros": (
        lambda x: tg.cumprod(x, axis=1),
        lambda x: x.cumprod(1),
        _with_zeros((4, 5)),
    ),
}
NAMES = sorted(CASES)


def _torch_second(tf, x):
    """d2 f / dx_i dx_j as an array of shape out + in + in (reverse over reverse)."""
    jj = torch.func.jacrev(torch.func.jacrev(tf))
    return jj(torch.tensor(x)).numpy(force=True)


def _torch_first(tf, x):
    return F.jacobian(tf, torch.tensor(x)).numpy()


def _directions(x, out_shape, seed=5):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal(x.shape),
        rng.standard_normal(x.shape),
        rng.standard_normal(out_shape),
    )


def _contract(t, x, *vecs):
    """Contract the trailing input axes of ``t`` with ``vecs`` (last axis group first)."""
    for v in vecs:
        t = np.tensordot(t, v, axes=(tuple(range(t.ndim - x.ndim, t.ndim)), tuple(range(x.ndim))))
    return t


@pytest.mark.parametrize("name", NAMES)
def test_jacfwd_matches_torch(name):
    f, tf, x = CASES[name]
    np.testing.assert_allclose(tg.jacfwd(f)(x), _torch_first(tf, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_jvp_of_jvp_matches_torch(name):
    f, tf, x = CASES[name]
    out_shape = np.shape(f(x))
    u, w, _ = _directions(x, out_shape)
    inner = lambda y: tg.jvp(f, (y,), (u,))[1]
    got = tg.jvp(inner, (x,), (w,))[1]
    want = _contract(_torch_second(tf, x), x, w, u)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_grad_of_jvp_matches_torch(name):
    # Reverse over forward: the jvp rules are recorded on the tape.
    f, tf, x = CASES[name]
    out_shape = np.shape(f(x))
    u, _, v = _directions(x, out_shape)
    got = tg.grad(lambda y: tg.sum(v * tg.jvp(f, (y,), (u,))[1]))(x)
    h = np.tensordot(v, _torch_second(tf, x), axes=len(out_shape))  # in + in
    want = _contract(h, x, u)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_forward_over_reverse_hessian_matches_torch(name):
    f, tf, x = CASES[name]
    out_shape = np.shape(f(x))
    _, _, v = _directions(x, out_shape)
    got = tg.hessian(lambda y: tg.sum(v * f(y)))(x)
    want = np.tensordot(v, _torch_second(tf, x), axes=len(out_shape))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_float32_tangents_stay_float32(name):
    f, tf, x = CASES[name]
    x32 = x.astype(np.float32)
    out, t = tg.jvp(f, (x32,), (np.ones_like(x32),))
    assert out.dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(t, tg.jvp(f, (x,), (np.ones_like(x),))[1], rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- conventions
@pytest.mark.parametrize("fn,tfn", [(tg.max, torch.amax), (tg.min, torch.amin)])
def test_tied_extrema_average_the_tangents_of_the_tied_elements(fn, tfn):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    if fn is tg.min:
        x = -x
    u = np.array([[5.0, 1.0, 2.0], [1.0, 2.0, 6.0]])
    t = tg.jvp(lambda y: fn(y, axis=1), (x,), (u,))[1]
    np.testing.assert_allclose(t, [1.5, 3.0])
    tt = torch.func.jvp(lambda y: tfn(y, 1), (torch.tensor(x),), (torch.tensor(u),))[1]
    np.testing.assert_allclose(t, tt.numpy())


def test_norm_inf_ties_average_with_the_sign_of_each_element():
    x, u = np.array([2.0, -2.0, 1.0]), np.array([1.0, 3.0, 7.0])
    t = tg.jvp(lambda y: tg.norm(y, ord=np.inf), (x,), (u,))[1]
    np.testing.assert_allclose(t, (1.0 - 3.0) / 2)


def test_std_tangent_is_zero_on_a_constant_slice():
    x = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    u = np.array([[1.0, -2.0, 5.0], [1.0, 0.0, 0.0]])
    t = tg.jvp(lambda y: tg.std(y, axis=1), (x,), (u,))[1]
    assert t[0] == 0.0 and np.isfinite(t[1])


@pytest.mark.parametrize("ord", [None, 2, 3, 1.5, 1, 0.5, -1])
def test_norm_tangent_at_the_zero_vector_is_zero(ord):
    with np.errstate(divide="ignore"):  # |0| ** -1 in the value of the -1 "norm"
        t = tg.jvp(lambda y: tg.norm(y, ord=ord), (np.zeros(4),), (np.ones(4),))[1]
    assert t == 0.0


def test_prod_and_cumprod_tangents_with_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.0])
    u = np.array([1.0, 10.0, 100.0, 1000.0])
    # prod: two zeros -> every first derivative is 0.
    assert tg.jvp(tg.prod, (x,), (u,))[1] == 0.0
    assert tg.jvp(tg.prod, (x[:3],), (u[:3],))[1] == 2.0 * 3.0 * 10.0
    # cumprod: [2, 0, 0, 0] -> tangents [u0, 2 u1, 6 u1, 0]
    np.testing.assert_allclose(tg.jvp(tg.cumprod, (x,), (u,))[1], [1.0, 20.0, 60.0, 0.0])


def test_reductions_over_an_empty_axis_have_zero_tangents():
    x = np.zeros((0, 3))
    u = np.zeros((0, 3))
    out, t = tg.jvp(lambda y: tg.logsumexp(y, axis=0), (x,), (u,))
    np.testing.assert_array_equal(out, [-np.inf] * 3)
    np.testing.assert_array_equal(t, np.zeros(3))
    # (torch.func.jvp gives nan here; the map from R^0 is 0, the transpose of the empty vjp.)
    g = tg.grad(lambda y: tg.sum(tg.logsumexp(y, axis=0)))(x)
    assert g.shape == (0, 3)
    for fn in (tg.sum, tg.prod, tg.mean):
        with warnings.catch_warnings():  # the mean of an empty slice is nan (NumPy warns)
            warnings.simplefilter("ignore", RuntimeWarning)
            _, t = tg.jvp(lambda y, fn=fn: fn(y, axis=0), (x,), (u,))
        np.testing.assert_array_equal(t, np.zeros(3))


def test_batched_tangents_with_keepdims_and_negative_axes():
    # jacfwd pushes the whole basis at once (leading batch axis) through every rule.
    x = _with_zeros((4, 5))
    for f, tf in [
        (lambda y: tg.prod(y, axis=-1, keepdims=True), lambda y: y.prod(-1, keepdim=True)),
        (lambda y: tg.cumprod(y, axis=-1), lambda y: y.cumprod(-1)),
        (
            lambda y: tg.std(y, axis=-2, keepdims=True),
            lambda y: y.std(-2, correction=0, keepdim=True),
        ),
    ]:
        np.testing.assert_allclose(tg.jacfwd(f)(x), _torch_first(tf, x), rtol=1e-10, atol=1e-12)


@pytest.fixture(autouse=True)
def _torch_default_float64():
    """torch's default dtype is float64 for this module's tests only (restored after)."""
    if torch is None:
        yield
        return
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(prev)
