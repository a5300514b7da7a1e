"""Optimizers, schedulers and gradient clipping against PyTorch (trajectories, 100 steps)."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.optim import lr_scheduler as S

rng = np.random.default_rng(0)
X = rng.normal(size=(8, 3))
Y = rng.normal(size=(8, 2))
W0 = rng.normal(size=(3, 2))
B0 = rng.normal(size=(2,))
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _loss_tg(w, b, x, y):
    return tg.mean((tg.tanh(tg.matmul(x, w) + b) - y) ** 2)


def _trajectory(make, dtype, groups=None, steps=100, closure=False, tol=None):
    """Run ``make`` (a function of the optimizer module and params) in tapegrad and torch."""
    torch = pytest.importorskip("torch")
    tdt = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    w = tg.tensor(W0.astype(dtype), requires_grad=True)
    b = tg.tensor(B0.astype(dtype), requires_grad=True)
    tw = torch.tensor(W0, dtype=tdt, requires_grad=True)
    tb = torch.tensor(B0, dtype=tdt, requires_grad=True)
    x, y = X.astype(dtype), Y.astype(dtype)
    txy = torch.tensor(x), torch.tensor(y)

    def params(pw, pb):
        if groups is None:
            return [pw, pb]
        return [{"params": [pw], **groups[0]}, {"params": [pb], **groups[1]}]

    opt = make(tg.optim, params(w, b))
    topt = make(torch.optim, params(tw, tb))

    def cl():
        opt.zero_grad()
        loss = _loss_tg(w, b, x, y)
        loss.backward()
        return loss

    def tcl():
        topt.zero_grad()
        loss = torch.mean((torch.tanh(txy[0] @ tw + tb) - txy[1]) ** 2)
        loss.backward()
        return loss

    for _ in range(steps):
        if closure:
            opt.step(cl)
            topt.step(tcl)
        else:
            cl()
            opt.step()
            tcl()
            topt.step()
        atol = TOL[dtype] if tol is None else tol
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=0, atol=atol)
        np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=0, atol=atol)
    assert w.dtype == dtype and b.dtype == dtype
    return opt, topt


CASES = {
    "sgd": lambda m, p: m.SGD(p, lr=0.1),
    "sgd_momentum": lambda m, p: m.SGD(p, lr=0.1, momentum=0.9, dampening=0.1),
    "sgd_nesterov_wd": lambda m, p: m.SGD(
        p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1
    ),
    "sgd_maximize": lambda m, p: m.SGD(p, lr=0.01, momentum=0.5, maximize=True),
    "adam": lambda m, p: m.Adam(p, lr=0.01),
    "adam_wd_amsgrad": lambda m, p: m.Adam(
        p, lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True
    ),
    "adamw": lambda m, p: m.AdamW(p, lr=0.01, weight_decay=0.3),
    "adamw_amsgrad": lambda m, p: m.AdamW(p, lr=0.01, amsgrad=True),
    "rmsprop": lambda m, p: m.RMSprop(p, lr=0.01),
    "rmsprop_centered_momentum_wd": lambda m, p: m.RMSprop(
        p, lr=0.005, alpha=0.9, momentum=0.8, centered=True, weight_decay=0.05
    ),
    "adagrad": lambda m, p: m.Adagrad(p, lr=0.1),
    "adam_maximize": lambda m, p: m.Adam(p, lr=0.001, maximize=True),
    "rmsprop_maximize": lambda m, p: m.RMSprop(p, lr=0.001, maximize=True),
    "adagrad_maximize": lambda m, p: m.Adagrad(p, lr=0.01, maximize=True),
    "adagrad_all": lambda m, p: m.Adagrad(
        p, lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6
    ),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_trajectory_matches_torch(name, dtype):
    _trajectory(CASES[name], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_param_groups(dtype):
    groups = [{"lr": 0.05, "weight_decay": 0.1}, {"momentum": 0.9, "nesterov": True}]
    _trajectory(lambda m, p: m.SGD(p, lr=0.1), dtype, groups=groups)
    groups = [{"lr": 0.02, "betas": (0.8, 0.95)}, {"amsgrad": True}]
    _trajectory(lambda m, p: m.Adam(p, lr=0.01), dtype, groups=groups)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_closure_step(dtype):
    _trajectory(lambda m, p: m.Adam(p, lr=0.01), dtype, closure=True)


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_on_model(line_search):
    _trajectory(
        lambda m, p: m.LBFGS(
            p,
            lr=0.1 if line_search is None else 1.0,
            max_iter=5,
            history_size=4,
            line_search_fn=line_search,
        ),
        np.float64,
        steps=5,
        closure=True,
        tol=1e-8,
    )


def _rosen(x):
    """Rosenbrock's value and gradient in NumPy (the same numbers for both libraries)."""
    f = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return f, g


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_rosenbrock(line_search, dtype):
    # L-BFGS amplifies last-bit differences of dot products (NumPy's and torch's BLAS sum
    # in different orders), so the trajectories agree to ~1e-8 (with the same branch
    # decisions and evaluation counts).
    torch = pytest.importorskip("torch")
    tdt = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    start = np.array([-1.5, 2.0, -0.5, 1.2])
    v = tg.tensor(start.astype(dtype), requires_grad=True)
    tv = torch.tensor(start, dtype=tdt, requires_grad=True)
    lr = 1.0 if line_search else 0.1
    kw = dict(lr=lr, max_iter=10, history_size=10, line_search_fn=line_search)
    opt, topt = tg.optim.LBFGS([v], **kw), torch.optim.LBFGS([tv], **kw)

    def cl():
        f, g = _rosen(v.data)
        v.grad = tg.tensor(g)
        return tg.tensor(f)

    def tcl():
        f, g = _rosen(tv.detach().numpy())
        tv.grad = torch.tensor(g)
        return torch.tensor(f)

    steps, tol = (100, 1e-6) if dtype == np.float64 else (2, 1e-3)
    for _ in range(steps):
        opt.step(cl)
        topt.step(tcl)
        np.testing.assert_allclose(v.data, tv.detach().numpy(), rtol=tol, atol=tol)
    assert v.dtype == dtype
    st, tst = opt.state[v], topt.state[tv]
    assert st["func_evals"] == tst["func_evals"] and st["n_iter"] == tst["n_iter"]
    if line_search and dtype == np.float64:
        np.testing.assert_allclose(v.data, np.ones(4), atol=1e-4)


