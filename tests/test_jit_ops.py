"""tg.jit over the whole op spec table: every spec, every sample, both sweeps.

For each sample the op is compiled once and then called on the traced values and on new
values of the same signature (a trace that baked a value in would pass the first check and
fail the second); the compiled results must equal eager mode's bit for bit (the pure-NumPy
path, ``fuse=False``), for the values and for the gradient of a weighted sum of the outputs.
With fusion (``fuse=True``, when numexpr is installed) they must agree to a few ulps.
A new op spec is covered without touching this file.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.jit import fusion

from .opinfo import OpSpec, Sample, all_specs

SPECS = all_specs()


def _cases(pred=lambda s: True):
    out = []
    for spec in SPECS:
        if not pred(spec):
            continue
        for k, sample in enumerate(spec.samples(np.random.default_rng(0), np.float64)):
            out.append(pytest.param(spec, sample, id=f"{spec.name}-{k}"))
    return out


def _diff(sample: Sample) -> list[int]:
    return [
        i
        for i, a in enumerate(sample.args)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in sample.nondiff
    ]


def _bound(spec: OpSpec, sample: Sample):
    """The op as a function of its differentiable arguments (the rest are constants)."""
    diff = _diff(sample)

    def f(*xs):
        args = list(sample.args)
        for i, x in zip(diff, xs):
            args[i] = x
        return spec.op(*args, **sample.kwargs)

    return f, [sample.args[i] for i in diff]


def _float_leaves(res) -> list:
    leaves = list(res) if isinstance(res, (tuple, list)) else [res]
    return [r for r in leaves if isinstance(r, tg.Tensor) and r.dtype.kind == "f"]


def _weighted(f, weights):
    def loss(*xs):
        outs = _float_leaves(f(*xs))
        total = None
        for o, w in zip(outs, weights):
            term = tg.sum(o * w)
            total = term if total is None else total + term
        return total

    return loss


def _other(x: np.ndarray, rng) -> np.ndarray:
    """New values of ``x``'s signature, in the same domain: a permutation, each value then
    moved by 16 ulps (so that a one-element array changes too)."""
    flat = x.reshape(-1)
    y = rng.permutation(flat) if flat.size > 1 else flat.copy()
    y = y + 16 * np.spacing(y)
    return y.reshape(x.shape).astype(x.dtype)


def _check_new_values(jf, f, xs, rng, what):
    ts2 = [tg.tensor(_other(x, rng)) for x in xs]
    try:
        want = _leaves(f(*ts2))
    except Exception as e:  # (outside the op's domain: the compiled call must fail alike)
        with pytest.raises(type(e)):
            jf(*ts2)
        return
    _same(_leaves(jf(*ts2)), want, what)


def _same(a, b, what):
    a = [np.asarray(x.data if isinstance(x, tg.Tensor) else x) for x in a]
    b = [np.asarray(x.data if isinstance(x, tg.Tensor) else x) for x in b]
    assert len(a) == len(b), what
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape, (what, x.dtype, y.dtype, x.shape, y.shape)
        assert np.array_equal(x, y, equal_nan=True), (what, x, y)
        if x.dtype.kind == "f":  # the same zero signs too
            assert np.array_equal(np.signbit(x[x == 0]), np.signbit(y[y == 0])), what


def _leaves(res) -> list:
    return list(res) if isinstance(res, (tuple, list)) else [res]


@pytest.mark.parametrize("spec,sample", _cases(lambda s: bool(s.jit)))
def test_jit_refuses_what_it_cannot_compile(spec, sample):
    f, xs = _bound(spec, sample)
    with pytest.raises(tg.errors.ConcretizationError):
        tg.jit(f)(*[tg.tensor(x) for x in xs])


@pytest.mark.parametrize("spec,sample", _cases(lambda s: not s.jit))
def test_jit_values_equal_eager(spec, sample):
    f, xs = _bound(spec, sample)
    ts = [tg.tensor(x) for x in xs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _leaves(f(*ts))
        jf = tg.jit(f, fuse=False)
        _same(_leaves(jf(*ts)), want, "trace run")
        _same(_leaves(jf(*ts)), want, "compiled")
        _check_new_values(jf, f, xs, np.random.default_rng(1), "compiled, new values")
    assert jf.trace_count == 1


def _grad_case(spec: OpSpec, sample: Sample):
    """The gradient of a random weighting of the op's float outputs, w.r.t. its
    differentiable arguments (as tensors), and the generator for new values."""
    f, xs = _bound(spec, sample)
    if not xs:
        pytest.skip("nothing to differentiate")
    ts = [tg.tensor(x) for x in xs]
    outs = _float_leaves(f(*ts))
    rng = np.random.default_rng(2)
    weights = [tg.tensor(rng.standard_normal(o.shape).astype(o.dtype)) for o in outs]
    return tg.grad(_weighted(f, weights), argnums=tuple(range(len(xs)))), xs, ts, rng


@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.grad and not s.jit))
def test_jit_grad_equals_eager(spec, sample):
    g, xs, ts, rng = _grad_case(spec, sample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _leaves(g(*ts))
        jg = tg.jit(g, fuse=False)
        _same(_leaves(jg(*ts)), want, "trace run")
        _same(_leaves(jg(*ts)), want, "compiled")
        _check_new_values(jg, g, xs, rng, "compiled, new values")


@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.grad and not s.jit))
def test_jit_grad_fused_blockwise_is_exact(spec, sample):
    # fuse=True fuses every elementwise chain, whatever its size; the NumPy backend calls
    # the same ufuncs on blocks: the result is the unfused one, bit for bit.
    g, xs, ts, rng = _grad_case(spec, sample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _leaves(g(*ts))
        jg = tg.jit(g, fuse=True)
        jg(*ts)
        _same(_leaves(jg(*ts)), want, "fused")


@pytest.mark.skipif(not fusion.available(), reason="numexpr is not installed")
@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.grad and not s.jit))
def test_jit_grad_fused_with_numexpr_within_ulps(spec, sample):
    g, xs, ts, rng = _grad_case(spec, sample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _leaves(g(*ts))
        jg = _numexpr_everywhere(g)
        jg(*ts)
        got = _leaves(jg(*ts))
    for a, b in zip(got, want):
        a, b = np.asarray(a.data), np.asarray(b.data)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert_ulps(a, b)


def _numexpr_everywhere(g):
    """tg.jit with the numexpr backend on chains of any size (the samples are small)."""
    jg = tg.jit(g, fuse="numexpr")
    old = fusion.THRESHOLD
    fusion.THRESHOLD = 1

    def call(*a):
        try:
            return jg(*a)
        finally:
            fusion.THRESHOLD = old

    return call


def assert_ulps(a: np.ndarray, b: np.ndarray, ulps: float = 2.0) -> None:
    """``a`` within ``ulps`` units in the last place of ``b``, scaled by the magnitude of
    the values (a fused chain rounds once per op, as the unfused one, but numexpr's
    transcendental functions differ from NumPy's), the same non-finite pattern."""
    fin = np.isfinite(b)
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    assert np.array_equal(a[~fin & ~np.isnan(b)], b[~fin & ~np.isnan(b)]), (a, b)
    if fin.any():
        scale = np.maximum(np.abs(b[fin]), np.max(np.abs(b[fin])))
        tol = ulps * np.finfo(b.dtype).eps * scale * 8
        assert np.all(np.abs(a[fin] - b[fin]) <= tol), (a, b)


def test_assert_ulps_fails_beyond_the_tolerance():
    b = np.array([1.0, 2.0, -3.0])
    assert_ulps(b * (1 + 4 * np.finfo(float).eps), b)
    with pytest.raises(AssertionError):
        assert_ulps(b * (1 + 1e-9), b)
