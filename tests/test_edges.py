"""Edge samples of the op spec table against PyTorch: 0, -0.0, +-inf, NaN and huge inputs.

For every spec with a ``torch_fn`` and ``edge_samples`` (tests/opinfo), the values, the
reverse-mode gradient (random cotangent), the forward-mode jvp (random tangent) and, for
specs with ``gradgrad``, the second-order vector-Hessian product must match PyTorch's
element by element, non-finite pattern included: NaN where PyTorch has NaN, inf of the same
sign, the same finite numbers, and the sign of a zero (first order; a second derivative's
zero sign depends on the order of PyTorch's hand-written formulas and is not compared).
Finite differences mean nothing at inf/NaN, so only the oracle is used here.
``OpSpec.edge_allow`` lists the known, explained differences; each listed one must really
differ.  A key ``(k, "grad:zero_sign")`` (any check) allows only the signs of zeros to
differ.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd.dual import make_dual, new_level

from .opinfo import OpSpec, Sample, all_specs

torch = pytest.importorskip("torch")

SPECS = all_specs()
CHECKS = ("value", "grad", "jvp", "gradgrad")


def _edge_cases(dtype=np.float64):
    out = []
    tag = "" if dtype == np.float64 else "-float32"
    for spec in SPECS:
        if spec.edge_samples is None or spec.torch_fn is None or dtype not in spec.dtypes:
            continue
        for k, _ in enumerate(spec.edge_samples(np.random.default_rng(0), dtype)):
            for check in CHECKS:
                if check != "value" and not spec.grad:
                    continue
                if check == "gradgrad" and not spec.gradgrad:
                    continue
                out.append(pytest.param(spec, k, check, dtype, id=f"{spec.name}-{k}-{check}{tag}"))
    return out


def mismatch(ours, theirs, rtol: float = 1e-9, zero_sign: bool = True, atol: float = 1e-15) -> str:
    """'' when two arrays agree element by element (non-finite pattern and, with
    ``zero_sign``, the sign of zeros included), else a description of the first
    differences."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    bad = np.isnan(a) != np.isnan(b)
    both = ~np.isnan(a) & ~np.isnan(b)
    inf = np.isinf(a) | np.isinf(b)
    bad |= both & inf & (a != b)
    fin = both & ~inf
    with np.errstate(invalid="ignore", over="ignore"):
        tol = rtol * np.maximum(np.abs(a), np.abs(b)) + atol
        bad |= fin & (np.abs(a - b) > tol)
    zeros = fin & (a == 0) & (b == 0)
    if zero_sign:
        bad |= zeros & (np.signbit(a) != np.signbit(b))
    if not bad.any():
        return ""
    idx = np.argwhere(bad)[:6]
    return "; ".join(
        f"at {tuple(int(j) for j in i)}: {a[tuple(i)]!r} vs {b[tuple(i)]!r}" for i in idx
    )


def _diff(sample: Sample) -> list[int]:
    return [
        i
        for i, a in enumerate(sample.args)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in sample.nondiff
    ]


def _outs(res):
    return list(res) if isinstance(res, (tuple, list)) else [res]


def _torch_args(sample: Sample, diff: list[int], grad: bool):
    targs, tins = [], []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            ta = torch.tensor(a)
            if i in diff and grad:
                ta.requires_grad_(True)
                tins.append(ta)
            targs.append(ta)
        else:
            targs.append(a)
    return targs, tins


