"""Generic tests over the op spec table (tests/opinfo): every op, every sample."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.ops.registry import REGISTRY

from .opinfo import OpSpec, Sample, all_specs

try:
    import torch

except ImportError:  # pragma: no cover
    torch = None

SPECS = all_specs()


def _cases(pred=lambda s: True, dtype=np.float64):
    out = []
    for spec in SPECS:
        if not pred(spec):
            continue
        samples = spec.samples(np.random.default_rng(0), dtype)
        for k, sample in enumerate(samples):
            out.append(pytest.param(spec, sample, id=f"{spec.name}-{k}"))
    return out


def _diff_positions(sample: Sample) -> list[int]:
    return [
        i
        for i, a in enumerate(sample.args)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in sample.nondiff
    ]


def _as_inputs(sample: Sample) -> list:
    diff = _diff_positions(sample)
    return [
        tg.Tensor(a) if i in diff else (a.copy() if isinstance(a, np.ndarray) else a)
        for i, a in enumerate(sample.args)
    ]


def _call_with(spec: OpSpec, sample: Sample, requires_grad: bool):
    diff = _diff_positions(sample)
    args = [
        tg.tensor(a, requires_grad=requires_grad) if i in diff else a
        for i, a in enumerate(sample.args)
    ]
    return spec.op(*args, **sample.kwargs), [args[i] for i in diff]


def _outs(res):
    return list(res) if isinstance(res, (tuple, list)) else [res]


def test_every_primitive_has_a_spec():
    covered = {p for spec in SPECS for p in spec.prims}
    missing = sorted(set(REGISTRY) - covered)
    assert not missing, f"primitives without a test spec in tests/opinfo: {missing}"


def test_spec_prims_exist():
    unknown = sorted({p for spec in SPECS for p in spec.prims} - set(REGISTRY))
    assert not unknown, f"specs name primitives that are not registered: {unknown}"


@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.grad))
def test_vjp_matches_finite_differences(spec, sample):
    fn = _bind(spec, sample)
    tg.testing.gradcheck(fn, _as_inputs(sample), atol=spec.atol, rtol=spec.rtol)


@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.gradgrad))
def test_second_order_matches_finite_differences(spec, sample):
    fn = _bind(spec, sample)
    tg.testing.gradgradcheck(fn, _as_inputs(sample), atol=spec.atol, rtol=spec.rtol)


def _bind(spec: OpSpec, sample: Sample):
    kwargs = sample.kwargs
    return lambda *args: spec.op(*args, **kwargs)


@pytest.mark.parametrize("spec,sample", _cases(lambda s: np.float32 in s.dtypes, dtype=np.float32))
def test_float32_stays_float32(spec, sample):
    res, ins = _call_with(spec, sample, requires_grad=spec.grad)
    for o in _outs(res):
        if o.dtype.kind == "f":
            assert o.dtype == np.float32, f"{spec.name} returned {o.dtype} for float32 inputs"
    if spec.grad and ins:
        outs = [o for o in _outs(res) if o.requires_grad]
        if outs:
            tg.autograd.backward(outs, [tg.ones_like(o) for o in outs])
            for t in ins:
                if t.grad is not None:
                    assert t.grad.dtype == np.float32
                    assert t.grad.shape == t.shape


@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.numpy_ref is not None))
def test_values_match_numpy(spec, sample):
    res, _ = _call_with(spec, sample, requires_grad=False)
    ref = spec.numpy_ref(*sample.args, **sample.kwargs)
    for o, r in zip(_outs(res), ref if isinstance(ref, (tuple, list)) else [ref]):
        np.testing.assert_allclose(o.data, r, rtol=1e-12, atol=1e-12)
        assert o.data.dtype == np.asarray(r).dtype


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.torch_fn is not None))
def test_matches_torch(spec, sample):
    diff = _diff_positions(sample)
    res, ins = _call_with(spec, sample, requires_grad=spec.grad)
    targs = []
    tins = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            ta = torch.tensor(a)
            if i in diff and spec.grad:
                ta.requires_grad_(True)
                tins.append(ta)
            targs.append(ta)
        else:
            targs.append(a)
    tres = spec.torch_fn(torch, *targs, **sample.kwargs)
    outs, touts = _outs(res), _outs(tres)
    assert len(outs) == len(touts)
    for o, to in zip(outs, touts):
        np.testing.assert_allclose(
            o.data,
            to.detach().numpy(),
            rtol=1e-10,
            atol=1e-10,
            err_msg=f"{spec.name}: value differs from torch",
        )
    if not (spec.grad and ins):
        return
    rng = np.random.default_rng(1)
    pairs = [(o, to) for o, to in zip(outs, touts) if o.requires_grad and o.dtype.kind == "f"]
    if not pairs:
        return
    cots = [rng.standard_normal(o.shape) for o, _ in pairs]
    gs = tg.autograd.grad([o for o, _ in pairs], ins, grad_outputs=cots, allow_unused=True)
    tgs = torch.autograd.grad(
        [to for _, to in pairs],
        tins,
        grad_outputs=[torch.tensor(c) for c in cots],
        allow_unused=True,
    )
    for g, tgr, t in zip(gs, tgs, ins):
        gv = np.zeros(t.shape) if g is None else g.data
        tv = np.zeros(t.shape) if tgr is None else tgr.numpy()
        np.testing.assert_allclose(
            gv, tv, rtol=1e-9, atol=1e-10, err_msg=f"{spec.name}: gradient differs from torch"
        )


# --------------------------------------------------------------------------- forward mode
def _jvp_outputs(spec: OpSpec, sample: Sample, tangents: list, batch: tuple = ()):
    """Primal outputs and their tangents at a fresh level (tangents: one per float input)."""
    from tapegrad.autograd.dual import make_dual, new_level

    level = new_level()
    diff = _diff_positions(sample)
    args = list(sample.args)
    for i, t in zip(diff, tangents):
        args[i] = make_dual(tg.tensor(sample.args[i]), tg.Tensor(t), level)
    outs = _outs(spec.op(*args, **sample.kwargs))
    res = []
    for o in outs:
        if o.dtype.kind != "f":
            continue
        t = o._fw.get(level) if o._fw else None
        res.append((o, np.zeros(batch + o.shape) if t is None else t.data))
    return res


def _float_outs(spec: OpSpec, sample: Sample, args: list):
    return [o.data for o in _outs(spec.op(*args, **sample.kwargs)) if o.dtype.kind == "f"]


@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.grad))
def test_jvp_matches_finite_differences(spec, sample):
    rng = np.random.default_rng(2)
    diff = _diff_positions(sample)
    us = [rng.standard_normal(np.shape(sample.args[i])) for i in diff]
    analytic = [t for _, t in _jvp_outputs(spec, sample, us)]
    eps = 1e-6

    def shifted(sign):
        args = [
            tg.Tensor(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in sample.args
        ]
        for i, u in zip(diff, us):
            args[i] = tg.Tensor(sample.args[i] + sign * eps * u)
        return _float_outs(spec, sample, args)

    numeric = [(p - m) / (2 * eps) for p, m in zip(shifted(1), shifted(-1))]
    assert len(analytic) == len(numeric)
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(
            a,
            n,
            atol=spec.atol * 10,
            rtol=spec.rtol,
            err_msg=f"{spec.name}: jvp differs from finite differences",
        )


@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.grad))
def test_jvp_and_vjp_are_transposes(spec, sample):
    # <v, J u> = <J^T v, u> for random u, v: the forward and reverse rules agree.
    rng = np.random.default_rng(3)
    diff = _diff_positions(sample)
    us = [rng.standard_normal(np.shape(sample.args[i])) for i in diff]
    pairs = _jvp_outputs(spec, sample, us)
    vs = [rng.standard_normal(o.shape) for o, _ in pairs]
    lhs = sum(float(np.sum(v * t)) for v, (_, t) in zip(vs, pairs))
    res, ins = _call_with(spec, sample, requires_grad=True)
    outs = [o for o in _outs(res) if o.dtype.kind == "f"]
    roots = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
    if not roots:
        assert lhs == pytest.approx(0.0, abs=1e-9)
        return
    gs = tg.autograd.grad(
        [o for o, _ in roots], ins, grad_outputs=[v for _, v in roots], allow_unused=True
    )
    rhs = sum(0.0 if g is None else float(np.sum(g.data * u)) for g, u in zip(gs, us))
    assert lhs == pytest.approx(rhs, rel=1e-7, abs=1e-9), f"{spec.name}: <v,Ju> != <J^T v,u>"


@pytest.mark.parametrize("spec,sample", _cases(lambda s: s.grad))
def test_batched_jvp_matches_one_at_a_time(spec, sample):
    rng = np.random.default_rng(4)
    diff = _diff_positions(sample)
    batch = 3
    us = [rng.standard_normal((batch,) + np.shape(sample.args[i])) for i in diff]
    batched = [t for _, t in _jvp_outputs(spec, sample, us, (batch,))]
    for k in range(batch):
        single = [t for _, t in _jvp_outputs(spec, sample, [u[k] for u in us])]
        for b, s in zip(batched, single):
            assert b.shape[1:] == s.shape, f"{spec.name}: batched tangent has shape {b.shape}"
            np.testing.assert_allclose(
                b[k], s, rtol=1e-10, atol=1e-12, err_msg=f"{spec.name}: batched jvp != single jvp"
            )


def test_every_differentiable_primitive_has_a_forward_rule():
    missing = sorted(
        name
        for name, p in REGISTRY.items()
        if any(p.vjps) and not (p.jvps or p.jvp is not None or p.elementwise)
    )
    assert not missing, f"primitives with a vjp but no jvp rule: {missing}"


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
