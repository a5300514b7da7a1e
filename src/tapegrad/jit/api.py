"""``tg.jit``: trace once per signature, compile to straight-line NumPy, cache, call."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from .._tree import tree_flatten, tree_unflatten
from ..autograd import grad_mode
from ..autograd.function import Function
from ..errors import InvalidArgumentError, InvalidTypeError
from ..tensor import Tensor
from . import passes
from .codegen import generate
from .ir import Const, Graph, Lit, Var
from .trace import Tracer

__all__ = ["jit", "Jitted", "Lowered"]

_FLOAT = ("f",)
_INT = ("i",)
_COMPLEX = ("c",)


class Lowered:
    """What :meth:`Jitted.lower` returns: the program for one signature.

    ``str(lowered)`` is the intermediate representation, one equation per line (like a
    jaxpr: ``v3:f64[] = multiply(v0, v1)``); ``.source`` is the generated Python;
    ``.graph`` the :class:`~tapegrad.jit.ir.Graph`; ``.trace_seconds`` and
    ``.compile_seconds`` how long tracing and optimising + generating took."""

    def __init__(self, entry: _Entry) -> None:
        self.graph: Graph = entry.graph
        self.source: str = entry.source
        self.trace_seconds = entry.trace_seconds
        self.compile_seconds = entry.compile_seconds

    def __str__(self) -> str:
        return str(self.graph)

    def __repr__(self) -> str:
        n = len(self.graph.eqns)
        return f"<Lowered: {n} equations; str() for the IR, .source for the Python>"


class _Entry:
    """One compiled signature: the function, and what must hold for it to apply."""

    __slots__ = (
        "fn",
        "graph",
        "source",
        "out_tree",
        "ref_guards",
        "grad_guards",
        "pure",
        "trace_seconds",
        "compile_seconds",
        "diff_refs",
        "vjp",
        "jvp",
        "n_in",
        "template",
        "rg_mask",
    )
    fn: Any
    graph: Graph
    source: str
    out_tree: Any
    ref_guards: list[Any]
    grad_guards: list[Any]
    pure: bool
    trace_seconds: float
    compile_seconds: float
    diff_refs: tuple[Any, ...]
    vjp: Any
    jvp: Any
    n_in: int
    template: Any
    rg_mask: tuple[bool, ...]

    def guards_hold(self) -> bool:
        for t, shape, dtype in self.ref_guards:
            d = t.data
            if d.shape != shape or d.dtype != dtype:
                return False
        for t, want in self.grad_guards:
            g = t._grad
            if want is None:
                if g is not None:
                    return False
            elif g is None or g.data.shape != want[0] or g.data.dtype != want[1]:
                return False
        return True


def _leaf_key(x: Any, static: bool) -> Any:
    if static:
        try:
            hash(x)
        except TypeError:
            raise InvalidTypeError(
                f"tg.jit: a static argument must be hashable (it is part of the cache key), got "
                f"{type(x).__name__}; pass a tuple instead of a list, or make it a traced argument"
            ) from None
        return ("s", type(x), x)
    c = x.__class__
    if c is np.ndarray:
        return (x.shape, x.dtype)
    if c is Tensor or isinstance(x, Tensor):
        return (x.data.shape, x.data.dtype, x.requires_grad, Tensor)
    if c is float:
        return _FLOAT
    if c is int:
        return _INT
    if c is complex:
        return _COMPLEX
    if isinstance(x, np.generic):
        return ("g", x.dtype)
    # Anything else (bool, None, str, a function...) is static: part of the key.
    try:
        hash(x)
    except TypeError:
        raise InvalidTypeError(
            f"tg.jit: can't trace an argument of type {type(x).__name__}; pass arrays, Tensors, "
            "numbers or (nested) tuples/lists/dicts of them, or mark it static (static_argnums)"
        ) from None
    return ("s", type(x), x)


def _dynamic(x: Any) -> bool:
    c = x.__class__
    return (
        c in (np.ndarray, float, int, complex)
        or isinstance(x, (Tensor, np.generic))
        and not isinstance(x, np.bool_)
    )


class Jitted:
    """A function compiled by :func:`jit`; call it like the original."""

    def __init__(
        self,
        fun: Callable[..., Any],
        static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (),
        donate_argnums: int | Sequence[int] = (),
        fuse: Any = "auto",
    ) -> None:
        if not callable(fun):
            raise InvalidTypeError(f"tg.jit needs a callable, got {type(fun).__name__}")
        self.fun = fun
        self.static_argnums = _ints(static_argnums, "static_argnums")
        self.static_argnames = (
            (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        )
        self.donate_argnums = _ints(donate_argnums, "donate_argnums")
        both = set(self.static_argnums) & set(self.donate_argnums)
        if both:
            raise InvalidArgumentError(
                f"tg.jit: argument(s) {sorted(both)} are both static and donated; a static "
                "argument is a constant of the program and has no buffer to donate"
            )
        if fuse not in ("auto", True, False):
            raise InvalidArgumentError(f"tg.jit: fuse must be 'auto', True or False, got {fuse!r}")
        self.fuse = fuse
        self._cache: dict[Any, list[_Entry]] = {}
        self._simple = not self.static_argnums
        self.trace_count = 0
        functools.update_wrapper(self, fun)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ the cache
    @property
    def cache_size(self) -> int:
        """The number of compiled signatures."""
        return sum(len(v) for v in self._cache.values())

    def clear_cache(self) -> None:
        """Forget every compiled signature (the next call traces again)."""
        self._cache.clear()

    def _key(self, args: tuple, kwargs: dict) -> tuple[Any, list[Any]]:
        """The cache key of a call and its traced leaves, in order."""
        if self._simple and not kwargs:
            key: list[Any] = []
            for a in args:
                c = a.__class__
                if c is np.ndarray:
                    key.append((a.shape, a.dtype))
                elif c is float:
                    key.append(_FLOAT)
                elif c is Tensor:
                    key.append((a.data.shape, a.data.dtype, a.requires_grad, Tensor))
                else:
                    break
            else:
                key.append(bool(grad_mode._state.enabled))
                return tuple(key), list(args)
        key = [bool(grad_mode._state.enabled)]
        dyn: list[Any] = []
        for i, a in enumerate(args):
            if i in self.static_argnums:
                key.append(_leaf_key(a, True))
                continue
            leaves, tree = tree_flatten(a)
            key.append(repr(tree))
            for x in leaves:
                if _dynamic(x):
                    dyn.append(x)
                    key.append(_leaf_key(x, False))
                else:
                    key.append(_leaf_key(x, True))
        for k in sorted(kwargs):
            v = kwargs[k]
            if k in self.static_argnames:
                key.append((k, _leaf_key(v, True)))
                continue
            leaves, tree = tree_flatten(v)
            key.append((k, repr(tree)))
            for x in leaves:
                if _dynamic(x):
                    dyn.append(x)
                    key.append(_leaf_key(x, False))
                else:
                    key.append(_leaf_key(x, True))
        return tuple(key), dyn

    def _entry(self, key: Any) -> _Entry | None:
        for e in self._cache.get(key, ()):
            if e.guards_hold():
                return e
        return None

    # ------------------------------------------------------------------ calls
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if grad_mode._state.tracer is not None:
            # Inside another trace: inline (the outer program contains these operations).
            return self.fun(*args, **kwargs)
        key, dyn = self._key(args, kwargs)
        entry = self._entry(key)
        if entry is None:
            if any(isinstance(x, Tensor) and x._fw is not None for x in dyn):
                # Forward-mode tangents: run as written (see _run); trace a later call.
                return self.fun(*args, **kwargs)
            entry, out = self._trace(key, args, kwargs, dyn)
            if not (
                entry.pure
                and grad_mode._state.enabled
                and (
                    any(isinstance(x, Tensor) and x.requires_grad for x in dyn)
                    or any(t.requires_grad for t in entry.diff_refs)
                )
            ):
                return out
            # The trace run's results are plain tensors, off the caller's tape: the
            # compiled call records the one tape entry the caller needs (a pure function:
            # running it again changes nothing).
            del out
            return self._run(entry, dyn)
        return self._run(entry, dyn)

    def _run(self, entry: _Entry, dyn: list[Any]) -> Any:
        raw = []
        tensors = False
        rg = False
        for x in dyn:
            if isinstance(x, Tensor):
                if x._fw is not None:
                    # Forward-mode tangents (jvp of a compiled function): run it as written,
                    # so that the tangents flow through every operation.
                    return self._eager(entry, dyn)
                raw.append(x.data)
                tensors = True
                if x.requires_grad:
                    rg = True
            else:
                raw.append(x)
        if not entry.pure or not grad_mode._state.enabled:
            rg = False
        elif not rg and entry.diff_refs:
            rg = any(t.requires_grad for t in entry.diff_refs)
        if rg:
            try:
                outs = _Compiled.apply(_Call(self, entry), *dyn, *entry.diff_refs)
            except Exception as exc:
                self._raise_eager(entry, dyn, exc)
            if not isinstance(outs, tuple):
                outs = (outs,)
            # Outputs that are Python constants (a number, a string) stay as they are.
            consts = [_constant_output(o) for o in entry.graph.outs]
            outs = tuple(r if c is _NOT else c for r, c in zip(outs, consts))
            return tree_unflatten(entry.out_tree, list(outs))
        try:
            res = entry.fn(*raw)
        except Exception as exc:
            self._raise_eager(entry, dyn, exc)
        return tree_unflatten(entry.out_tree, _outputs(res, tensors))

    def _raise_eager(self, entry: _Entry, dyn: list[Any], exc: Exception) -> NoReturn:
        """Raise eager mode's error for a call whose compiled code raised ``exc``."""
        if entry.pure:
            # Eager mode's error, worded as eager mode words it (the function has no
            # effects, so running it again changes nothing), on tensors as the trace saw
            # the arguments (plain NumPy code would raise NumPy's error instead).
            self._eager(
                entry, [x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x)) for x in dyn]
            )
        raise exc

    def _eager(self, entry: _Entry, dyn: list[Any]) -> Any:
        table = dict(zip(entry.template[2], dyn))
        targs, tkw = _substitute(self, entry.template[0], entry.template[1], table)
        return self.fun(*targs, **tkw)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """The compiled program for these arguments' signature (traced now if it is not in
        the cache yet: tracing runs the function once, with its effects)."""
        key, dyn = self._key(args, kwargs)
        entry = self._entry(key)
        if entry is None:
            entry = self._trace(key, args, kwargs, dyn)[0]
        return Lowered(entry)

    # ------------------------------------------------------------------ tracing
    def _trace(self, key: Any, args: tuple, kwargs: dict, dyn: list[Any]) -> tuple[_Entry, Any]:
        t0 = time.perf_counter()
        name = getattr(self.fun, "__name__", "f")
        tracer = Tracer(name)
        replaced: dict[int, Any] = {}
        tensors = False
        for x in dyn:
            if isinstance(x, Tensor):
                tensors = True
                arr = x.data
            elif isinstance(x, np.ndarray):
                arr = x
            else:
                arr = np.asarray(x)
            # A plain tensor around the value itself (no copy: an in-place change of an
            # argument changes the caller's array, as in eager mode).
            t = Tensor._wrap(arr)
            tracer.input(arr)
            replaced[id(x)] = t

        targs, tkw = _substitute(self, args, kwargs, replaced)
        del replaced
        with grad_mode.tracing(tracer):
            out = self.fun(*targs, **tkw)
        del targs, tkw
        out_leaves, out_tree = tree_flatten(out)
        del out
        graph = tracer.finish(out_leaves)
        result = [
            (_first_output(o, tensors) if isinstance(o, (Tensor, np.ndarray, np.generic)) else o)
            for o in out_leaves
        ]
        del out_leaves
        # .grad written by the trace run: plain tensors, as eager leaves them.
        for t, written in tracer.grads.values():
            g = t._grad
            if written and g is not None and (g.requires_grad or g.grad_fn is not None):
                t._grad = Tensor._wrap(g.data)
        tracer.settle_refs()
        t1 = time.perf_counter()
        passes.optimize(graph)
        fuse_min = _fuse_min(self.fuse)
        donated: list[Var] = []
        if self.donate_argnums:
            k = 0
            for i, a in enumerate(args):
                n = 0 if i in self.static_argnums else sum(map(_dynamic, tree_flatten(a)[0]))
                if i in self.donate_argnums:
                    donated.extend(v for v in graph.inputs[k : k + n] if v is not None)
                k += n
        src, ns = generate(graph, _identifier(name), fuse_min, donated)
        code = compile(src, f"<tg.jit {name}>", "exec")
        exec(code, ns)
        entry = _Entry()
        entry.fn = ns[_identifier(name)]
        entry.graph = graph
        entry.source = src
        entry.out_tree = out_tree
        entry.n_in = len(dyn)
        entry.pure = not graph.has_effects
        entry.ref_guards = [
            (r.obj, r.var.shape, r.var.dtype) for r in graph.refs if r.external and r.is_tensor
        ]
        entry.grad_guards = []
        for r in graph.refs:
            if r.grad:
                entry.grad_guards.append((r.obj, (r.var.shape, r.var.dtype)))
        for t in tracer.grads_none_at_entry:
            entry.grad_guards.append((t, None))
        entry.diff_refs = tuple(
            r.obj
            for r in graph.refs
            if r.external and r.is_tensor and not r.grad and r.var.dtype.kind == "f"
        )
        entry.vjp = entry.jvp = None
        entry.template = (args, kwargs, [id(x) for x in dyn])
        entry.rg_mask = tuple(isinstance(x, Tensor) and x.requires_grad for x in dyn)
        entry.trace_seconds = t1 - t0
        entry.compile_seconds = time.perf_counter() - t1
        self._cache.setdefault(key, []).append(entry)
        self.trace_count += 1
        return entry, tree_unflatten(out_tree, result)

    def __repr__(self) -> str:
        return f"<tg.jit of {getattr(self.fun, '__name__', self.fun)!r}>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)