def compare(spec: OpSpec, sample: Sample, check: str, zero_sign: bool = True) -> list[str]:
    """The differences from PyTorch of one check on one sample (empty: none); without
    ``zero_sign`` the signs of zeros are not compared."""
    diff = _diff(sample)
    rng = np.random.default_rng(7)
    dt = _dtype(sample)
    # float32: PyTorch's kernels accumulate differently (its double backward of gelu, its
    # softmax): a few float32 ulps, and rounding-level absolute differences near 0.
    rtol, atol = (1e-9, 1e-15) if dt == np.float64 else (1e-4, 1e-6)
    with np.errstate(all="ignore"):
        if check == "value":
            res = spec.op(
                *[tg.tensor(a) if i in diff else a for i, a in enumerate(sample.args)],
                **sample.kwargs,
            )
            targs, _ = _torch_args(sample, diff, False)
            tres = spec.torch_fn(torch, *targs, **sample.kwargs)
            return [
                m
                for o, to in zip(_outs(res), _outs(tres))
                if (m := mismatch(o.data, to.detach().numpy(), rtol, zero_sign, atol))
            ]
        if check == "jvp":
            return _compare_jvp(spec, sample, diff, rng, zero_sign, rtol, atol)
        args = [
            tg.tensor(a, requires_grad=True) if i in diff else a for i, a in enumerate(sample.args)
        ]
        ins = [args[i] for i in diff]
        outs = [
            o
            for o in _outs(spec.op(*args, **sample.kwargs))
            if o.dtype.kind == "f" and o.requires_grad
        ]
        targs, tins = _torch_args(sample, diff, True)
        touts = [
            o
            for o in _outs(spec.torch_fn(torch, *targs, **sample.kwargs))
            if o.dtype.is_floating_point and o.requires_grad
        ]
        cots = [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]
        second = check == "gradgrad"
        gs = tg.autograd.grad(outs, ins, grad_outputs=cots, allow_unused=True, create_graph=second)
        tgs = torch.autograd.grad(
            touts,
            tins,
            grad_outputs=[torch.tensor(c) for c in cots],
            allow_unused=True,
            create_graph=second,
        )
        if second:
            ws = [rng.standard_normal(t.shape).astype(t.dtype) for t in ins]
            pairs = [(g, w) for g, w in zip(gs, ws) if g is not None and g.requires_grad]
            tpairs = [(g, w) for g, w in zip(tgs, ws) if g is not None and g.requires_grad]
            gs = (
                tg.autograd.grad(
                    [g for g, _ in pairs],
                    ins,
                    grad_outputs=[w for _, w in pairs],
                    allow_unused=True,
                )
                if pairs
                else [None] * len(ins)
            )
            tgs = (
                torch.autograd.grad(
                    [g for g, _ in tpairs],
                    tins,
                    grad_outputs=[torch.tensor(w) for _, w in tpairs],
                    allow_unused=True,
                )
                if tpairs
                else [None] * len(ins)
            )
        out = []
        for g, tgr, t in zip(gs, tgs, ins):
            gv = np.zeros(t.shape) if g is None else g.data
            tv = np.zeros(t.shape) if tgr is None else tgr.detach().numpy(force=True)
            # A second derivative is a sum of products whose zero signs depend on the order
            # PyTorch's hand-written double-backward formulas happen to use: not compared.
            if m := mismatch(gv, tv, rtol, zero_sign and not second, atol):
                out.append(m)
        return out


