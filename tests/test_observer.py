"""The Observer protocol (tg.autograd.observe, scope) and the Node read API."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.autograd import Observer, current_scope, grad_mode, observe, scope
from tapegrad.autograd.node import FREED, Meta, Node


class Log(Observer):
    def __init__(self, tag=""):
        self.tag = tag
        self.events = []

    def record(self, node, inputs, outputs):
        self.events.append(("record", node.name, inputs, outputs))

    def release(self, node):
        self.events.append(("release", node.name))

    def backward_done(self):
        self.events.append(("backward_done",))

    def scope_enter(self, kind, obj):
        self.events.append(("enter", kind, obj))

    def scope_exit(self, kind, obj, outputs):
        self.events.append(("exit", kind, obj, outputs))

    def kinds(self):
        return [e[0] if e[0] != "record" else ("record", e[1]) for e in self.events]


def leaf(v):
    return tg.tensor(np.asarray(v, dtype=float), requires_grad=True)


def test_every_event_fires_in_order():
    x = leaf([1.0, 2.0])
    log = Log()
    with observe(log):
        with scope("stage", "s") as sc:
            y = tg.sin(x)
            z = y * 3.0
            sc.outputs = z
        tg.sum(z).backward()
    assert log.kinds() == [
        "enter",
        ("record", "sin"),
        ("record", "multiply"),
        "exit",
        ("record", "sum"),
        "release",
        "release",
        "release",
        "backward_done",
    ]
    assert [e[1] for e in log.events if e[0] == "release"] == ["sum", "multiply", "sin"]
    assert log.events[0] == ("enter", "stage", "s")
    assert log.events[3] == ("exit", "stage", "s", z)


def test_record_gives_the_primitive_params_inputs_and_outputs():
    x = leaf(np.ones((2, 3)))
    c = tg.tensor(np.full((2, 3), 2.0))  # a constant tensor
    log = Log()
    with observe(log):
        s = tg.sum(x * c, axis=1)
        a, b, _ = tg.split(x, 3, axis=1)
    mul = log.events[0]
    assert mul[1] == "multiply" and mul[2][0] is x and mul[2][1] is c
    assert len(mul[3]) == 1 and mul[3][0].grad_fn is not None
    node = mul[3][0].grad_fn
    assert node.prim is tg.multiply or node.prim.name == "multiply"
    assert node.inputs == ((x, 0), (None, 0))
    sm = log.events[1]
    assert sm[1] == "sum" and sm[3] == (s,)
    snode = s.grad_fn
    assert snode.params.get("axis") in (1, (1,))
    assert snode.inputs[0] == (node, 0)
    # The raw values and params are enough to recompute the output.
    raw = snode.prim.impl(
        *[np.asarray(a.data if isinstance(a, tg.Tensor) else a) for a in sm[2]], **snode.params
    )
    np.testing.assert_array_equal(raw, s.data)
    outs = log.events[2][3]
    assert len(outs) == 3 and outs[0] is a and outs[1] is b
    assert outs[0].grad_fn.inputs[0] == (x, 0)
    assert len(outs[0].grad_fn.output_meta) == 3


def test_node_read_api_saved_values_and_freed_state():
    x = leaf([0.5, 1.0])
    y = tg.exp(tg.sin(x))
    node = y.grad_fn
    sin_node = node.inputs[0][0]
    assert node.name == "exp" and isinstance(node, Node)
    assert node.saved_output is not None  # exp keeps its output
    assert sin_node.saved_inputs[0] is x.data  # sin keeps its input
    assert not node.freed and not sin_node.freed
    assert node.output_meta is None
    tg.sum(y).backward()
    assert node.freed and sin_node.freed
    assert node.saved_output is None
    assert sin_node.saved_inputs == (FREED,)


def test_node_read_api_meta_and_multi_output():
    x = leaf(np.ones((2, 3)))
    w = tg.tensor(np.ones(3))
    y = x + w  # broadcast: the constant keeps nothing, x keeps nothing (like the output)
    ins = y.grad_fn.saved_inputs
    assert ins[1] is None or isinstance(ins[1], Meta)
    a, b = tg.split(x, 2, axis=0)
    meta = a.grad_fn.output_meta
    assert len(meta) == 2 and all(isinstance(m, Meta) for m in meta)
    assert b.grad_fn is a.grad_fn
    z = b * 2.0
    assert z.grad_fn.inputs[0] == (a.grad_fn, 1)


def test_observers_nest_and_unwind():
    outer, inner = Log("outer"), Log("inner")
    x = leaf(1.0)
    with observe(outer):
        tg.sin(x)
        with observe(inner):
            tg.cos(x)
        tg.tan(x)
    assert [e[1] for e in outer.events] == ["sin", "cos", "tan"]
    assert [e[1] for e in inner.events] == ["cos"]
    assert grad_mode._state.enabled is True
    assert grad_mode._state.recorder is None


def test_alone_suspends_the_other_observers():
    outer, inner = Log(), Log()
    x = leaf(1.0)
    with observe(outer):
        with observe(inner, alone=True):
            tg.sin(x)
        tg.cos(x)
    assert [e[1] for e in outer.events] == ["cos"]
    assert [e[1] for e in inner.events] == ["sin"]


def test_grad_mode_switches_keep_the_observer():
    log = Log()
    x = leaf(1.0)
    with observe(log):
        with tg.no_grad():
            tg.sin(x)  # not recorded
            with tg.enable_grad():
                tg.cos(x)
        tg.set_grad_enabled(False)
        tg.exp(x)
        tg.set_grad_enabled(True)
        tg.tanh(x)
    assert [e[1] for e in log.events] == ["cos", "tanh"]


def test_observers_are_per_thread():
    log = Log()
    seen = []

    def other():
        seen.append(grad_mode.active_observers())
        tg.sin(leaf(1.0))

    with observe(log):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        tg.cos(leaf(1.0))
    assert log not in seen[0]
    assert [e[1] for e in log.events] == ["cos"]


def test_no_observer_keeps_the_one_check_recording_path():
    # No observer wanting records: the grad-mode flag is plain True (the primitives test
    # it once), and observers that listen to scopes only (viz's module log) stay off it.
    assert grad_mode._state.enabled is True
    assert grad_mode._state.recorder is None
    assert all(type(o).record is Observer.record for o in grad_mode.active_observers())

    class ScopesOnly(Observer):
        def scope_enter(self, kind, obj):
            pass

    with observe(ScopesOnly()):
        assert grad_mode._state.enabled is True
    with observe(Log()):
        assert grad_mode._state.enabled is grad_mode._state.recorder
    assert grad_mode._state.enabled is True


def test_observe_needs_an_observer():
    with pytest.raises(TypeError, match="Observer"):
        observe(object())


def test_module_scopes_nest_and_give_their_inputs():
    class Spy(Observer):
        def __init__(self):
            self.events = []

        def scope_enter(self, kind, obj):
            sc = current_scope()
            self.events.append(("enter", type(obj).__name__, sc.inputs))

        def scope_exit(self, kind, obj, outputs):
            self.events.append(("exit", type(obj).__name__, outputs))

    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    x = tg.tensor(np.ones((1, 2), dtype=np.float32))
    spy = Spy()
    with observe(spy):
        out = model(x)
    names = [(e[0], e[1]) for e in spy.events]
    assert names == [
        ("enter", "Sequential"),
        ("enter", "Linear"),
        ("exit", "Linear"),
        ("enter", "Tanh"),
        ("exit", "Tanh"),
        ("exit", "Sequential"),
    ]
    assert spy.events[0][2][0][0] is x  # (args, kwargs)
    assert spy.events[-1][2] is out
    assert current_scope() is None


def test_checkpoint_blocks_are_scopes_and_recompute_unobserved():
    log = Log()
    x = leaf([0.5, 1.0])
    with observe(log):
        y = tg.checkpoint(lambda h: tg.tanh(tg.sin(h)), x)
        tg.sum(y).backward()
    kinds = [e[0] if e[0] != "record" else e[1] for e in log.events]
    assert kinds[:4] == ["enter", "sin", "tanh", "exit"]
    assert log.events[0][1] == "checkpoint"
    # The block dropped its nodes' values (release), the recomputation recorded nothing
    # that the observer saw, and the pass freed them again.
    assert kinds.count("sin") == 1 and kinds.count("tanh") == 1
    assert kinds[-1] == "backward_done"
    assert kinds.count("release") >= 2


def test_a_freed_graph_holds_nothing_and_observers_keep_nothing_alive():
    gc.disable()
    try:
        log = Log()
        x = leaf([1.0, 2.0])
        with observe(log):
            y = tg.sin(x) * 2.0
        ref = weakref.ref(y.grad_fn)
        log.events.clear()
        del y
        assert ref() is None
    finally:
        gc.enable()


def test_backward_done_fires_for_grad_and_failures():
    log = Log()
    x = leaf(2.0)
    with observe(log):
        y = x * x
        tg.autograd.grad(y, x)
        with pytest.raises(RuntimeError):
            tg.autograd.grad(y, x)  # freed
    assert [e[0] for e in log.events].count("backward_done") == 2


def test_a_checkpointed_node_waits_deferred_not_freed():
    x = leaf([0.5, 1.0])
    y = tg.checkpoint(lambda h: tg.exp(tg.sin(h)), x)
    node = y.grad_fn
    assert node.name == "exp"
    assert not node.freed and node.deferral is not None
    assert node.saved_inputs == (FREED,) and node.saved_output is None
    tg.sum(y).backward(retain_graph=True)
    # After the pass the block's values wait again: memory drops to its inputs.
    assert node.deferral is not None and not node.freed
    tg.sum(y).backward()
    assert node.freed


def test_memory_accounting_is_an_observer():
    x = leaf(np.ones(1000))
    with tg.autograd.peak_saved_bytes() as mem:
        assert mem in grad_mode.active_observers()
        y = tg.exp(tg.exp(x)).sum()
        y.backward()
    assert mem not in grad_mode.active_observers()
    assert (mem.peak - mem.start, mem.end - mem.start) == (16000, 0)