_NOT = object()


def _constant_output(o: Any) -> Any:
    """The value of an output that is a Python constant (not an array), else ``_NOT``."""
    if isinstance(o, Lit):
        return o.value
    if isinstance(o, Const) and not isinstance(o.value, (np.ndarray, np.generic)):
        return o.value
    return _NOT


def _first_output(o: Any, tensors: bool) -> Any:
    arr = o.data if isinstance(o, Tensor) else np.asarray(o)
    if tensors:
        return Tensor._wrap(arr)
    return arr[()] if arr.ndim == 0 else arr


def _outputs(res: tuple, tensors: bool) -> list[Any]:
    if tensors:
        return [
            Tensor._wrap(r if r.__class__ is np.ndarray else np.asarray(r))
            if isinstance(r, (np.ndarray, np.generic))
            else r
            for r in res
        ]
    return [r[()] if r.__class__ is np.ndarray and r.ndim == 0 else r for r in res]


def _identifier(name: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if s and not s[0].isdigit() else f"f_{s}"


def _ints(v: int | Sequence[int], what: str) -> tuple[int, ...]:
    t = (v,) if isinstance(v, int) else tuple(v)
    for i in t:
        if not isinstance(i, int) or isinstance(i, bool):
            raise InvalidTypeError(f"tg.jit: {what} takes ints, got {i!r}")
    return t


def _fuse_min(fuse: Any) -> int | None:
    if fuse is False:
        return None
    from .fusion import available, threshold

    if not available():
        if fuse is True:
            from ..errors import MissingDependencyError

            raise MissingDependencyError(
                "tg.jit(fuse=True) needs numexpr; install it (pip install 'tapegrad[jit]') or "
                "use fuse='auto', which fuses only when numexpr is installed"
            )
        return None
    return threshold() if fuse == "auto" else 1


class _Call:
    """What a differentiable call of a compiled function hands its Function node."""

    __slots__ = ("jitted", "entry")

    def __init__(self, jitted: Jitted, entry: _Entry) -> None:
        self.jitted = jitted
        self.entry = entry


class _Compiled(Function):
    """One tape entry for a call of a compiled function whose inputs (or captured
    tensors) require grad: the forward is the compiled code, the backward is the compiled
    vector-Jacobian product of the same function (itself differentiable: higher orders
    compose)."""

    @staticmethod
    def forward(ctx: Any, call: _Call, *flat: Any) -> Any:
        e = call.entry
        raw = [x.data if isinstance(x, Tensor) else x for x in flat[: e.n_in]]
        res = e.fn(*raw)
        ctx.call = call
        ctx.save_for_backward(*(x if isinstance(x, Tensor) else None for x in flat))
        ctx.raw = [None if isinstance(x, Tensor) else x for x in flat]  # arrays, numbers
        outs = tuple(Tensor._wrap(r if r.__class__ is np.ndarray else np.asarray(r)) for r in res)
        return outs if len(outs) != 1 else outs[0]

    @staticmethod
    def backward(ctx: Any, *gs: Any) -> Any:
        e = ctx.call.entry
        flat = [r if t is None else t for t, r in zip(ctx.saved_tensors, ctx.raw)]
        n = e.n_in
        outs = [o for o in e.graph.outs]
        cots = []
        for o, g in zip(outs, gs):
            if g is None:
                shape = o.shape if isinstance(o, Var) else np.shape(getattr(o, "value", o))
                dt = o.dtype if isinstance(o, Var) else np.float64
                g = np.zeros(shape, dt)
            cots.append(g)
        bwd = _backward_of(ctx.call.jitted, e)
        grads = bwd(flat[:n], cots)
        return (None, *grads)


def _backward_of(jitted: Jitted, e: _Entry) -> Jitted:
    """The compiled vector-Jacobian product of the function at ``e``'s signature: inputs
    (the traced leaves, the output cotangents), results the gradients w.r.t. the traced
    leaves and the captured tensors (None where no gradient flows)."""
    if e.vjp is not None:
        return e.vjp
    from ..autograd.engine import grad as _grad

    args, kwargs, ids = e.template
    refs = e.diff_refs

    def backward(flat: list[Any], cots: list[Any]) -> list[Any]:
        # Grad mode is on in a backward pass that records (create_graph): the gradients
        # must then be differentiable themselves (higher orders through compiled calls).
        higher = bool(grad_mode._state.enabled)
        # The leaves that required grad when the function was traced (this function is
        # traced in turn, on plain tensors): the gradients are taken with respect to them.
        flat = [
            _requiring_grad(x) if need and isinstance(x, Tensor) else x
            for x, need in zip(flat, e.rg_mask)
        ]
        table = dict(zip(ids, flat))
        targs, tkw = _substitute(jitted, args, kwargs, table)
        with grad_mode.enable_grad():  # (a backward pass runs with grad mode off)
            res = jitted.fun(*targs, **tkw)
        outs = [o for o in tree_flatten(res)[0]]
        roots, gouts = [], []
        for o, c in zip(outs, cots):
            if isinstance(o, Tensor) and o.requires_grad:
                roots.append(o)
                gouts.append(c)
        wrt = [x for x in flat if isinstance(x, Tensor) and x.requires_grad] + list(refs)
        if not roots:
            got: list[Any] = [None] * len(wrt)
        else:
            got = list(
                _grad(roots, wrt, grad_outputs=gouts, create_graph=higher, allow_unused=True)
            )
        it = iter(got)
        res_grads = []
        for x in flat:
            res_grads.append(next(it) if isinstance(x, Tensor) and x.requires_grad else None)
        res_grads.extend(it)
        return res_grads

    backward.__name__ = f"vjp_{getattr(jitted.fun, '__name__', 'f')}"
    e.vjp = Jitted(backward, fuse=jitted.fuse)
    return e.vjp


def _requiring_grad(x: Tensor) -> Tensor:
    """``x``, or a tensor on the same array that requires grad (a new tape input)."""
    if x.requires_grad:
        return x
    t = Tensor._wrap(x.data)
    t.requires_grad = True
    return t


def _substitute(jitted: Jitted, args: tuple, kwargs: dict, table: dict[int, Any]) -> Any:
    """``args``/``kwargs`` with the leaves whose ids are in ``table`` replaced."""

    def sub(a: Any) -> Any:
        return table.get(id(a), a) if _dynamic(a) else a

    targs = []
    for i, a in enumerate(args):
        if i in jitted.static_argnums:
            targs.append(a)
        else:
            leaves, tree = tree_flatten(a)
            targs.append(tree_unflatten(tree, [sub(x) for x in leaves]))
    tkw = {}
    for k, v in kwargs.items():
        if k in jitted.static_argnames:
            tkw[k] = v
        else:
            leaves, tree = tree_flatten(v)
            tkw[k] = tree_unflatten(tree, [sub(x) for x in leaves])
    return targs, tkw


def jit(
    fun: Callable[..., Any] | None = None,
    *,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
    donate_argnums: int | Sequence[int] = (),
    fuse: Any = "auto",
) -> Any:
    """Compile ``fun`` into straight-line NumPy code, traced once per input signature."""
    if fun is None:
        return functools.partial(
            jit,
            static_argnums=static_argnums,
            static_argnames=static_argnames,
            donate_argnums=donate_argnums,
            fuse=fuse,
        )
    return Jitted(fun, static_argnums, static_argnames, donate_argnums, fuse)
