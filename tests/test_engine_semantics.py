"""Engine semantics against PyTorch 2.13: hooks and ``.grad``, accumulation from several
threads, anomaly detection, strong zeros."""

from __future__ import annotations

import sys
import threading
import warnings

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.autograd import engine, grad_mode
from tapegrad.errors import AnomalyError, DtypeMismatchError, ShapeMismatchError, TapegradError


def _quiet():
    """NumPy's divide/invalid warnings of the NaN-producing examples, silenced."""
    return np.errstate(divide="ignore", invalid="ignore")


# ----------------------------------------------------------------------------- hooks, .grad
def test_retain_grad_stores_after_every_hook_like_torch():
    def run(lib, x):
        y = x * 2
        y.register_hook(lambda g: g * 10)
        y.retain_grad()
        y.register_hook(lambda g: g * 100)  # registered after retain_grad: still seen
        y.sum().backward()
        return y.grad, x.grad

    ty, tx = run(torch, torch.tensor([1.0, 2.0], requires_grad=True))
    gy, gx = run(tg, tg.tensor([1.0, 2.0], requires_grad=True))
    np.testing.assert_array_equal(gy.numpy(), ty.numpy())  # 1000: both hooks ran first
    np.testing.assert_array_equal(gx.numpy(), tx.numpy())


def test_retain_grad_twice_and_accumulation_like_torch():
    def run(lib, x):
        y = x * 2
        y.retain_grad()
        y.retain_grad()  # no second store
        z = (y * y).sum()
        out = []
        lib.autograd.grad(z, x, retain_graph=True)
        out.append(y.grad.numpy().copy())  # grad() fills retained grads too
        z.backward(retain_graph=True)
        out.append(y.grad.numpy().copy())
        z.backward()
        out.append(y.grad.numpy().copy())
        return out

    theirs = run(torch, torch.tensor([1.0, 2.0], requires_grad=True))
    ours = run(tg, tg.tensor([1.0, 2.0], requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_retain_grad_with_create_graph_keeps_the_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    (y * y).sum().backward(create_graph=True)
    np.testing.assert_array_equal(y.grad.detach().numpy(), [2.0, 8.0])
    assert y.grad.requires_grad and x.grad.requires_grad


@pytest.mark.parametrize("leaf", [True, False])
def test_hook_changing_the_shape_raises(leaf):
    def shrink(g):
        return g.sum()

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    (x if leaf else y).register_hook(shrink)
    with pytest.raises(ShapeMismatchError, match=r"hook '.*shrink' changed the size"):
        y.sum().backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 2
    (tx if leaf else ty).register_hook(shrink)
    with pytest.raises(RuntimeError, match="changed the size"):
        ty.sum().backward()


@pytest.mark.parametrize("bad", [[1.0, 2.0], 1.0, np.ones(2)])
@pytest.mark.parametrize("leaf", [True, False])
def test_hook_returning_a_non_tensor_raises_type_error(bad, leaf):
    def my_hook(g):
        return bad

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    (x if leaf else y).register_hook(my_hook)
    with pytest.raises(TypeError, match=r"hook '.*my_hook' returned " + type(bad).__name__):
        y.sum().backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 2
    (tx if leaf else ty).register_hook(my_hook)
    with pytest.raises(TypeError):
        ty.sum().backward()


def test_hook_returning_a_non_tensor_raises_with_create_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.register_hook(lambda g: 3.0)
    with pytest.raises(TypeError, match="must return a Tensor"):
        tg.autograd.grad(y.sum(), x, create_graph=True)


@pytest.mark.parametrize("leaf", [True, False])
def test_hook_changing_the_dtype_raises_like_torch(leaf):
    x = tg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x * 2
    (x if leaf else y).register_hook(lambda g: g.astype(np.float64))
    with pytest.raises(DtypeMismatchError, match="changed the dtype of the gradient"):
        y.sum().backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 2
    (tx if leaf else ty).register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="changed the type"):
        ty.sum().backward()


def test_hook_returning_a_same_shaped_tensor_replaces_the_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g * 3)
    x.register_hook(lambda g: g + 1)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 7.0])


