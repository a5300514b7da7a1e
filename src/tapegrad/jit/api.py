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
from ..errors import InvalidArgumentError, InvalidTypeError, MissingDependencyError
from ..tensor import Tensor
from . import passes
from .codegen import generate
from .ir import Graph, Var
from .trace import Tracer

__all__ = ["jit", "Jitted", "Lowered"]

_FLOAT = ("f",)
_F64 = np.float64
_INT = ("i",)
_COMPLEX = ("c",)


class Lowered:
    """What :meth:`Jitted.lower` returns: the program for one signature.

    ``str(lowered)`` is the intermediate representation, one equation per line (like a
    jaxpr: ``v3:f64[] = multiply(v0, v1)``), after the optimisation passes.

    Attributes
    ----------
    source : str
        The generated Python function, which calls NumPy directly.
    graph : tapegrad.jit.ir.Graph
        The optimised program: inputs, captured tensors, equations, outputs.
    trace_seconds : float
        How long running the function under the tracer took.
    compile_seconds : float
        How long the passes, the code generation and Python's ``compile`` took.

    Examples
    --------
    >>> import tapegrad as tg
    >>> lowered = tg.jit(lambda x: tg.exp(x) * x).lower(1.0)
    >>> print(lowered.source)
    def _lambda_(a0):
        v0 = _t0(a0)
        v1 = _u1(v0)
        v2 = v1 * v0
        return _s(v2)
    <BLANKLINE>

    (``_s`` hands a 0-d result out as a NumPy scalar, as NumPy does.)
    """

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

    def __init__(self) -> None:
        self.fn: Any = None
        self.graph = Graph()
        self.source = ""
        self.out_tree: Any = None
        self.ref_guards: list[tuple[Any, tuple[int, ...], np.dtype]] = []
        self.grad_guards: list[tuple[Any, Any]] = []
        self.pure = True
        self.trace_seconds = 0.0
        self.compile_seconds = 0.0
        self.diff_refs: tuple[Any, ...] = ()
        self.vjp: Jitted | None = None
        self.n_in = 0
        self.template: Any = None
        self.call: Any = None  # the compiled function, returning what the user gets
        self.fast = False  # no captured tensor to differentiate: call directly
        self.guard: Any = None
        self.array_outs: list[int] = []  # the outputs that are arrays (the others: constants)
        self.module_guards: list[tuple[Any, bool]] = []  # (module, training when traced)

    def guards_hold(self) -> bool:
        return self.guard is None or self.guard()

    def make_guard(self) -> None:
        """``self.guard``: a compiled check that the captured tensors still have their
        traced shapes and dtypes and the ``.grad`` state is the traced one (None: nothing
        to check)."""
        ns: dict[str, Any] = {}
        conds = []
        for k, (t, shape, dtype) in enumerate(self.ref_guards):
            ns[f"r{k}"], ns[f"d{k}"] = t, dtype
            conds.append(f"r{k}.data.shape == {shape!r} and r{k}.data.dtype == d{k}")
        for k, (m, training) in enumerate(self.module_guards):
            ns[f"m{k}"] = m
            conds.append(f"m{k}.training is {training}")
        for k, (t, want) in enumerate(self.grad_guards):
            ns[f"g{k}"] = t
            if want is None:
                conds.append(f"g{k}._grad is None")
            else:
                ns[f"e{k}"] = want[1]
                conds.append(
                    f"g{k}._grad is not None and g{k}._grad.data.shape == {want[0]!r} "
                    f"and g{k}._grad.data.dtype == e{k}"
                )
        if not conds:
            self.guard = None
            return
        src = "def guard():\n    return (\n        " + "\n        and ".join(conds) + "\n    )\n"
        exec(compile(src, "<tg.jit guard>", "exec"), ns)
        self.guard = ns["guard"]


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
    if c is float or c is _F64:
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


