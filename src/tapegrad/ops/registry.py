"""The primitive registry: declare an op once, with its rules.

A :class:`Primitive` wraps an ``impl`` that computes on raw NumPy values.  Calling it with
raw values runs ``impl`` directly (this is how rules run at NumPy speed in a first-order
backward); calling it with tensors that require grad (while grad mode is on) also records a
:class:`~tapegrad.autograd.node.Node` on the tape.

Rule signature, everywhere: ``rule(g, ans, *inputs, **params)``.  ``inputs`` holds the
values named in ``save=`` and a :class:`~tapegrad.autograd.node.Meta` (shape and dtype) for
the other differentiable inputs.  A vjp rule returns the cotangent in the broadcast output
shape; the engine sums it back to the input's shape and casts it to the input's dtype.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np

from ..autograd import grad_mode
from ..autograd import injected as _injected
from ..autograd.dual import batch_ndim, forward_call
from ..autograd.node import MUTATIONS, Meta, Node, new_node
from ..errors import InvalidArgumentError, complex_error, op_error
from ..tensor import Tensor, new_tensor

_ndarray = np.ndarray
_new = object.__new__
# Shared by every node of a parameterless op: no dict kept alive per node (less for the
# garbage collector to walk).  Never mutated.
_NO_PARAMS: dict[str, Any] = {}
_asarray = np.asarray
# Positions beyond this many inputs are treated as non-differentiable, unsaved.
_MAX_ARGS = 16

__all__ = [
    "Primitive",
    "primitive",
    "defvjp",
    "defjvp",
    "deflinear",
    "defbilinear",
    "on_tangent",
    "batch_ndim",
    "expose",
    "withdraw",
    "REGISTRY",
    "METHODS",
    "UFUNCS",
]

REGISTRY: dict[str, Primitive] = {}

# The public surface, filled from the declarations and never by hand: Tensor method name ->
# op, and NumPy ufunc name -> op (``np.sin(t)`` keeps the tape).  Read by the installer
# (tapegrad.ops.install), which also sets the hook below.
METHODS: dict[str, Callable[..., Any]] = {}
UFUNCS: dict[str, Callable[..., Any]] = {}

# ``hook(method_name, fn)`` is called when a Tensor method is declared (before it enters
# METHODS: the hook may refuse it by raising) and ``hook(method_name, None)`` when it is
# withdrawn, so that the Tensor class follows declarations made after import.
_method_hook: Callable[[str, Any], None] | None = None


def set_method_hook(hook: Callable[[str, Any], None] | None) -> None:
    """Install the function told of every later Tensor-method declaration (the installer's)."""
    global _method_hook
    _method_hook = hook


# What ``explain=`` takes (see :func:`expose`).
ExplainSpec = Sequence[str | None] | Mapping[str, Any] | Callable[[Any], Any]


def expose(
    fn: Any,
    *,
    method: bool | str | None = None,
    ufunc: Any = None,
    explain: ExplainSpec | None = None,
    kink: str | None = None,
) -> Any:
    """Attach an op's surface metadata to ``fn`` (a :class:`Primitive` or a public function
    built on one) and enter it in the generated tables; returns ``fn``.  Metadata given
    earlier is kept where an argument is None.

    Parameters
    ----------
    fn : Primitive or callable
        The op.
    method : bool or str, optional
        ``True`` makes it the Tensor method of the same name (a string: that name).
    ufunc : numpy.ufunc or tuple of them, optional
        Dispatched to ``fn`` by ``Tensor.__array_ufunc__`` (``np.sin(t)`` keeps the tape).
    explain : sequence, mapping or callable, optional
        How :func:`tapegrad.explain` writes the op.  A sequence: the local partial
        derivative with respect to each operand, as a formula in the operands' texts
        ``{0}``, ``{1}``, ... (``("cos({0})",)`` for ``sin``; None: no formula, the value is
        still shown).  A mapping may give, besides ``"partials"`` (that sequence):
        ``"text"``, the step's right-hand side (``"{0} + {1}"``; used when the call has no
        keyword parameters); ``"adjoint"``, per operand the term it receives in the
        backward pass, ``{g}`` standing for the step's adjoint (``"{g} @ {1}ᵀ"``; default
        the adjoint times the partial); ``"tangent"``, per operand its term of the step's
        tangent, ``{t}`` standing for the operand's tangent (``"sum({t})"``; default the
        partial times the tangent).  A callable is called with each call as explain saw it
        (:class:`tapegrad.explain.formulas.OpCall`: ``ops``, the operands' texts;
        ``args``, their values; ``const``, True where an operand is a constant;
        ``params``; ``value``, the output) and returns a sequence or mapping as above, or
        None (its ``"text"`` is used even with parameters).
    kink : str, optional
        The convention at points where the op is not differentiable (relu'(0) = 0, ties
        of max split evenly), as PyTorch's; listed in the docs' op table.
    """
    name = getattr(fn, "name", None) or fn.__name__
    # Check everything first: a refused declaration changes no table.
    mname = (name if method is True else method) if method else None
    if mname is not None:
        old = METHODS.get(mname)
        if old is not None and old is not fn:
            raise InvalidArgumentError(
                f"Tensor method {mname!r} is already declared by {_label(old)}; "
                f"pass method=False (or another name) for {name!r}"
            )
    ufuncs: tuple[Any, ...] = ()
    if ufunc is not None and ufunc is not False:
        ufuncs = ufunc if isinstance(ufunc, tuple) else (ufunc,)
        for u in ufuncs:
            if not isinstance(u, np.ufunc):
                raise InvalidArgumentError(f"ufunc= takes NumPy ufuncs, got {u!r} for {name!r}")
            old = UFUNCS.get(u.__name__)
            if old is not None and old is not fn:
                raise InvalidArgumentError(
                    f"np.{u.__name__} already dispatches to {_label(old)}; pass ufunc=False "
                    f"for {name!r}"
                )
    if mname is not None:
        if METHODS.get(mname) is None and _method_hook is not None:
            _method_hook(mname, fn)  # may refuse (a name Tensor already has)
        METHODS[mname] = fn
        fn.method = mname
    elif method is False or not hasattr(fn, "method"):
        fn.method = None
    if ufuncs:
        for u in ufuncs:
            UFUNCS[u.__name__] = fn
        fn.ufuncs = tuple(u.__name__ for u in ufuncs)
    elif not hasattr(fn, "ufuncs") or ufunc is False:
        fn.ufuncs = ()
    if explain is not None:
        if callable(explain):
            fn.explain = explain
        elif isinstance(explain, Mapping):
            unknown = set(explain) - {"text", "partials", "adjoint", "tangent"}
            if unknown:
                raise InvalidArgumentError(
                    f"explain= for {name!r}: unknown keys {sorted(unknown)} (known: text, "
                    "partials, adjoint, tangent)"
                )
            fn.explain = dict(explain)
        elif isinstance(explain, str):
            raise InvalidArgumentError(
                f"explain= for {name!r} takes one formula per operand: write ({explain!r},)"
            )
        else:
            fn.explain = tuple(explain)
    elif not hasattr(fn, "explain"):
        fn.explain = None
    if kink is not None:
        fn.kink = kink
    elif not hasattr(fn, "kink"):
        fn.kink = None
    return fn


def withdraw(fn: Any) -> None:
    """Undo the declaration of ``fn``: remove it from :data:`REGISTRY`, :data:`METHODS`
    (with its Tensor method) and :data:`UFUNCS`.  For throwaway ops, e.g. declared in a
    test."""
    name = getattr(fn, "name", None)
    if name is not None and REGISTRY.get(name) is fn:
        del REGISTRY[name]
    for mname in [k for k, v in METHODS.items() if v is fn]:
        del METHODS[mname]
        if _method_hook is not None:
            _method_hook(mname, None)
    for uname in [k for k, v in UFUNCS.items() if v is fn]:
        del UFUNCS[uname]


def _label(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, 'name', None) or fn.__name__}"


