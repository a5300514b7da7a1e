"""No reference cycles in tape objects: graphs, saved values and tangents are freed by
reference counting alone, as soon as their last user goes (checked with ``gc.disable()``).

Two checks: weak references to what must be freed are dead right after the owner is
dropped; and, more generally, a run under ``gc.DEBUG_SAVEALL`` leaves nothing for the cyclic
collector (any cycle among tensors, nodes or rules would show up in ``gc.garbage``).
"""

from __future__ import annotations

import contextlib
import gc
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import dual as forward
from tapegrad.autograd import forward_ad as fwad

from .opinfo import all_specs

SPECS = all_specs()


@contextlib.contextmanager
def no_gc():
    """Run the body with the cyclic collector off (reference counting only)."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def cyclic_garbage(fn) -> list:
    """What only the cyclic collector could free after ``fn()`` ran (and its locals went)."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        fn()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()


def _tape_objects(objs: list) -> list:
    """The tensors, arrays and tapegrad objects among ``objs`` (lazy imports elsewhere may
    leave cycles of their own the first time an op runs)."""
    return [
        o for o in objs if isinstance(o, np.ndarray) or type(o).__module__.startswith("tapegrad")
    ]


def _names(objs: list) -> list[str]:
    return sorted({type(o).__name__ for o in objs})