def test_grad_assignment_is_checked_like_torch():
    x = tg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ShapeMismatchError, match=r"shape \(3,\) but the tensor has shape"):
        x.grad = tg.zeros(3, dtype=np.float32)
    with pytest.raises(RuntimeError):
        tx.grad = torch.zeros(3)
    with pytest.raises(DtypeMismatchError, match="dtype float64 but the tensor has dtype"):
        x.grad = tg.zeros(2, dtype=np.float64)
    with pytest.raises(RuntimeError):
        tx.grad = torch.zeros(2, dtype=torch.float64)
    for bad in ([1.0, 2.0], 1.0, np.zeros(2, np.float32)):
        with pytest.raises(TypeError, match="must be a Tensor or None"):
            x.grad = bad
    with pytest.raises(TypeError):
        tx.grad = [1.0, 2.0]
    assert x.grad is None  # nothing was stored by the failed assignments
    g = tg.ones(2, dtype=np.float32)
    x.grad = g
    assert x.grad is g
    x.grad = None
    assert x.grad is None
    x.grad = g
    del x.grad
    assert x.grad is None


def test_grad_assignment_error_is_a_tapegrad_error():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TapegradError):
        x.grad = tg.zeros(5)


# ----------------------------------------------------------------------------- threads
@pytest.fixture
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_concurrent_backward_into_a_shared_parameter_loses_no_update(fast_switching):
    n_threads, n_calls = 8, 200
    w = tg.tensor(np.ones(4), requires_grad=True)
    b = tg.tensor(0.5, requires_grad=True)
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work() -> None:
        try:
            start.wait()
            for _ in range(n_calls):
                (tg.sum(w * 2.0) + b).backward()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = n_threads * n_calls
    np.testing.assert_array_equal(w.grad.numpy(), np.full(4, 2.0 * total))
    assert b.grad.item() == total


def test_concurrent_retain_grad_loses_no_update(fast_switching):
    n_threads, n_calls = 6, 150
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    start = threading.Barrier(n_threads)

    def work() -> None:
        start.wait()
        for _ in range(n_calls):
            tg.autograd.backward(tg.sum(y), retain_graph=True, inputs=[x])

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = n_threads * n_calls
    np.testing.assert_array_equal(y.grad.numpy(), [total, total])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0 * total, 3.0 * total])


def test_concurrent_backward_on_independent_graphs(fast_switching):
    results: dict[int, np.ndarray] = {}

    def work(k: int) -> None:
        x = tg.tensor(np.arange(5.0) + k, requires_grad=True)
        for _ in range(50):
            x.grad = None
            tg.sum(tg.sin(x) * x).backward()
        results[k] = x.grad.numpy()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(6):
        v = np.arange(5.0) + k
        np.testing.assert_allclose(results[k], np.cos(v) * v + np.sin(v), rtol=1e-14)


def test_modes_are_per_thread():
    seen: dict[str, bool] = {}

    def probe() -> None:
        seen["grad"] = tg.is_grad_enabled()
        seen["anomaly"] = tg.autograd.is_anomaly_enabled()
        seen["strong"] = tg.autograd.is_strong_zeros_enabled()
        x = tg.tensor(1.0, requires_grad=True)
        seen["recorded"] = (x * 2).requires_grad

    with tg.no_grad(), tg.autograd.detect_anomaly(), tg.autograd.strong_zeros():
        t = threading.Thread(target=probe)
        t.start()
        t.join()
    assert seen == {"grad": True, "anomaly": False, "strong": False, "recorded": True}


# ----------------------------------------------------------------------------- anomaly mode
def test_anomaly_detection_is_off_by_default_and_torch_agrees():
    assert tg.autograd.is_anomaly_enabled() is False
    assert torch.is_anomaly_enabled() is False
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with _quiet():
        tg.sum(tg.log(x) * 0.0).backward()  # NaN, silently, like PyTorch
    assert np.isnan(x.grad.numpy()[0])
    assert len(grad_mode.FORWARD_STACKS) == 0  # nothing recorded while off


