"""Custom differentiable functions.

* :class:`Function` (PyTorch's form): subclass with static ``forward(ctx, *args)`` and
  ``backward(ctx, *grads)``; call ``MyOp.apply(*args)``.
* :func:`custom_vjp` (JAX's form): decorate a pure function, then ``f.defvjp(fwd, bwd)``.

Both record one tape entry whose rule calls the user's backward once for all inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .._tree import tree_flatten
from ..errors import (
    GraphFreedError,
    InplaceModificationError,
    InvalidTypeError,
    ShapeMismatchError,
    complex_error,
)
from ..tensor import Tensor
from . import grad_mode
from .dual import _adopt, _tangents, custom_forward_call, has_complex, innermost_level
from .dual import _state as fw_state
from .node import Meta, Node, new_node, version_key

__all__ = ["Function", "FunctionCtx", "custom_vjp", "custom_jvp"]


class FunctionCtx:
    """The ``ctx`` passed to ``forward`` and ``backward`` of a :class:`Function`.

    Attributes
    ----------
    needs_input_grad : tuple of bool
        For each argument of ``forward``: whether a gradient is wanted for it.
    """

    residuals: Any  # what custom_vjp's forward passes to its backward

    def __init__(self) -> None:
        self.needs_input_grad: tuple[bool, ...] = ()
        self._saved: tuple[Any, ...] = ()
        self._versions: tuple[tuple[Tensor, Any], ...] = ()
        self._freed = False

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep these tensors (or None) for ``backward``; in-place changes are detected."""
        vs = []
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise InvalidTypeError(
                    f"save_for_backward takes Tensors (or None), got {type(t).__name__}; keep "
                    "other values as attributes of ctx (ctx.value = ...)"
                )
            if t is not None:
                vs.append((t, version_key(t)))
        self._saved = tensors
        self._versions = tuple(vs)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self._freed:
            raise GraphFreedError(
                "the saved tensors of this custom Function were freed by a previous backward; "
                "pass retain_graph=True to it to run backward twice"
            )
        for t, v in self._versions:
            if version_key(t) != v:
                raise InplaceModificationError(
                    "a tensor saved with ctx.save_for_backward was changed in place "
                    "afterwards; save a copy instead"
                )
        return self._saved


class _FunctionRule:
    """Adapter that lets the engine run a Function's backward as one joint rule."""

    opaque_rules = False

    # ``joint`` is a method, not an attribute holding the bound method: a rule that held
    # a bound method of itself would be a reference cycle, and its saved tensors would
    # wait for the cyclic garbage collector instead of going with the last output.
    __slots__ = ("name", "fn", "ctx", "nout", "vjps")

    def __init__(self, fn: Any, ctx: FunctionCtx, nout: int, nargs: int) -> None:
        self.name = ctx.__dict__.get("_name") or fn.__name__
        self.fn = fn
        self.ctx = ctx
        self.nout = nout
        self.vjps = (None,) * nargs

    def joint(self, g: Any, create_graph: bool, node: Node) -> tuple[Any, ...]:
        gs = g if self.nout > 1 else (g,)
        gs = tuple(x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x)) for x in gs)
        res = self.fn.backward(self.ctx, *gs)
        if not isinstance(res, tuple):
            res = (res,)
        n = len(node.parents)
        if len(res) < n:
            raise InvalidTypeError(
                f"{self.name}.backward returned {len(res)} gradients but forward took {n} "
                "arguments; return one per argument (None for non-differentiable ones)"
            )
        out: list[Any] = []
        for i, r in enumerate(res[:n]):
            if r is None or node.parents[i] is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                r = np.asarray(r)
            elif not create_graph:
                r = r.data
            meta = node.args[i]
            shape = tuple(r.shape)
            if shape != meta.shape:
                try:
                    np.broadcast_shapes(shape, meta.shape)
                except ValueError:
                    raise ShapeMismatchError(
                        f"{self.name}.backward returned a gradient of shape {shape} for "
                        f"argument {i}, which has shape {meta.shape}"
                    ) from None
            out.append(r)
        return tuple(out)

    def free(self) -> None:
        # Drop what the ctx keeps for backward (a second backward then raises).
        ctx = self.ctx
        ctx._freed = True
        ctx._saved = ()
        ctx._versions = ()
        ctx.__dict__.pop("residuals", None)

    def _saved_arrays(self) -> list[Any]:
        """The arrays this entry keeps (for memory accounting)."""
        ctx = self.ctx
        vals = list(ctx._saved) + tree_flatten(ctx.__dict__.get("residuals"))[0]
        out = []
        for v in vals:
            d = v.data if isinstance(v, Tensor) else v
            if isinstance(d, np.ndarray):
                out.append(d)
        return out


