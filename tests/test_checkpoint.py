"""Checkpointing: tg.checkpoint, checkpoint_sequential, checkpoint_chain, and the memory
accounting that measures them."""

from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd.grad_mode import collecting
from tapegrad.checkpoint import binomial_steps
from tapegrad.errors import (
    GraphFreedError,
    InplaceModificationError,
    NotDifferentiableError,
    ShapeMismatchError,
)


@pytest.fixture(autouse=True)
def _layers_take_float64_inputs(float64_layers):
    """The inputs here are float64, and layers take their parameters' dtype only."""


@pytest.fixture(autouse=True)
def _quiet_collector():
    # Memory figures compare before/after: garbage from earlier tests collected in the
    # middle of a test would move them. Collect first, then hold the collector off.
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def rng(seed=0):
    return np.random.default_rng(seed)


def t(a, rg=True):
    return tg.tensor(np.asarray(a, dtype=np.float64), requires_grad=rg)


def close(a, b, tol=1e-12):
    a = a.detach().numpy() if isinstance(a, tg.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, tg.Tensor) else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


class Counter:
    """A block that counts how often it runs."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def __call__(self, *a, **k):
        self.calls += 1
        return self.fn(*a, **k)


@pytest.fixture
def W():
    return t(rng(1).standard_normal((4, 4)) * 0.5)


def block_fn(W):
    def f(h):
        for _ in range(3):
            h = tg.tanh(h @ W) * tg.sin(h)
        return h

    return f


# --------------------------------------------------------------------------- checkpoint


def test_checkpoint_gradients_equal_plain_and_recompute_once(W):
    x = t(rng().standard_normal((2, 4)))
    f = Counter(block_fn(W))
    (tg.checkpoint(f, x) ** 2).sum().backward()
    assert f.calls == 2  # the forward call and one recomputation
    gx, gW = x.grad.numpy().copy(), W.grad.numpy().copy()
    x.grad = W.grad = None
    (block_fn(W)(x) ** 2).sum().backward()
    close(gx, x.grad, 0)
    close(gW, W.grad, 0)


def test_checkpoint_holds_only_inputs_until_backward(W):
    x = t(rng().standard_normal((64, 4)))
    h = x * 2.0  # a non-leaf input: the block keeps it (64*4*8 bytes)
    before = tg.autograd.saved_bytes()
    y = tg.checkpoint(block_fn(W), h)
    held = tg.autograd.saved_bytes() - before
    assert held == h.data.nbytes
    z = block_fn(W)(h)
    assert tg.autograd.saved_bytes() - before > 5 * h.data.nbytes
    del z
    y.sum().backward()
    assert tg.autograd.saved_bytes() - before <= h.data.nbytes


def test_checkpoint_functional_transforms_and_higher_order(W):
    x0 = tg.tensor(rng(2).standard_normal(4))
    f = block_fn(W)
    ck = lambda x: tg.checkpoint(f, x).sum()
    plain = lambda x: f(x).sum()
    close(tg.grad(ck)(x0), tg.grad(plain)(x0))
    close(tg.hessian(ck)(x0), tg.hessian(plain)(x0), 1e-10)
    close(tg.jacrev(tg.grad(ck))(x0), tg.hessian(plain)(x0), 1e-10)
    x = t(x0.numpy())
    (g,) = tg.autograd.grad(ck(x), x, create_graph=True)
    (gg,) = tg.autograd.grad((g * g).sum(), x)
    (g0,) = tg.autograd.grad(plain(x), x, create_graph=True)
    (gg0,) = tg.autograd.grad((g0 * g0).sum(), x)
    close(gg, gg0, 1e-10)


def test_checkpoint_gradcheck_and_gradgradcheck():
    f = lambda x, y: tg.checkpoint(lambda a, b: tg.exp(a) * tg.sin(a * b), x, y)
    x = t(rng(3).standard_normal(3))
    y = t(rng(4).standard_normal(3))
    assert tg.testing.gradcheck(f, (x, y))
    assert tg.testing.gradgradcheck(f, (x, y))


def test_checkpoint_forward_mode(W):
    f = block_fn(W)
    x0 = tg.tensor(rng(5).standard_normal(4))
    v = tg.tensor(rng(6).standard_normal(4))
    y1, t1 = tg.jvp(lambda x: tg.checkpoint(f, x), (x0,), (v,))
    y0, t0 = tg.jvp(f, (x0,), (v,))
    close(y1, y0)
    close(t1, t0)
    close(tg.jacfwd(lambda x: tg.checkpoint(f, x))(x0), tg.jacfwd(f)(x0))


def test_checkpoint_non_tensor_arguments_kwargs_and_outputs(W):
    def f(h, scale, *, name, table):
        out = tg.tanh(h @ W) * scale + tg.tensor(table)
        return {"out": out, "name": name, "n": 3, "pair": (out.sum(), None)}

    x = t(rng().standard_normal((2, 4)))
    table = np.arange(4.0)
    res = tg.checkpoint(f, x, 0.5, name="blk", table=table)
    assert res["name"] == "blk" and res["n"] == 3 and res["pair"][1] is None
    (res["out"].sum() + res["pair"][0]).backward()
    gx = x.grad.numpy().copy()
    x.grad = None
    r0 = f(x, 0.5, name="blk", table=table)
    (r0["out"].sum() + r0["pair"][0]).backward()
    close(gx, x.grad, 0)


def test_checkpoint_numpy_arguments_are_frozen_copies(W):
    arr = np.ones(4)
    seen = []

    def f(h, a):
        seen.append(a)
        return (h * tg.tensor(a)).sum()

    x = t(np.arange(4.0))
    y = tg.checkpoint(f, x, arr)
    arr[:] = 100.0  # the caller's array: the recomputation must not see this
    y.backward()
    close(x.grad, np.ones(4))
    assert not seen[0].flags.writeable and seen[0] is not arr


def test_checkpoint_replays_random_numbers():
    drop = tg.nn.Dropout(0.5)
    x = t(rng().standard_normal(200))
    tg.random.seed(7)
    y = tg.checkpoint(lambda h: drop(h) * h, x).sum()
    tg.random.seed(123)  # moved on before backward: the replay must not care
    y.backward()
    gx = x.grad.numpy().copy()
    x.grad = None
    tg.random.seed(7)
    (drop(x) * x).sum().backward()
    close(gx, x.grad, 0)
    assert (gx == 0).sum() > 50  # masks were really drawn


def test_checkpoint_own_generator_that_is_not_replayed_raises():
    drop = tg.nn.Dropout(0.5, generator=np.random.default_rng(0))
    x = t(rng().standard_normal(100))
    y = tg.checkpoint(lambda h: drop(h) * 2.0, x).sum()
    with pytest.raises(RuntimeError, match="different outputs"):
        y.backward()


def test_checkpoint_rejects_in_place_change_of_its_input():
    x = t(rng().standard_normal(3))
    h = x * 1.0

    def bad(a):
        a.mul_(2.0)
        return a.sum()

    with pytest.raises(InplaceModificationError, match="in place"):
        tg.checkpoint(bad, h)

    c = tg.tensor([1.0, 2.0, 3.0])

    def bad2(a, const):
        const += 1.0  # a constant input changed in place, unrecorded
        return (a * const).sum()

    with pytest.raises(InplaceModificationError, match="argument 1"):
        tg.checkpoint(bad2, x, c)


def test_checkpoint_input_or_closure_changed_before_backward_raises():
    x = t(rng().standard_normal(3))
    h = x * 1.0
    y = tg.checkpoint(lambda a: (tg.sin(a) * a).sum(), h)
    with tg.no_grad():
        h.mul_(3.0)
    with pytest.raises(InplaceModificationError, match="changed in place"):
        y.backward()
    scale = tg.tensor([1.0, 2.0, 3.0])
    y = tg.checkpoint(lambda a: (tg.sin(a) * scale).sum(), x)
    scale.mul_(2.0)
    with pytest.raises(InplaceModificationError):
        y.backward()


def test_checkpoint_nondeterministic_function_raises():
    state = {"n": 1}

    def f(a):
        for _ in range(state["n"]):
            a = tg.sin(a)
        return a.sum()

    x = t([0.1, 0.2])
    y = tg.checkpoint(f, x)
    state["n"] = 2
    with pytest.raises(RuntimeError, match="different operations"):
        y.backward()


def test_checkpoint_retain_graph_and_freed_graph(W):
    x = t(rng().standard_normal(4))
    f = Counter(block_fn(W))
    y = tg.checkpoint(f, x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward(retain_graph=True)
    close(x.grad, 2 * g1)
    assert f.calls == 3  # recomputed for each pass: nothing kept in between
    y.backward()
    with pytest.raises(GraphFreedError):
        y.backward()


def test_checkpoint_hooks_and_grad_wrt_intermediate(W):
    x = t(rng().standard_normal(4))
    out = tg.checkpoint(block_fn(W), x)
    seen = []
    out.register_hook(lambda g: seen.append(g.numpy().copy()))
    loss = (out * out).sum()
    (g_out, g_x) = tg.autograd.grad(loss, (out, x))
    close(g_out, 2 * out.detach())
    close(seen[0], g_out)
    x2 = t(x.detach().numpy())
    (gx2,) = tg.autograd.grad((block_fn(W)(x2) ** 2).sum(), x2)
    close(g_x, gx2)


def test_checkpoint_nested_blocks(W):
    f = block_fn(W)
    inner = Counter(lambda h: tg.checkpoint(f, h) * 2.0)
    outer = lambda h: tg.checkpoint(inner, tg.exp(h)).sum()
    x = t(rng().standard_normal(4) * 0.3)
    outer(x).backward()
    gx = x.grad.numpy().copy()
    x.grad = None
    (f(tg.exp(x)) * 2.0).sum().backward()
    close(gx, x.grad)
    assert inner.calls == 2


def test_nested_blocks_keep_only_the_outer_inputs():
    W = t(rng(3).standard_normal((16, 16)) * 0.3)
    layer = lambda h: tg.tanh(h @ W)

    def inner(h):
        return layer(layer(h))

    counts = Counter(inner)

    def outer(h):
        for _ in range(4):
            h = tg.checkpoint(counts, h)
        return h

    x = t(rng(4).standard_normal((8, 16)))
    h0 = x * 1.0
    before = tg.autograd.saved_bytes()
    y = tg.checkpoint(outer, h0)
    # Only the outer block's input is held: the inner blocks' inputs were dropped with it.
    assert tg.autograd.saved_bytes() - before == h0.data.nbytes
    with tg.autograd.peak_saved_bytes() as m:
        (y**2).sum().backward(retain_graph=True)
    assert m.end == m.start
    g1 = W.grad.numpy().copy()
    (y**2).sum().backward()
    close(W.grad, 2 * g1)
    W.grad = x.grad = None
    h = x * 1.0
    for _ in range(4):
        h = inner(h)
    (h**2).sum().backward()
    close(g1, W.grad)
    # first run 4, per backward: the outer rerun 4, each inner block once 4 -> 4 + 2 * 8
    assert counts.calls == 20


def test_checkpoint_under_no_grad_just_calls():
    f = Counter(lambda a: a * 2)
    with tg.no_grad():
        y = tg.checkpoint(f, t([1.0]))
    assert not y.requires_grad and f.calls == 1


def test_checkpoint_module_and_custom_function():
    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    tg.random.seed(0)
    lin = tg.nn.Linear(3, 3)
    x = t(rng().standard_normal((2, 3)))
    y = tg.checkpoint(lambda h: Cube.apply(lin(h)), x).sum()
    y.backward()
    gw = lin.weight.grad.numpy().copy()
    lin.weight.grad = None
    Cube.apply(lin(x)).sum().backward()
    close(gw, lin.weight.grad)
    y2 = tg.checkpoint(lin, x).sum()
    y2.backward()


def test_checkpoint_graph_is_freed_without_cycles(W):
    gc.disable()
    try:
        x = t(rng().standard_normal(4))
        y = tg.checkpoint(block_fn(W), x * 1.0).sum()
        ref = weakref.ref(y.grad_fn)
        y.backward()
        del y
        assert ref() is None
    finally:
        gc.enable()


def test_checkpoint_graph_dropped_without_backward_is_freed_at_once(W):
    # The collector is off (fixture): a reference cycle would keep these alive.
    x = t(rng().standard_normal(4))
    y = tg.checkpoint(block_fn(W), x * 1.0)
    block = y.grad_fn.args
    refs = [weakref.ref(y.grad_fn), weakref.ref(block)]
    del y, block
    assert [r() for r in refs] == [None, None]


def test_checkpoint_errors():
    with pytest.raises(TypeError, match="function"):
        tg.checkpoint(3, t([1.0]))


# ----------------------------------------------------------------- checkpoint_sequential


def layers(n, width=6, seed=0):
    tg.random.seed(seed)
    return tg.nn.Sequential(
        *[tg.nn.Sequential(tg.nn.Linear(width, width), tg.nn.Tanh()) for _ in range(n)]
    )


@pytest.mark.parametrize("segments", [None, 1, 3, 16])
def test_checkpoint_sequential_equals_plain(segments):
    net = layers(16)
    x = t(rng().standard_normal((5, 6)))
    tg.checkpoint_sequential(net, segments, x).sum().backward()
    grads = [p.grad.numpy().copy() for p in net.parameters()]
    gx = x.grad.numpy().copy()
    net.zero_grad()
    x.grad = None
    net(x).sum().backward()
    for g, p in zip(grads, net.parameters()):
        close(g, p.grad, 0)
    close(gx, x.grad, 0)


def test_checkpoint_sequential_counts_and_memory():
    n = 16
    fs = [Counter(lambda h: tg.tanh(h * 1.01)) for _ in range(n)]
    x = t(rng().standard_normal((32, 32)))
    with tg.autograd.peak_saved_bytes() as plain:
        h = x
        for f in fs:
            h = f(h)
        h.sum().backward()
    for f in fs:
        f.calls = 0
    with tg.autograd.peak_saved_bytes() as ck:
        tg.checkpoint_sequential(fs, None, x).sum().backward()
    # sqrt(16) = 4 segments: the first three run twice, the last once.
    assert [f.calls for f in fs] == [2] * 12 + [1] * 4
    one = x.data.nbytes
    assert plain.peak - plain.start >= n * one
    assert ck.peak - ck.start <= 2 * math.isqrt(n) * one + one
    assert ck.end == ck.start


def test_checkpoint_sequential_errors():
    with pytest.raises(ValueError, match="between 1 and"):
        tg.checkpoint_sequential([tg.sin, tg.cos], 3, t([1.0]))
    with pytest.raises(TypeError, match="int"):
        tg.checkpoint_sequential([tg.sin], 1.5, t([1.0]))
    with pytest.raises(TypeError, match="inputs"):
        tg.checkpoint_sequential([tg.sin], 1)
    with pytest.raises(ValueError, match="at least one"):
        tg.checkpoint_sequential([], None, t([1.0]))
    with pytest.raises(TypeError, match="not callable"):
        tg.checkpoint_sequential([tg.sin, 3], None, t([1.0]))


# ---------------------------------------------------------------------- checkpoint_chain


def closed_form_optimum(n, s):
    """Griewank & Walther (2000): t(n, s) = r n - C(s + r, s + 1) recomputed steps, plus the
    n taped ones, with r minimal such that C(s + r, s) >= n."""
    s = min(s, n - 1)
    if n <= 1:
        return n
    r = next(r for r in range(n + 1) if math.comb(s + r, s) >= n)
    return n + r * n - math.comb(s + r, s + 1)


def chain_model(seed=0):
    g = rng(seed)
    A = t(g.standard_normal((3, 3)) * 0.5)
    b = t(g.standard_normal(3) * 0.1)
    step = Counter(lambda s: s + 0.05 * tg.tanh(A @ s + b))
    return A, b, step


@pytest.mark.parametrize(
    "n,s", [(1, 1), (2, 1), (3, 1), (5, 2), (10, 3), (37, 4), (100, 5), (200, 10), (64, 100)]
)
def test_chain_recomputations_are_the_binomial_optimum_and_gradients_exact(n, s):
    A, b, step = chain_model()
    x0 = t(rng(1).standard_normal(3))
    y = tg.checkpoint_chain(step, x0, n, snapshots=s)
    (y * y).sum().backward()
    assert step.calls == binomial_steps(n, s) == closed_form_optimum(n, s)
    if n > 1:
        from checkpoint_schedules import optimal_steps_binomial

        assert step.calls == optimal_steps_binomial(n, min(s, n - 1))
    grads = [v.grad.numpy().copy() for v in (A, b, x0)]
    for v in (A, b, x0):
        v.grad = None
    h = x0
    for _ in range(n):
        h = step.fn(h)
    (h * h).sum().backward()
    for g, v in zip(grads, (A, b, x0)):
        close(g, v.grad)


def test_chain_state_pytree_constants_and_nonleaf_parameters():
    raw = t([0.3, -0.2])
    k = tg.nn.functional.softplus(raw)  # read by the step: a node outside the chain

    def step(state):
        y, v, tcur = state
        return (y + 0.01 * v, v - 0.01 * k * y, tcur + 0.01)

    y0 = t([1.0, 0.5])
    v0 = tg.tensor([0.0, 0.1])
    out = tg.checkpoint_chain(step, (y0, v0, 0.0), 300, snapshots=6)
    assert isinstance(out, tuple) and abs(out[2] - 3.0) < 1e-9
    (out[0].sum() + (out[1] ** 2).sum()).backward()
    g_raw, g_y0 = raw.grad.numpy().copy(), y0.grad.numpy().copy()
    raw.grad = y0.grad = None
    k = tg.nn.functional.softplus(raw)
    st = (y0, v0, 0.0)
    for _ in range(300):
        st = step(st)
    (st[0].sum() + (st[1] ** 2).sum()).backward()
    close(g_raw, raw.grad)
    close(g_y0, y0.grad)


def test_chain_memory_is_flat_in_n_and_bounded_by_snapshots():
    W = t(np.eye(16) * 0.9)
    step = lambda s: s + 0.01 * tg.tanh(s @ W)
    x0 = tg.tensor(rng().standard_normal((8, 16)))
    one = x0.data.nbytes
    peaks = []
    for n in (50, 500, 2000):
        with tg.autograd.peak_saved_bytes() as m:
            y = tg.checkpoint_chain(step, x0, n, snapshots=5)
            y.sum().backward()
        peaks.append(m.peak - m.start)
        assert m.end == m.start
    assert max(peaks) == min(peaks)
    assert max(peaks) <= (5 + 2) * one  # 5 snapshots + one step's tape


def test_chain_memory_budget_sets_snapshots():
    A, b, step = chain_model()
    x0 = t(rng(1).standard_normal(3))
    y = tg.checkpoint_chain(step, x0, 40, memory_budget=4 * x0.data.nbytes)
    y.sum().backward()
    assert step.calls == binomial_steps(40, 4)
    with pytest.raises(ValueError, match="holds no snapshot"):
        tg.checkpoint_chain(step, x0, 40, memory_budget=10)
    with pytest.raises(TypeError, match="either"):
        tg.checkpoint_chain(step, x0, 40, snapshots=3, memory_budget=1000)
    with pytest.raises(TypeError, match="either"):
        tg.checkpoint_chain(step, x0, 40)


def test_chain_replays_random_numbers():
    sigma = t(0.3)

    def step(s):
        return s + 0.01 * tg.sin(s) + sigma * 0.1 * tg.randn(*s.shape)

    x0 = tg.tensor(rng().standard_normal(5))
    tg.random.seed(11)
    y = tg.checkpoint_chain(step, x0, 120, snapshots=4)
    after = tg.random.get_state()
    y.sum().backward()
    assert tg.random.get_state() == after  # backward leaves the generator alone
    g = sigma.grad.item()
    sigma.grad = None
    tg.random.seed(11)
    h = x0
    for _ in range(120):
        h = step(h)
    h.sum().backward()
    assert abs(g - sigma.grad.item()) < 1e-12


def test_chain_retain_graph_runs_twice_then_frees():
    A, b, step = chain_model()
    x0 = t(rng(1).standard_normal(3))
    y = tg.checkpoint_chain(step, x0, 30, snapshots=3).sum()
    y.backward(retain_graph=True)
    g1 = A.grad.numpy().copy()
    y.backward()
    close(A.grad, 2 * g1)
    with pytest.raises(GraphFreedError):
        y.backward()


def test_chain_second_order_is_refused_clearly():
    A, b, step = chain_model()
    x0 = t(rng(1).standard_normal(3))
    y = tg.checkpoint_chain(step, x0, 5, snapshots=2).sum()
    with pytest.raises(NotDifferentiableError, match="first-order"):
        tg.autograd.grad(y, A, create_graph=True)


def test_chain_forward_mode_and_no_grad_run_plain():
    step = lambda s: s * 0.9 + 0.1
    x0 = tg.tensor([1.0, 2.0])
    y, ty = tg.jvp(lambda s: tg.checkpoint_chain(step, s, 10, snapshots=2), (x0,), (tg.ones(2),))
    close(ty, np.full(2, 0.9**10))
    with tg.no_grad():
        close(tg.checkpoint_chain(step, x0, 3, snapshots=1), x0.numpy() * 0.729 + 0.271)
    out = tg.checkpoint_chain(step, x0, 3, snapshots=1)
    assert not out.requires_grad
    assert tg.checkpoint_chain(step, x0, 0, snapshots=1) is x0


def test_chain_step_errors():
    x0 = t([1.0, 2.0])
    with pytest.raises(ShapeMismatchError, match="shape"):
        tg.checkpoint_chain(lambda s: tg.concatenate([s, s]), x0, 3, snapshots=1)
    with pytest.raises(TypeError, match="shaped like"):
        tg.checkpoint_chain(lambda s: (s, s), x0, 3, snapshots=1)

    def inplace(s):
        s += 1.0
        return s

    with pytest.raises(InplaceModificationError):
        tg.checkpoint_chain(inplace, tg.tensor([1.0]), 3, snapshots=1)
    with pytest.raises(TypeError, match="at least one Tensor"):
        tg.checkpoint_chain(lambda s: s, 1.0, 3, snapshots=1)
    with pytest.raises(ValueError, match="snapshots"):
        tg.checkpoint_chain(lambda s: s, x0, 3, snapshots=0)
    with pytest.raises(ValueError, match="n_steps"):
        tg.checkpoint_chain(lambda s: s, x0, -1, snapshots=1)
    with pytest.raises(TypeError, match="step function"):
        tg.checkpoint_chain(None, x0, 3, snapshots=1)


def test_chain_step_reading_new_tensors_later_is_refused():
    a = t([1.0])
    b = t([1.0])  # the same values: only the tensors read differ
    calls = [0]

    def step(s):
        calls[0] += 1
        return s * (a if calls[0] % 2 else b)

    y = tg.checkpoint_chain(step, tg.tensor([1.0]), 6, snapshots=2).sum()
    with pytest.raises(RuntimeError, match="same outside"):
        y.backward()


def test_chain_of_different_layers_finds_every_weight():
    tg.random.seed(0)
    Ws = [t(rng(i).standard_normal((5, 5)) * 0.4) for i in range(12)]
    steps = [lambda h, W=W: tg.tanh(h @ W) for W in Ws]
    x = t(rng(99).standard_normal((3, 5)))
    y = tg.checkpoint_chain(steps, x, snapshots=3)
    (y**2).sum().backward()
    got = [W.grad.numpy().copy() for W in Ws] + [x.grad.numpy().copy()]
    for v in Ws + [x]:
        v.grad = None
    h = x
    for f in steps:
        h = f(h)
    (h**2).sum().backward()
    for g, v in zip(got, Ws + [x]):
        close(g, v.grad)
    with pytest.raises(ValueError, match="n_steps"):
        tg.checkpoint_chain(steps, x, 5, snapshots=3)
    with pytest.raises(TypeError, match="needs n_steps"):
        tg.checkpoint_chain(steps[0], x, snapshots=3)


def test_chain_step_depending_on_outside_state_is_caught():
    a = t([1.0])
    b = t([2.0])
    calls = [0]

    def step(s):
        calls[0] += 1
        return s * (a if calls[0] < 4 else b)

    y = tg.checkpoint_chain(step, tg.tensor([1.0]), 6, snapshots=2).sum()
    with pytest.raises(RuntimeError, match="another state"):
        y.backward()


# ----------------------------------------------------------------------- memory accounting


def test_saved_bytes_counts_shared_arrays_once_and_skips_leaves():
    x = t(np.ones(100))
    base = tg.autograd.saved_bytes()
    y = tg.exp(x)  # saves its output (800 bytes)
    z = y * y  # saves y twice: the same array
    assert tg.autograd.saved_bytes() - base == 800
    w = tg.sin(y[:50])  # saves a view of y: still y's memory
    assert tg.autograd.saved_bytes() - base == 800
    del y, z, w
    assert tg.autograd.saved_bytes() == base


def test_peak_saved_bytes_tracks_backward_freeing_and_custom_functions():
    class Sq(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x * x
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * 2 * tg.sqrt(y)

    x = t(np.full(1000, 2.0))
    with tg.autograd.peak_saved_bytes() as m:
        y = Sq.apply(tg.exp(x))  # exp's output + Sq's saved y
        assert m.current - m.start == 16000
        y.sum().backward()
        assert m.current == m.start
    assert m.peak - m.start == 16000
    assert "peak=" in repr(m)


def test_peak_saved_bytes_nests():
    x = t(np.ones(500))
    with tg.autograd.peak_saved_bytes() as outer:
        a = tg.exp(x)  # 4000 bytes
        with tg.autograd.peak_saved_bytes() as inner:
            b = tg.exp(x * 2.0)  # 4000 more (and multiply saves nothing new: x is a leaf)
            b.sum().backward()
        assert inner.peak - inner.start == 4000 and inner.end == inner.start
        assert outer.current - outer.start == 4000  # a's output still held
        del a, b
    assert outer.peak - outer.start == 8000
    assert outer.end == outer.start


def test_collecting_hook_sees_nodes_and_survives_grad_mode_switches():
    nodes = []
    x = t([1.0])
    with collecting(nodes):
        a = tg.sin(x)
        with tg.no_grad():
            tg.cos(x)
            with tg.enable_grad():
                b = a * x
        c = tg.exp(b)
    assert [n.name for n in nodes] == ["sin", "multiply", "exp"]
    assert c.grad_fn is nodes[-1]
    with pytest.raises(TypeError, match="append"):
        collecting(3)