_state = grad_mode._state


class Primitive:
    """A differentiable operation: forward ``impl`` plus one vjp rule per input.

    Parameters
    ----------
    name : str
        Unique name (the registry key, shown in ``grad_fn``).
    impl : callable
        ``impl(*raw_inputs, **params) -> ndarray`` (or a tuple when ``nout > 1``).
    save : sequence of int or "ans"
        What the rules read: input positions and/or ``"ans"`` (the output).
    nout : int
        Number of outputs.
    view : bool
        The output may share memory with input 0 (then it shares its version counter).
    elementwise : bool
        Output shape = broadcast of the inputs, and the rules read no unsaved input; lets
        the tape skip shape records for inputs shaped like the output.
    register : bool
        Add to :data:`REGISTRY` (False for throwaway primitives, e.g. in tests).
    method, ufunc, explain, kink
        Surface metadata, see :func:`expose`.  ``ufunc`` defaults to ``impl`` when that is
        a NumPy ufunc (``False``: no dispatch); given only for registered primitives.
    """

    # Optional, in __dict__: {saved input: positions of the rules that read it}; lets the
    # engine ignore an in-place change of a saved value that no running rule reads.
    save_for: dict[int, tuple[int, ...]]
    # Surface metadata, in __dict__ (set by expose): the Tensor method name, the ufunc names,
    # the explain formulas and the kink note.
    method: str | None
    ufuncs: tuple[str, ...]
    explain: tuple[str, ...] | None
    kink: str | None

    # __dict__ holds the per-op __doc__/__name__ (for help() and the API reference).
    __slots__ = (
        "name",
        "impl",
        "vjps",
        "jvps",
        "jvp",
        "save",
        "savemask",
        "rec",
        "save_ans",
        "nout",
        "view",
        "elementwise",
        "unary_fast",
        "joint",
        "__dict__",
    )

    def __init__(
        self,
        name: str,
        impl: Callable[..., Any],
        *,
        save: Sequence[Any] = (),
        nout: int = 1,
        view: bool = False,
        elementwise: bool = False,
        doc: str | None = None,
        register: bool = True,
        method: bool | str | None = None,
        ufunc: Any = None,
        explain: ExplainSpec | None = None,
        kink: str | None = None,
    ) -> None:
        if register and name in REGISTRY:
            raise InvalidArgumentError(f"a primitive named {name!r} is already registered")
        self.name = name
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = getattr(impl, "__module__", __name__)
        self.impl = impl
        self.vjps: tuple[Any, ...] = ()
        self.jvps: tuple[Any, ...] = ()
        self.jvp: Any = None  # a joint forward rule (custom_jvp, Function.jvp); else jvps
        # A rule computing all input cotangents at once (custom Functions); None here.
        self.joint: Any = None
        self.save = frozenset(i for i in save if i != "ans")
        self.savemask = tuple(i in self.save for i in range(_MAX_ARGS))
        self.rec = (False,) * _MAX_ARGS
        self.save_ans = "ans" in save
        self.nout = nout
        # Rules that branch on the values (zeros in prod, ties in max): tg.jit calls them
        # whole, on the raw arrays, instead of tracing their operations.
        self.opaque_rules = False
        self.view = view
        self.elementwise = elementwise
        # The single-input, single-output call path (most ops) skips the general loop.
        self.unary_fast = nout == 1
        self.__doc__ = doc if doc is not None else impl.__doc__
        if register:
            if ufunc is None and isinstance(impl, np.ufunc):
                ufunc = impl
            expose(self, method=method, ufunc=ufunc, explain=explain, kink=kink)
            REGISTRY[name] = self  # (after expose: a refused declaration registers nothing)
        else:
            expose(self, explain=explain, kink=kink)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def free(self) -> None:
        """Called by the engine after a node with a joint rule ran (custom rules drop their
        saved state here); a primitive keeps nothing itself: its nodes hold the saved
        values."""

    def __call__(self, *args: Any, **params: Any) -> Any:
        # The hot path of the whole library.  One recording path per arity: one input and
        # one output (most ops), two inputs and one output (binary arithmetic), and the
        # general loop (nodes from new_node, outputs from new_tensor).  The first two are
        # kept in this one frame, their tensor and node written out: no Python call besides
        # the NumPy impl and object allocation.
        for a in args:
            if isinstance(a, Tensor):
                break
        else:
            try:
                return self.impl(*args, **params)
            except Exception as e:
                _reraise(self, e)
        nargs = len(args)
        if nargs == 1 and self.unary_fast:
            if a._fw is not None:  # carries forward-mode tangents
                return forward_call(self, args, params)
            try:
                ans = self.impl(a.data, **params) if params else self.impl(a.data)
            except Exception as e:
                _reraise(self, e)
            if ans.__class__ is not _ndarray:  # NumPy returns scalars for 0-d results
                ans = _asarray(ans)
            # Written out, as is the node below (a call to new_tensor / new_node costs about
            # 3% of a recorded op each); tests/test_fields.py checks they set the same fields.
            out = _new(Tensor)
            out.data = ans
            out._grad = None
            out._idx = 0
            out._version = 0
            out._base = None
            out._hooks = None
            out._fw = None
            if a.requires_grad and self.rec[0] and (en := _state.enabled):
                if ans.dtype.kind == "c":
                    raise complex_error(self.name)
                fn = a.grad_fn
                d = a.data
                if self.savemask[0]:
                    b = a._base
                    saved: Any = [d]
                    versions: Any = [
                        MUTATIONS[0],
                        a,
                        a._version if b is None else (a._version, b._version),
                    ]
                else:
                    saved = [None if self.elementwise else Meta(d.shape, d.dtype)]
                    versions = [MUTATIONS[0]] if self.save_ans else None
                node: Any = _new(Node)
                node.prim = self
                node.parents = [a if fn is None else fn]
                node.pidx = [a._idx] if a._idx else None
                node.args = saved
                node.ans = ans if self.save_ans else None
                node.params = params or _NO_PARAMS
                node.versions = versions
                node.hooks = None
                node.out_meta = None
                node.dirty = False
                node.fw = None
                out.requires_grad = True
                out.grad_fn = node
                if en is not True:  # a collector (or a tracer) is active
                    en.primitive(node, args, out)
            else:
                out.requires_grad = False
                out.grad_fn = None
                if _state.tracer is not None:  # (recorded calls: through en.primitive)
                    _state.tracer.call(self, args, params, out)
            if self.view:
                _mark_view(out, a, self, (), params, 0)
            return out
        if nargs == 2 and self.unary_fast:
            x, y = args
            xt = isinstance(x, Tensor)
            yt = isinstance(y, Tensor)
            if (xt and x._fw is not None) or (yt and y._fw is not None):
                return forward_call(self, args, params)
            vx = x.data if xt else x
            vy = y.data if yt else y
            try:
                ans = self.impl(vx, vy, **params) if params else self.impl(vx, vy)
            except Exception as e:
                _reraise(self, e)
            if ans.__class__ is not _ndarray:
                ans = _asarray(ans)
            out = _new(Tensor)
            out.data = ans
            out._grad = None
            out._idx = 0
            out._version = 0
            out._base = None
            out._hooks = None
            out._fw = None
            rec = self.rec
            rx = xt and rec[0] and x.requires_grad
            ry = yt and rec[1] and y.requires_grad
            if (rx or ry) and (en := _state.enabled):
                if ans.dtype.kind == "c":
                    raise complex_error(self.name)
                save = self.savemask
                ew = self.elementwise
                px = py = None
                mx = vx if save[0] else None
                my = vy if save[1] else None
                # Elementwise rules never read an unsaved input; one shaped like the output
                # needs no Meta (the engine then skips unbroadcast and cast for it).
                if rx:
                    px = x.grad_fn or x
                    if not save[0] and not (ew and vx.shape == ans.shape and vx.dtype is ans.dtype):
                        mx = Meta(vx.shape, vx.dtype)
                if ry:
                    py = y.grad_fn or y
                    if not save[1] and not (ew and vy.shape == ans.shape and vy.dtype is ans.dtype):
                        my = Meta(vy.shape, vy.dtype)
                if save[0] and xt:
                    b = x._base
                    kx = x._version if b is None else (x._version, b._version)
                    if save[1] and yt:
                        b = y._base
                        ky = y._version if b is None else (y._version, b._version)
                        versions = [MUTATIONS[0], x, kx, y, ky]
                    else:
                        versions = [MUTATIONS[0], x, kx]
                elif save[1] and yt:
                    b = y._base
                    ky = y._version if b is None else (y._version, b._version)
                    versions = [MUTATIONS[0], y, ky]
                else:
                    versions = [MUTATIONS[0]] if self.save_ans else None
                node = _new(Node)
                node.prim = self
                node.parents = [px, py]
                node.pidx = (
                    [x._idx if rx else 0, y._idx if ry else 0]
                    if ((rx and x._idx) or (ry and y._idx))
                    else None
                )
                node.args = [mx, my]
                node.ans = ans if self.save_ans else None
                node.params = params or _NO_PARAMS
                node.versions = versions
                node.hooks = None
                node.out_meta = None
                node.dirty = False
                node.fw = None
                out.requires_grad = True
                out.grad_fn = node
                if en is not True:  # a collector (or a tracer) is active
                    en.primitive(node, args, out)
            else:
                out.requires_grad = False
                out.grad_fn = None
                if _state.tracer is not None:  # (recorded calls: through en.primitive)
                    _state.tracer.call(self, args, params, out)
            if self.view and xt:
                _mark_view(out, x, self, (y,), params, 0)
            return out
        # Any number of inputs and outputs.
        for x in args:
            if isinstance(x, Tensor) and x._fw is not None:
                return forward_call(self, args, params)
        try:
            ans = self.impl(*[x.data if isinstance(x, Tensor) else x for x in args], **params)
        except Exception as e:
            _reraise(self, e)
        nout = self.nout
        if nout == 1:
            if ans.__class__ is not _ndarray:
                ans = _asarray(ans)
        else:
            ans = tuple(r if r.__class__ is _ndarray else _asarray(r) for r in ans)
        node = None
        en = _state.enabled
        if en:
            rec = self.rec
            i = 0
            for x in args:
                if rec[i] and isinstance(x, Tensor) and x.requires_grad:
                    node = self._node(args, ans, params)
                    break
                i += 1
        rg = node is not None
        if nout == 1:
            out = new_tensor(ans, rg, node, 0)
            if self.view and isinstance(args[0], Tensor):
                _mark_view(out, args[0], self, args[1:], params, 0)
            res: Any = out
        else:
            # (a loop, not a generator: one reading a local would make it a cell, a
            # GC-tracked object allocated by every call of this function)
            outs = []
            for k, r in enumerate(ans):
                outs.append(new_tensor(r, rg, node, k))
            res = tuple(outs)
        if rg:
            if en is not True:  # a collector (or a tracer) is active
                en.primitive(node, args, res)
        elif _state.tracer is not None:  # (recorded calls reach it through en.primitive)
            _state.tracer.call(self, args, params, res)
        return res

    def _node(self, args: tuple[Any, ...], ans: Any, params: dict[str, Any]) -> Node:
        """The tape entry of a general call with at least one input that requires grad."""
        if ans.dtype.kind == "c" if self.nout == 1 else any(r.dtype.kind == "c" for r in ans):
            raise complex_error(self.name)
        rec = self.rec
        save = self.savemask
        like = ans if self.elementwise and self.nout == 1 else None
        parents: list[Any] = []
        saved: list[Any] = []
        versions: list[Any] | None = None
        pidx: list[int] | None = None
        i = 0
        for x in args:
            if isinstance(x, Tensor):
                d = x.data
                if rec[i] and x.requires_grad:
                    fn = x.grad_fn
                    parents.append(x if fn is None else fn)
                    if x._idx:
                        if pidx is None:
                            pidx = [0] * len(args)
                        pidx[i] = x._idx
                    if save[i]:
                        saved.append(d)
                    elif like is not None and d.shape == like.shape and d.dtype is like.dtype:
                        saved.append(None)
                    else:
                        saved.append(Meta(d.shape, d.dtype))
                else:
                    parents.append(None)
                    saved.append(d if save[i] else None)
                if save[i]:
                    b = x._base
                    v = x._version if b is None else (x._version, b._version)
                    if versions is None:
                        versions = [MUTATIONS[0], x, v]
                    else:
                        versions += (x, v)
            else:
                parents.append(None)
                saved.append(x if save[i] else None)
            i += 1
        if versions is None and self.save_ans:
            versions = [MUTATIONS[0]]
        return new_node(
            self,
            parents,
            pidx,
            saved,
            ans if self.save_ans else None,
            params or _NO_PARAMS,
            versions,
            None if self.nout == 1 else tuple(Meta(r.shape, r.dtype) for r in ans),
        )


