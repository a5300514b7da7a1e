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

from typing import Any, Callable, Sequence

import numpy as np

from ..autograd import grad_mode
from ..autograd.node import Meta, Node
from ..tensor import Tensor

__all__ = ["Primitive", "primitive", "defvjp", "defjvp", "REGISTRY"]

REGISTRY: dict[str, Primitive] = {}

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
    register : bool
        Add to :data:`REGISTRY` (False for throwaway primitives, e.g. in tests).
    """

    # __dict__ holds the per-op __doc__/__name__ (for help() and the API reference).
    __slots__ = ("name", "impl", "vjps", "jvp", "save", "save_ans", "nout", "view", "joint",
                 "__dict__")

    def __init__(self, name: str, impl: Callable[..., Any], *, save: Sequence[Any] = (),
                 nout: int = 1, view: bool = False, doc: str | None = None,
                 register: bool = True) -> None:
        if register and name in REGISTRY:
            raise ValueError(f"a primitive named {name!r} is already registered")
        self.name = name
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = getattr(impl, "__module__", __name__)
        self.impl = impl
        self.vjps: tuple[Any, ...] = ()
        self.jvp: Any = None
        # A rule computing all input cotangents at once (custom Functions); None here.
        self.joint: Any = None
        self.save = frozenset(i for i in save if i != "ans")
        self.save_ans = "ans" in save
        self.nout = nout
        self.view = view
        self.__doc__ = doc if doc is not None else impl.__doc__
        if register:
            REGISTRY[name] = self

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def __call__(self, *args: Any, **params: Any) -> Any:
        for a in args:
            if isinstance(a, Tensor):
                break
        else:
            return self.impl(*args, **params)
        return self._bind(args, params)

    def _bind(self, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        vals = [a.data if isinstance(a, Tensor) else a for a in args]
        ans = self.impl(*vals, **params)
        if self.nout == 1:
            if type(ans) is not np.ndarray:  # NumPy returns scalars for 0-d results
                ans = np.asarray(ans)
        else:
            ans = tuple(a if type(a) is np.ndarray else np.asarray(a) for a in ans)
        diff = None
        if _state.enabled:
            vjps = self.vjps
            i = 0
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad and i < len(vjps) and vjps[i]:
                    if diff is None:
                        diff = [i]
                    else:
                        diff.append(i)
                i += 1
        if diff is None:
            if self.nout == 1:
                out = Tensor._wrap(ans)
                if self.view and isinstance(args[0], Tensor):
                    _share_version(args[0], out)
                return out
            return tuple(Tensor._wrap(a) for a in ans)
        return self._record(args, vals, params, ans, diff)

    def _record(self, args: tuple[Any, ...], vals: list[Any], params: dict[str, Any],
                ans: Any, diff: list[int]) -> Any:
        n = len(args)
        parents: list[Any] = [None] * n
        pidx = None
        saved: list[Any] = [None] * n
        versions = None
        save = self.save
        for i in diff:
            a = args[i]
            node = a.grad_fn
            if node is None:
                parents[i] = a
            else:
                parents[i] = node
                if a._idx:
                    if pidx is None:
                        pidx = [0] * n
                    pidx[i] = a._idx
            if i not in save:
                v = vals[i]
                saved[i] = Meta(v.shape, v.dtype)
        for i in save:
            saved[i] = vals[i]
            a = args[i]
            if isinstance(a, Tensor):
                vc = a._vc or a._counter()
                if versions is None:
                    versions = [(vc, vc[0])]
                else:
                    versions.append((vc, vc[0]))
        nout = self.nout
        if nout == 1:
            out_meta = None
        else:
            out_meta = tuple(Meta(np.shape(a), np.result_type(a)) for a in ans)
        node = Node(self, tuple(parents), None if pidx is None else tuple(pidx), saved,
                    ans if self.save_ans else None, params,
                    None if versions is None else tuple(versions), out_meta)
        if nout == 1:
            t = Tensor.__new__(Tensor)
            t.data = ans
            t.requires_grad = True
            t.grad = None
            t.grad_fn = node
            t._idx = 0
            t._vc = None
            t._hooks = None
            if self.view:
                _share_version(args[0], t)
            return t
        outs = []
        for k, a in enumerate(ans):
            t = Tensor.__new__(Tensor)
            t.data = a
            t.requires_grad = True
            t.grad = None
            t.grad_fn = node
            t._idx = k
            t._vc = None
            t._hooks = None
            outs.append(t)
        return tuple(outs)


def _share_version(src: Any, out: Tensor) -> None:
    if isinstance(src, Tensor):
        out._vc = src._vc or src._counter()


def primitive(name: str, *, save: Sequence[Any] = (), nout: int = 1, view: bool = False,
              doc: str | None = None) -> Callable[[Callable[..., Any]], Primitive]:
    """Decorator form: ``@primitive("sin", save=(0,))`` over the NumPy impl."""

    def deco(impl: Callable[..., Any]) -> Primitive:
        return Primitive(name, impl, save=save, nout=nout, view=view, doc=doc)

    return deco


def defvjp(prim: Primitive, *rules: Any) -> Primitive:
    """Attach one vjp rule per positional input (``None``: no gradient flows there)."""
    prim.vjps = tuple(rules)
    return prim


def defjvp(prim: Primitive, rule: Callable[..., Any]) -> Primitive:
    """Attach the forward-mode rule ``rule(tangents, ans, *inputs, **params)``."""
    prim.jvp = rule
    return prim
