"""Dual numbers for forward mode: tangents carried by tensors, one level per nested transform.

A tensor's ``_fw`` is ``None`` or ``{level: tangent}``.  A primitive applied to inputs that
carry tangents computes its output with the tangents of the innermost level hidden (so lower
levels, and the reverse-mode tape, see an ordinary call), then pushes that level's tangents
through its jvp rules, written with tapegrad's own ops: so the rules themselves carry the
lower levels' tangents (jvp of jvp) and are recorded on the tape when their inputs require
grad (grad of jvp).  A create_graph backward re-attaches the tangents of saved values, so
tangents also flow through a backward pass (jvp of grad: Hessian-vector products).

A level lives from :func:`open_level` to :func:`close_level` (``dual_level`` and the
transforms open and close theirs): every tangent dict that holds an open level is weakly
registered with it, so closing the level deletes that entry from every dict still alive
(tensors, and the tape's records of them). The tangents go at once, without the cyclic
garbage collector, and later operations on those tensors carry no tangent (PyTorch's
``dual_level`` semantics).

Tangents may have leading batch axes (shape ``B + primal.shape``): a whole basis of tangents
goes through one pass (``jacfwd``, ``hessian``).  The bookkeeping for that lives here:
aligning an elementwise input's tangent with the output's rank, broadcasting a contribution
to the full output shape, casting to the output's dtype, summing the inputs' contributions.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import (
    InvalidArgumentError,
    InvalidStateError,
    NotDifferentiableError,
    ShapeMismatchError,
    complex_error,
)
from ..tensor import Tensor
from . import grad_mode
from .injected import OPS

__all__ = [
    "dual_level",
    "make_dual",
    "unpack_dual",
    "forward_call",
    "batch_ndim",
    "new_level",
    "open_level",
    "close_level",
]


class _State(threading.local):
    ceiling = 1 << 62  # levels above this are hidden from the current computation


_state = _State()
_levels = itertools.count(1)


def new_level() -> int:
    """A fresh forward-mode level (strictly greater than every earlier one)."""
    return next(_levels)


class _Tangents(dict):
    """A tensor's ``{level: tangent}``; weakly referable, so that open levels can find it.

    ``owner`` is a weak reference to the tensor it was made for: when closing levels
    empties the dict, that tensor's ``_fw`` goes back to ``None`` (the fast path)."""

    __slots__ = ("owner", "__weakref__")
    owner: weakref.ref


class _Open:
    """The tangent dicts that hold one open level (weak references, pruned as they die)."""

    __slots__ = ("refs", "limit")

    def __init__(self) -> None:
        self.refs: list[weakref.ref] = []
        self.limit = 1024


# Levels opened by open_level and not closed yet (shared by all threads: levels are
# unique process-wide).
_open: dict[int, _Open] = {}


def open_level() -> int:
    """A fresh level whose tangents :func:`close_level` removes from every tensor."""
    level = new_level()
    _open[level] = _Open()
    return level


def close_level(level: int) -> None:
    """End ``level``: every tensor (and tape record) still holding a tangent at this level
    drops it, so the tangents are freed and later operations carry none."""
    entry = _open.pop(level, None)
    if entry is None:
        return
    for r in entry.refs:
        d = r()
        if d is None or d.pop(level, None) is None or d:
            continue
        t = d.owner()
        if t is not None and t._fw is d:
            t._fw = None


def _tangents(base: Any, level: int, t: Any, owner: Tensor) -> _Tangents:
    """``base`` (a tangent dict or None) with ``level: t`` added, as a new dict for
    ``owner``, registered with the open levels it holds."""
    fw = dict(base) if base else {}
    fw[level] = t
    return _adopt(fw, owner)


def _adopt(fw: Any, owner: Tensor) -> Any:
    """Register a new tangent dict ``fw`` of ``owner`` with the open levels it holds."""
    if not fw:
        return None
    if fw.__class__ is _Tangents:  # registered when it was made: a new owner only
        fw.owner = weakref.ref(owner)
        return fw
    fw = _Tangents(fw)
    fw.owner = weakref.ref(owner)
    r = None
    for lv in fw:
        entry = _open.get(lv)
        if entry is None:
            continue
        if r is None:
            r = weakref.ref(fw)
        refs = entry.refs
        refs.append(r)
        if len(refs) >= entry.limit:  # drop dead references: amortized O(1) per append
            refs[:] = [x for x in refs if x() is not None]
            entry.limit = max(1024, 2 * len(refs))
    return fw