def _reraise(prim: Primitive, exc: Exception) -> NoReturn:
    """Re-raise an error of ``prim``'s NumPy code as a tapegrad error naming the op."""
    new = op_error(prim.name, exc)
    if new is exc:
        raise exc
    raise new from exc


def _mark_view(
    out: Tensor, src: Tensor, prim: Primitive, rest: tuple[Any, ...], params: Any, k: int
) -> None:
    """Make ``out`` (output ``k`` of the view op ``prim`` applied to ``src``) a view of
    ``src``'s base, if its array really shares memory with ``src``'s (NumPy copies in a
    few cases, e.g. reshaping a non-contiguous array).

    A view shares its base's memory and version counter (``_base``: the tensor that owns
    the memory) and records how to make it again from its differentiable base
    (``_vchain``: ``(base, ((prim, rest, params, k), ...))``), which in-place changes under
    grad mode use to rewrite the base's history.  Only view ops pay for this.
    """
    d = out.data
    s = src.data
    if d is not s:
        b = d.base
        if b is None or (b is not s and b is not s.base):
            if not _may_share(d, s):
                return  # a copy: an ordinary tensor
    if rest:
        rest = tuple(r.data if isinstance(r, Tensor) else r for r in rest)
    step = (prim, rest, params or _NO_PARAMS, k)
    root = src._base
    if root is None:
        out._base = base = src
        out._vchain = (src, (step,))
    else:
        out._base = root
        vc = src._vchain
        if vc is None:  # src is a detached tensor: it is the differentiable base
            base = src
            out._vchain = (src, (step,))
        else:
            base = vc[0]
            out._vchain = (base, vc[1] + (step,))
    if _state.enabled and (base.grad_fn is not None or not base.requires_grad):
        # The base's history can change (an in-place op under grad mode): keep a weak
        # reference so that the view's grad_fn is made again then.  (A leaf that requires
        # grad can't be changed in place under grad mode, so its views are not tracked.)
        try:
            views = base._views
        except AttributeError:
            base._views = [_weakref(out)]
            return
        views.append(_weakref(out))
        n = len(views)
        if n >= 32 and not n & (n - 1):  # now and then (at powers of two), drop dead entries
            views[:] = [r for r in views if r() is not None]