def _fast_key(args: tuple) -> tuple[tuple, list[Any], bool, bool] | None:
    """The cache key and the traced leaves of positional arguments that are arrays,
    floats, tensors or lists/tuples of them (one level), whether no tensor among them
    needs the tape, and whether there is a tensor; None for anything else (then
    ``Jitted._key``'s general path).  The hot path of a compiled call: written out."""
    key: list[Any] = []
    flat: list[Any] = []
    plain = True
    tensors = False
    for a in args:
        c = a.__class__
        if c is float or c is _F64:
            key.append(_FLOAT)
        elif c is np.ndarray:
            key.append((a.shape, a.dtype))
        elif c is Tensor:
            rg = a.requires_grad
            key.append((a.data.shape, a.data.dtype, rg, Tensor))
            tensors = True
            if rg or a._fw is not None:
                plain = False
        elif c is list or c is tuple:
            key.append((c is list, len(a)))
            for b in a:
                c = b.__class__
                if c is float or c is _F64:
                    key.append(_FLOAT)
                elif c is np.ndarray:
                    key.append((b.shape, b.dtype))
                elif c is Tensor:
                    rg = b.requires_grad
                    key.append((b.data.shape, b.data.dtype, rg, Tensor))
                    tensors = True
                    if rg or b._fw is not None:
                        plain = False
                else:
                    return None
                flat.append(b)
            continue
        else:
            return None
        flat.append(a)
    key.append(bool(grad_mode._state.enabled))
    return tuple(key), flat, plain, tensors


def _walk(t: Any, key: list[Any], dyn: list[Any]) -> None:
    """Append the cache-key items of the pytree ``t`` to ``key`` and its traced leaves to
    ``dyn``, in the order of ``tree_flatten`` (one pass, no TreeDef)."""
    if t is None:
        key.append(None)
    elif isinstance(t, (tuple, list)) and not hasattr(t, "_fields"):
        key.append((isinstance(t, list), len(t)))
        for x in t:
            _walk(x, key, dyn)
    elif isinstance(t, dict):
        key.append(("d", tuple(t)))
        for k in t:
            _walk(t[k], key, dyn)
    elif _dynamic(t):
        dyn.append(t)
        key.append(_leaf_key(t, False))
    else:
        key.append(_leaf_key(t, True))


def _dynamic(x: Any) -> bool:
    c = x.__class__
    return (
        c in (np.ndarray, float, int, complex)
        or isinstance(x, (Tensor, np.generic))
        and not isinstance(x, np.bool_)
    )