# --------------------------------------------------------------------------- custom Function
class Cube(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        h = x * 1.0  # a tensor only the ctx keeps
        ctx.save_for_backward(h)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (h,) = ctx.saved_tensors
        return g * 3 * h**2


class Square(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x


def test_function_saved_tensors_go_with_the_output():
    with no_gc():
        x = tg.tensor(np.arange(4.0), requires_grad=True)
        y = Cube.apply(x)
        ctx = y.grad_fn.prim.ctx
        saved = weakref.ref(ctx.saved_tensors[0].data)
        ctx_ref = weakref.ref(ctx)
        del ctx
        assert saved() is not None
        del y
        assert saved() is None, "the saved tensor outlived the Function's output"
        assert ctx_ref() is None


def test_function_graph_is_freed_after_backward():
    with no_gc():
        x = tg.tensor(np.arange(4.0), requires_grad=True)
        y = Cube.apply(x)
        node = weakref.ref(y.grad_fn)
        y.sum().backward()
        del y
        assert node() is None
    np.testing.assert_allclose(x.grad.data, 3 * np.arange(4.0) ** 2)


def test_custom_vjp_residuals_go_with_the_output():
    @tg.custom_vjp
    def f(x):
        return tg.sin(x)

    seen = []

    def fwd(x):
        r = tg.cos(x)
        seen.append(weakref.ref(r.data))
        return tg.sin(x), r

    f.defvjp(fwd, lambda r, g: (g * r,))
    with no_gc():
        x = tg.tensor(np.ones(3), requires_grad=True)
        y = f(x)
        assert seen[0]() is not None
        del y
        assert seen[0]() is None
        y = f(x)
        y.sum().backward()
        del y
        assert seen[1]() is None
    np.testing.assert_allclose(x.grad.data, np.cos(np.ones(3)))


def test_custom_calls_leave_no_cyclic_garbage():
    x = tg.tensor(np.ones(3), requires_grad=True)

    @tg.custom_vjp
    def f(x):
        return tg.sin(x)

    f.defvjp(lambda x: (tg.sin(x), x), lambda x, g: (g * tg.cos(x),))

    def run():
        Cube.apply(x).sum().backward()
        y = Cube.apply(x)
        del y
        f(x).sum().backward()
        (g,) = tg.autograd.grad(Square.apply(x).sum(), x, create_graph=True)
        g.sum().backward()

    garbage = cyclic_garbage(run)
    assert not garbage, f"reference cycles among {_names(garbage)}"


def test_custom_vjp_definitions_leave_no_cyclic_garbage():
    # A custom_vjp made inside a function (closing over its arguments) is dropped with it.
    def run():
        @tg.custom_vjp
        def f(x):
            return tg.sin(x)

        f.defvjp(lambda x: (tg.sin(x), x), lambda x, g: (g * tg.cos(x),))
        x = tg.tensor(np.ones(2), requires_grad=True)
        y = f(x)
        assert repr(y.grad_fn) == "<fBackward>"
        y.sum().backward()

    garbage = cyclic_garbage(run)
    assert not garbage, f"reference cycles among {_names(garbage)}"


def test_custom_vjp_in_forward_mode_names_the_function():
    @tg.custom_vjp
    def clipped(x):
        return tg.sin(x)

    clipped.defvjp(lambda x: (tg.sin(x), x), lambda x, g: (g * tg.cos(x),))
    with pytest.raises(TypeError, match="custom_vjp function clipped.*custom_jvp"):
        tg.jvp(clipped, (1.0,), (1.0,))


# --------------------------------------------------------------------------- checkpointing
def test_checkpoint_chain_snapshots_go_with_the_output():
    k = tg.tensor(0.5, requires_grad=True)
    with no_gc():
        y = tg.checkpoint_chain(lambda s: s - 0.01 * k * s, tg.tensor(np.ones(3)), 50, snapshots=4)
        rule = y.grad_fn.prim
        arrays = [weakref.ref(a) for a in rule._saved_arrays()]
        assert len(arrays) >= 2 and all(r() is not None for r in arrays)
        rule_ref = weakref.ref(rule)
        del rule
        del y
        assert rule_ref() is None
        assert all(r() is None for r in arrays), "snapshots outlived the chain's output"


def test_checkpoint_chain_and_blocks_leave_no_cyclic_garbage():
    k = tg.tensor(0.5, requires_grad=True)

    def run():
        y = tg.checkpoint_chain(lambda s: s - 0.01 * k * s, tg.tensor(1.0), 20, snapshots=3)
        y.backward()
        y = tg.checkpoint_chain(lambda s: s * k, tg.tensor(1.0), 10, snapshots=2)
        del y
        x = tg.tensor(np.ones(4), requires_grad=True)
        tg.checkpoint(lambda h: tg.tanh(tg.sin(h) * h), x).sum().backward()
        z = tg.checkpoint(lambda h: tg.checkpoint(tg.sin, h) * h, x)
        del z

    garbage = cyclic_garbage(run)
    assert not garbage, f"reference cycles among {_names(garbage)}"


# --------------------------------------------------------------------------- forward mode
def test_dual_level_exit_clears_the_tangents():
    with no_gc():
        with fwad.dual_level():
            tan = tg.tensor(np.ones(3))
            x = fwad.make_dual(tg.tensor(np.arange(3.0)), tan)
            y = tg.sin(x) * x
            ty = fwad.unpack_dual(y).tangent
            refs = [weakref.ref(tan), weakref.ref(ty)]
            del tan, ty
            assert all(r() is not None for r in refs)
        assert all(r() is None for r in refs), "tangents outlived their dual_level"
    # PyTorch's semantics: the tensors are plain again, and later ops carry no tangent.
    assert fwad.unpack_dual(y).tangent is None
    assert fwad.unpack_dual(x).tangent is None
    assert x._fw is None and y._fw is None
    z = y * 2 + tg.exp(x)
    assert z._fw is None
    with fwad.dual_level():
        assert fwad.unpack_dual(z).tangent is None
        assert fwad.unpack_dual(y).tangent is None


def test_dual_level_exit_clears_tangents_held_by_the_tape():
    # A recorded op keeps its inputs' tangent dicts (for forward-over-reverse): closing
    # the level empties them too, even when the input tensor itself is gone.
    w = tg.tensor(np.ones(3), requires_grad=True)
    with no_gc():
        with fwad.dual_level():
            tan = tg.tensor(np.full(3, 2.0))
            ref = weakref.ref(tan)
            x = fwad.make_dual(tg.tensor(np.arange(3.0)), tan)
            del tan
            y = w * x
            del x
        assert ref() is None
    y.sum().backward()
    np.testing.assert_allclose(w.grad.data, np.arange(3.0))


def test_nested_dual_levels_clear_only_their_own():
    with fwad.dual_level() as outer:
        x = fwad.make_dual(tg.tensor(2.0), tg.tensor(1.0))
        with fwad.dual_level() as inner:
            y = fwad.make_dual(x * 3, tg.tensor(10.0), level=inner)
            z = y * y
            assert fwad.unpack_dual(z, level=inner).tangent.item() == 2 * 6.0 * 10.0
        assert fwad.unpack_dual(z, level=inner).tangent is None
        assert fwad.unpack_dual(z, level=outer).tangent.item() == 2 * 6.0 * 3.0
        assert fwad.unpack_dual((z * 1.0), level=outer).tangent.item() == 36.0
    assert z._fw is None


def test_custom_function_tangents_are_cleared():
    class Twice(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

        @staticmethod
        def jvp(ctx, t):
            return t * 2

    x0 = tg.tensor(1.0, requires_grad=True)
    with fwad.dual_level():
        x = fwad.make_dual(x0, tg.tensor(1.0))
        y = Twice.apply(x)
        assert fwad.unpack_dual(y).tangent.item() == 2.0
    assert y._fw is None and fwad.unpack_dual(y).tangent is None


def test_transforms_leave_no_tangents_behind():
    kept = []

    def f(x):
        h = tg.sin(x)
        kept.append(h)
        return (h * x).sum()

    tg.jvp(f, (np.ones(3),), (np.ones(3),))
    tg.jacfwd(f)(np.ones(3))
    tg.hessian(f)(np.ones(3))
    tg.jacrev(lambda x: tg.sin(x) * x)(np.ones(3))
    assert all(h._fw is None for h in kept)
    with pytest.raises(ZeroDivisionError):
        tg.jvp(lambda x: 1 / 0, (1.0,), (1.0,))
    assert not forward._open, "a transform left its forward-mode level open"


def test_forward_mode_and_transforms_leave_no_cyclic_garbage():
    def run():
        with fwad.dual_level():
            x = fwad.make_dual(tg.tensor(np.arange(3.0)), tg.tensor(np.ones(3)))
            y = tg.sin(x) * x
            fwad.unpack_dual(y)
        tg.jvp(lambda x: tg.sin(x) * x, (np.ones(3),), (np.ones(3),))
        tg.hessian(lambda x: (tg.sin(x) ** 2).sum())(np.ones(3))
        tg.jacrev(lambda x: tg.exp(x) * x)(np.ones(3))
        tg.grad(lambda x: (tg.tanh(x) ** 2).sum())(np.ones(3))
        tg.hvp(lambda x: (x**3).sum(), (np.ones(2),), (np.ones(2),))

    garbage = cyclic_garbage(run)
    assert not garbage, f"reference cycles among {_names(garbage)}"


# --------------------------------------------------------------------------- hooks
def test_hooks_and_retain_grad_leave_no_cyclic_garbage():
    def run():
        x = tg.tensor(np.ones(3), requires_grad=True)
        y = tg.sin(x)
        y.register_hook(lambda g: g * 2)
        y.retain_grad()
        x.register_hook(lambda g: g + 1)
        (y * y).sum().backward()
        assert y.grad is not None

    garbage = cyclic_garbage(run)
    assert not garbage, f"reference cycles among {_names(garbage)}"


def test_retain_grad_does_not_keep_the_tensor_alive():
    with no_gc():
        x = tg.tensor(np.ones(3), requires_grad=True)
        y = tg.sin(x)
        y.retain_grad()
        node = weakref.ref(y.grad_fn)
        data = weakref.ref(y.data)
        del y
        assert node() is None and data() is None


# --------------------------------------------------------------------------- every op
def _diff_args(sample):
    return [
        i
        for i, a in enumerate(sample.args)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in sample.nondiff
    ]


def _outputs(res):
    outs = list(res) if isinstance(res, (tuple, list)) else [res]
    return [o for o in outs if isinstance(o, tg.Tensor) and o.requires_grad]


@pytest.mark.parametrize("spec", [s for s in SPECS if s.grad], ids=lambda s: s.name)
def test_every_op_frees_its_graph_without_gc(spec):
    """Forward (and backward, second order where the spec has it) under reference
    counting only: the tape and its saved arrays go with the outputs, and nothing is left
    for the cyclic collector."""
    samples = spec.samples(np.random.default_rng(0), np.float64)

    def run_one(sample, backward: bool, create_graph: bool):
        diff = _diff_args(sample)
        args = [
            tg.tensor(a, requires_grad=True) if i in diff else a for i, a in enumerate(sample.args)
        ]
        outs = _outputs(spec.op(*args, **sample.kwargs))
        if not outs:
            return
        nodes = [weakref.ref(o.grad_fn) for o in outs if o.grad_fn is not None]
        saved = [
            weakref.ref(v)
            for o in outs
            if o.grad_fn is not None and isinstance(o.grad_fn.args, list)
            for v in o.grad_fn.args
            if isinstance(v, np.ndarray)
            and not any(v is a for a in (*sample.args, *sample.kwargs.values()))
        ]
        if backward:
            ins = [args[i] for i in diff]
            grads = tg.autograd.grad(
                outs,
                ins,
                [tg.ones_like(o) for o in outs],
                allow_unused=True,
                create_graph=create_graph,
            )
            if create_graph:
                gs = [g for g in grads if g is not None and g.requires_grad]
                if gs:
                    tg.autograd.backward(gs, [tg.ones_like(g) for g in gs])
                del gs
            del grads, ins
        del outs, args
        assert all(r() is None for r in nodes), f"{spec.name}{sample!r}: the graph outlived it"
        assert all(r() is None for r in saved), f"{spec.name}{sample!r}: saved arrays remain"

    modes = tuple(dict.fromkeys(((False, False), (True, False), (True, spec.gradgrad))))

    def run_all():
        for sample in samples:
            for backward, cg in modes:
                run_one(sample, backward, cg)

    with no_gc():
        run_all()  # first calls may import modules lazily
    # One collection per spec (a collection walks the whole heap: not one per sample).
    garbage = _tape_objects(cyclic_garbage(run_all))
    assert not garbage, f"{spec.name}: reference cycles among {_names(garbage)}"