_may_share = np.may_share_memory
_weakref = weakref.ref


def primitive(
    name: str,
    *,
    save: Sequence[Any] = (),
    nout: int = 1,
    view: bool = False,
    elementwise: bool = False,
    doc: str | None = None,
    method: bool | str | None = None,
    ufunc: Any = None,
    explain: ExplainSpec | None = None,
    kink: str | None = None,
) -> Callable[[Callable[..., Any]], Primitive]:
    """Decorator form: ``@primitive("sin", save=(0,))`` over the NumPy impl."""

    def deco(impl: Callable[..., Any]) -> Primitive:
        return Primitive(
            name,
            impl,
            save=save,
            nout=nout,
            view=view,
            elementwise=elementwise,
            doc=doc,
            method=method,
            ufunc=ufunc,
            explain=explain,
            kink=kink,
        )

    return deco


def defvjp(prim: Primitive, *rules: Any) -> Primitive:
    """Attach one vjp rule per positional input (``None``: no gradient flows there)."""
    prim.vjps = tuple(rules)
    prim.rec = tuple(bool(r) for r in rules) + (False,) * (_MAX_ARGS - len(rules))
    return prim


def defjvp(prim: Primitive, *rules: Any) -> Primitive:
    """Attach one forward-mode rule per positional input (``None``: no tangent flows from it).

    ``rule(t, ans, *inputs, **params)`` returns the contribution of input ``i``'s tangent
    ``t`` to the output's tangent (a tuple for multi-output primitives); the engine sums the
    contributions.  ``t`` may carry leading batch axes (``t.shape == B + x.shape``); for
    ``elementwise`` primitives the engine first inserts size-1 axes after them so that ``t``
    broadcasts against the other inputs.
    """
    prim.jvps = tuple(rules)
    return prim