class Jitted:
    """A function compiled by :func:`jit`; call it like the original.

    Each call looks its signature up in the cache (tracing and compiling it first when it
    is new) and runs the compiled program. When an argument, or a tensor the function
    reads from outside, requires grad and the function has no effects, the call is one
    entry on the tape whose backward is the compiled vector-Jacobian product; with
    forward-mode tangents on an argument the function runs as written.

    Attributes
    ----------
    fun : callable
        The original function.
    trace_count : int
        How many times the function has been traced (once per signature, plus once after
        each :meth:`clear_cache`).
    cache_size : int
        The number of compiled signatures held.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> f = tg.jit(lambda x: tg.tanh(x) * 2.0)
    >>> f(np.zeros(2)), f(np.ones(2)).dtype, f(np.ones(3, np.float32)).dtype
    (array([0., 0.]), dtype('float64'), dtype('float32'))
    >>> f.trace_count, f.cache_size
    (2, 2)
    >>> f.clear_cache(); f.cache_size
    0
    """

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
        if fuse not in ("auto", True, False, "numexpr"):
            raise InvalidArgumentError(
                f"tg.jit: fuse must be 'auto', True, False or 'numexpr', got {fuse!r}"
            )
        if fuse == "numexpr":
            from .fusion import available

            if not available():
                raise MissingDependencyError(
                    "tg.jit(fuse='numexpr') needs numexpr; install it (pip install "
                    "'tapegrad[jit]') or use fuse='auto' (blockwise NumPy, exact)"
                )
        self.fuse = fuse
        self._cache: dict[Any, list[_Entry]] = {}
        self._simple = not self.static_argnums
        self.trace_count = 0
        functools.update_wrapper(self, fun)  # type: ignore[arg-type]

    def _static(self, nargs: int) -> frozenset[int]:
        """The positions of the static arguments of a call with ``nargs`` positional
        arguments (negative ``static_argnums`` count from the end, as in JAX)."""
        return frozenset(i + nargs if i < 0 else i for i in self.static_argnums)

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
            fast = _fast_key(args)
            if fast is not None:
                return fast[0], fast[1]
        key = [bool(grad_mode._state.enabled)]
        dyn: list[Any] = []  # (the traced leaves, in order)
        static = self._static(len(args))
        for i, a in enumerate(args):
            if i in static:
                key.append(_leaf_key(a, True))
            else:
                _walk(a, key, dyn)
        for k in sorted(kwargs):
            v = kwargs[k]
            key.append(k)
            if k in self.static_argnames:
                key.append(_leaf_key(v, True))
            else:
                _walk(v, key, dyn)
        return tuple(key), dyn

    def _entry(self, key: Any) -> _Entry | None:
        for e in self._cache.get(key, ()):
            if e.guards_hold():
                return e
        return None

    # ------------------------------------------------------------------ calls
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        st = grad_mode._state
        if st.tracer is not None:
            # Inside another trace: inline (the outer program contains these operations).
            return self.fun(*args, **kwargs)
        # The fast path: positional values (NumPy, tensors that need no tape, one level of
        # lists and tuples of them), a signature with no captured tensor to differentiate.
        fast = _fast_key(args) if self._simple and not kwargs else None
        if fast is not None:
            if fast[2]:
                entries = self._cache.get(fast[0])
                if entries is not None:
                    for e in entries:
                        if e.fast and (e.guard is None or e.guard()):
                            flat = fast[1]
                            raw = (
                                [x.data if x.__class__ is Tensor else x for x in flat]
                                if fast[3]
                                else flat
                            )
                            try:
                                return e.call(*raw)
                            except Exception as exc:
                                self._raise_eager(e, flat, exc)
            key, dyn = fast[0], fast[1]
        else:
            key, dyn = self._key(args, kwargs)
        entry = self._entry(key)
        if entry is None:
            entry, res = self._trace(key, args, kwargs, dyn)
            if entry.pure and _wants_grad(entry, dyn):
                # The trace ran on plain tensors: run again, recording the call on the tape.
                return self._run(entry, dyn)
            return res
        return self._run(entry, dyn)

    def _run(self, entry: _Entry, dyn: list[Any]) -> Any:
        raw = []
        rg = False
        for x in dyn:
            if isinstance(x, Tensor):
                if x._fw is not None:
                    # Forward-mode tangents (jvp of a compiled function): run it as written,
                    # so that the tangents flow through every operation.
                    return self._eager(entry, dyn)
                raw.append(x.data)
                if x.requires_grad:
                    rg = True
            else:
                raw.append(x)
        if not entry.pure or not grad_mode._state.enabled:
            rg = False
        elif not rg and entry.diff_refs:
            rg = any(t.requires_grad for t in entry.diff_refs)
        if rg and entry.graph.random:
            # Its backward pass would draw other random numbers: run it as written.
            return self._eager(entry, dyn)
        if rg:
            try:
                outs = _Compiled.apply(_Call(self, entry), *dyn, *entry.diff_refs)
            except Exception as exc:
                self._raise_eager(entry, dyn, exc)
            if not isinstance(outs, tuple):
                outs = (outs,)
            # The array outputs come from the tape's node; the others are constants.
            full = _plain_leaves(entry.graph)
            for k, o in zip(entry.array_outs, outs):
                full[k] = o
            return tree_unflatten(entry.out_tree, full)
        try:
            return entry.call(*raw)
        except Exception as exc:
            self._raise_eager(entry, dyn, exc)

    def _raise_eager(self, entry: _Entry, dyn: list[Any], exc: Exception) -> NoReturn:
        """Raise eager mode's error for a call whose compiled code raised ``exc``: for a
        function without effects (running it again changes nothing), worded as eager
        mode words it, on tensors as the trace saw the arguments (on NumPy arrays the
        function would raise NumPy's own error)."""
        if entry.pure:
            wrapped = [x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x)) for x in dyn]
            self._eager(entry, wrapped)
        raise exc

    def _eager(self, entry: _Entry, dyn: list[Any]) -> Any:
        targs, tkw = _fill(entry.template, dyn)
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
        tracer = Tracer()
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
        with grad_mode.tracing(tracer), grad_mode.observe(tracer):
            out = self.fun(*targs, **tkw)
        del targs, tkw
        out_leaves, out_tree = tree_flatten(out)
        del out
        graph = tracer.finish(out_leaves)
        # The first call's results, as raw values.  A result that is a captured value
        # (an array the traced function made without a primitive, or a captured tensor's)
        # is held as a copy while settle_refs decides whether the value lives outside the
        # trace: the caller's hold on the result must not count.
        ref_arrays = {}
        for r in graph.refs:
            if not r.grad:
                ref_arrays[id(r.obj.data if r.is_tensor else r.obj)] = r
        raw_out: list[Any] = []
        held: dict[int, Any] = {}
        for k, o in enumerate(out_leaves):
            if isinstance(o, (Tensor, np.ndarray, np.generic)):
                arr = o.data if isinstance(o, Tensor) else np.asarray(o)
                rr = ref_arrays.get(id(arr))
                if rr is not None:
                    held[k] = rr
                    arr = arr.copy()
                raw_out.append(arr)
            else:
                raw_out.append(_NOT_ARRAY)
        del out_leaves, ref_arrays
        # .grad written by the trace run: plain tensors, as eager leaves them.
        for t, written in tracer.grads.values():
            g = t._grad
            if written and g is not None and (g.requires_grad or g.grad_fn is not None):
                t._grad = Tensor._wrap(g.data)
        tracer.settle_refs()
        for k, r in held.items():
            if r.external:  # the live value itself, as eager mode returns it
                raw_out[k] = r.obj.data if r.is_tensor else r.obj
        result = [
            o if a is _NOT_ARRAY else _first_output(a, tensors)
            for o, a in zip(_plain_leaves(graph), raw_out)
        ]
        t1 = time.perf_counter()
        passes.optimize(graph)
        fuse_min, backend = _fusion(self.fuse)
        donated: list[Var] = []
        if self.donate_argnums:
            k = 0
            for i, a in enumerate(args):
                static = self._static(len(args))
                n = 0 if i in static else sum(map(_dynamic, tree_flatten(a)[0]))
                if i in self.donate_argnums or i - len(args) in self.donate_argnums:
                    donated.extend(v for v in graph.inputs[k : k + n] if v is not None)
                k += n
        ident = _identifier(name)
        src, src_user, ns = generate(graph, ident, fuse_min, donated, backend, out_tree, tensors)
        exec(compile(src + "\n" + src_user, f"<tg.jit {name}>", "exec"), ns)
        entry = _Entry()
        entry.fn = ns[ident + "_raw"]
        entry.call = ns[ident]
        entry.graph = graph
        entry.source = src_user
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
        entry.module_guards = list(tracer.modules.values())
        entry.diff_refs = tuple(
            r.obj
            for r in graph.refs
            if r.external and r.is_tensor and not r.grad and r.var.dtype.kind == "f"
        )
        # The call's structure with slots for the traced leaves (not the arrays themselves:
        # the cache must not keep the first call's arguments alive).
        slots = {id(x): _Slot(k) for k, x in enumerate(dyn)}
        entry.template = _substitute(self, args, kwargs, slots)
        entry.array_outs = [
            k
            for k, o in enumerate(graph.outs)
            if isinstance(o, Var) or isinstance(getattr(o, "value", None), np.ndarray)
        ]
        entry.make_guard()
        entry.fast = not (entry.pure and entry.diff_refs)
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


