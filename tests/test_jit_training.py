"""tg.jit of random draws and of whole training steps, compared with eager mode bit for bit.

A compiled training step repeats the trace's effects on every call: the in-place parameter
updates and the optimizer's state (read from the optimizer's own dicts at call time, so a
scheduler's new learning rate applies), the ``.grad`` write-backs, version bumps, and fresh
random draws from the generator that eager mode would use.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

from .jitutil import assert_same

RNG = np.random.default_rng(2)
X = RNG.standard_normal((16, 4))
Y = RNG.standard_normal((16, 1))

# ---------------------------------------------------------------------- random draws


def noisy(x):
    return x + tg.randn(*x.shape) * 0.5 + tg.rand(*x.shape)


def test_random_draws_are_fresh_on_every_call():
    j = tg.jit(noisy)
    x = np.zeros((2, 3))
    outs = [j(x) for _ in range(4)]
    for a in range(4):
        for b in range(a):
            assert not np.array_equal(outs[a], outs[b])
    assert j.trace_count == 1


@pytest.mark.parametrize("as_tensor", [False, True])
def test_random_draws_follow_the_seeded_stream_of_eager_mode(as_tensor):
    x = np.zeros((2, 3))
    tg.random.seed(7)
    want = [noisy(tg.tensor(x)).data for _ in range(5)]
    j = tg.jit(noisy)
    tg.random.seed(7)
    got = [j(tg.tensor(x) if as_tensor else x) for _ in range(5)]
    assert_same([tg.tensor(g).data for g in got], want)
    tg.random.seed(7)  # reseeding after compiling takes effect too
    got = [j(tg.tensor(x) if as_tensor else x) for _ in range(5)]
    assert_same([tg.tensor(g).data for g in got], want)
    assert j.trace_count == 1


def test_an_explicit_generator_advances():
    gen = np.random.default_rng(11)
    j = tg.jit(lambda x: x + tg.randn(3, generator=gen))
    got = [j(np.zeros(3)) for _ in range(4)]
    ref = np.random.default_rng(11)
    assert_same(got, [ref.standard_normal(3) for _ in range(4)])
    before = tg.random.get_state()
    j(np.zeros(3))
    assert tg.random.get_state() == before  # the global stream is not touched


def test_dropout_inside_jit_draws_new_masks():
    drop = nn.Dropout(0.5)
    f = lambda x: drop(x) * 1.0
    x = tg.tensor(np.ones(64))
    tg.random.seed(3)
    want = [f(x).data for _ in range(4)]
    j = tg.jit(f)
    tg.random.seed(3)
    got = [j(x).data for _ in range(4)]
    assert_same(got, want)
    assert not np.array_equal(got[0], got[1])
    assert j.trace_count == 1
    drop.eval()  # the entries are guarded on the modes of the modules the trace called
    assert_same(j(x), x * 1.0)
    assert j.trace_count == 2
    drop.train()
    assert not np.array_equal(j(x).data, x.data)
    assert j.trace_count == 2  # (the train-mode entry again)


def test_randint_is_drawn_anew_from_the_seeded_stream():
    j = tg.jit(lambda: tg.randint(0, 100, size=(6,)))
    tg.random.seed(1)
    got = [tg.tensor(j()).data for _ in range(3)]
    tg.random.seed(1)
    want = [tg.randint(0, 100, size=(6,)).data for _ in range(3)]
    assert_same(got, want)
    assert not np.array_equal(got[0], got[1])


def test_dropout_with_its_own_generator_advances_it():
    drop = nn.Dropout(0.3, generator=np.random.default_rng(5))
    ref = nn.Dropout(0.3, generator=np.random.default_rng(5))
    j = tg.jit(lambda x: drop(x))
    x = tg.tensor(np.ones(32))
    assert_same([j(x).data for _ in range(4)], [ref(x).data for _ in range(4)])
    assert j.trace_count == 1


# ---------------------------------------------------------------------- training steps


def _model(bn=False, drop=False, seed=0):
    tg.random.seed(seed)
    layers = [nn.Linear(4, 8, dtype="float64")]
    if bn:
        layers.append(nn.BatchNorm1d(8, dtype="float64"))
    layers.append(nn.Tanh())
    if drop:
        layers.append(nn.Dropout(0.3))
    layers.append(nn.Linear(8, 1, dtype="float64"))
    return nn.Sequential(*layers)


def _step(model, opt, set_to_none=True):
    def step(x, y):
        opt.zero_grad(set_to_none=set_to_none)
        loss = tg.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        return loss

    return step


OPTIMIZERS = {
    "sgd-momentum": lambda p: tg.optim.SGD(p, lr=0.05, momentum=0.9),
    "sgd-nesterov-wd": lambda p: tg.optim.SGD(
        p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2
    ),
    "sgd-dampening": lambda p: tg.optim.SGD(p, lr=0.05, momentum=0.5, dampening=0.1),
    "adam": lambda p: tg.optim.Adam(p, lr=1e-2),
    "adam-amsgrad-wd": lambda p: tg.optim.Adam(p, lr=1e-2, weight_decay=1e-3, amsgrad=True),
    "adamw": lambda p: tg.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
}


def _state(opt):
    """The optimizer's per-parameter state, in parameter order."""
    out = []
    for g in opt.param_groups:
        for p in g["params"]:
            out.append({k: np.asarray(v) for k, v in opt.state.get(p, {}).items()})
    return out


def _compare_models(m_eager, m_jit, what):
    for (n, p), (_, q) in zip(m_eager.named_parameters(), m_jit.named_parameters()):
        assert_same(q.data, p.data, f"{what}: {n}")
        if p.grad is None:
            assert q.grad is None, f"{what}: {n}.grad"
        else:
            assert_same(q.grad.data, p.grad.data, f"{what}: {n}.grad")