class Function:
    """Base class for custom differentiable operations (PyTorch's ``autograd.Function``).

    Examples
    --------
    >>> import tapegrad as tg
    >>> class Cube(tg.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return g * 3 * x ** 2
    >>> x = tg.tensor(2.0, requires_grad=True)
    >>> Cube.apply(x).backward()
    >>> x.grad
    tensor(12.)
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise InvalidTypeError("subclasses of tg.autograd.Function must define a static forward()")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise InvalidTypeError("subclasses of tg.autograd.Function must define a static backward()")

    @staticmethod
    def jvp(ctx: FunctionCtx, *tangents: Any) -> Any:
        """Optional forward-mode rule: the output tangent(s) from the inputs' tangents
        (``None`` for inputs without one).  Without it, forward mode through this Function
        raises."""
        raise InvalidTypeError("this Function defines no jvp; add a static jvp(ctx, *tangents)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` (not recorded) and record one tape entry for ``backward``."""
        if cls.forward is Function.forward or cls.backward is Function.backward:
            raise InvalidTypeError(f"{cls.__name__} must define both forward and backward")
        ctx = FunctionCtx()
        record = bool(grad_mode._state.enabled) and any(
            isinstance(a, Tensor) and a.requires_grad for a in args
        )
        ctx.needs_input_grad = tuple(
            bool(record and isinstance(a, Tensor) and a.requires_grad) for a in args
        )
        level = innermost_level(args)
        if level >= 0 and cls.jvp is Function.jvp:
            raise InvalidTypeError(
                f"forward-mode AD reached {cls.__name__}, which defines no jvp; add a static "
                "jvp(ctx, *tangents) to it (or use tg.custom_jvp)"
            )
        ceil = fw_state.ceiling
        if level >= 0:
            fw_state.ceiling = level - 1  # the body's own tangents are not wanted
        try:
            with grad_mode.no_grad():
                res = cls.forward(ctx, *args, **kwargs)
        finally:
            fw_state.ceiling = ceil
        multi = isinstance(res, tuple)
        outs = res if multi else (res,)
        outs = tuple(o if isinstance(o, Tensor) else Tensor._wrap(np.asarray(o)) for o in outs)
        if (record or level >= 0) and has_complex(args, outs):
            raise complex_error(getattr(ctx, "_name", cls.__name__))
        if level >= 0:
            outs = _attach_function_tangents(cls, ctx, args, outs, level)
        if not record:
            return outs if multi else outs[0]
        parents: list[Any] = []
        metas: list[Any] = []
        for a, need in zip(args, ctx.needs_input_grad):
            if need:
                parents.append(a.grad_fn if a.grad_fn is not None else a)
                metas.append(Meta(a.shape, a.dtype))
            else:
                parents.append(None)
                metas.append(None)
        pidx = tuple(a._idx if isinstance(a, Tensor) else 0 for a in args)
        rule = _FunctionRule(cls, ctx, len(outs), len(args))
        out_meta = tuple(Meta(o.shape, o.dtype) for o in outs) if len(outs) > 1 else None
        node = new_node(
            rule, tuple(parents), pidx if any(pidx) else None, metas, None, {}, None, out_meta
        )
        wrapped = []
        for k, o in enumerate(outs):
            t = Tensor._wrap(o.data)
            if o._fw:
                t._fw = _adopt(o._fw, t)  # the open levels clear it when they close
            if o.data.dtype.kind in "fc":
                t.requires_grad = True
                t.grad_fn = node
                t._idx = k
            wrapped.append(t)
        res = tuple(wrapped) if multi else wrapped[0]
        en = grad_mode._state.enabled
        if en is not True:  # a collector is active
            en.append(node, args, res)
        return res


def _attach_function_tangents(
    cls: Any, ctx: FunctionCtx, args: tuple[Any, ...], outs: tuple[Tensor, ...], level: int
) -> tuple[Tensor, ...]:
    ceil = fw_state.ceiling
    fw_state.ceiling = level - 1
    try:
        tans = [a._fw.get(level) if isinstance(a, Tensor) and a._fw else None for a in args]
        t_out = cls.jvp(ctx, *tans)
    finally:
        fw_state.ceiling = ceil
    t_outs = t_out if isinstance(t_out, tuple) else (t_out,)
    res = []
    for o, t in zip(outs, t_outs):
        if t is not None:
            o._fw = _tangents(
                o._fw, level, t if isinstance(t, Tensor) else Tensor._wrap(np.asarray(t)), o
            )
        res.append(o)
    return tuple(res)