def _tangent_of(a: Any, level: int) -> Any:
    if isinstance(a, Tensor) and a._fw is not None:
        return a._fw.get(level)
    return None


def forward_call(prim: Any, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
    """Apply ``prim`` to inputs of which some carry tangents (called by the primitive)."""
    ceil = _state.ceiling
    level = innermost_level(args)
    if level < 0:
        return _hidden_call(prim, args, params)
    _state.ceiling = level - 1
    try:
        out = prim(*args, **params)
        tangents = [_tangent_of(a, level) for a in args]
        if any(t is not None for t in tangents):
            if has_complex((*args, *tangents), out if prim.nout > 1 else (out,)):
                raise complex_error(prim.name)
            t_out = _push(prim, tangents, out, args, params)
        else:
            t_out = None
    finally:
        _state.ceiling = ceil
    if t_out is None:
        return out
    outs = out if prim.nout > 1 else (out,)
    t_outs = t_out if prim.nout > 1 else (t_out,)
    for o, t in zip(outs, t_outs):
        if t is not None and o.dtype.kind in "fc":
            o._fw = _tangents(o._fw, level, t, o)
    node = outs[0].grad_fn
    if node is not None and node.prim is prim:
        node.fw = (
            tuple(a._fw if isinstance(a, Tensor) else None for a in args),
            tuple(o._fw for o in outs),
        )
    return out


def has_complex(args: Any, outs: Any) -> bool:
    """Whether any of ``args`` or ``outs`` (tensors, arrays, numbers) holds complex data."""
    for v in (*args, *outs):
        d = v.data if isinstance(v, Tensor) else v
        if isinstance(d, (np.ndarray, np.generic)) and d.dtype.kind == "c":
            return True
        if isinstance(d, complex):
            return True
    return False


def _hidden_call(prim: Any, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
    """Call ``prim`` with every tangent above the ceiling hidden (restored afterwards)."""
    hidden = [(a, a._fw) for a in args if isinstance(a, Tensor) and a._fw is not None]
    for a, _ in hidden:
        a._fw = None
    try:
        return prim(*args, **params)
    finally:
        for a, fw in hidden:
            # An empty dict: every level it held was closed; the tensor is plain again.
            a._fw = fw or None


def batch_ndim(t: Any, x: Any) -> int:
    """The number of leading batch axes of the tangent ``t`` of the primal ``x``
    (``t.shape == B + x.shape``: a whole basis of tangents in one pass)."""
    return len(t.shape) - (x.ndim if isinstance(x, (Tensor, np.ndarray)) else np.ndim(x))


def _batch_shape(t: Any, primal: Any) -> tuple[int, ...]:
    return tuple(t.shape[: batch_ndim(t, primal)])


def _push(
    prim: Any, tangents: list[Any], out: Any, args: tuple[Any, ...], params: dict[str, Any]
) -> Any:
    """The output tangent(s): the primitive's jvp rules applied and summed."""
    if prim.jvp is not None:  # one joint rule (custom_jvp, Function.jvp)
        return prim.jvp(tuple(tangents), out, *args, **params)
    # An elementwise primitive's Jacobian is diagonal, so its vjp rules (cotangent times
    # derivative, in the output's shape) are its jvp rules too.
    rules = prim.jvps or (prim.vjps if prim.elementwise else ())
    outs = out if prim.nout > 1 else (out,)
    total: list[Any] = [None] * len(outs)
    batch: tuple[int, ...] = ()
    strong = grad_mode._state.strong_zeros
    for i, t in enumerate(tangents):
        if t is None:
            continue
        rule = rules[i] if i < len(rules) else None
        if rule is None:
            if i >= len(prim.vjps) or prim.vjps[i] is None:
                continue  # a non-differentiable input (indices, masks): no tangent
            raise NotDifferentiableError(
                f"'{prim.name}' has no forward-mode (jvp) rule for input {i}; declare one "
                "with tapegrad.ops.defjvp"
            )
        x = args[i]
        batch = _batch_shape(t, x)
        if prim.elementwise:
            pad = outs[0].ndim - len(t.shape) + len(batch)
            if pad > 0 and batch:
                t = OPS.reshape(t, batch + (1,) * pad + tuple(t.shape[len(batch) :]))
        tr = grad_mode._state.tracer
        if tr is not None and prim.opaque_rules:
            # (a rule that branches on values: one call in the compiled program)
            nested = _state.ceiling >= 0 or (
                bool(grad_mode._state.enabled)
                and any(isinstance(a, Tensor) and a.requires_grad for a in (t, *args))
            )
            r = tr.opaque_rule(prim, rule, (t, out, *args), params, nested)
        else:
            r = rule(t, out, *args, **params)
        rs = r if prim.nout > 1 else (r,)
        if strong:
            rs = _strong_zeros(rs, t, prim.elementwise)
        for k, rk in enumerate(rs):
            if rk is not None:
                total[k] = rk if total[k] is None else total[k] + rk
    res: list[Any] = []
    for o, tk in zip(outs, total):
        if tk is None or o.dtype.kind not in "fc":
            res.append(None)
            continue
        full = batch + o.shape
        if tuple(tk.shape) != full:
            tk = OPS.broadcast_to(tk, full)
        if tk.dtype != o.dtype:
            tk = OPS.astype(tk, o.dtype)
        res.append(tk)
    return tuple(res) if prim.nout > 1 else res[0]


def _strong_zeros(rs: tuple[Any, ...], t: Any, elementwise: bool) -> tuple[Any, ...]:
    """Strong zeros (``tg.autograd.strong_zeros``): the contributions of a zero tangent are
    exact zeros, entry by entry for an elementwise rule, for a tangent zero everywhere
    otherwise."""
    tv = t.data if isinstance(t, Tensor) else np.asarray(t)
    if elementwise:
        mask = tv == 0
        if not mask.any():
            return rs
        m = Tensor._wrap(mask)
        return tuple(
            None if r is None else OPS.where(m, Tensor._wrap(np.zeros((), r.dtype)), r) for r in rs
        )
    if tv.any():
        return rs
    return tuple(None if r is None else Tensor._wrap(np.zeros(r.shape, r.dtype)) for r in rs)


# --------------------------------------------------------------------------- dual API
@contextlib.contextmanager
def dual_level() -> Iterator[int]:
    """A forward-mode level for :func:`make_dual` / :func:`unpack_dual` (PyTorch's API).

    Leaving the level clears the tangents of every tensor made in it (as PyTorch does):
    they are freed at once, ``unpack_dual(t).tangent`` is ``None`` afterwards, and later
    operations on those tensors carry no tangent.

    Examples
    --------
    >>> import tapegrad as tg
    >>> from tapegrad.autograd import forward_ad as fwad
    >>> with fwad.dual_level():
    ...     x = fwad.make_dual(tg.tensor(2.0), tg.tensor(1.0))
    ...     y = x ** 3
    ...     fwad.unpack_dual(y).tangent
    tensor(12.)
    >>> fwad.unpack_dual(y).tangent is None
    True
    """
    level = open_level()
    _stack.levels.append(level)
    try:
        yield level
    finally:
        _stack.levels.pop()
        close_level(level)


class _Stack(threading.local):
    def __init__(self) -> None:
        self.levels: list[int] = []


_stack = _Stack()


def _current_level(level: int | None) -> int:
    if level is not None:
        return level
    if not _stack.levels:
        raise InvalidStateError(
            "make_dual/unpack_dual need an active forward-mode level: use them inside "
            "`with tapegrad.autograd.forward_ad.dual_level():`"
        )
    return _stack.levels[-1]


def make_dual(primal: Any, tangent: Any, level: int | None = None) -> Tensor:
    """A tensor with the values of ``primal`` that carries ``tangent`` at ``level``.

    The result is a new tensor (``primal`` is not changed); if ``primal`` requires grad the
    result is connected to it on the tape.  ``tangent`` must have ``primal``'s shape, or that
    shape with leading batch axes.
    """
    lv = _current_level(level)
    if isinstance(primal, Tensor):
        p = primal
    elif grad_mode._state.tracer is not None and isinstance(primal, np.ndarray):
        p = Tensor._wrap(primal)  # (traced by tg.jit: no copy for every compiled call)
    else:
        p = Tensor(primal)
    t = tangent if isinstance(tangent, Tensor) else Tensor._wrap(np.asarray(tangent))
    if p.dtype.kind == "c" or t.dtype.kind == "c":
        raise complex_error("make_dual")
    if p.dtype.kind != "f":
        raise NotDifferentiableError(
            f"make_dual needs a floating-point primal, got dtype {p.dtype}; convert it first, "
            "e.g. x.astype('float64')"
        )
    tshape = tuple(t.shape)
    if tshape[len(tshape) - p.ndim :] != p.shape or len(tshape) < p.ndim:
        raise ShapeMismatchError(
            f"the tangent's shape {tshape} must be the primal's shape {p.shape} (optionally "
            "with leading batch axes)"
        )
    if t.dtype != p.dtype:
        t = t.astype(p.dtype)
    d = OPS.identity(p) if p.requires_grad else Tensor._wrap(p.data)
    d._fw = _tangents(p._fw, lv, t, d)
    return d


class UnpackedDual(tuple):
    """``(primal, tangent)`` with attribute access, as returned by :func:`unpack_dual`."""

    __slots__ = ()

    @property
    def primal(self) -> Any:
        return self[0]

    @property
    def tangent(self) -> Any:
        return self[1]


def unpack_dual(tensor: Tensor, level: int | None = None) -> UnpackedDual:
    """Split ``tensor`` into its primal (without the level's tangent) and that tangent
    (``None`` when it carries none, and outside every ``dual_level`` as in PyTorch)."""
    if level is None and not _stack.levels:
        return UnpackedDual((tensor, None))
    lv = _current_level(level)
    fw = tensor._fw
    t = fw.get(lv) if fw else None
    if fw is None or t is None:
        return UnpackedDual((tensor, None))
    p = OPS.identity(tensor) if tensor.requires_grad else Tensor._wrap(tensor.data)
    p._fw = _adopt({k: v for k, v in fw.items() if k != lv}, p)
    return UnpackedDual((p, t))


def innermost_level(args: Any) -> int:
    """The highest visible forward-mode level carried by any tensor in ``args`` (-1: none)."""
    ceil = _state.ceiling
    level = -1
    for a in args:
        if isinstance(a, Tensor) and a._fw is not None:
            for lv in a._fw:
                if level < lv <= ceil:
                    level = lv
    return level


def custom_forward_call(rule: Any, fun: Any, args: tuple[Any, ...]) -> Any:
    """Run ``fun(*args)`` whose tangents come from ``rule(primals, tangents) -> (out, t_out)``
    at the innermost level (lower levels go through ``rule``'s own ops as usual)."""
    level = innermost_level(args)
    if level < 0:
        return fun(*args)
    ceil = _state.ceiling
    _state.ceiling = level - 1
    try:
        tangents = []
        for a in args:
            t = _tangent_of(a, level)
            if t is None and isinstance(a, Tensor) and a.dtype.kind in "fc":
                t = Tensor._wrap(np.zeros(a.shape, a.dtype))
            tangents.append(t)
        out, t_out = rule(tuple(args), tuple(tangents))
    finally:
        _state.ceiling = ceil
    outs = out if isinstance(out, tuple) else (out,)
    t_outs = t_out if isinstance(t_out, tuple) else (t_out,)
    if len(outs) != len(t_outs):
        raise InvalidArgumentError(
            f"the custom jvp rule returned {len(outs)} outputs but {len(t_outs)} tangents; "
            "return (outputs, tangents) with one tangent per output"
        )
    if has_complex((*args, *tangents, *t_outs), outs):
        raise complex_error(getattr(fun, "__name__", "custom_jvp"))
    res = []
    for o, t in zip(outs, t_outs):
        o = o if isinstance(o, Tensor) else Tensor._wrap(np.asarray(o))
        if t is not None:
            t = t if isinstance(t, Tensor) else Tensor._wrap(np.asarray(t, dtype=o.dtype))
            o = _with_tangent(o, level, t)
        res.append(o)
    return tuple(res) if isinstance(out, tuple) else res[0]


def _with_tangent(o: Tensor, level: int, t: Any) -> Tensor:
    d = OPS.identity(o) if o.requires_grad else Tensor._wrap(o.data)
    d._fw = _tangents(o._fw, level, t, d)
    return d