def _train(opt_name, steps, set_to_none=True, bn=False, drop=False):
    me, mj = _model(bn, drop), _model(bn, drop)
    oe, oj = OPTIMIZERS[opt_name](me.parameters()), OPTIMIZERS[opt_name](mj.parameters())
    se, sj = _step(me, oe, set_to_none), tg.jit(_step(mj, oj, set_to_none))
    x, y = tg.tensor(X), tg.tensor(Y)
    tg.random.seed(5)
    le = [se(x, y).data for _ in range(steps)]
    tg.random.seed(5)
    lj = [sj(x, y).data for _ in range(steps)]
    return (me, oe, le), (mj, oj, lj), sj


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("set_to_none", [True, False])
def test_compiled_training_step_equals_eager_for_100_steps(opt_name, set_to_none):
    (me, oe, le), (mj, oj, lj), sj = _train(opt_name, 100, set_to_none)
    assert_same(lj, le, "losses")
    _compare_models(me, mj, opt_name)
    se_state, sj_state = _state(oe), _state(oj)
    assert len(se_state) == len(sj_state) == 4
    for k, (a, b) in enumerate(zip(se_state, sj_state)):
        assert sorted(a) == sorted(b) and a, (k, a, b)
        for key in a:
            assert_same(b[key], a[key], f"state {k} {key}")
    # the first call finds no .grad, the second the previous step's: two programs
    assert sj.trace_count <= 2
    assert lj[-1] < lj[0]


def test_parameter_versions_bump_on_every_compiled_step():
    model = _model()
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    step = tg.jit(_step(model, opt))
    x, y = tg.tensor(X), tg.tensor(Y)
    ps = list(model.parameters())
    for _ in range(3):
        before = [p._version for p in ps]
        step(x, y)
        assert all(p._version == b + 1 for p, b in zip(ps, before))


def test_a_model_used_after_a_compiled_step_sees_the_new_parameters():
    model = _model()
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    step = tg.jit(_step(model, opt))
    x, y = tg.tensor(X), tg.tensor(Y)
    for _ in range(3):
        loss = step(x, y)
        after = tg.mean((model(x) - y) ** 2)
        assert float(after.data) < float(loss.data)


def test_lr_scheduler_changes_take_effect_between_compiled_calls():
    def run(compiled):
        w = tg.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
        opt = tg.optim.SGD([w], lr=0.1, momentum=0.5)
        sched = tg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

        def step(x):
            opt.zero_grad()
            loss = tg.sum(w * w * x)
            loss.backward()
            opt.step()
            return loss

        fn = tg.jit(step) if compiled else step
        hist = []
        for _ in range(8):
            hist.append((fn(tg.tensor(np.array([1.0, 0.5, 2.0]))).data, w.data.copy()))
            sched.step()
        return hist, opt.param_groups[0]["lr"]

    (he, lre), (hj, lrj) = run(False), run(True)
    assert lre == lrj == 0.1 * 0.5**4
    for k, ((le, we), (lj, wj)) in enumerate(zip(he, hj)):
        assert_same(lj, le, f"loss {k}")
        assert_same(wj, we, f"w {k}")
    # a baked-in learning rate would follow the first one: the steps shrink
    d = [np.abs(hj[k + 1][1] - hj[k][1]).max() for k in range(len(hj) - 1)]
    assert d[-1] < d[0]


def test_dropout_and_batchnorm_model_equals_eager_for_100_steps():
    (me, oe, le), (mj, oj, lj), sj = _train("adam", 100, bn=True, drop=True)
    assert_same(lj, le, "losses")
    _compare_models(me, mj, "bn+dropout")
    # the running statistics are updated by every compiled call (an effect), as eager
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert_same(getattr(mj[1], name).data, getattr(me[1], name).data, name)
    assert int(mj[1].num_batches_tracked.data) == 100
    for k, (a, b) in enumerate(zip(_state(oe), _state(oj))):
        for key in a:
            assert_same(b[key], a[key], f"state {k} {key}")


def test_step_with_zero_grad_at_the_end_traces_once():
    model = _model()
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        loss = tg.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    me = _model()
    oe = tg.optim.SGD(me.parameters(), lr=0.1, momentum=0.9)

    def step_e(x, y):
        loss = tg.mean((me(x) - y) ** 2)
        loss.backward()
        oe.step()
        oe.zero_grad()
        return loss

    j = tg.jit(step)
    x, y = tg.tensor(X), tg.tensor(Y)
    for k in range(20):
        assert_same(j(x, y), step_e(x, y), f"step {k}")
    assert j.trace_count == 1
    _compare_models(me, model, "zero_grad at the end")


def test_functional_training_equals_eager_for_100_steps():
    def loss(params, x, y):
        w1, b1, w2 = params
        h = tg.tanh(x @ w1 + b1)
        return tg.mean((h @ w2 - y) ** 2)

    def step(params, x, y):
        value, grads = tg.value_and_grad(loss)(params, x, y)
        return value, [p - 0.1 * g for p, g in zip(params, grads)]

    init = [RNG.standard_normal((4, 8)) * 0.5, np.zeros(8), RNG.standard_normal((8, 1)) * 0.5]
    pe = [p.copy() for p in init]
    pj = [p.copy() for p in init]
    j = tg.jit(step)
    for k in range(100):
        ve, pe = step(pe, X, Y)
        vj, pj = j(pj, X, Y)
        assert_same(vj, np.asarray(ve.data if isinstance(ve, tg.Tensor) else ve), f"loss {k}")
        pe = [p.data if isinstance(p, tg.Tensor) else p for p in pe]
        assert_same(pj, pe, f"params {k}")
    assert j.trace_count == 1