def test_lbfgs_needs_closure_and_single_group():
    w = tg.tensor([1.0], requires_grad=True)
    opt = tg.optim.LBFGS([w])
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(ValueError, match="groups"):
        tg.optim.LBFGS([{"params": [w]}, {"params": [tg.tensor([1.0], requires_grad=True)]}])
    with pytest.raises(ValueError, match="strong_wolfe"):
        tg.optim.LBFGS([w], line_search_fn="armijo")


def test_zero_grad_and_no_grad_skip():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    u = tg.tensor([3.0], requires_grad=True)
    opt = tg.optim.SGD([w, u], lr=0.1, momentum=0.9)
    tg.sum(w * w).backward()
    opt.step()  # u has no grad: skipped, no state
    assert u.data.tolist() == [3.0] and u not in opt.state
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and np.all(w.grad.data == 0)
    opt.zero_grad()
    assert w.grad is None


def test_update_bumps_version_and_keeps_leaf():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = tg.optim.Adam([w], lr=0.1)
    tg.sum(w * w).backward()
    v = w._version
    opt.step()
    assert w._version > v and w.is_leaf and w.requires_grad


@pytest.mark.parametrize(
    "name", ["sgd_momentum", "adam_wd_amsgrad", "rmsprop_centered_momentum_wd"]
)
def test_state_dict_round_trip(name):
    make = CASES[name]

    def new():
        w = tg.tensor(W0.copy(), requires_grad=True)
        return w, make(tg.optim, [w])

    def one(w, opt):
        opt.zero_grad()
        _loss_tg(w, tg.tensor(B0), X, Y).backward()
        opt.step()

    w1, o1 = new()
    for _ in range(5):
        one(w1, o1)
    sd = o1.state_dict()
    assert set(sd) == {"state", "param_groups"} and sd["param_groups"][0]["params"] == [0]
    w2, o2 = new()
    w2.data[...] = w1.data
    o2.load_state_dict(sd)
    for _ in range(5):
        one(w1, o1)
        one(w2, o2)
    np.testing.assert_array_equal(w1.data, w2.data)
    # the saved state is a copy: later steps did not change it
    assert sd["state"][0] is not o1.state[w1]


def test_state_dict_mismatch_errors():
    w = tg.tensor([1.0], requires_grad=True)
    sd = tg.optim.SGD([w], lr=0.1).state_dict()
    two = tg.optim.SGD([w, tg.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="parameters"):
        two.load_state_dict(sd)
    with pytest.raises(ValueError, match="state"):
        two.load_state_dict({"foo": 1})


def test_constructor_errors():
    w = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="learning rate"):
        tg.optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        tg.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        tg.optim.Adam([w], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        tg.optim.Adam([])
    with pytest.raises(TypeError, match="single Tensor"):
        tg.optim.Adam(w)
    with pytest.raises(ValueError, match="require grad"):
        tg.optim.SGD([tg.tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="more than one"):
        tg.optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="positive"):
        S.StepLR(tg.optim.SGD([w], lr=0.1), step_size=0)
    with pytest.raises(TypeError, match="Optimizer"):
        S.StepLR(object(), step_size=1)


# ---------------------------------------------------------------- schedulers
SCHEDS = {
    "step": lambda M, o: M.StepLR(o, step_size=3, gamma=0.5),
    "exp": lambda M, o: M.ExponentialLR(o, gamma=0.9),
    "cosine": lambda M, o: M.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    "linear": lambda M, o: M.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5),
    "linear_down": lambda M, o: M.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=4),
    "seq_cos": lambda M, o: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.1, total_iters=5), M.CosineAnnealingLR(o, T_max=10)], [5]
    ),
    "seq_three": lambda M, o: M.SequentialLR(
        o,
        [M.LinearLR(o, start_factor=0.5, total_iters=3), M.StepLR(o, 2), M.ExponentialLR(o, 0.8)],
        [3, 8],
    ),
}