def defvjp_joint(prim: Primitive, rule: Callable[..., Any]) -> Primitive:
    """Attach one reverse-mode rule for all inputs: ``rule(g, create_graph, node)`` returns
    a sequence with the cotangent of each input (``None`` where none flows), read from the
    node's ``params`` and ``args``.  For variadic primitives: one call does the work of all
    per-input rules, so a backward through ``n`` inputs costs ``O(n)``, not ``O(n**2)``.
    ``g`` is an array in a first-order backward and a Tensor when the rules run on tensors
    (``create_graph``).  The per-input rules given to :func:`defvjp` still say which inputs
    are differentiable."""
    prim.joint = rule
    return prim


def defjvp_joint(prim: Primitive, rule: Callable[..., Any]) -> Primitive:
    """Attach one forward-mode rule for all inputs: ``rule(tangents, ans, *inputs,
    **params)`` with ``tangents`` a tuple holding ``None`` for zero tangents."""
    prim.jvp = rule
    return prim


# --------------------------------------------------------------------------- derived rules
# A linear op is its own derivative: its jvp is the op applied to the tangent, and its vjp is
# its transpose, so one declaration (the transpose) gives both modes.  A bilinear (or
# multilinear) op is linear in each input given the others: its jvp is the sum of the op
# applied with one input replaced by its tangent.
#
# Forward-mode tangents may carry leading batch axes (``t.shape == B + x.shape``: a whole
# basis of tangents in one pass).  How an op acts on such a stack is a property of the op,
# declared once with ``batch=``:
#   * None: the op already broadcasts over leading axes (conv2d, tril, matrix_transpose);
#   * a name or tuple of names: params holding axes of the input (an int, a tuple of ints,
#     or None), shifted by the number of batch axes;
#   * a callable: ``batch(nb, *args, **params)`` (deflinear) or ``batch(nb, k, *args,
#     **params)`` (defbilinear) returns the op applied to ``args``, where the tangent at
#     position ``k`` (every linear position, for deflinear) carries ``nb`` leading batch axes.
# The number of batch axes is computed by one function, :func:`~tapegrad.autograd.dual.batch_ndim`.