def test_anomaly_names_the_op_and_shows_the_forward_line():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.autograd.detect_anomaly(), _quiet():
        y = tg.sum(tg.log(x) * 0.0)  # the forward call of the culprit
        with pytest.raises(AnomalyError) as info:
            y.backward()
    e = info.value
    assert isinstance(e, RuntimeError) and isinstance(e, TapegradError)
    msg = str(e)
    assert msg.startswith("Function 'log' returned nan values in its 0th output.")
    assert "y = tg.sum(tg.log(x) * 0.0)  # the forward call of the culprit" in msg
    assert __file__ in msg
    assert "tapegrad/ops" not in e.forward_stack  # the user's frames only
    assert e.node.name == "log"
    # PyTorch: the same error for the same program.
    tx = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.autograd.detect_anomaly(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = (torch.log(tx) * 0.0).sum()
        with pytest.raises(RuntimeError, match="returned nan values in its 0th output"):
            ty.backward()


def test_anomaly_counts_the_output_index():
    # d/dx = 1/z is inf (not checked), d/dz = -x/z**2 is 0/0 at the first entry.
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    z = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.autograd.detect_anomaly(), _quiet():
        y = tg.sum(tg.divide(x, z))
        with pytest.raises(AnomalyError, match="Function 'divide' returned nan values in its 1th"):
            y.backward()


def test_anomaly_ignores_inf_like_torch():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.autograd.detect_anomaly(), _quiet():
        tg.sum(tg.log(x)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [np.inf, 1.0])


def test_anomaly_check_inf_raises_for_an_infinite_gradient_naming_the_op():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.autograd.detect_anomaly(check_inf=True), _quiet():
        y = tg.sum(tg.log(x))
        with pytest.raises(AnomalyError, match="Function 'log' returned inf values") as e:
            y.backward()
    assert "test_engine_semantics.py" in e.value.forward_stack
    # NaN is still checked, and check_inf is restored to off when the block exits
    with tg.autograd.detect_anomaly(check_inf=True), _quiet():
        with pytest.raises(AnomalyError, match="nan values"):
            tg.sum(tg.log(x) * 0.0).backward()
    with tg.autograd.detect_anomaly(), _quiet():
        tg.sum(tg.log(x)).backward()


def test_anomaly_check_nan_false_records_only():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.autograd.detect_anomaly(check_nan=False), _quiet():
        assert tg.autograd.is_anomaly_enabled()
        assert not tg.autograd.is_anomaly_check_nan_enabled()
        tg.sum(tg.log(x) * 0.0).backward()
    assert np.isnan(x.grad.numpy()[0])


def test_anomaly_without_a_recorded_forward_says_so():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with _quiet():
        y = tg.sum(tg.log(x) * 0.0)  # recorded with anomaly detection off
        with tg.autograd.detect_anomaly():
            with pytest.raises(AnomalyError, match="ran with anomaly detection off"):
                y.backward()


def test_anomaly_nested_contexts_restore_like_torch():
    def states(lib):
        on = torch.is_anomaly_enabled if lib is torch else tg.autograd.is_anomaly_enabled
        out = []
        with lib.autograd.detect_anomaly():
            out.append(on())
            with lib.autograd.set_detect_anomaly(False):
                out.append(on())
            out.append(on())
        out.append(on())
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert states(tg) == states(torch) == [True, False, True, False]


def test_set_detect_anomaly_as_a_call_and_decorator():
    prev = tg.autograd.is_anomaly_enabled()
    tg.autograd.set_detect_anomaly(True)
    try:
        assert tg.autograd.is_anomaly_enabled()
        x = tg.tensor(1.0, requires_grad=True)
        y = tg.sin(x)
        assert y.grad_fn in grad_mode.FORWARD_STACKS
    finally:
        tg.autograd.set_detect_anomaly(False)
    assert tg.autograd.is_anomaly_enabled() is prev is False

    @tg.autograd.detect_anomaly()
    def inside() -> bool:
        return tg.autograd.is_anomaly_enabled()

    assert inside() is True
    assert tg.autograd.is_anomaly_enabled() is False


def test_anomaly_inside_no_grad_keeps_grad_off():
    x = tg.tensor(1.0, requires_grad=True)
    with tg.no_grad(), tg.autograd.detect_anomaly():
        assert not (x * 2).requires_grad
        with tg.enable_grad():
            y = x * 2
    assert y.requires_grad and y.grad_fn in grad_mode.FORWARD_STACKS
    assert tg.is_grad_enabled()


def test_anomaly_with_create_graph_checks_the_second_pass():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.autograd.detect_anomaly(), _quiet():
        y = tg.sum(tg.log(x) * 0.0)
        with pytest.raises(AnomalyError, match="Function 'log'"):
            tg.autograd.grad(y, x, create_graph=True)
        # NaN only in the second-order pass (PyTorch: PowBackward0 there).
        (gx,) = tg.autograd.grad(tg.sum(x**3), x, create_graph=True)  # recorded in backward
        h = tg.sum(tg.sqrt(gx))
        with pytest.raises(AnomalyError, match="returned nan values") as info:
            h.backward()
    assert "tg.autograd.grad(tg.sum(x**3), x, create_graph=True)" in str(info.value)


def test_anomaly_adds_the_forward_stack_to_a_rule_error():
    class Boom(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            raise ValueError("rule failed")

    x = tg.tensor(1.0, requires_grad=True)
    with tg.autograd.detect_anomaly():
        y = Boom.apply(x)  # the forward call of the failing rule
        with pytest.raises(ValueError, match="rule failed") as info:
            y.backward()
    notes = "".join(getattr(info.value, "__notes__", []))
    assert "y = Boom.apply(x)  # the forward call of the failing rule" in notes


def test_every_mode_takes_the_one_sweep(monkeypatch):
    calls = []
    real = engine._sweep
    monkeypatch.setattr(engine, "_sweep", lambda *a: calls.append(1) or real(*a))
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    tg.sum(tg.sin(x)).backward()
    assert calls == [1]
    with tg.autograd.detect_anomaly():
        tg.sum(tg.sin(x)).backward()
    with tg.autograd.strong_zeros():
        tg.sum(tg.sin(x)).backward()
    assert calls == [1, 1, 1]  # the modes use the same sweep


# ----------------------------------------------------------------------------- strong zeros
def _where_trap(lib, x):
    return lib.where(x > 0, lib.log(x), 0.0).sum()


def test_where_trap_gives_nan_by_default_like_torch():
    assert tg.autograd.is_strong_zeros_enabled() is False
    x = tg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    with _quiet():
        _where_trap(tg, x).backward()
    tx = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    _where_trap(torch, tx).backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())  # nan at 0
    assert np.isnan(x.grad.numpy()[1])


def test_strong_zeros_where_trap_is_finite_and_analytic():
    x = tg.tensor([-1.0, 0.0, 2.0, 0.5], requires_grad=True)
    with _quiet():
        y = _where_trap(tg, x)
    with tg.autograd.strong_zeros(), warnings.catch_warnings():
        warnings.simplefilter("error")  # the masked-out entries raise no NumPy warning
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.5, 2.0])
    assert not tg.autograd.is_strong_zeros_enabled()