@pytest.mark.parametrize("name", list(SCHEDS))
def test_scheduler_matches_torch(name):
    torch = pytest.importorskip("torch")
    import torch.optim.lr_scheduler as TS

    w = tg.tensor([1.0], requires_grad=True)
    opt = tg.optim.SGD([{"params": [w]}, {"params": [tg.tensor([1.0], requires_grad=True)]}], 0.5)
    opt.param_groups[1]["lr"] = 0.2
    tw = [torch.zeros(1, requires_grad=True) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [tw[0]]}, {"params": [tw[1]], "lr": 0.2}], lr=0.5)
    s, ts = SCHEDS[name](S, opt), SCHEDS[name](TS, topt)
    for _ in range(30):
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), abs=1e-14, rel=0)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(s.get_last_lr(), abs=0)
        opt.step()
        topt.step()
        s.step()
        ts.step()


def test_scheduler_state_dict_and_warmup_helper():
    w = tg.tensor([1.0], requires_grad=True)
    opt = tg.optim.SGD([w], lr=1.0)
    s = S.linear_warmup(opt, 2, S.CosineAnnealingLR(opt, T_max=4), start_factor=0.5)
    lrs = [s.get_last_lr()[0]]
    for _ in range(3):
        s.step()
        lrs.append(s.get_last_lr()[0])
    assert lrs[:3] == pytest.approx([0.5, 0.75, 1.0])
    sd = s.state_dict()
    assert "optimizer" not in sd and len(sd["_schedulers"]) == 2
    s2 = S.StepLR(opt, 2)
    sd2 = s2.state_dict()
    s2.step()
    s2.step()
    s2.load_state_dict(sd2)
    assert s2.last_epoch == 0


# ---------------------------------------------------------------- clipping
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.1, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    grads = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    ps = [tg.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad = tg.tensor(g.copy())
        tp.grad = torch.tensor(g.copy())
    total = tg.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(float(total.data), ttotal.item(), rtol=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_float32_single_tensor_and_errors():
    p = tg.tensor(np.zeros(3, np.float32), requires_grad=True)
    p.grad = tg.tensor(np.array([3.0, 4.0, 0.0], np.float32))
    total = tg.nn.utils.clip_grad_norm_(p, 1.0)
    assert total.dtype == np.float32 and float(total.data) == pytest.approx(5.0)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad.data, [0.6, 0.8, 0.0], rtol=1e-5)
    p.grad = tg.tensor(np.array([np.nan, 1.0, 0.0], np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        tg.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    q = tg.tensor([1.0], requires_grad=True)
    assert float(tg.nn.utils.clip_grad_norm_([q], 1.0).data) == 0.0  # no grads: norm 0


def test_clip_grad_value():
    torch = pytest.importorskip("torch")
    g = rng.normal(size=(4, 3))
    p = tg.tensor(np.zeros_like(g), requires_grad=True)
    p.grad = tg.tensor(g.copy())
    tp = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor(g.copy())
    tg.nn.utils.clip_grad_value_([p], 0.5)
    torch.nn.utils.clip_grad_value_([tp], 0.5)
    np.testing.assert_array_equal(p.grad.data, tp.grad.numpy())
    with pytest.raises(ValueError, match="clip_value"):
        tg.nn.utils.clip_grad_value_([p], -1.0)


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_module_training_matches_torch(opt_name):
    # A Linear model (tg.nn.Parameter weights) with CrossEntropyLoss, a scheduler and
    # gradient clipping, in float32, against the same PyTorch model.
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(16, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=16)
    model = tg.nn.Linear(5, 3)
    tmodel = torch.nn.Linear(5, 3, dtype=torch.float32)
    with torch.no_grad():
        tmodel.weight.copy_(torch.tensor(model.weight.data))
        tmodel.bias.copy_(torch.tensor(model.bias.data))
    kw = {"lr": 0.05, "weight_decay": 0.01}
    if opt_name == "SGD":
        kw["momentum"] = 0.9
    opt = getattr(tg.optim, opt_name)(model.parameters(), **kw)
    topt = getattr(torch.optim, opt_name)(tmodel.parameters(), **kw)
    sched = S.CosineAnnealingLR(opt, T_max=20)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=20)
    loss_fn, tloss_fn = tg.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for _ in range(30):
        opt.zero_grad()
        loss_fn(model(tg.tensor(x)), tg.tensor(y)).backward()
        tg.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        sched.step()
        topt.zero_grad()
        tloss_fn(tmodel(torch.tensor(x)), torch.tensor(y)).backward()
        torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 0.5)
        topt.step()
        tsched.step()
    assert model.weight.dtype == np.float32
    np.testing.assert_allclose(model.weight.data, tmodel.weight.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(model.bias.data, tmodel.bias.detach().numpy(), atol=1e-5)