def _shift_axes(params: dict[str, Any], names: tuple[str, ...], nb: int) -> dict[str, Any]:
    p = dict(params)
    for n in names:
        a = p[n]
        if a is not None:
            p[n] = a + nb if isinstance(a, (int, np.integer)) else tuple(i + nb for i in a)
    return p


def _batch_spec(batch: Any) -> tuple[Any, tuple[str, ...]]:
    """``batch=`` as ``(callable or None, axis param names)``."""
    if batch is None or callable(batch):
        return batch, ()
    return None, (batch,) if isinstance(batch, str) else tuple(batch)


def on_tangent(prim: Any, t: Any, x: Any, *rest: Any, **params: Any) -> Any:
    """Apply the linear primitive ``prim`` (declared with :func:`deflinear`) to ``t``, the
    tangent of the primal ``x``, whatever leading batch axes ``t`` carries (the op's
    ``batch=`` declaration places them).  For jvp rules of non-linear ops that end in a
    linear one, e.g. ``on_tangent(_sum, t * w, x, axis=axis, keepdims=keepdims)``."""
    fn, names, zero = prim.batch
    if zero:
        params = dict(params, **zero)
    nb = batch_ndim(t, x)
    if nb:
        if names:
            return prim(t, *rest, **_shift_axes(params, names, nb))
        if fn is not None:
            return fn(nb, t, *rest, **params)
    return prim(t, *rest, **params)