def _dtype(sample: Sample):
    floats = [a.dtype for a in sample.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    return floats[0] if floats else np.dtype(np.float64)


def _compare_jvp(
    spec: OpSpec, sample: Sample, diff: list[int], rng, zero_sign: bool, rtol: float, atol: float
) -> list[str]:
    us = [rng.standard_normal(np.shape(sample.args[i])).astype(sample.args[i].dtype) for i in diff]
    level = new_level()
    args = list(sample.args)
    for i, u in zip(diff, us):
        args[i] = make_dual(tg.tensor(sample.args[i]), tg.Tensor(u), level)
    ours = []
    for o in _outs(spec.op(*args, **sample.kwargs)):
        if o.dtype.kind != "f":
            continue
        t = o._fw.get(level) if o._fw else None
        ours.append(np.zeros(o.shape) if t is None else t.data)
    targs, _ = _torch_args(sample, diff, False)

    def f(*d):
        a = list(targs)
        for i, x in zip(diff, d):
            a[i] = x
        return tuple(
            o for o in _outs(spec.torch_fn(torch, *a, **sample.kwargs)) if o.dtype.is_floating_point
        )

    _, tangents = torch.func.jvp(
        f, tuple(targs[i] for i in diff), tuple(torch.tensor(u) for u in us)
    )
    return [
        m for a, b in zip(ours, tangents) if (m := mismatch(a, b.numpy(), rtol, zero_sign, atol))
    ]


def _allowances(spec: OpSpec, dtype_name: str) -> dict:
    """``edge_allow`` for one dtype: keys ``(k, check)`` hold for every dtype, keys
    ``(k, check, "float32")`` for that dtype only."""
    out = {key[:2]: r for key, r in spec.edge_allow.items() if len(key) == 2}
    out.update({key[:2]: r for key, r in spec.edge_allow.items() if key[2:] == (dtype_name,)})
    return out


@pytest.mark.parametrize("spec,k,check,dtype", _edge_cases() + _edge_cases(np.float32))
def test_edge_samples_match_torch(spec, k, check, dtype):
    sample = spec.edge_samples(np.random.default_rng(0), dtype)[k]
    allow = _allowances(spec, np.dtype(dtype).name)
    sign_reason = allow.get((k, check + ":zero_sign"))
    if sign_reason is not None:
        # Only the signs of some zeros may differ: everything else is still compared.
        assert compare(spec, sample, check), (
            f"{spec.name}: edge sample {k} ({check}) now matches PyTorch's zero signs too; "
            f"remove it from edge_allow ({sign_reason})"
        )
        problems = compare(spec, sample, check, zero_sign=False)
        assert not problems, f"{spec.name} edge sample {k}, {check}: " + " | ".join(problems)
        return
    problems = compare(spec, sample, check)
    reason = allow.get((k, check))
    if reason is not None:
        assert problems, (
            f"{spec.name}: edge sample {k} ({check}) now matches PyTorch; remove it from "
            f"edge_allow ({reason})"
        )
        return
    assert not problems, f"{spec.name} edge sample {k} {sample!r}, {check}: " + " | ".join(problems)


@pytest.fixture(autouse=True)
def _torch_default_float64():
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(prev)


# --------------------------------------------------------------------------- the checker
def _relu_spec(rule) -> OpSpec:
    from tapegrad.ops.registry import Primitive, defvjp

    prim = defvjp(
        Primitive(
            "relu_under_test",
            lambda x: np.maximum(0, x),
            elementwise=True,
            save=("ans",),
            register=False,
        ),
        rule,
    )
    from .opinfo import unary_edges

    return OpSpec(
        "relu_under_test",
        prim,
        unary_edges(),
        edge_samples=unary_edges(),
        torch_fn=lambda torch, x: torch.relu(x),
    )


def test_checker_catches_a_multiplying_relu_rule():
    # g * (ans > 0): -0.0 for a negative cotangent at x <= 0, 0 instead of g at NaN.
    spec = _relu_spec(lambda g, ans, x: g * (ans > 0))
    sample = spec.edge_samples(np.random.default_rng(0), np.float64)[0]
    for check in ("grad", "jvp"):
        problems = compare(spec, sample, check)
        assert problems, check
    assert not compare(spec, sample, "value")


def test_checker_catches_inf_times_zero():
    # An infinite cotangent at x < 0: the multiplying rule gives inf * 0 = NaN there,
    # PyTorch's selecting rule 0.
    spec = _relu_spec(lambda g, ans, x: g * (ans > 0))
    x = tg.tensor([-1.0, 2.0], requires_grad=True)
    (gx,) = tg.autograd.grad(spec.op(x), [x], grad_outputs=[np.array([np.inf, 1.0])])
    assert np.isnan(gx.data[0])
    y = tg.tensor([-1.0, 2.0], requires_grad=True)
    (gy,) = tg.autograd.grad(tg.relu(y), [y], grad_outputs=[np.array([np.inf, 1.0])])
    assert gy.data.tolist() == [0.0, 1.0] and not np.signbit(gy.data[0])
    assert mismatch(gx.data, gy.data)


def test_checker_accepts_the_selecting_relu_rule():
    spec = _relu_spec(lambda g, ans, x: tg.where(~(ans <= 0), g, 0.0))
    sample = spec.edge_samples(np.random.default_rng(0), np.float64)[0]
    for check in ("value", "grad", "jvp"):
        assert not compare(spec, sample, check), check


def test_mismatch_sees_each_kind_of_difference():
    assert mismatch([np.nan, np.inf, -0.0, 1.0], [np.nan, np.inf, -0.0, 1.0]) == ""
    assert mismatch([np.nan], [0.0])
    assert mismatch([np.inf], [-np.inf])
    assert mismatch([np.inf], [1e308])
    assert mismatch([-0.0], [0.0])
    assert mismatch([-0.0], [0.0], zero_sign=False) == ""
    assert mismatch([1.0], [1.0 + 1e-6])


def test_fuzzer_case_sqrt_tanh_relu_below_zero():
    # sqrt'(0) = inf meets relu'(x < 0) = 0: PyTorch's relu selects, so the gradient is 0
    # (a multiplying rule gives inf * 0 = NaN).
    xs = np.array([-1.5, -0.0, 0.0, 0.7])
    x = tg.tensor(xs, requires_grad=True)
    tg.sum(tg.sqrt(tg.tanh(tg.relu(x)))).backward()
    tx = torch.tensor(xs, requires_grad=True)
    torch.sqrt(torch.tanh(torch.relu(tx))).sum().backward()
    assert mismatch(x.grad.data, tx.grad.numpy()) == ""
    assert x.grad.data[0] == 0.0 and not np.signbit(x.grad.data[0])


def test_relu_and_maximum_pass_the_gradient_at_nan():
    x = tg.tensor([np.nan, 1.0], requires_grad=True)
    tg.sum(tg.relu(x)).backward()
    assert x.grad.data.tolist() == [1.0, 1.0]
    a = tg.tensor([np.nan, 1.0], requires_grad=True)
    b = tg.tensor([0.0, np.nan], requires_grad=True)
    tg.sum(tg.maximum(a, b)).backward()
    assert a.grad.data.tolist() == [1.0, 1.0] and b.grad.data.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_select_is_an_exact_where(dtype):
    from tapegrad.ops.elementwise import _select

    rng = np.random.default_rng(0)
    g = rng.standard_normal((4, 5)).astype(dtype)
    g[0, :4] = [np.inf, -np.inf, np.nan, -0.0]
    mask = rng.random((4, 5)) < 0.5
    mask[0, :4] = [False, True, False, True]
    for gg, mm in [(g, mask), (g.T, mask.T), (g[:, ::2], mask[:, ::2])]:
        for r, ref in [
            (_select(mm, gg), np.where(mm, gg, dtype(0))),
            (_select(mm, gg, invert=True), np.where(mm, dtype(0), gg)),
        ]:
            assert r.dtype == gg.dtype and r.shape == gg.shape
            assert np.array_equal(np.signbit(r), np.signbit(ref))
            assert np.array_equal(r, ref, equal_nan=True)


@pytest.mark.parametrize("op,tname", [("log", "log"), ("log2", "log2"), ("log10", "log10")])
def test_log_gradient_divides_the_cotangent_at_a_subnormal_input(op, tname):
    # PyTorch's g / x is finite where g * (1 / x) overflows: 1 / 1e-309 is inf.
    x = np.array([1e-309, 5e-324, 2.0])
    g = np.array([1e-3, 1e-20, 1.0])
    xt = tg.tensor(x, requires_grad=True)
    (ours,) = tg.autograd.grad(getattr(tg, op)(xt), [xt], g)
    tt = torch.tensor(x, requires_grad=True)
    (theirs,) = torch.autograd.grad(getattr(torch, tname)(tt), tt, torch.tensor(g))
    assert np.all(np.isfinite(ours.data))
    assert not mismatch(ours.data, theirs.numpy())


def test_divide_gradient_in_the_divisor_overflows_like_pytorchs():
    # PyTorch: -g * ((x / y) / y).  (x / y) / y overflows to inf for y = 1e-170 where
    # (g * (x / y)) / y would be finite; with g = 0 that is NaN, as in PyTorch.
    y = np.array([1e-170, 1e-170, 1e-100, 2.0])
    g = np.array([1e-300, 0.0, 0.0, 1.0])
    yt = tg.tensor(y, requires_grad=True)
    (ours,) = tg.autograd.grad(tg.divide(np.ones(4), yt), [yt], g)
    tt = torch.tensor(y, requires_grad=True)
    (theirs,) = torch.autograd.grad(torch.ones(4, dtype=torch.float64) / tt, tt, torch.tensor(g))
    assert np.isneginf(ours.data[0]) and np.isnan(ours.data[1])
    assert not mismatch(ours.data, theirs.numpy())


def test_wide_qr_gradient_keeps_an_infinite_cotangent_in_its_block():
    # The fuzzer's reproducer: log(arctan(R)) puts inf on R's structural zero R[1, 0]; the
    # wide rule multiplied gR by identity columns, spreading inf * 0 = NaN to other columns.
    a = np.array([[0.2177, 0.1988, 1.7216, 0.0746], [1.0662, -0.1207, -0.2724, 0.2962]])
    g = np.random.default_rng(0).standard_normal((2, 4))
    g[1, 0] = np.inf
    at = tg.tensor(a, requires_grad=True)
    _, r = tg.linalg.qr(at, mode="complete")
    (ours,) = tg.autograd.grad(r, [at], g)
    tt = torch.tensor(a, requires_grad=True)
    (theirs,) = torch.autograd.grad(torch.linalg.qr(tt, mode="complete")[1], tt, torch.tensor(g))
    assert np.all(np.isfinite(ours.data[:, 2:]))
    assert not mismatch(ours.data, theirs.numpy(), rtol=1e-7)


def test_median_of_a_slice_with_nan_passes_the_gradient_to_its_last_nan():
    # torch.quantile(x, 0.5) (the reference of tg.median): the last nan gets the gradient;
    # tapegrad selected a constant nan, so no element got any.
    x = np.array([[1.0, np.nan, 3.0, np.nan, 0.5, 2.0], [1.0, 4.0, 3.0, 0.5, 2.0, 0.0]])
    xt = tg.tensor(x, requires_grad=True)
    (ours,) = tg.autograd.grad(tg.median(xt, axis=1), [xt], np.array([2.0, 1.0]))
    tt = torch.tensor(x, requires_grad=True)
    (theirs,) = torch.autograd.grad(torch.quantile(tt, 0.5, dim=1), tt, torch.tensor([2.0, 1.0]))
    assert ours.data[0].tolist() == [0.0, 0.0, 0.0, 2.0, 0.0, 0.0]
    assert not mismatch(ours.data, theirs.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_ignores_an_infinite_input_of_an_ignored_sample(reduction):
    # The fuzzer's reproducer: the ignored rows hold inf; tapegrad multiplied them by their
    # weight 0 (inf * 0 = NaN in the value and the gradient), PyTorch skips them.
    x = np.array([[np.inf, -1.5, -1.9], [np.inf, -0.0, 1.4], [1.1, 1.5, -1e300], [0.3, 0.9, 0.1]])
    t = np.array([-100, 2, -100, 1])
    xt = tg.tensor(x, requires_grad=True)
    out = tg.nll_loss(xt, t, reduction=reduction)
    g = np.random.default_rng(0).standard_normal(out.shape)
    (ours,) = tg.autograd.grad(out, [xt], g)
    tt = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.nll_loss(tt, torch.tensor(t), reduction=reduction)
    (theirs,) = torch.autograd.grad(tout, tt, torch.tensor(g))
    assert np.all(np.isfinite(out.data))
    assert not mismatch(out.data, tout.detach().numpy(), zero_sign=False)
    assert not mismatch(ours.data, theirs.numpy(), zero_sign=False)
