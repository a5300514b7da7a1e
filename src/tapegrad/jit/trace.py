"""Tracing: run the function once on tensors, with a tracer observing every operation.

The tracer is an :class:`~tapegrad.autograd.Observer` activated with
:func:`~tapegrad.autograd.grad_mode.tracing`: it receives a ``call`` event for every
primitive call on tensors (recorded or not: the backward pass's rules, ``no_grad`` code and
forward-mode tangents included), an ``effect`` event before every in-place change of memory,
a ``source`` event for every random draw and ``grad_read``/``grad_write`` events for
``.grad``.  Values are identified by their NumPy array: a tensor, its detached copies and
the raw array of a rule all name the same variable, and an in-place change keeps it.  An
array the tracer has not seen is captured: a :class:`~tapegrad.jit.ir.Ref`, read when the
compiled function is called if something outside the trace still holds it (a parameter, a
closure's tensor), else a constant of the program.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.grad_mode import Observer
from ..errors import ConcretizationError
from ..tensor import Tensor
from .ir import Const, Eqn, Graph, Lit, Ref, Var

__all__ = ["Tracer", "concretization_error"]

_LITERAL_TYPES = (bool, int, str, type(None), type(Ellipsis))


class Tracer(Observer):
    """Builds a :class:`~tapegrad.jit.ir.Graph` from the tracer events."""

    def __init__(self) -> None:
        self.graph = Graph()
        self.arrays: dict[int, Var] = {}  # id(array) -> its variable
        self.keep: list[Any] = []  # every array seen, alive while tracing (ids stay unique)
        self.ref_of: dict[int, Ref] = {}  # id(var) -> the Ref it comes from
        self.consts: dict[int, Const] = {}
        self.nvars = 0
        self.grads: dict[int, list[Any]] = {}  # id(tensor) -> [tensor, written]
        self.grads_none_at_entry: list[Any] = []  # tensors whose .grad was None when read
        self.modules: dict[int, tuple[Any, bool]] = {}  # nn.Modules called: their mode

    # ------------------------------------------------------------------ variables
    def new_var(self, arr: Any) -> Var:
        v = Var(self.nvars, tuple(np.shape(arr)), np.asarray(arr).dtype)
        self.nvars += 1
        return v

    def bind(self, arr: np.ndarray) -> Var:
        """A fresh variable for the new array ``arr``."""
        v = self.new_var(arr)
        self.arrays[id(arr)] = v
        self.keep.append(arr)
        return v

    def input(self, arr: np.ndarray) -> Var:
        v = self.bind(arr)
        self.graph.inputs.append(v)
        return v

    def traced(self, arr: Any) -> bool:
        """Whether ``arr`` is a value computed in the program (not a captured constant)."""
        v = self.arrays.get(id(arr))
        return v is not None and id(v) not in self.ref_of

    def var_of(self, t: Tensor) -> Var:
        d = t.data
        v = self.arrays.get(id(d))
        if v is None:
            v = self._capture(d, t)
        return v

    def _capture(self, arr: np.ndarray, obj: Any, grad: bool = False) -> Var:
        v = self.bind(arr)
        r = Ref(obj, v, grad)
        if not grad:  # (a .grad is read at call time: no value to keep)
            r.snapshot = arr.copy()  # its value before anything in the trace changed it
        self.graph.refs.append(r)
        self.ref_of[id(v)] = r
        return v

    def const(self, value: Any) -> Const:
        c = self.consts.get(id(value))
        if c is None:
            c = Const(value, f"c{len(self.consts)}")
            self.consts[id(value)] = c
            self.keep.append(value)
        return c

    def enc(self, a: Any) -> Any:
        """``a`` (an argument of a call) with its arrays and tensors as variables."""
        cls = a.__class__
        if cls is Tensor or isinstance(a, Tensor):
            return self.var_of(a)
        if cls is np.ndarray:
            v = self.arrays.get(id(a))
            if v is None:
                v = self._capture(a, a)
            return v
        if cls is tuple:
            return tuple(self.enc(x) for x in a)
        if cls is list:
            return [self.enc(x) for x in a]
        if cls is slice:
            return slice(self.enc(a.start), self.enc(a.stop), self.enc(a.step))
        if cls is dict:
            return {k: self.enc(x) for k, x in a.items()}
        if cls in _LITERAL_TYPES:
            return Lit(a)
        if cls is float and np.isfinite(a):
            return Lit(a)
        return self.const(a)

    # ------------------------------------------------------------------ tracer events
    def call(self, prim: Any, inputs: tuple[Any, ...], params: dict, outputs: Any) -> None:
        args = tuple(self.enc(a) for a in inputs)
        ps = {k: self.enc(v) for k, v in params.items()} if params else {}
        outs = outputs if outputs.__class__ is tuple else (outputs,)
        self.graph.eqns.append(Eqn("prim", prim, args, ps, tuple(self.bind(o.data) for o in outs)))

    def enc_effect(self, a: Any) -> Any:
        """An argument of an effect: mutable containers (an optimizer's state dict, its
        parameter group) are passed by reference, as the very objects."""
        if isinstance(a, (dict, list)):
            return self.const(a)
        return self.enc(a)

    def effect(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        enc = tuple(self.enc_effect(a) for a in args)
        e = Eqn("effect", fn, enc, {}, ())
        self.graph.eqns.append(e)
        w = e.written
        if w is not None:
            r = self.ref_of.get(id(w))
            if r is not None and r.is_tensor and r not in self.graph.bumps:
                self.graph.bumps.append(r)

    def source(self, fn: Callable[..., Any], args: tuple, kwargs: dict, out: Any) -> None:
        enc = tuple(self.enc(a) for a in args)
        ps = {k: self.enc(v) for k, v in kwargs.items()}
        self.graph.eqns.append(Eqn("source", fn, enc, ps, (self.bind(out),)))

    def grad_read(self, tensor: Any) -> None:
        k = id(tensor)
        if k in self.grads:
            return
        self.grads[k] = [tensor, False]
        g = tensor._grad
        if g is None:
            self.grads_none_at_entry.append(tensor)
        elif id(g.data) not in self.arrays:
            # The gradient as it is when the call begins: an input of the program.
            self._capture(g.data, tensor, grad=True)

    def grad_write(self, tensor: Any) -> None:
        k = id(tensor)
        entry = self.grads.get(k)
        if entry is None:
            self.grads[k] = [tensor, True]
        else:
            entry[1] = True

    def opaque_rule(
        self, prim: Any, rule: Callable[..., Any], args: tuple, params: dict, nested: bool
    ) -> Any:
        """Run ``rule`` (a derivative rule of ``prim`` whose code branches on the values) on
        the raw arrays, as one equation of the program; its result as a plain tensor."""
        if nested:
            raise ConcretizationError(
                f"the derivative rules of '{prim.name}' branch on the values (zeros, ties, "
                "nan), so they can be compiled to first order only; here they would be "
                "differentiated again (a higher-order derivative inside tg.jit). Compute "
                "this derivative without tg.jit"
            )
        raw = tuple(a.data if isinstance(a, Tensor) else a for a in args)
        r = rule(*raw, **params)
        if r is None:
            return None
        rs = r if isinstance(r, tuple) else (r,)
        rs = tuple(x if isinstance(x, np.ndarray) else np.asarray(x) for x in rs)
        enc = tuple(self.enc(a) for a in args)
        ps = {k: self.enc(v) for k, v in params.items()} if params else {}
        e = Eqn("call", _Rule(rule, f"{prim.name}_rule"), enc, ps, ())
        e.outs = tuple(self.bind(x) for x in rs)
        self.graph.eqns.append(e)
        outs = tuple(Tensor._wrap(x) for x in rs)
        return outs if isinstance(r, tuple) else outs[0]

    def scope_enter(self, kind: str, obj: Any) -> None:
        # An nn.Module's forward often branches on its mode (Dropout, BatchNorm): the
        # compiled program is valid for the modes seen here (a guard of the entry).
        if kind == "module" and id(obj) not in self.modules:
            self.modules[id(obj)] = (obj, bool(getattr(obj, "training", False)))

    def concretize(self, tensor: Any, what: str) -> None:
        if self.traced(tensor.data if isinstance(tensor, Tensor) else tensor):
            raise concretization_error(what)

    # ------------------------------------------------------------------ the end
    def finish(self, out_leaves: list[Any]) -> Graph:
        """Close the graph: its outputs, the ``.grad`` write-backs, which captured values
        are read at call time."""
        g = self.graph
        g.outs = [self.enc(o) for o in out_leaves]
        writes = []
        for t, written in self.grads.values():
            if not written:
                continue
            gt = t._grad
            writes.append((t, None if gt is None else self.var_of(gt)))
        g.grad_writes = writes
        return g

    def settle_refs(self) -> None:
        """Decide which captured values are read at call time: those still alive once the
        trace's own references are dropped (a parameter, a closure's tensor).  The others
        were made inside the traced function and become constants (their value before the
        program changed them).  The caller must have dropped its references to the
        arguments and results of the trace run first."""
        keep_ids = {id(a): i for i, a in enumerate(self.keep)}
        probes = []
        for r in self.graph.refs:
            if r.grad:
                continue
            probes.append((r, weakref.ref(r.obj)))
            i = keep_ids.get(id(r.obj))
            if i is not None:
                self.keep[i] = None
            r.obj = None
        for r, wr in probes:
            obj = wr()
            r.external = obj is not None
            r.obj = obj if obj is not None else r.snapshot
            if r.external:
                r.snapshot = None  # (read at call time: no copy to keep)
            else:
                r.is_tensor = False


class _Rule:
    """A derivative rule called whole by the compiled program (see ``opaque_rule``)."""

    __slots__ = ("rule", "name")

    def __init__(self, rule: Callable[..., Any], name: str) -> None:
        self.rule = rule
        self.name = name

    def __call__(self, *args: Any, **params: Any) -> Any:
        return self.rule(*args, **params)


def concretization_error(what: str) -> ConcretizationError:
    """The error for Python control flow on a traced value."""
    return ConcretizationError(
        f"{what} needs the concrete value of a traced tensor, but inside tg.jit the values "
        "are not known while the function is traced (it is traced once and compiled for "
        "every later call). Compute with tensor ops instead (tg.where(cond, a, b) for an "
        "if/else on values), mark the argument static (tg.jit(f, static_argnums=...)), or "
        "run this function without tg.jit"
    )