def _cast(r: Any, ans: Any) -> Any:
    return r if r.dtype == ans.dtype else r.astype(ans.dtype)


def _full_tangents(tangents: Any, xs: Any) -> tuple[list[Any], int]:
    """The tangents of ``xs`` with zeros for the absent ones, all with the same leading
    batch axes (returned: how many)."""
    batch: tuple[int, ...] = ()
    for t, x in zip(tangents, xs):
        if t is not None:
            batch = np.broadcast_shapes(batch, tuple(t.shape[: batch_ndim(t, x)]))
    out = []
    for t, x in zip(tangents, xs):
        full = batch + (x.shape if isinstance(x, (Tensor, _ndarray)) else np.shape(x))
        if t is None:
            dt = x.dtype if isinstance(x, (Tensor, _ndarray)) else np.result_type(x)
            t = np.zeros(full, dt if dt.kind in "fc" else np.float64)
        elif tuple(t.shape) != full:
            t = (
                np.broadcast_to(t, full)
                if isinstance(t, _ndarray)
                else _injected.OPS.broadcast_to(t, full)
            )
        out.append(t)
    return out, len(batch)


def deflinear(
    prim: Primitive,
    *transposes: Any,
    batch: Any = None,
    variadic: bool = False,
    affine: Sequence[str] = (),
) -> Primitive:
    """Declare ``prim`` linear in its first input(s): both modes from one declaration.

    The jvp is ``prim`` itself applied to the tangent (same params, other inputs unchanged);
    the vjp is ``transpose(g, ans, *inputs, **params)``, the op's transpose (adjoint) applied
    to the cotangent.  Several ``transposes`` declare ``prim`` jointly linear in that many
    leading inputs (``x[key] = value`` is linear in ``(x, value)``): the jvp is ``prim``
    applied to all their tangents at once (zeros where none flows).  ``variadic=True``: every
    positional input is linear and ``transposes`` is the one reverse rule for all of them
    (see :func:`defvjp_joint`); per-input rules still mark which positions differentiate.

    ``batch``: how the op acts on tangents with leading batch axes; None (the op broadcasts
    over leading axes), the name(s) of params holding input axes (shifted by the number of
    batch axes), or ``batch(nb, *args, **params)`` returning the op applied to ``args`` whose
    linear entries carry ``nb`` leading batch axes.  Inputs after the linear ones (indices,
    masks) are constants: no tangent flows from them.  ``affine``: names of params that hold
    an additive constant (``pad``'s fill value); the jvp applies the op with them set to 0.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> from tapegrad.ops import Primitive, deflinear
    >>> cs = Primitive("cumsum_last", lambda x: np.cumsum(x, -1), register=False)
    >>> _ = deflinear(cs, lambda g, ans, x: np.flip(np.cumsum(np.flip(g, -1), -1), -1))
    >>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> tg.sum(cs(x) * tg.tensor([1.0, 0.0, 0.0])).backward()
    >>> x.grad
    tensor([1., 0., 0.])
    >>> tg.jvp(cs, (tg.tensor([1.0, 2.0, 3.0]),), (tg.tensor([1.0, 0.0, 0.0]),))[1]
    tensor([1., 1., 1.])
    """
    fn, names = _batch_spec(batch)
    zero = {a: 0 for a in affine}
    p: Any = prim
    p.batch = (fn, names, zero)
    if variadic:
        (rule,) = transposes
        prim.joint = rule
        n = -1
    else:
        defvjp(prim, *transposes)
        n = len(transposes)
    if n == 1:

        def jvp1(t: Any, ans: Any, *args: Any, **params: Any) -> Any:
            return on_tangent(prim, t, *args, **params)

        prim.jvps = (jvp1,)
        prim.jvp = None
        return prim

    def jvp(tangents: Any, ans: Any, *args: Any, **params: Any) -> Any:
        if zero:
            params = dict(params, **zero)
        m = len(args) if n < 0 else n
        ts, nb = _full_tangents(tangents[:m], args[:m])
        if nb:
            if names:
                return _cast(prim(*ts, *args[m:], **_shift_axes(params, names, nb)), ans)
            if fn is not None:
                return _cast(fn(nb, *ts, *args[m:], **params), ans)
        return _cast(prim(*ts, *args[m:], **params), ans)

    prim.jvp = jvp
    return prim