def _wants_grad(entry: _Entry, dyn: list[Any]) -> bool:
    """Whether a call must be recorded on the tape (an argument or a captured tensor
    requires grad, in grad mode) or carries forward-mode tangents."""
    rg = False
    for x in dyn:
        if isinstance(x, Tensor):
            if x._fw is not None:
                return True
            rg = rg or x.requires_grad
    if not grad_mode._state.enabled:
        return False
    return rg or any(t.requires_grad for t in entry.diff_refs)


_NOT_ARRAY = object()


def _plain_leaves(graph: Graph) -> list[Any]:
    """The output leaves as the first call returns the non-array ones (their values)."""
    return [getattr(o, "value", o) for o in graph.outs]


def _first_output(o: Any, tensors: bool) -> Any:
    arr = o.data if isinstance(o, Tensor) else np.asarray(o)
    if tensors:
        return Tensor._wrap(arr)
    return arr[()] if arr.ndim == 0 else arr


def _identifier(name: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if s and not s[0].isdigit() else f"f_{s}"


def _ints(v: int | Sequence[int], what: str) -> tuple[int, ...]:
    t = (v,) if isinstance(v, int) else tuple(v)
    for i in t:
        if not isinstance(i, int) or isinstance(i, bool):
            raise InvalidTypeError(f"tg.jit: {what} takes ints, got {i!r}")
    return t


def _fusion(fuse: Any) -> tuple[int | None, str]:
    """The smallest fused chain (None: no fusion) and the backend, for ``fuse``."""
    if fuse is False:
        return None, "numpy"
    from .fusion import threshold

    if fuse == "numexpr":
        return threshold(), "numexpr"
    return (threshold() if fuse == "auto" else 1), "numpy"


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
        # (tensors are saved for backward; the other arguments are kept as they are)
        ctx.save_for_backward(*[x for x in flat if isinstance(x, Tensor)])
        ctx.others = [None if isinstance(x, Tensor) else x for x in flat]
        outs = tuple(
            Tensor._wrap(r if r.__class__ is np.ndarray else np.asarray(r))
            for k, r in enumerate(res)
            if k in e.array_outs
        )
        return outs if len(outs) != 1 else outs[0]

    @staticmethod
    def backward(ctx: Any, *gs: Any) -> Any:
        e = ctx.call.entry
        saved = iter(ctx.saved_tensors)
        flat = [next(saved) if x is None else x for x in ctx.others]
        cots: list[Any] = [None] * len(e.graph.outs)
        for k, g in zip(e.array_outs, gs):
            if g is None:
                o = e.graph.outs[k]
                g = np.zeros(o.shape, o.dtype) if isinstance(o, Var) else np.zeros_like(o.value)
            cots[k] = g
        bwd = _backward_of(ctx.call.jitted, e)
        grads = bwd(flat[: e.n_in], cots)
        return (None, *grads)


def _backward_of(jitted: Jitted, e: _Entry) -> Jitted:
    """The compiled vector-Jacobian product of the function at ``e``'s signature: inputs
    (the traced leaves, the output cotangents), results the gradients w.r.t. the traced
    leaves and the captured tensors (None where no gradient flows)."""
    if e.vjp is not None:
        return e.vjp
    from ..autograd.engine import grad as _grad

    template = e.template
    refs = e.diff_refs

    def backward(flat: list[Any], cots: list[Any]) -> list[Any]:
        # The gradient is taken with respect to the values themselves: fresh leaves around
        # them (so that the tracer knows them), or, when they already require grad (a
        # higher derivative is being taken), the tensors, with the graph kept.
        higher = any(isinstance(x, Tensor) and x.requires_grad for x in flat)
        flat = [_leaf(x) for x in flat]
        targs, tkw = _fill(template, flat)
        with grad_mode.enable_grad():  # (a backward pass runs with grad mode off)
            res = jitted.fun(*targs, **tkw)
        outs = [o for o in tree_flatten(res)[0]]
        roots, gouts = [], []
        for o, c in zip(outs, cots):
            if isinstance(o, Tensor) and o.requires_grad:
                roots.append(o)
                gouts.append(c)
        # (the captured tensors that require grad now: the others get None)
        wanted = [x for x in flat if isinstance(x, Tensor) and x.requires_grad]
        wanted += [t for t in refs if t.requires_grad]
        got: list[Any] = [None] * len(wanted)
        if roots and wanted:
            got = list(
                _grad(roots, wanted, grad_outputs=gouts, allow_unused=True, create_graph=higher)
            )
        it = iter(got)
        res_grads = []
        for x in (*flat, *refs):
            res_grads.append(next(it) if isinstance(x, Tensor) and x.requires_grad else None)
        return res_grads

    backward.__name__ = f"vjp_{getattr(jitted.fun, '__name__', 'f')}"
    e.vjp = Jitted(backward, fuse=jitted.fuse)
    return e.vjp


def _leaf(x: Any) -> Any:
    if isinstance(x, Tensor) and x.data.dtype.kind == "f" and not x.requires_grad:
        t = Tensor._wrap(x.data)
        t.requires_grad = True
        return t
    return x


class _Slot:
    """The place of the ``k``-th traced leaf in a call's structure."""

    __slots__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = k


def _fill(template: tuple[list[Any], dict[str, Any]], values: Sequence[Any]) -> Any:
    """The arguments of a call: ``template`` with its slots filled from ``values``."""

    def put(a: Any) -> Any:
        return values[a.k] if a.__class__ is _Slot else a

    targs = []
    for a in template[0]:
        leaves, tree = tree_flatten(a)
        targs.append(tree_unflatten(tree, [put(x) for x in leaves]))
    tkw = {}
    for k, v in template[1].items():
        leaves, tree = tree_flatten(v)
        tkw[k] = tree_unflatten(tree, [put(x) for x in leaves])
    return targs, tkw


def _substitute(jitted: Jitted, args: tuple, kwargs: dict, table: dict[int, Any]) -> Any:
    """``args``/``kwargs`` with the leaves whose ids are in ``table`` replaced."""

    def sub(a: Any) -> Any:
        return table.get(id(a), a) if _dynamic(a) else a

    targs = []
    for i, a in enumerate(args):
        if i in jitted._static(len(args)):
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
    """Compile ``fun`` into straight-line NumPy code, traced once per input signature.

    The first call with a new signature runs ``fun`` once on plain tensors with a tracer
    watching (every primitive call, in-place effect, random draw and ``.grad`` access, the
    backward pass included), optimises the recorded program (constant folding,
    simplification, common-subexpression elimination, dead-code elimination), generates
    Python source that calls each primitive's NumPy implementation directly, and caches it.
    Later calls with the same signature run the generated code: no tape, no Tensor objects,
    the same NumPy calls as eager mode, so the same results bit for bit (also fused, except
    with ``fuse="numexpr"``). Also a decorator: ``@tg.jit`` or
    ``@tg.jit(static_argnums=1)``.

    Parameters
    ----------
    fun : callable
        The function to compile, written with tapegrad ops. Its arguments may be NumPy
        arrays, Tensors, Python or NumPy numbers, and pytrees (nested tuples, lists, dicts) of
        them; other values (bools, None, strings, functions) are static.
    static_argnums : int or sequence of int, optional
        Positional arguments that are constants of the program: their values (which must be
        hashable) are part of the cache key, so each new value traces again. Use them for
        what Python control flow depends on (a count, a mode), or to keep a Python float's
        weak dtype.
    static_argnames : str or sequence of str, optional
        The same for keyword arguments, by name.
    donate_argnums : int or sequence of int, optional
        Positional arguments whose array buffers the compiled program may overwrite (reused
        as ``out=`` of an elementwise op once their last use has run). Don't read a donated
        array after the call. An argument can't be both static and donated.
    fuse : {"auto", True, False, "numexpr"}, optional
        Fusion of chains of elementwise ufuncs. ``"auto"`` (the default) computes chains on
        arrays of at least ``tapegrad.jit.fusion.threshold()`` elements block by block in
        cache, through the same ufuncs (bit for bit the unfused result); ``True`` does so for
        every chain; ``False`` never fuses; ``"numexpr"`` makes chains from the threshold on
        one numexpr expression (the optional extra ``pip install 'tapegrad[jit]'``), whose
        results agree with eager mode to a few ulps.

    Returns
    -------
    Jitted
        A callable with ``fun``'s signature. Called, it gives what ``fun`` gives, with
        NumPy arrays and scalars in place of tensors when no argument is a Tensor. Without
        ``fun`` (``tg.jit(static_argnums=1)``), a decorator that makes one.

    Raises
    ------
    ConcretizationError
        While tracing, when Python needs the value of a traced tensor: ``if x > 0``,
        ``float(x)``, ``x.item()``, a traced int as a size, boolean-mask indexing with a
        traced mask (the result's shape depends on the values), or a second-order
        derivative of an op whose rules branch on values (``prod``, ``cumprod``, ``std``,
        ``var``, ``vector_norm``). Use ``tg.where``, a static argument, or run that part
        without ``tg.jit``.
    InvalidTypeError
        ``fun`` is not callable, a static argument is not hashable, or an argument can be
        neither traced nor used as a static value.
    InvalidArgumentError
        An argument is both static and donated, or ``fuse`` is not ``"auto"``, True, False
        or ``"numexpr"``.
    MissingDependencyError
        ``fuse="numexpr"`` without numexpr installed.

    Notes
    -----
    The signature of a call is, per argument leaf, the shape and dtype of arrays (and
    ``requires_grad`` of Tensors), the kind of Python numbers, the dtype of NumPy scalars,
    the value of static leaves, the pytree structure, and whether grad mode is on. Python
    floats and ints are traced as 0-d float64 and int64 arrays, so a new value does not
    trace again; a float32 array times a traced Python float is therefore float64 (as in
    ``tg.grad`` for a differentiated Python float), where NumPy's weak scalar rule keeps
    float32 for a static one.

    Tensors and arrays the function reads from outside (a Module's parameters, a
    closure's tensor) are read when the compiled function is called, not baked in; a change
    of their shape or dtype traces again. So does a different ``.grad`` state of a tensor
    the function reads or writes (None or an array). Python values read from outside (a
    float in a closure, ``module.training``) are constants of the program.

    Random ops draw fresh numbers from tapegrad's generator on every call; in-place
    updates (an optimizer's ``step``) run on every call. Python side effects (``print``,
    appending to a list) happen once, while tracing. Inside another trace (``tg.jit`` of a
    function calling a jitted function) the inner function is inlined.

    See the guide "Compiling with jit" for the composition with the transforms and a whole
    training step.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> @tg.jit
    ... def L(x, y):
    ...     return tg.sin(x) + x * y
    >>> float(L(1.0, 2.0))
    2.8414709848078967
    >>> float(L(0.5, 3.0)), L.trace_count
    (1.979425538604203, 1)
    >>> print(L.lower(1.0, 2.0))
    { lambda v0:f64[], v1:f64[] .
        v2:f64[] = sin(v0)
        v3:f64[] = multiply(v0, v1)
        v4:f64[] = add(v2, v3)
      in (v4) }
    >>> step = tg.jit(tg.grad(lambda w, x: tg.sum((x @ w) ** 2)))
    >>> step(np.ones(2), np.eye(2))
    array([2., 2.])
    >>> L(np.ones(3), 2.0).shape, L.trace_count
    ((3,), 2)
    """
    if fun is None:
        return functools.partial(
            jit,
            static_argnums=static_argnums,
            static_argnames=static_argnames,
            donate_argnums=donate_argnums,
            fuse=fuse,
        )
    return Jitted(fun, static_argnums, static_argnames, donate_argnums, fuse)
