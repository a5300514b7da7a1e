"""Views and in-place ops: PyTorch's model (shared memory and version counters in every grad
mode, in-place ops recorded on the tape, the base's history rewritten for a view), compared
with torch."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import InplaceModificationError, TapegradError

torch = pytest.importorskip("torch")


# --------------------------------------------------------------------------- helpers
class _Lib:
    """The few spellings that differ between the two libraries."""

    def __init__(self, mod):
        self.mod = mod
        self.is_torch = mod is torch

    def leaf(self, a):
        a = np.asarray(a, dtype=np.float64)
        if self.is_torch:
            return torch.tensor(a, dtype=torch.float64, requires_grad=True)
        return tg.tensor(a, requires_grad=True)

    def const(self, a):
        a = np.asarray(a, dtype=np.float64)
        return torch.tensor(a, dtype=torch.float64) if self.is_torch else tg.tensor(a)

    def no_grad(self):
        return self.mod.no_grad()

    def grad(self, out, inputs, create_graph=False):
        return self.mod.autograd.grad(out, inputs, create_graph=create_graph)


TG = _Lib(tg)
TORCH = _Lib(torch)


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().data


def _same(a, b, what=""):
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-12, atol=1e-12, err_msg=what)


def _both(prog, *args):
    """Run ``prog(lib, *args)`` in both libraries; compare every returned tensor."""
    r_tg = prog(TG, *args)
    r_torch = prog(TORCH, *args)
    assert len(r_tg) == len(r_torch)
    for k, (a, b) in enumerate(zip(r_tg, r_torch)):
        if a is None or b is None:
            assert a is None and b is None, f"result {k}"
        else:
            _same(a, b, f"result {k}")
    return r_tg, r_torch


X4 = np.array([1.0, 2.0, 3.0, 4.0])
X23 = np.arange(6.0).reshape(2, 3) * 0.5 + 0.25


# --------------------------------------------------------------------------- 1. values alias
def test_inplace_on_a_view_writes_the_base_and_rewrites_its_history():
    def prog(L):
        x = L.leaf(np.ones(4))
        y = 2 * x
        v = y[:2]
        v.mul_(10)
        vals = (y.detach().clone() if L.is_torch else y.detach().copy(), v)
        y.sum().backward()
        return (*vals, x.grad)

    (y, v, g), _ = _both(prog)
    np.testing.assert_array_equal(y.data, [20, 20, 2, 2])
    np.testing.assert_array_equal(g.data, [20, 20, 2, 2])
    assert v.grad_fn is not None


def test_setitem_on_a_view_changes_the_base():
    def prog(L):
        x = L.leaf(X4)
        a = x * 1.0
        v = a[1:]
        v[0] = 5
        w = L.const([1.0, 2.0, 3.0, 4.0])
        (a * a * w).sum().backward()
        return a, v, x.grad

    _both(prog)


def test_setitem_on_the_base_is_seen_by_an_earlier_view_with_its_gradient():
    def prog(L):
        x = L.leaf(X4)
        w = L.leaf([7.0])
        a = x * 1.0
        v = a[1:]  # made before the write
        a[1] = w[0] * 3
        (v * v).sum().backward()  # v used after its base changed
        return a, v, x.grad, w.grad

    _both(prog)


@pytest.mark.parametrize(
    "op",
    ["iadd", "isub", "imul", "idiv", "add_", "sub_", "mul_", "div_", "copy_", "zero_", "fill_"],
)
def test_every_inplace_op_aliases_and_is_recorded(op):
    def prog(L):
        x = L.leaf(X23)
        w = L.leaf([[1.5, 2.5]])
        y = x * 1.0
        v = y[:, 1:]
        if op == "iadd":
            v += w
        elif op == "isub":
            v -= w
        elif op == "imul":
            v *= w
        elif op == "idiv":
            v /= w
        elif op == "copy_":
            v.copy_(w)
        elif op == "zero_":
            v.zero_()
        elif op == "fill_":
            v.fill_(3.0)
        else:
            getattr(v, op)(w)
        (y * y).sum().backward()
        gw = None if w.grad is None or (op in ("zero_", "fill_")) else w.grad
        return y, v, x.grad, gw

    _both(prog)


def test_inplace_on_a_base_updates_views_in_every_grad_mode():
    for grad_on in (True, False):
        t = tg.tensor(X4)
        v = t[::2]
        with tg.set_grad_enabled(grad_on):
            t.mul_(2)
            t[1] = 9
        np.testing.assert_array_equal(v.data, [2.0, 6.0])
        np.testing.assert_array_equal(t.data, [2.0, 9.0, 6.0, 8.0])
        assert np.shares_memory(v.data, t.data)


def test_inplace_on_a_view_under_no_grad_aliases_and_bumps_the_version():
    def prog(L):
        x = L.leaf(X4)
        y = x * 1.0
        s = (y * y).sum()  # multiply saves y
        with L.no_grad():
            y[1:3].mul_(10)
        try:
            s.backward()
        except RuntimeError:
            return (y, None)
        raise AssertionError("no error for a saved value changed in place")

    (y, _), _ = _both(prog)
    np.testing.assert_array_equal(y.data, [1.0, 20.0, 30.0, 4.0])


def test_optimizer_style_update_of_a_leaf_view_under_no_grad():
    def prog(L):
        x = L.leaf(X4)
        with L.no_grad():
            x[1:].sub_(L.const([1.0, 1.0, 1.0]))
            x[0] = 0.5
        (x * x).sum().backward()
        return x, x.grad

    _both(prog)


# --------------------------------------------------------------------------- 2. chains of views
@pytest.mark.parametrize(
    "name",
    ["slice_of_slice", "reshape_then_index", "transpose_then_setitem", "transpose_slice_mul"],
)
def test_chains_of_views(name):
    def prog(L):
        x = L.leaf(np.arange(6.0) + 1.0)
        w = L.leaf([2.0, 3.0])
        y = x * 1.0
        if name == "slice_of_slice":
            v = y[1:][::2]
            v.mul_(L.const([1.0, 2.0, 3.0]))
            v[1:].mul_(w)
        elif name == "reshape_then_index":
            m = y.reshape(2, 3)
            v = m[1]
            v.add_(w.sum())
            m[:, 0].mul_(w)
        elif name == "transpose_then_setitem":
            m = y.reshape(2, 3)
            t = m.transpose(0, 1)
            t[2] = w * w
            v = t[:, 0]
        else:
            m = y.reshape(2, 3)
            v = m.T[1:, :1]
            v.mul_(w.reshape(2, 1))
        loss = (y * y * L.const(np.arange(6.0))).sum() + (v * v).sum()
        loss.backward()
        return y, v, x.grad, w.grad

    _both(prog)


def test_several_views_of_one_base_used_after_an_inplace_change():
    def prog(L):
        x = L.leaf(np.arange(8.0) * 0.3)
        w = L.leaf([1.0, -2.0, 0.5])
        y = x.exp() if L.is_torch else tg.exp(x)
        y = y * 1.0
        v1 = y[:3]
        v2 = y[2:6]
        v3 = y.reshape(2, 4)[:, 1]
        early = (v2 * 2.0).sum()  # used before the change: sees the old history
        v1.mul_(w)
        late = (v2 * L.const([1.0, 2.0, 3.0, 4.0])).sum() + (v3 * v3).sum() + (v1**2).sum()
        (early + late + y.sum()).backward()
        return y, v1, v2, v3, x.grad, w.grad

    _both(prog)


def test_view_of_a_constant_base_gets_history_when_the_base_does():
    def prog(L):
        b = L.const(np.zeros(4))
        w = L.leaf([1.0, 2.0])
        v = b[1:]
        b[2:] = w
        assert v.requires_grad
        (v * v).sum().backward()
        return b, v, w.grad

    _both(prog)


# --------------------------------------------------------------------------- 3. saved values
def test_changing_a_saved_output_in_place_raises_at_backward():
    x = tg.tensor(X4, requires_grad=True)
    y = tg.exp(x)
    y.add_(1)
    with pytest.raises(InplaceModificationError, match="exp"):
        y.sum().backward()
    tx = torch.tensor(X4, requires_grad=True)
    ty = torch.exp(tx)
    ty.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        ty.sum().backward()


@pytest.mark.parametrize("how", ["itself", "view", "base", "detached", "sibling_view"])
def test_changing_a_saved_input_in_place_raises_at_backward(how):
    def prog(L):
        x = L.leaf(X4)
        b = x * 1.0
        if how == "base":
            saved = b[1:]
        elif how == "sibling_view":
            saved = b[:2]
        else:
            saved = b
        s = saved.sin().sum()  # sin saves its input
        if how == "itself":
            b.add_(1)
        elif how == "view":
            b[1:].add_(1)
        elif how == "base":
            b.mul_(2)
        elif how == "detached":
            b.detach().add_(1)
        else:
            b[1:3].mul_(3)
        with pytest.raises(RuntimeError):
            s.backward()
        return (b,)

    _both(prog)


def test_the_inplace_op_saves_a_copy_of_what_it_overwrites():
    def prog(L):
        x = L.leaf(X4)
        w = L.leaf([0.5, -1.0, 2.0, 3.0])
        a = x * 1.0
        a.mul_(w)  # w's gradient needs the old a
        if L.is_torch:
            a = a * a  # torch can't differentiate a.mul_(a) (it saves the overwritten a)
        else:
            a.mul_(a)  # both saved operands are the overwritten buffer: copies are saved
        v = a[1:3]
        v.div_(w[:2])
        a.sum().backward()
        return a, x.grad, w.grad

    _both(prog)


def test_inplace_does_not_raise_when_nothing_saved_the_old_value():
    def prog(L):
        x = L.leaf(X4)
        y = x * 2.0  # multiply by a constant saves the constant, not y
        z = y + 1.0
        y.add_(3)
        y[0] = 1.0
        (z.sum() + y.sum()).backward()
        return y, z, x.grad

    _both(prog)


# --------------------------------------------------------------------------- 4. leaves
def test_inplace_on_a_leaf_or_a_view_of_a_leaf_raises_under_grad_mode():
    x = tg.tensor(X4, requires_grad=True)
    with pytest.raises(InplaceModificationError, match="leaf"):
        x.add_(1)
    with pytest.raises(InplaceModificationError, match="view of a leaf"):
        x[:2].add_(1)
    with pytest.raises(InplaceModificationError, match="view of a leaf"):
        x.reshape(2, 2)[0] = 1.0
    with pytest.raises(InplaceModificationError, match="view of a leaf"):
        x[1:][::2].zero_()
    np.testing.assert_array_equal(x.data, X4)  # nothing was written
    tx = torch.tensor(X4, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf"):
        tx[:2].add_(1)


def test_view_made_under_no_grad_changed_under_grad_mode_raises():
    x = tg.tensor(X4, requires_grad=True)
    y = x * 1.0
    with tg.no_grad():
        v = y[:2]
    with pytest.raises(InplaceModificationError, match="no_grad"):
        v.add_(1)
    ty = torch.tensor(X4, requires_grad=True) * 1.0
    with torch.no_grad():
        tv = ty[:2]
    with pytest.raises(RuntimeError, match="no_grad"):
        tv.add_(1)


# --------------------------------------------------------------------------- 5. dtypes
def test_complex_value_into_a_float_tensor_raises_in_both_grad_modes():
    x = tg.tensor(X4, requires_grad=True)
    for grad_on in (True, False):
        with tg.set_grad_enabled(grad_on):
            a = x * 1.0 if grad_on else tg.tensor(X4)
            for write in (
                lambda: a.__iadd__(1j),
                lambda: a.mul_(tg.tensor([1j, 1, 1, 1])),
                lambda: a.__setitem__(0, 1j),
                lambda: a.__setitem__(slice(0, 2), np.array([1j, 2j])),
                lambda: a.copy_(tg.tensor([1j, 0, 0, 0])),
                lambda: a[1:].fill_(2j),
            ):
                with pytest.raises(InplaceModificationError, match="complex|dtype") as e:
                    write()
                assert isinstance(e.value, (TapegradError, RuntimeError))
            np.testing.assert_array_equal(a.data, X4)
    ta = torch.tensor(X4, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="can't be cast"):
        ta += 1j


def test_float64_operand_into_a_float32_tensor_keeps_the_dtype():
    def prog(L):
        x = L.leaf(X4)
        y = (x * 1.0).float()
        y[1:].mul_(x[1:] * 2)
        assert str(y.dtype).endswith("float32")
        y.sum().backward()
        return y, x.grad

    _both(prog)


# --------------------------------------------------------------------------- 6. detach
def test_detach_shares_memory_and_version_counter():
    def prog(L):
        x = L.leaf(X4)
        y = x * 1.0
        d = y.detach()
        d.add_(1)
        ok = (y * 1.0).sum()
        ok.backward()  # nothing saved y
        z = (y * y).sum()  # saves y
        d[0] = 100.0
        with pytest.raises(RuntimeError):
            z.backward()
        return y, d, x.grad

    (y, d, _), _ = _both(prog)
    assert np.shares_memory(y.data, d.data)
    np.testing.assert_array_equal(y.data, [100.0, 3.0, 4.0, 5.0])


def test_detach_of_a_leaf_changed_in_place_invalidates_its_saved_uses():
    x = tg.tensor(X4, requires_grad=True)
    s = (x * x).sum()
    x.detach().mul_(2)
    np.testing.assert_array_equal(x.data, 2 * X4)
    with pytest.raises(InplaceModificationError):
        s.backward()


# --------------------------------------------------------------------------- indexing kinds
def test_advanced_getitem_is_a_copy_and_setitem_with_masks_or_int_arrays_writes():
    def prog(L):
        x = L.leaf(np.arange(6.0) + 1.0)
        w = L.leaf([10.0, 20.0])
        y = x * 1.0
        c = y[[0, 1]]  # a copy
        c.add_(100)
        mask = L.const(np.array([0, 1, 0, 1, 0, 0], dtype=np.float64)) > 0
        y[mask] = w
        v = y[2:]
        idx = [0, 3] if L.is_torch else np.array([0, 3])
        if L.is_torch:
            idx = torch.tensor(idx)
        v[idx] = w * 3  # int-array assignment through a view
        (y * y).sum().backward()
        return y, c, v, x.grad, w.grad

    _both(prog)


def test_inplace_on_a_diagonal_writes_the_base():
    def prog(L):
        x = L.leaf(np.arange(9.0).reshape(3, 3) * 0.5)
        w = L.leaf([1.0, 2.0, 3.0])
        y = x * 1.0
        d = y.diagonal()
        d.mul_(w)
        d[0] = 7.0
        (y * y).sum().backward()
        return y, d, x.grad, w.grad

    _both(prog)


def test_inplace_on_a_broadcast_view_raises():
    y = tg.tensor(X4, requires_grad=True) * 1.0
    e = y.broadcast_to((2, 4))
    with pytest.raises(InplaceModificationError, match="read-only"):
        e.add_(1)
    np.testing.assert_array_equal(y.data, X4)


# --------------------------------------------------------------------------- higher order
def test_second_order_through_an_inplace_op_on_a_view():
    def prog(L):
        x = L.leaf([0.5, 1.0, 1.5, 2.0])
        y = x * x
        y[1:].mul_(x[:-1])
        y[:2] += x[2:] * x[2:]
        loss = (y * y).sum()
        (g,) = L.grad(loss, [x], create_graph=True)
        (gg,) = L.grad((g * g).sum(), [x])
        return y, g, gg

    _both(prog)


def test_forward_mode_tangent_follows_an_inplace_op_on_a_view():
    def f(x):
        y = x * 1.0
        y[1:].mul_(x[:-1])
        return y

    x = np.array([0.5, 1.0, 1.5, 2.0])
    t = np.array([1.0, -1.0, 0.5, 2.0])
    _, jt = tg.jvp(f, (tg.tensor(x),), (tg.tensor(t),))
    tx = torch.tensor(x)
    _, tjt = torch.func.jvp(f, (tx,), (torch.tensor(t),))
    np.testing.assert_allclose(jt.data, tjt.numpy(), rtol=1e-12)


# --------------------------------------------------------------------------- memory
def test_views_and_inplace_ops_make_no_reference_cycles():
    gc.disable()
    try:
        x = tg.tensor(np.arange(12.0), requires_grad=True)
        y = x * 1.0
        m = y.reshape(3, 4)
        v = m[1:, ::2]
        v.mul_(2.0)
        t = m.T
        t[0] = 5.0
        refs = [weakref.ref(o) for o in (y, m, v, t, y.grad_fn, v.grad_fn, t.grad_fn)]
        del y, m, v, t
        assert all(r() is None for r in refs), [r() for r in refs]
        assert x.grad is None
    finally:
        gc.enable()


def test_dead_views_are_not_kept_by_their_base():
    y = tg.tensor(np.arange(100.0), requires_grad=True) * 1.0
    for i in range(100):
        y[i : i + 1]  # a view, dropped at once
    y.mul_(2.0)  # makes the live views' grad_fn again: none are left
    assert len(getattr(y, "_views", [])) < 40


# --------------------------------------------------------------------------- random programs
def _random_program(seed):
    """Instructions mixing views, in-place ops and out-of-place ops on a (4, 6) base."""
    rng = np.random.default_rng(seed)
    prog = []
    shapes = [(4, 6)]  # shapes of the pool tensors (pool 0: the base)
    for _ in range(int(rng.integers(6, 12))):
        src = int(rng.integers(len(shapes)))
        shape = shapes[src]
        kind = rng.choice(["view", "view", "inplace", "inplace", "inplace", "sin"])
        if kind == "view":
            if len(shape) == 2 and rng.random() < 0.3:
                prog.append(("T", src))
                shapes.append(shape[::-1])
                continue
            key = []
            new = []
            for d in shape:
                if len(shape) == 2 and rng.random() < 0.2 and not key:
                    key.append(int(rng.integers(d)))
                    continue
                a = int(rng.integers(0, d))
                b = int(rng.integers(a + 1, d + 1))
                s = int(rng.integers(1, 3))
                key.append(slice(a, b, s))
                new.append(len(range(a, b, s)))
            if not new:
                continue
            prog.append(("view", src, tuple(key)))
            shapes.append(tuple(new))
        elif kind == "sin":  # a new tensor (sin saves its input, the affine map does not)
            prog.append(("sin" if rng.random() < 0.3 else "affine", src))
            shapes.append(shape)
        else:
            op = rng.choice(
                ["mul_s", "add_w", "add_w", "mul_w", "set_s", "set_w", "set_w", "div_w", "zero"]
            )
            prog.append((op, src, float(rng.uniform(0.5, 2.0))))
    return prog, shapes


def _run(L, prog, shapes, snapshot):
    x = L.leaf(np.random.default_rng(0).uniform(0.5, 1.5, (4, 6)))
    w = L.leaf(np.random.default_rng(1).uniform(0.5, 1.5, 24))
    pool = [x * 1.0]

    def operand(shape, c):
        n = int(np.prod(shape))
        return (w[:n] * c + 0.5).reshape(shape)

    for ins in prog:
        op, src = ins[0], ins[1]
        t = pool[src]
        if op == "view":
            pool.append(t[ins[2]])
        elif op == "T":
            pool.append(t.T)
        elif op == "sin":
            pool.append(t.sin())
        elif op == "affine":
            pool.append(t * 1.5 + 0.25)
        else:
            c = ins[2]
            if op == "mul_s":
                t.mul_(c)
            elif op == "add_w":
                t.add_(operand(t.shape, c))
            elif op == "mul_w":
                t.mul_(operand(t.shape, c))
            elif op == "div_w":
                t.div_(operand(t.shape, c))
            elif op == "set_s":
                t[: max(1, t.shape[0] // 2)] = c
            elif op == "set_w":
                k = max(1, t.shape[0] // 2)
                t[:k] = operand((k,) + tuple(t.shape[1:]), c)
            else:
                t[-1:].zero_()
        snapshot.append([_np(p).copy() for p in pool])
    loss = 0.0
    for i, p in enumerate(pool):
        loss = loss + (p * p).sum() * (0.1 * (i + 1))
    try:
        loss.backward()
    except RuntimeError as e:  # a saved value was changed: both libraries must say so
        return pool, None, None, type(e)
    return pool, x.grad, w.grad, None


@pytest.mark.parametrize("seed", range(20))
def test_random_programs_match_torch(seed):
    prog, shapes = _random_program(seed)
    snap_tg, snap_torch = [], []
    pool_tg, gx, gw, err = _run(TG, prog, shapes, snap_tg)
    pool_t, tgx, tgw, terr = _run(TORCH, prog, shapes, snap_torch)
    for k, (a, b) in enumerate(zip(snap_tg, snap_torch)):
        for j, (u, v) in enumerate(zip(a, b)):
            np.testing.assert_allclose(u, v, rtol=1e-12, err_msg=f"step {k} tensor {j}: {prog}")
    assert (err is None) == (terr is None), (prog, err, terr)
    if err is None:
        _same(gx, tgx, f"x.grad {prog}")
        if tgw is None:
            assert gw is None
        else:
            _same(gw, tgw, f"w.grad {prog}")


def test_saved_values_that_no_running_rule_reads_may_change():
    def prog(L):
        x = L.leaf(X4)
        w = L.leaf([0.5, 2.0, 4.0, 1.0])
        y = x * 1.0
        z = y * 2.0  # y is saved for the constant's gradient only: not needed
        m = y @ L.const(np.ones(4))  # likewise for matmul
        y.div_(w)  # its node keeps its own result, not y's memory
        y.add_(1)
        (z.sum() + m + (y * y).sum()).backward()
        return y, z, x.grad, w.grad

    _both(prog)


def test_detach_in_place_of_a_view_raises():
    y = tg.tensor(X4, requires_grad=True) * 1.0
    with pytest.raises(InplaceModificationError, match="detach"):
        y[:2].detach_()
    ty = torch.tensor(X4, requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match="detach"):
        ty[:2].detach_()
    d = y.detach()
    assert d.detach_() is d  # a detached alias is no view: fine


def test_pickled_and_copied_views_and_bases_are_plain_tensors():
    import copy
    import pickle

    y = tg.tensor(X4)
    v = y[1:]  # y now tracks its view
    for dup in (lambda t: pickle.loads(pickle.dumps(t)), copy.deepcopy):
        y2 = dup(y)
        v2 = dup(v)
        assert v2._base is None
        v2.add_(1)  # a copy: no view of anything any more
        y2.mul_(2)
        np.testing.assert_array_equal(y2.data, 2 * X4)
        np.testing.assert_array_equal(v2.data, X4[1:] + 1)
    np.testing.assert_array_equal(y.data, X4)
    np.testing.assert_array_equal(v.data, X4[1:])


def test_inplace_under_no_grad_with_tangents_keeps_the_reverse_history():
    from tapegrad.autograd.dual import make_dual, new_level

    level = new_level()
    x = tg.tensor(X4, requires_grad=True)
    y = make_dual(x * 1.0, tg.tensor(np.ones(4)), level) * 1.0
    v = y[1:]
    fn = y.grad_fn
    with tg.no_grad():
        v.mul_(3.0)
    assert y.grad_fn is fn and y.requires_grad  # the change is not recorded ...
    np.testing.assert_array_equal(y._fw[level].data, [1.0, 3.0, 3.0, 3.0])  # ... tangents follow
    np.testing.assert_array_equal(v._fw[level].data, [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(y.data, [1.0, 6.0, 9.0, 12.0])


def test_augmented_assignment_through_indexing():
    def prog(L):
        x = L.leaf(np.arange(6.0) + 1.0)
        w = L.leaf([2.0, 3.0])
        y = x * 1.0
        idx = torch.tensor([0, 2]) if L.is_torch else [0, 2]
        y[idx] += w  # a copy changed, then written back
        y[1:3] *= w  # a view changed in place, then written back onto itself
        y[4] += w[0] * w[1]  # a 0-d view
        m = y.reshape(2, 3)
        m[1, 1] -= 1.0
        (y * y).sum().backward()
        return y, m, x.grad, w.grad

    _both(prog)


@pytest.mark.parametrize(
    "chain",
    [
        lambda a: a[1:, ::2],
        lambda a: a.T[::-1],
        lambda a: a.reshape(4, 3)[2],
        lambda a: a[..., None][1, ::-2],
        lambda a: a.swapaxes(0, 1)[1:3, 1],
        lambda a: a.diagonal(1),
        lambda a: a[2, 3],
    ],
)
@pytest.mark.parametrize("order", ["C", "F"])
def test_view_index_map_gives_each_element_its_position_in_the_base(chain, order):
    from tapegrad.ops.indexing import view_index_map

    base = tg.tensor(np.asarray(np.arange(12.0).reshape(3, 4), order=order))
    v = chain(base)
    if not np.shares_memory(v.data, base.data):  # NumPy copied (reshape of an F array)
        assert v._base is not base  # then it is no view of base
        return
    b, idx = view_index_map(v)
    assert b is base
    expected = chain(np.arange(12).reshape(3, 4))  # positions in C order
    np.testing.assert_array_equal(idx, expected)


def test_inplace_on_a_view_of_a_fortran_ordered_base():
    def prog(L):
        x = L.leaf(X23)
        w = L.leaf([1.0, 2.0, 3.0])
        y = x.T.clone() if L.is_torch else x.T.copy()  # (3, 2), not C-contiguous
        if not L.is_torch:
            assert not y.data.flags.c_contiguous and y._base is None
        y.T[1:].mul_(w)
        y[1:, 0].add_(w[:2])
        (y * y).sum().backward()
        return y, x.grad, w.grad

    _both(prog)


def test_inplace_on_a_small_view_of_a_big_base_costs_the_view_not_the_base():
    import tracemalloc

    y = tg.tensor(np.ones((1000, 1000)), requires_grad=True) * 1.0  # 8 MB
    w = tg.tensor(np.full(1000, 2.0), requires_grad=True)
    tracemalloc.start()
    try:
        y[3].mul_(w)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak  # no copy of the base, no index array over it
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.data, np.ones(1000))