def defbilinear(
    prim: Primitive, lhs_rule: Any, rhs_rule: Any, *more_rules: Any, batch: Any = None
) -> Primitive:
    """Declare ``prim`` bilinear in inputs 0 and 1 (multilinear when ``more_rules`` follow:
    linear in each input given the others): both modes from one declaration.

    ``lhs_rule``/``rhs_rule`` are the vjp rules, the cotangent of each input given the other
    (``rule(g, ans, *inputs, **params)``); the jvp is ``prim(tx, y) + prim(x, ty)``, the op
    itself with one input replaced by its tangent.  ``batch``: as for :func:`deflinear`,
    except that a callable is ``batch(nb, k, *args, **params)``: the op applied to ``args``
    whose entry ``k`` is a tangent with ``nb`` leading batch axes.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> from tapegrad.ops import Primitive, defbilinear
    >>> outer = Primitive("outer2", np.multiply.outer, register=False)
    >>> _ = defbilinear(
    ...     outer,
    ...     lambda g, ans, x, y: tg.matmul(g, y),
    ...     lambda g, ans, x, y: tg.matmul(x, g),
    ... )
    >>> x, y = tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0])
    >>> tg.jvp(lambda x: tg.sum(outer(x, y)), (x,), (tg.tensor([1.0, 0.0]),))[1]
    tensor(7.)
    """
    fn, names = _batch_spec(batch)
    p: Any = prim
    p.batch = (fn, names, None)
    rules = (lhs_rule, rhs_rule, *more_rules)
    defvjp(prim, *rules)

    def jvp_at(k: int) -> Any:
        def jvp(t: Any, ans: Any, *args: Any, **params: Any) -> Any:
            a = list(args)
            a[k] = t
            nb = batch_ndim(t, args[k])
            if nb:
                if names:
                    return prim(*a, **_shift_axes(params, names, nb))
                if fn is not None:
                    return fn(nb, k, *a, **params)
            return prim(*a, **params)

        return jvp

    prim.jvps = tuple(jvp_at(k) for k in range(len(rules)))
    prim.jvp = None
    return prim