def custom_vjp(fun: Callable[..., Any]) -> Any:
    """Give a pure function its own reverse-mode rule (JAX's ``custom_vjp``).

    ``fwd(*args) -> (out, residuals)`` and ``bwd(residuals, g) -> tuple of cotangents``
    (one per argument) are attached with ``f.defvjp(fwd, bwd)``.  Arguments and residuals
    are Tensors detached from the tape; ``g`` is a Tensor.

    Examples
    --------
    >>> import tapegrad as tg
    >>> @tg.custom_vjp
    ... def safe_log(x):
    ...     return tg.log(x)
    >>> safe_log.defvjp(lambda x: (tg.log(x), x), lambda x, g: (g / tg.maximum(x, 1e-12),))
    >>> x = tg.tensor(2.0, requires_grad=True)
    >>> safe_log(x).backward()
    >>> x.grad
    tensor(0.5)
    """
    return _CustomVJP(fun)


class _CustomVJPFunction(Function):
    """The tape entry of every custom_vjp call: one class shared by all of them (a class
    made per decorated function would be a reference cycle, garbage only the cyclic
    collector frees).  Argument 0 is the :class:`_CustomVJP` whose rules run."""

    @staticmethod
    def forward(ctx: Any, outer: Any, *args: Any) -> Any:
        out, res = outer.fwd(*[a.detach() if isinstance(a, Tensor) else a for a in args])
        ctx.residuals = res
        ctx.outer = outer
        ctx._name = outer.__name__
        return out

    @staticmethod
    def backward(ctx: Any, *gs: Any) -> Any:
        res = ctx.outer.bwd(ctx.residuals, gs[0] if len(gs) == 1 else gs)
        return (None, *(tuple(res) if isinstance(res, (tuple, list)) else (res,)))


class _CustomVJP:
    def __init__(self, fun: Callable[..., Any]) -> None:
        self.fun = fun
        self.fwd: Callable[..., Any] | None = None
        self.bwd: Callable[..., Any] | None = None
        functools.update_wrapper(self, fun)
        if not isinstance(getattr(self, "__name__", None), str):
            self.__name__ = "custom_vjp"

    def defvjp(self, fwd: Callable[..., Any], bwd: Callable[..., Any]) -> None:
        """Attach the forward (with residuals) and backward rules."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args: Any) -> Any:
        if self.fwd is None:
            return self.fun(*args)
        if innermost_level(args) >= 0:
            raise InvalidTypeError(
                f"forward-mode AD reached the custom_vjp function {self.__name__}, which "
                "defines no jvp; give it a forward-mode rule with tg.custom_jvp instead"
            )
        return _CustomVJPFunction.apply(self, *args)


def custom_jvp(fun: Callable[..., Any]) -> Any:
    """Give a function its own forward-mode rule (JAX's ``custom_jvp``).

    Attach ``rule(primals, tangents) -> (out, tangent_out)`` with ``f.defjvp(rule)`` (also
    usable as a decorator).  The rule is used whenever an input carries forward-mode
    tangents (``tg.jvp``, ``jacfwd``, ``hessian``, the dual API); zero tangents come as
    zero arrays.  Reverse mode differentiates through ``fun``'s own body.

    Examples
    --------
    >>> import tapegrad as tg
    >>> @tg.custom_jvp
    ... def f(x):
    ...     return tg.sin(x)
    >>> @f.defjvp
    ... def f_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return tg.sin(x), 2.0 * t   # a deliberately different rule
    >>> tg.jvp(f, (0.0,), (1.0,))
    (np.float64(0.0), np.float64(2.0))
    """
    return _CustomJVP(fun)


class _CustomJVP:
    def __init__(self, fun: Callable[..., Any]) -> None:
        self.fun = fun
        self.rule: Callable[..., Any] | None = None
        functools.update_wrapper(self, fun)

    def defjvp(self, rule: Callable[..., Any]) -> Callable[..., Any]:
        """Attach ``rule(primals, tangents) -> (out, tangent_out)``; returns ``rule``."""
        self.rule = rule
        return rule

    def __call__(self, *args: Any) -> Any:
        if self.rule is None or innermost_level(args) < 0:
            return self.fun(*args)
        return custom_forward_call(self.rule, self.fun, args)