def test_strong_zeros_sqrt_trap_and_broadcasting():
    # The column x = 0 is masked out in every row; the others are summed over rows.
    x = tg.tensor([0.0, 4.0, 1.0], requires_grad=True)
    mask = np.array([[False, True, True], [False, False, True]])
    with tg.autograd.strong_zeros():
        y = tg.sum(tg.where(mask, tg.sqrt(x) * tg.ones((2, 3)), 0.0))
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.25, 1.0])


def test_strong_zeros_all_zero_cotangent_of_a_non_elementwise_op():
    # matmul's rule for A is g @ B.T: 0 * inf where B holds inf, masked away by where.
    def run(lib, a, b):
        p = a @ b
        return lib.where(p < 0, p, 0.0).sum()

    av = np.array([[1.0, 2.0]])
    bv = np.array([[np.inf], [1.0]])
    a = tg.tensor(av, requires_grad=True)
    b = tg.tensor(bv, requires_grad=True)
    with tg.autograd.strong_zeros(), _quiet():
        run(tg, a, b).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0.0, 0.0]])
    np.testing.assert_array_equal(b.grad.numpy(), [[0.0], [0.0]])
    ta = torch.tensor(av, requires_grad=True)
    tb = torch.tensor(bv, requires_grad=True)
    run(torch, ta, tb).backward()
    assert np.isnan(ta.grad.numpy()[0, 0])  # PyTorch: the trap
    a = tg.tensor(av, requires_grad=True)
    with _quiet():
        run(tg, a, tg.tensor(bv)).backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())  # off: the same NaN


