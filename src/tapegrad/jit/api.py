"""``tg.jit``: trace once per signature, compile to straight-line NumPy, cache, call."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._tree import tree_flatten, tree_unflatten
from ..autograd import grad_mode
from ..autograd.function import Function
from ..errors import InvalidArgumentError, InvalidTypeError
from ..tensor import Tensor
from . import passes
from .codegen import generate
from .ir import Graph, Var
from .trace import Tracer

__all__ = ["jit", "Jitted", "Lowered"]

_FLOAT = ("f",)
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
        return (v2, )
    <BLANKLINE>
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
    )

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
            key = []
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
            return self._trace(key, args, kwargs, dyn)[1]
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
            outs = _Compiled.apply(_Call(self, entry), *dyn, *entry.diff_refs)
            if not isinstance(outs, tuple):
                outs = (outs,)
            return tree_unflatten(entry.out_tree, list(outs))
        try:
            res = entry.fn(*raw)
        except Exception as exc:
            if entry.pure:
                # Eager mode's error, worded as eager mode words it (the function has no
                # effects, so running it again changes nothing).
                self._eager(entry, dyn)
            raise exc
        return tree_unflatten(entry.out_tree, _outputs(res, tensors))

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
        donated = []
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
        ctx.save_for_backward(*flat)
        outs = tuple(
            Tensor._wrap(r if r.__class__ is np.ndarray else np.asarray(r)) for r in res
        )
        return outs if len(outs) != 1 else outs[0]

    @staticmethod
    def backward(ctx: Any, *gs: Any) -> Any:
        e = ctx.call.entry
        flat = list(ctx.saved_tensors)
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
        table = dict(zip(ids, flat))
        targs, tkw = _substitute(jitted, args, kwargs, table)
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
            got = list(_grad(roots, wrt, grad_outputs=gouts, allow_unused=True))
        it = iter(got)
        res_grads = []
        for x in flat:
            res_grads.append(next(it) if isinstance(x, Tensor) and x.requires_grad else None)
        res_grads.extend(it)
        return res_grads

    backward.__name__ = f"vjp_{getattr(jitted.fun, '__name__', 'f')}"
    e.vjp = Jitted(backward, fuse=jitted.fuse)
    return e.vjp


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
    """Compile ``fun`` into straight-line NumPy code, traced once per input signature.

    The first call with a new signature runs ``fun`` once on plain tensors with a tracer
    watching (every primitive call, in-place effect, random draw and ``.grad`` access, the
    backward pass included), optimises the recorded program (constant folding,
    simplification, common-subexpression elimination, dead-code elimination), generates
    Python source that calls each primitive's NumPy implementation directly, and caches it.
    Later calls with the same signature run the generated code: no tape, no Tensor objects,
    the same NumPy calls as eager mode, so the same results bit for bit (with ``fuse=False``,
    or below the fusion threshold). Also a decorator: ``@tg.jit`` or
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
    fuse : {"auto", True, False}, optional
        Fusion of elementwise chains into one ``numexpr.evaluate`` call (the optional extra
        ``pip install 'tapegrad[jit]'``). ``"auto"`` (the default) fuses chains on arrays of
        at least ``tapegrad.jit.fusion.threshold()`` elements when numexpr is installed;
        ``True`` fuses every chain; ``False`` never fuses. Fused results agree with eager
        mode to a few ulps rather than bit for bit.

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
        An argument is both static and donated, or ``fuse`` is not ``"auto"``, True or False.
    MissingDependencyError
        ``fuse=True`` without numexpr installed (raised at the first trace).

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