def test_strong_zeros_leave_ordinary_gradients_unchanged():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(4, 3))
    v = rng.normal(size=(5, 4))

    def loss(x, w):
        h = tg.tanh(x @ w)
        return tg.sum(tg.maximum(h, 0.0) * tg.exp(-h) + tg.logsumexp(h, axis=1)[:, None])

    grads = []
    for strong in (False, True):
        x = tg.tensor(v, requires_grad=True)
        w = tg.tensor(W, requires_grad=True)
        with tg.autograd.set_strong_zeros(strong):
            loss(x, w).backward()
        grads.append((x.grad.numpy(), w.grad.numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])


def test_strong_zeros_second_order():
    x = tg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    with tg.autograd.strong_zeros():
        (g,) = tg.autograd.grad(_where_trap(tg, x), x, create_graph=True)
        tg.sum(g).backward()
    np.testing.assert_array_equal(g.detach().numpy(), [0.0, 0.0, 0.5])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, -0.25])
    # Off: PyTorch's NaN in both orders.
    x = tg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    with _quiet():
        (g,) = tg.autograd.grad(_where_trap(tg, x), x, create_graph=True)
        tg.sum(g).backward()
    tx = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    (tg_,) = torch.autograd.grad(_where_trap(torch, tx), tx, create_graph=True)
    tg_.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_strong_zeros_keep_zero_gradients_of_unselected_inputs():
    # Every entry masked out: the leaf still gets a gradient of zeros (not None).
    x = tg.tensor([0.0, -1.0], requires_grad=True)
    with tg.autograd.strong_zeros():
        _where_trap(tg, x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    with tg.autograd.strong_zeros():
        (gx,) = tg.autograd.grad(_where_trap(tg, x), x)
    np.testing.assert_array_equal(gx.numpy(), [0.0, 0.0])


def test_strong_zeros_forward_mode():
    def f(x, y):
        return x * tg.sqrt(y)  # d/dy = x / (2 sqrt(y)): inf at y = 0

    x = tg.tensor([2.0, 3.0])
    y = tg.tensor([0.0, 4.0])
    with _quiet():
        _, t_off = tg.jvp(f, (x, y), (tg.ones(2), tg.zeros(2)))
    assert np.isnan(t_off.numpy()[0])  # 0 * inf
    with tg.autograd.strong_zeros():
        out, t_on = tg.jvp(f, (x, y), (tg.ones(2), tg.zeros(2)))
    np.testing.assert_array_equal(t_on.numpy(), [0.0, 2.0])
    # A tangent zero in one entry only: that entry's contribution is zero.
    with tg.autograd.strong_zeros():
        _, t2 = tg.jvp(f, (x, y), (tg.zeros(2), tg.tensor([0.0, 1.0])))
    np.testing.assert_allclose(t2.numpy(), [0.0, 3.0 / 4.0])


def test_strong_zeros_nesting_and_decorator():
    with tg.autograd.strong_zeros():
        with tg.autograd.set_strong_zeros(False):
            assert not tg.autograd.is_strong_zeros_enabled()
        assert tg.autograd.is_strong_zeros_enabled()
    assert not tg.autograd.is_strong_zeros_enabled()

    @tg.autograd.strong_zeros()
    def grad_of_trap(v):
        x = tg.tensor(v, requires_grad=True)
        _where_trap(tg, x).backward()
        return x.grad.numpy()

    np.testing.assert_array_equal(grad_of_trap([0.0, 1.0]), [0.0, 1.0])
    assert not tg.autograd.is_strong_zeros_enabled()
    tg.autograd.set_strong_zeros(True)
    try:
        assert tg.autograd.is_strong_zeros_enabled()
    finally:
        tg.autograd.set_strong_zeros(False)
    assert not tg.autograd.is_strong_zeros_enabled()
