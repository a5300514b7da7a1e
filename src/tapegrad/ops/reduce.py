"""Reductions: sum, mean, prod, max/min, var/std, logsumexp, norm, cumsum/cumprod, any/all,
and the order statistics sort/argsort/topk/median.

``axis`` is None, an int or a tuple of ints (negative allowed); ``keepdims`` as NumPy.
Rules receive the normalised axis tuple and restore reduced axes before broadcasting.
Masks in rules (ties, zeros) are constants: they are computed on the raw values, only the
differentiable part of a rule is written with tapegrad ops.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from .. import return_types
from ..errors import AxisError, InvalidArgumentError, InvalidTypeError
from ..tensor import Tensor
from . import elementwise as _ew
from .registry import Primitive, batch_ndim, defjvp, deflinear, defvjp, expose, on_tangent

__all__ = [
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "var",
    "std",
    "logsumexp",
    "norm",
    "cumsum",
    "cumprod",
    "any",
    "all",
    "sort",
    "argsort",
    "topk",
    "median",
]


def normalize_axis(axis: Any, ndim: int, op: str | None = None) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative ints (all axes for None).

    A 0-d array accepts axis 0 or -1 (as NumPy and PyTorch do) and reduces nothing.  ``op``
    (the calling op's name) starts the message of any error raised.
    """
    pre = f"{op}: " if op else ""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    elif not isinstance(axis, (tuple, list)):
        raise InvalidTypeError(
            f"{pre}axis must be None, an int or a tuple of ints, got "
            f"{type(axis).__name__} ({axis!r})"
        )
    out = []
    for a in axis:
        if not isinstance(a, (int, np.integer)) or isinstance(a, (bool, np.bool_)):
            raise InvalidTypeError(f"{pre}axis entries must be ints, got {a!r} in axis={axis!r}")
        a = int(a)
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            lo, hi = -builtins.max(ndim, 1), builtins.max(ndim, 1) - 1
            raise AxisError(
                f"{pre}axis {a} is out of bounds for an array of dimension {ndim}; "
                f"pass an axis in [{lo}, {hi}]"
            )
        if ndim:
            out.append(a % ndim)
    if len(set(out)) != len(out):
        raise InvalidArgumentError(
            f"{pre}repeated axis in axis={tuple(axis)!r}; name each axis once"
        )
    return tuple(sorted(out))


def _ndim(x: Any) -> int:
    return x.data.ndim if isinstance(x, Tensor) else np.ndim(x)


def _shape(x: Any) -> tuple[int, ...]:
    return x.data.shape if isinstance(x, Tensor) else np.shape(x)


def _val(x: Any) -> Any:
    """The raw value (for masks, which are constants of the derivative)."""
    return x.data if isinstance(x, Tensor) else x


def _kshape(shape: tuple[int, ...], axis: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axis else d for i, d in enumerate(shape))


def _keep(v: Any, shape: tuple[int, ...], axis: tuple[int, ...], keepdims: bool) -> Any:
    """A reduced value with its reduced axes restored as size 1 (broadcasts against x)."""

    if keepdims or not axis:
        return v
    return _shape_ops.reshape(v, _kshape(shape, axis))


def expand_reduced(g: Any, shape: tuple[int, ...], axis: tuple[int, ...], keepdims: bool) -> Any:
    """Broadcast a reduced cotangent back to ``shape``."""
    if g.__class__ is np.ndarray:  # first-order backward: plain NumPy, nothing to record
        if not keepdims and axis:
            g = g.reshape(_kshape(shape, axis))
        out = np.empty(shape, g.dtype)  # a fresh array (no read-only broadcast view)
        out[...] = g
        return out

    if not keepdims and axis:
        g = _shape_ops.reshape(g, _kshape(shape, axis))
    return _shape_ops.broadcast_to(g, shape)


def _count(shape: tuple[int, ...], axis: tuple[int, ...]) -> int:
    n = 1
    for a in axis:
        n *= shape[a]
    return n


def _need_nonempty(name: str, x: Any, axis: tuple[int, ...]) -> None:
    shape = _shape(x)
    for a in axis:
        if shape[a] == 0:
            raise InvalidArgumentError(
                f"{name} over axis {a}, which has size 0 (shape {shape}): the result of an "
                f"empty reduction is undefined for {name}. Reduce over non-empty axes only"
            )


# Forward mode: a jvp rule's tangent ``t`` may carry leading batch axes (``t.shape == B +
# x.shape``); the primal values (no batch axes) broadcast against ``t`` from the right, and
# the reductions are applied to tangents with ``on_tangent``, which places the batch axes.
# --------------------------------------------------------------------------- sum / mean
_add_reduce = np.add.reduce  # np.sum without its Python wrapper (same promotion rules)

_sum = deflinear(
    Primitive(
        "sum",
        lambda x, *, axis, keepdims: _add_reduce(x, axis=axis, keepdims=keepdims),
        doc="Sum over the canonical axis tuple ``axis``.",
        explain={"partials": ("1",), "tangent": ("sum({t})",)},
    ),
    lambda g, ans, x, *, axis, keepdims: expand_reduced(g, x.shape, axis, keepdims),
    batch="axis",
)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Sum over ``axis``.

    Parameters
    ----------
    x : Tensor or array_like
    axis : None, int or tuple of ints
        Axes to reduce (negative counts from the end); None reduces all axes.
    keepdims : bool
        Keep the reduced axes as size 1.

    Returns
    -------
    Tensor
        The sum; its gradient is the cotangent broadcast back over the reduced axes.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.sum(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    tensor([4., 6.])
    """
    return _sum(x, axis=normalize_axis(axis, _ndim(x), op="sum"), keepdims=bool(keepdims))


def _mean_explain(call: Any) -> Any:
    # tapegrad.explain writes the partial as 1/n, n the number of elements averaged.
    n_in = np.size(call.args[0])
    n_out = 1 if call.value is None else builtins.max(np.size(call.value), 1)
    return {"partials": (f"1/{n_in // n_out}",), "tangent": ("mean({t})",)}


_mean = deflinear(
    Primitive(
        "mean",
        lambda x, *, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
        doc="Arithmetic mean over the canonical axis tuple ``axis``.",
        explain=_mean_explain,
    ),
    lambda g, ans, x, *, axis, keepdims: expand_reduced(
        g / builtins.max(_count(x.shape, axis), 1), x.shape, axis, keepdims
    ),
    batch="axis",
)


def _mean_jvp(t: Any, ans: Any, x: Any, *, axis: tuple[int, ...], keepdims: bool) -> Any:
    # Linear, but not the op itself on empty slices: they have mean nan but no input to
    # vary, so their tangent is 0 (the transpose of the vjp, which gives them no gradient).
    prim = _mean if _count(_shape(x), axis) else _sum
    return on_tangent(prim, t, x, axis=axis, keepdims=keepdims)


defjvp(_mean, _mean_jvp)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Arithmetic mean over ``axis`` (None: all axes).

    The mean of an empty axis is nan (with NumPy's warning).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.mean(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=-1, keepdims=True)
    tensor([[1.5],
            [3.5]])
    """
    return _mean(x, axis=normalize_axis(axis, _ndim(x), op="mean"), keepdims=bool(keepdims))


# --------------------------------------------------------------------------- prod
def _first_in_slices(mask: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    """The first true entry (C order over ``axis``) of every slice of ``mask``."""
    shape = mask.shape
    n = _count(shape, axis)
    idx = np.arange(n).reshape([shape[i] if i in axis else 1 for i in range(len(shape))])
    key = np.where(mask, idx, n)
    return mask & (key == key.min(axis=axis, keepdims=True))


def _prod_vjp(g: Any, ans: Any, x: Any, *, axis: tuple[int, ...], keepdims: bool) -> Any:
    # d prod / d x_i = product of the others.  A slice with a zero at z is peeled as
    # prod(x) = x_z * prod(x with x_z := 1), so every order of derivative stays exact; in a
    # first-order backward one peel suffices (the rest of such a slice has gradient 0).
    shape = x.shape
    g = _keep(g, shape, axis, keepdims)
    y = _keep(ans, shape, axis, keepdims)
    recording = isinstance(g, Tensor)
    if not recording and x.size:
        # PyTorch's prod_backward: g * (prod / x) when x has no zero at all, else the
        # product of the others (exclusive products from both ends) in every slice, which
        # is also finite beside an infinite entry.
        if not (x == 0).any():
            return g * (y / x)
        return g * _others_product(x, axis)
    peeled = []
    while True:
        zero = _val(x) == 0
        if not zero.any():
            break
        first = _first_in_slices(zero, axis)
        has = zero.any(axis=axis, keepdims=True)
        xp = _ew.where(first, 1.0, x)
        peeled.append((first, g * prod(xp, axis, keepdims=True)))
        xz = sum(_ew.where(first, x, 0.0), axis, keepdims=True)
        g = g * _ew.where(has, xz, 1.0)
        x = xp if recording else _ew.where(has, 1.0, x)
        y = None
    if y is None:
        y = prod(x, axis, keepdims=True)
    r = g * y / x
    for first, dz in reversed(peeled):
        r = _ew.where(first, dz, r)
    return r


def _others_product(x: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    """For each element, the product of the other elements of its slice over ``axis``
    (C order over the reduced axes), without division."""
    k = len(axis)
    moved = np.moveaxis(x, axis, tuple(range(x.ndim - k, x.ndim)))
    mshape = moved.shape
    flat = moved.reshape(mshape[: x.ndim - k] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), flat.dtype)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, np.flip(flat[..., 1:], -1)], axis=-1), axis=-1)
    others = (left * np.flip(right, -1)).reshape(mshape)
    return np.moveaxis(others, tuple(range(x.ndim - k, x.ndim)), axis)


_prod = defvjp(
    Primitive(
        "prod",
        lambda x, *, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
        save=(0, "ans"),
        doc="Product over the canonical axis tuple ``axis``. First-order gradient as "
        "PyTorch's: ``g * (prod / x)`` when x has no zero, else the product of the other "
        "entries of each slice (finite beside an infinite entry).",
    ),
    _prod_vjp,
)


def _prod_jvp(t: Any, ans: Any, x: Any, *, axis: tuple[int, ...], keepdims: bool) -> Any:
    # No zeros: prod(x) * sum(t / x).  A slice with a zero at z (its first) is peeled as in
    # the vjp: prod(x) = x_z * prod(xp), xp = x with x_z := 1, so its tangent is
    # t_z * prod(xp) + x_z * (tangent of prod(xp) with t_z := 0) -- exact at every order.
    if not (_val(x) == 0).any():
        return ans * on_tangent(_sum, t / x, x, axis=axis, keepdims=keepdims)
    nb = batch_ndim(t, x)

    acc = factor = None
    while True:
        zero = _val(x) == 0
        if not zero.any():
            break
        first = _first_in_slices(zero, axis)
        has = zero.any(axis=axis, keepdims=True)
        xp = _ew.where(first, 1.0, x)
        tz = on_tangent(_sum, _ew.where(first, t, 0.0), x, axis=axis, keepdims=True)
        term = tz * prod(xp, axis, True)
        f = _ew.where(has, sum(_ew.where(first, x, 0.0), axis, keepdims=True), 1.0)
        term = term if factor is None else factor * term
        acc = term if acc is None else acc + term
        factor = f if factor is None else factor * f
        x, t = xp, _ew.where(first, 0.0, t)
    base = prod(x, axis, keepdims=True) * on_tangent(_sum, t / x, x, axis=axis, keepdims=True)
    r = acc + factor * base
    return _shape_ops.reshape(r, tuple(t.shape[:nb]) + _shape(ans)) if not keepdims else r


defjvp(_prod, _prod_jvp)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Product of the elements over ``axis`` (None: all axes).

    The gradient of each element is the product of the other elements of its slice, exact
    also where the input has zeros (one zero: only the zero gets a nonzero gradient;
    several zeros: all gradients are 0), as in PyTorch.  Higher derivatives are exact too.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> tg.prod(x).backward()
    >>> x.grad
    tensor([0., 6., 0.])
    """
    return _prod(x, axis=normalize_axis(axis, _ndim(x), op="prod"), keepdims=bool(keepdims))


# --------------------------------------------------------------------------- max / min
def _extremum_weights(ans: Any, x: Any, axis: tuple[int, ...]) -> np.ndarray:
    """1/k at each of the k extremal elements of a slice, 0 elsewhere (a constant; tensor
    ops, so that tg.jit traces it)."""
    shape = _shape(x)
    hit = _ew.equal(x, _shape_ops.reshape(ans, _kshape(shape, axis)))
    hit = _ew.astype(hit, _val(x).dtype)
    return hit / _sum(hit, axis=axis, keepdims=True)


def _extremum_vjp(g: Any, ans: Any, x: Any, *, axis: tuple[int, ...], keepdims: bool) -> Any:
    return _keep(g, x.shape, axis, keepdims) * _extremum_weights(ans, x, axis)


def _extremum_jvp(t: Any, ans: Any, x: Any, *, axis: tuple[int, ...], keepdims: bool) -> Any:
    w = _extremum_weights(ans, x, axis)
    return on_tangent(_sum, t * w, x, axis=axis, keepdims=keepdims)


_max = defvjp(
    Primitive(
        "max",
        lambda x, *, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
        save=(0, "ans"),
        doc="Maximum over ``axis``; ties share the gradient evenly.",
        kink="Ties share the gradient evenly: each of k maximal elements gets 1/k (PyTorch's "
        "amax); a slice holding NaN has a NaN gradient.",
    ),
    _extremum_vjp,
)
defjvp(_max, _extremum_jvp)
_min = defvjp(
    Primitive(
        "min",
        lambda x, *, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
        save=(0, "ans"),
        doc="Minimum over ``axis``; ties share the gradient evenly.",
        kink="Ties share the gradient evenly: each of k minimal elements gets 1/k (PyTorch's "
        "amin); a slice holding NaN has a NaN gradient.",
    ),
    _extremum_vjp,
)
defjvp(_min, _extremum_jvp)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Largest element over ``axis`` (None: all axes), like ``numpy.max`` / ``torch.amax``.

    Ties share the gradient evenly: if k elements of a slice equal its maximum, each gets
    1/k of the cotangent (PyTorch's convention for ``amax``).  A slice holding a NaN has the
    maximum NaN and, as with ``torch.amax``, a NaN gradient throughout (no element equals
    NaN).  Reducing over an axis of size 0 raises ValueError.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 3.0, 3.0], requires_grad=True)
    >>> tg.max(x).backward()
    >>> x.grad
    tensor([0. , 0.5, 0.5])
    """
    axis = normalize_axis(axis, _ndim(x), op="max")
    _need_nonempty("max", x, axis)
    return _max(x, axis=axis, keepdims=bool(keepdims))


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Smallest element over ``axis`` (None: all axes), like ``numpy.min`` / ``torch.amin``.

    Ties share the gradient evenly (1/k to each of the k minimal elements), as PyTorch's
    ``amin``; a slice holding a NaN has minimum NaN and a NaN gradient throughout.  Reducing
    over an axis of size 0 raises ValueError.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.min(tg.tensor([[1.0, -2.0], [0.5, 4.0]]), axis=1)
    tensor([-2. ,  0.5])
    """
    axis = normalize_axis(axis, _ndim(x), op="min")
    _need_nonempty("min", x, axis)
    return _min(x, axis=axis, keepdims=bool(keepdims))


amax = max
amin = min


# --------------------------------------------------------------------------- argmax / argmin
def _arg_impl(fn: Any) -> Any:
    def impl(x: Any, *, axis: Any, keepdims: bool) -> Any:
        return np.asarray(fn(x, axis=axis, keepdims=keepdims)).astype(np.int64, copy=False)

    return impl


_argmax = Primitive(
    "argmax", _arg_impl(np.argmax), doc="Index of the maximum (int64, not differentiable)."
)
_argmin = Primitive(
    "argmin", _arg_impl(np.argmin), doc="Index of the minimum (int64, not differentiable)."
)


def _arg_axis(name: str, x: Any, axis: Any) -> Any:
    if axis is None:
        if _shape(x) and 0 in _shape(x):
            raise InvalidArgumentError(
                f"{name} of an empty array (shape {_shape(x)}) is undefined; pass a non-empty array"
            )
        return None
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
        raise InvalidTypeError(
            f"{name} takes one axis (an int) or None, got axis={axis!r}; to "
            "search several axes, reshape them into one first"
        )
    ax = normalize_axis(axis, _ndim(x), op=name)
    if not ax:
        return None
    _need_nonempty(name, x, ax)
    return ax[0]


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Index of the largest element along ``axis`` (None: in the flattened array).

    Not differentiable: the result is an int64 tensor that never requires grad.  At ties
    the first index is returned (as NumPy and PyTorch).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.argmax(tg.tensor([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    tensor([1, 0])
    """
    return _argmax(x, axis=_arg_axis("argmax", x, axis), keepdims=bool(keepdims))


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Index of the smallest element along ``axis`` (None: in the flattened array).

    Not differentiable (int64 output).  At ties the first index is returned.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.argmin(tg.tensor([3.0, -1.0, 2.0]))
    tensor(1)
    """
    return _argmin(x, axis=_arg_axis("argmin", x, axis), keepdims=bool(keepdims))


# --------------------------------------------------------------------------- var / std
def _dof(shape: tuple[int, ...], axis: tuple[int, ...], ddof: Any) -> float:
    d = _count(shape, axis) - ddof
    return d if d > 0 else 0.0


def _var_vjp(g: Any, ans: Any, x: Any, *, axis: tuple[int, ...], ddof: Any, keepdims: bool) -> Any:
    shape = x.shape
    d = _dof(shape, axis, ddof)
    c = 2.0 / d if d else math.inf
    return _keep(g, shape, axis, keepdims) * (x - mean(x, axis, keepdims=True)) * c


def _std_vjp(g: Any, ans: Any, x: Any, *, axis: tuple[int, ...], ddof: Any, keepdims: bool) -> Any:
    shape = x.shape
    d = _dof(shape, axis, ddof)
    g = _keep(g, shape, axis, keepdims)
    s = _keep(ans, shape, axis, keepdims)
    at0 = _val(s) == 0
    if np.any(at0):
        scale = _ew.where(at0, 0.0, g / _ew.where(at0, 1.0, s))
    else:
        scale = g / s
    c = 1.0 / d if d else math.inf
    return scale * (x - mean(x, axis, keepdims=True)) * c


def _centered_dot(t: Any, x: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    """``sum(t * (x - mean(x)), axis)``: the tangent of ``sum((x - mean)**2) / 2``."""
    d = x - mean(x, axis, keepdims=True)
    return on_tangent(_sum, t * d, x, axis=axis, keepdims=keepdims)


def _var_jvp(t: Any, ans: Any, x: Any, *, axis: tuple[int, ...], ddof: Any, keepdims: bool) -> Any:
    d = _dof(_shape(x), axis, ddof)
    return _centered_dot(t, x, axis, keepdims) * (2.0 / d if d else math.inf)


def _std_jvp(t: Any, ans: Any, x: Any, *, axis: tuple[int, ...], ddof: Any, keepdims: bool) -> Any:
    d = _dof(_shape(x), axis, ddof)
    s = _centered_dot(t, x, axis, keepdims)
    at0 = _val(ans) == 0
    if np.any(at0):  # std'(0) = 0 (PyTorch)
        s = _ew.where(at0, 0.0, s / _ew.where(at0, 1.0, ans))
    else:
        s = s / ans
    return s * (1.0 / d if d else math.inf)


_var = defvjp(
    Primitive(
        "var",
        lambda x, *, axis, ddof, keepdims: np.var(x, axis=axis, ddof=ddof, keepdims=keepdims),
        save=(0,),
        doc="Variance over ``axis`` with ``ddof`` delta degrees of freedom.",
    ),
    _var_vjp,
)
_std = defvjp(
    Primitive(
        "std",
        lambda x, *, axis, ddof, keepdims: np.std(x, axis=axis, ddof=ddof, keepdims=keepdims),
        save=(0, "ans"),
        doc="Standard deviation over ``axis``; std'(at 0) = 0.",
        kink="Where the standard deviation is 0 its derivative is taken as 0 (PyTorch).",
    ),
    _std_vjp,
)
defjvp(_var, _var_jvp)
defjvp(_std, _std_jvp)


def _ddof(ddof: Any) -> Any:
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, float, np.number)):
        raise InvalidTypeError(
            f"ddof must be a number (0 for the population variance, 1 for the "
            f"sample variance), got {ddof!r}"
        )
    return int(ddof) if float(ddof).is_integer() else float(ddof)


def var(x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False) -> Any:
    """Variance over ``axis``: ``sum((x - mean)**2) / (N - ddof)``, N the reduced count.

    ``ddof=1`` gives the unbiased sample variance (``torch.var(correction=1)``).  With
    ``N - ddof <= 0`` the result is inf or nan, as in NumPy.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.var(tg.tensor([1.0, 2.0, 3.0, 4.0]), ddof=1)
    tensor(1.66666667)
    """
    return _var(
        x, axis=normalize_axis(axis, _ndim(x), op="var"), ddof=_ddof(ddof), keepdims=bool(keepdims)
    )


def std(x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False) -> Any:
    """Standard deviation over ``axis``: ``sqrt(var(x, axis, ddof))``.

    Where the standard deviation is 0 (a constant slice) its derivative is taken as 0,
    as in PyTorch (the true derivative of sqrt at 0 is unbounded).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.std(tg.tensor([[1.0, 3.0], [2.0, 2.0]]), axis=1)
    tensor([1., 0.])
    """
    return _std(
        x, axis=normalize_axis(axis, _ndim(x), op="std"), ddof=_ddof(ddof), keepdims=bool(keepdims)
    )


# --------------------------------------------------------------------------- logsumexp
def _logsumexp_impl(x: Any, *, axis: tuple[int, ...], keepdims: bool) -> Any:
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0).astype(m.dtype, copy=False)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = out.reshape([d for i, d in enumerate(out.shape) if i not in axis])
    return out


_logsumexp = defvjp(
    Primitive(
        "logsumexp",
        _logsumexp_impl,
        save=(0, "ans"),
        doc="``log(sum(exp(x)))`` over ``axis``, shifted by the max for stability.",
    ),
    lambda g, ans, x, *, axis, keepdims: (
        _keep(g, x.shape, axis, keepdims) * _ew.exp(x - _keep(ans, x.shape, axis, keepdims))
    ),
)
defjvp(
    _logsumexp,
    lambda t, ans, x, *, axis, keepdims: on_tangent(
        _sum,
        t * _ew.exp(x - _keep(ans, _shape(x), axis, keepdims)),
        x,
        axis=axis,
        keepdims=keepdims,
    ),
)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``log(sum(exp(x), axis))`` computed stably (shifted by the maximum).

    No overflow for large inputs; an empty reduction gives -inf.  The gradient is the
    softmax of ``x`` along ``axis``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.logsumexp(tg.tensor([1000.0, 1000.0]))
    tensor(1000.69314718)
    """
    if not isinstance(x, Tensor):
        x = np.asarray(x)
    if x.dtype.kind not in "fc":
        x = _ew.astype(x, np.float64)
    return _logsumexp(
        x, axis=normalize_axis(axis, _ndim(x), op="logsumexp"), keepdims=bool(keepdims)
    )


# --------------------------------------------------------------------------- norms
def _vector_norm_impl(x: Any, *, ord: float, axis: tuple[int, ...], keepdims: bool) -> Any:
    if ord == 2.0:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    a = np.abs(x)
    if ord == 1.0:
        return np.sum(a, axis=axis, keepdims=keepdims)
    if ord == math.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    return np.sum(a**ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _vector_norm_vjp(
    g: Any, ans: Any, x: Any, *, ord: float, axis: tuple[int, ...], keepdims: bool
) -> Any:
    shape = x.shape
    g = _keep(g, shape, axis, keepdims)
    if ord == 1.0:
        return g * _ew.sign(x)
    xv = _val(x)
    if ord in (math.inf, -math.inf):
        w = _norm_inf_weights(ans, xv, axis)
        return _ew.sign(x) * ((g / w.sum(axis=axis, keepdims=True)) * w)
    n = _keep(ans, shape, axis, keepdims)
    if ord < 1.0:
        x0 = xv == 0
        if np.any(x0):
            safe = _ew.where(x0, 1.0, x)
            coef = _ew.where(x0, 0.0, _ew.sign(x) * _ew.abs(safe) ** (ord - 1.0))
        else:
            coef = _ew.sign(x) * _ew.abs(x) ** (ord - 1.0)
        return g * coef * n ** (1.0 - ord)
    n0 = _val(n) == 0
    if ord == 2.0:  # PyTorch: g * (x / n), with x / n taken as 0 where n == 0
        if np.any(n0):
            return g * _ew.where(n0, 0.0, x / _ew.where(n0, 1.0, n))
        return g * (x / n)
    if np.any(n0):
        scale = _ew.where(n0, 0.0, g / _ew.where(n0, 1.0, n) ** (ord - 1.0))
    else:
        scale = g / n ** (ord - 1.0)
    return _norm_coef(x, ord) * scale


def _norm_coef(x: Any, ord: float) -> Any:
    """d|x|^p / dx / p as PyTorch writes it: ``x * |x|**(p-2)`` for p >= 2 (the sign of a
    -0.0 survives), ``sign(x) * |x|**(p-1)`` for 1 < p < 2."""
    if ord >= 2.0:
        return x * _ew.abs(x) ** (ord - 2.0)
    return _ew.sign(x) * _ew.abs(x) ** (ord - 1.0)


def _norm_inf_weights(ans: Any, xv: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    """The elements that attain the (-)inf-norm of their slice, NaNs included (PyTorch:
    a NaN is the maximum of its slice), as 0/1 in x's dtype."""
    a = np.abs(xv)
    hit = (a == np.reshape(_val(ans), _kshape(xv.shape, axis))) | np.isnan(a)
    return hit.astype(xv.dtype)


_vector_norm = defvjp(
    Primitive(
        "vector_norm",
        _vector_norm_impl,
        save=(0, "ans"),
        doc="Vector p-norm over the canonical axis tuple ``axis`` (p = ``ord``). "
        "PyTorch's conventions: gradient 0 at the zero vector (and at zero entries for "
        "p < 1); for p = +-inf the elements attaining the norm share the gradient evenly, "
        "and a NaN attains it (its gradient is g * sign(NaN) = 0).",
        kink="Gradient 0 at the zero vector (and at zero entries for p < 1); for p = +-inf the "
        "elements attaining the norm share the gradient evenly (PyTorch).",
    ),
    _vector_norm_vjp,
)


def _vector_norm_jvp(
    t: Any, ans: Any, x: Any, *, ord: float, axis: tuple[int, ...], keepdims: bool
) -> Any:
    # The transpose of _vector_norm_vjp, with the same conventions at kinks.
    if ord == 1.0:
        return on_tangent(_sum, t * _ew.sign(x), x, axis=axis, keepdims=keepdims)
    xv = _val(x)
    if ord in (math.inf, -math.inf):
        hit = _norm_inf_weights(ans, xv, axis)
        w = _ew.sign(xv) * (hit / hit.sum(axis=axis, keepdims=True))
        return on_tangent(_sum, t * w, x, axis=axis, keepdims=keepdims)
    if ord < 1.0:
        x0 = xv == 0
        if np.any(x0):
            safe = _ew.where(x0, 1.0, x)
            coef = _ew.where(x0, 0.0, _ew.sign(x) * _ew.abs(safe) ** (ord - 1.0))
        else:
            coef = _ew.sign(x) * _ew.abs(x) ** (ord - 1.0)
        return on_tangent(_sum, t * coef, x, axis=axis, keepdims=keepdims) * ans ** (1.0 - ord)
    coef = x if ord == 2.0 else _norm_coef(x, ord)
    s = on_tangent(_sum, t * coef, x, axis=axis, keepdims=keepdims)
    n0 = _val(ans) == 0
    if np.any(n0):  # the zero vector: derivative 0 (PyTorch)
        return _ew.where(n0, 0.0, s / _ew.where(n0, 1.0, ans) ** (ord - 1.0))
    return s / ans if ord == 2.0 else s / ans ** (ord - 1.0)


defjvp(_vector_norm, _vector_norm_jvp)


def _vnorm(x: Any, ord: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    if ord is None:
        ord = 2
    if (
        isinstance(ord, str)
        or not isinstance(ord, (int, float, np.number))
        or isinstance(ord, (bool, np.bool_))
    ):
        raise InvalidArgumentError(
            f"norm: invalid norm order {ord!r} for vectors: use None, a number, inf or "
            "-inf ('fro' and 'nuc' are matrix norms: pass a 2-tuple axis)"
        )
    p = float(ord)
    if math.isnan(p):
        raise InvalidArgumentError("norm order nan is not a norm; use a number, inf or -inf")
    if p == 0.0:
        return _ew.astype(sum(_ew.not_equal(x, 0), axis, keepdims), _val(x).dtype)
    if math.isinf(p):
        _need_nonempty(f"norm(ord={ord!r})", x, axis)
    return _vector_norm(x, ord=p, axis=axis, keepdims=bool(keepdims))


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, int], keepdims: bool) -> Any:

    nd = _ndim(x)
    row, col = (normalize_axis(a, nd, op="norm")[0] for a in axes)
    if row == col:
        raise InvalidArgumentError(
            f"norm got the same axis twice in axis={axes!r}; a matrix norm "
            "needs two different axes (rows, columns)"
        )
    if ord is None or ord == "fro":
        return _vector_norm(x, ord=2.0, axis=tuple(sorted((row, col))), keepdims=keepdims)
    if ord in ("nuc", 2, -2):
        from .linalg import norm as _singular_value_norm  # through svd (linalg imports us)

        return _singular_value_norm(x, ord, (row, col), keepdims)
    if isinstance(ord, str) or ord not in (1, -1, math.inf, -math.inf):
        raise InvalidArgumentError(
            f"norm: invalid norm order {ord!r} for matrices: use None, 'fro', 'nuc', "
            "1, -1, 2, -2, inf or -inf"
        )
    _need_nonempty(f"norm(ord={ord!r})", x, (row, col))
    a = _ew.abs(x)
    inner, outer = (row, col) if ord in (1, -1) else (col, row)
    r = sum(a, inner, keepdims=True)
    r = max(r, outer, keepdims=True) if ord > 0 else min(r, outer, keepdims=True)
    if not keepdims:
        r = _shape_ops.reshape(r, [d for i, d in enumerate(_shape(r)) if i not in (row, col)])
    return r


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """Vector or matrix norm, like ``numpy.linalg.norm``.

    Parameters
    ----------
    x : Tensor or array_like
    ord : None, number, inf, -inf or 'fro'
        Vector norms (an int ``axis``, or a 1-D ``x`` with ``axis=None``): None or 2 the
        Euclidean norm, 1 the sum of absolute values, inf / -inf the largest / smallest
        absolute value, 0 the number of nonzeros (not differentiable), any other p
        ``sum(|x|**p)**(1/p)``.  Matrix norms (a 2-tuple ``axis``, or a 2-D ``x`` with
        ``axis=None``): None or 'fro' the Frobenius norm, 1 / -1 the max / min column sum
        of absolute values, inf / -inf the max / min row sum.  'nuc', 2 and -2 need
        singular values: use ``tg.linalg.norm``.
    axis : None, int or 2-tuple of ints
        With ``ord=None`` and ``axis=None`` the 2-norm of all elements (any ndim).
    keepdims : bool
        Keep the reduced axes as size 1.

    Notes
    -----
    Conventions at kinks follow PyTorch: the gradient of the 2-norm (and of any p-norm) at
    the zero vector is 0; the 1-norm uses ``abs'(0) = 0``; for p < 1 the gradient is 0 at
    zero entries; inf / -inf share the gradient evenly between tied elements (with the
    sign of each element).

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([3.0, 4.0], requires_grad=True)
    >>> n = tg.norm(x)
    >>> n.backward()
    >>> n, x.grad
    (tensor(5., grad_fn=<vector_normBackward>), tensor([0.6, 0.8]))
    """
    if not isinstance(x, Tensor):
        x = np.asarray(x)
    if x.dtype.kind not in "fc":
        x = _ew.astype(x, np.float64)
    nd = _ndim(x)
    keepdims = bool(keepdims)
    if axis is None:
        if ord is None:
            return _vector_norm(x, ord=2.0, axis=tuple(range(nd)), keepdims=keepdims)
        if nd == 1:
            return _vnorm(x, ord, (0,), keepdims)
        if nd == 2:
            return _matrix_norm(x, ord, (0, 1), keepdims)
        raise InvalidArgumentError(
            f"norm with ord={ord!r} and axis=None needs a 1-D or 2-D input, got "
            f"{nd}-D; pass axis= (an int for vector norms, a 2-tuple for matrix "
            "norms) or ord=None for the 2-norm of all elements"
        )
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    axis = tuple(axis)
    if len(axis) == 1:
        return _vnorm(x, ord, normalize_axis(axis, nd, op="norm"), keepdims)
    if len(axis) == 2:
        if nd < 2:
            raise InvalidArgumentError(
                f"norm: a matrix norm (axis={axis!r}) needs an input with at least 2 "
                f"dimensions, got {nd}-D; pass one axis for a vector norm"
            )
        return _matrix_norm(x, ord, (axis[0], axis[1]), keepdims)
    raise InvalidArgumentError(
        f"norm takes one axis (vector norm) or two (matrix norm), got axis={axis!r}"
    )


# --------------------------------------------------------------------------- cumsum / cumprod
def _cumsum_impl(x: Any, *, axis: int, reverse: bool) -> Any:
    if reverse:
        r = np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
    else:
        r = np.cumsum(x, axis=axis)
    if r.dtype.kind == "f":  # PyTorch's sum starts at +0: a leading -0.0 entry gives +0.0
        np.add(r, 0.0, out=r)
    return r


_cumsum = deflinear(
    Primitive(
        "cumsum", _cumsum_impl, doc="Cumulative sum along ``axis`` (from the end when ``reverse``)."
    ),
    lambda g, ans, x, *, axis, reverse: _cumsum(g, axis=axis, reverse=not reverse),
    batch="axis",
)


def _cumprod_vjp(g: Any, ans: Any, x: Any, *, axis: int) -> Any:
    # No zeros: reversed_cumsum(g * y) / x.  A zero at z (the first of its slice) is peeled
    # as y_k = x_z * cumprod(x with x_z := 1)_k for k >= z, which keeps every order exact; a
    # first-order backward needs one peel (after z the gradient is 0).
    recording = isinstance(g, Tensor)
    y = ans
    peeled = []
    while True:
        zero = _val(x) == 0
        if not zero.any():
            break
        seen = np.cumsum(zero, axis=axis)
        first = zero & (seen == 1)
        after = seen >= 1
        xp = _ew.where(first, 1.0, x)
        peeled.append(
            (first, sum(_ew.where(after, g * _cumprod(xp, axis=axis), 0.0), axis, keepdims=True))
        )
        xz = sum(_ew.where(first, x, 0.0), axis, keepdims=True)
        g = g * _ew.where(after, xz, 1.0)
        x = xp if recording else _ew.where(after, 1.0, x)
        y = None
    if y is None:
        y = _cumprod(x, axis=axis)
    r = _cumsum(g * y, axis=axis, reverse=True) / x
    for first, dz in reversed(peeled):
        r = _ew.where(first, dz, r)
    return r


_cumprod = defvjp(
    Primitive(
        "cumprod",
        lambda x, *, axis: np.cumprod(x, axis=axis),
        save=(0, "ans"),
        doc="Cumulative product along ``axis``.",
    ),
    _cumprod_vjp,
)


def _cumprod_jvp(t: Any, ans: Any, x: Any, *, axis: int) -> Any:
    # No zeros: y * cumsum(t / x).  A zero at z (the first of its slice) is peeled as in the
    # vjp: y = where(k >= z, x_z, 1) * cumprod(xp), xp = x with x_z := 1, so the tangent is
    # where(k >= z, t_z, 0) * cumprod(xp) + where(k >= z, x_z, 1) * (that of cumprod(xp)
    # with t_z := 0) -- exact at every order.
    if not (_val(x) == 0).any():
        return ans * on_tangent(_cumsum, t / x, x, axis=axis, reverse=False)
    acc = factor = None
    while True:
        zero = _val(x) == 0
        if not zero.any():
            break
        seen = np.cumsum(zero, axis=axis)
        first = zero & (seen == 1)
        after = seen >= 1
        xp = _ew.where(first, 1.0, x)
        tz = on_tangent(_sum, _ew.where(first, t, 0.0), x, axis=(axis,), keepdims=True)
        term = _ew.where(after, tz, 0.0) * _cumprod(xp, axis=axis)
        f = _ew.where(after, sum(_ew.where(first, x, 0.0), axis, keepdims=True), 1.0)
        term = term if factor is None else factor * term
        acc = term if acc is None else acc + term
        factor = f if factor is None else factor * f
        x, t = xp, _ew.where(first, 0.0, t)
    return acc + factor * (
        _cumprod(x, axis=axis) * on_tangent(_cumsum, t / x, x, axis=axis, reverse=False)
    )


defjvp(_cumprod, _cumprod_jvp)


def _scan_axis(name: str, x: Any, axis: Any) -> tuple[Any, int]:

    if axis is None:
        return _shape_ops.reshape(x, (-1,)), 0
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
        raise InvalidTypeError(
            f"{name} takes one axis (an int) or None (flattened), got axis={axis!r}"
        )
    nd = _ndim(x)
    ax = normalize_axis(axis, nd, op=name)
    if nd == 0:
        return _shape_ops.reshape(x, (1,)), 0
    return x, ax[0]


def cumsum(x: Any, axis: Any = None) -> Any:
    """Cumulative sum along ``axis``; None flattens first (as ``numpy.cumsum``).

    The running sum starts at +0, as in PyTorch: no entry of the result is -0.0.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.cumsum(tg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor([ 1.,  3.,  6., 10.])
    """
    x, ax = _scan_axis("cumsum", x, axis)
    return _cumsum(x, axis=ax, reverse=False)


def cumprod(x: Any, axis: Any = None) -> Any:
    """Cumulative product along ``axis``; None flattens first (as ``numpy.cumprod``).

    The gradient is exact where the input has zeros (PyTorch's ``cumprod_backward``
    result), and so are higher derivatives.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> tg.cumprod(x).sum().backward()
    >>> x.grad
    tensor([1., 8., 0.])
    """
    x, ax = _scan_axis("cumprod", x, axis)
    return _cumprod(x, axis=ax)


# --------------------------------------------------------------------------- any / all
_any = Primitive(
    "any",
    lambda x, *, axis, keepdims: np.any(x, axis=axis, keepdims=keepdims),
    doc="Whether any element is nonzero (bool, not differentiable).",
)
_all = Primitive(
    "all",
    lambda x, *, axis, keepdims: np.all(x, axis=axis, keepdims=keepdims),
    doc="Whether all elements are nonzero (bool, not differentiable).",
)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Whether any element over ``axis`` is nonzero (True for nan); bool, no gradient.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.any(tg.tensor([[0.0, 1.0], [0.0, 0.0]]), axis=1)
    tensor([ True, False])
    """
    return _any(x, axis=normalize_axis(axis, _ndim(x), op="any"), keepdims=bool(keepdims))


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Whether every element over ``axis`` is nonzero; bool, no gradient.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.all(tg.tensor([[1.0, 2.0], [0.0, 3.0]]), axis=1)
    tensor([ True, False])
    """
    return _all(x, axis=normalize_axis(axis, _ndim(x), op="all"), keepdims=bool(keepdims))


# --------------------------------------------------------------------------- sort / order stats
# Only the permutation is a primitive (argsort, not differentiable); the sorted values, top-k
# and medians are gathered from the input with take_along_axis, so their gradients scatter
# the cotangent back to the selected positions (and every order of derivative follows).
def values_indices(name: str, values: Any, indices: Any) -> Any:
    """A ``(values, indices)`` named tuple, ``tapegrad.return_types.<name>``."""

    return getattr(return_types, name)(values, indices)


def _argsort_impl(x: Any, *, axis: int, descending: bool) -> Any:
    x = np.asarray(x)
    if x.ndim == 0:
        return np.zeros((), np.int64)
    if not descending:  # stable; nan sorts last (as PyTorch)
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
    # Stable descending with nan first (PyTorch): the reversed stable ascending order of the
    # reversed array keeps equal elements in their original order.
    n = x.shape[axis]
    rev = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return np.flip(n - 1 - rev, axis).astype(np.int64, copy=False)


_argsort = Primitive(
    "argsort",
    _argsort_impl,
    doc="The permutation that sorts ``axis`` (stable; int64, not differentiable).",
)


def _sort_axis(name: str, x: Any, axis: Any) -> tuple[Any, int]:
    """``x`` (flattened when ``axis`` is None) and the one axis to sort along."""

    if axis is None:
        return _shape_ops.reshape(x, (-1,)), 0
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
        raise InvalidTypeError(
            f"{name} sorts along one axis (an int) or None (flattened), got axis={axis!r}"
        )
    ax = normalize_axis(axis, _ndim(x), op=name)
    return x, (ax[0] if ax else 0)


def argsort(x: Any, axis: Any = -1, *, descending: bool = False) -> Any:
    """Indices that sort ``x`` along ``axis`` (None: the flattened array), ``numpy.argsort``.

    The sort is stable (equal elements keep their order, as ``kind="stable"``) and puts nan
    last, or first with ``descending=True`` (as ``torch.argsort(descending=True,
    stable=True)``).  Not differentiable: the result is an int64 tensor.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.argsort(tg.tensor([3.0, 1.0, 2.0]))
    tensor([1, 2, 0])
    """
    x, ax = _sort_axis("argsort", x, axis)
    return _argsort(x, axis=ax, descending=bool(descending))


def _gather(x: Any, idx: Any, axis: int) -> Any:

    if _ndim(x) == 0:
        return x * 1 if isinstance(x, Tensor) else Tensor._wrap(np.array(x))
    return _indexing_ops.take_along_axis(x, idx, axis)


def sort(x: Any, axis: Any = -1, *, descending: bool = False) -> Any:
    """``x`` sorted along ``axis`` (None: the flattened array), like ``numpy.sort``.

    Stable, nan last (first with ``descending=True``).  The gradient of each sorted value
    goes back to the element it came from.  ``Tensor.sort`` is PyTorch's spelling and returns
    ``(values, indices)``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    >>> y = tg.sort(x)
    >>> (y * tg.tensor([1.0, 2.0, 3.0])).sum().backward()
    >>> y, x.grad
    (tensor([1., 2., 3.], grad_fn=<indexBackward>), tensor([3., 1., 2.]))
    """
    x, ax = _sort_axis("sort", x, axis)
    idx = _argsort(x, axis=ax, descending=bool(descending))
    return _gather(x, idx, ax)


expose(
    sort,
    kink="Ties keep their order (a stable sort); each sorted value's gradient goes back to the "
    "element it came from (PyTorch).",
)


def _sort_with_indices(x: Any, axis: int, descending: bool) -> tuple[Any, Any]:
    x, ax = _sort_axis("sort", x, axis)
    idx = _argsort(x, axis=ax, descending=bool(descending))
    return _gather(x, idx, ax), idx


def topk(x: Any, k: int, axis: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """The ``k`` largest (or smallest) elements along ``axis``, as ``torch.topk``.

    Returns a named tuple ``(values, indices)``; the values are in sorted order (largest
    first, or smallest first with ``largest=False``; ``sorted=False`` gives the same order).
    nan counts as larger than every number.  The gradient goes back to the selected
    elements.  Equal elements are taken in their original order.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.topk(tg.tensor([1.0, 4.0, 2.0, 3.0]), 2)
    topk(values=tensor([4., 3.]), indices=tensor([1, 3]))
    """

    nd = _ndim(x)
    ax = _shape_ops._axis(axis, builtins.max(nd, 1), "axis", op="topk") if nd else 0
    n = _shape(x)[ax] if nd else 1
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise InvalidTypeError(f"topk: k must be an int, got {k!r}")
    if not 0 <= k <= n:
        raise InvalidArgumentError(
            f"topk: k={k} is out of range for an axis of size {n}; use 0 <= k <= {n}"
        )
    idx = _argsort(x, axis=ax, descending=bool(largest))
    if nd:
        # (a tensor op, not NumPy on idx.data: tg.jit traces it)
        idx = idx[(slice(None),) * ax + (slice(0, k),)]
    elif k == 0:
        empty = Tensor._wrap(np.zeros((0,), np.int64))
        return values_indices("topk", _shape_ops.reshape(x, (1,))[:0], empty)
    return values_indices("topk", _gather(x, idx, ax), idx)


expose(
    topk,
    kink="Ties are taken in their original order; the gradient goes back to the selected elements"
    " (PyTorch).",
)


def median(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Median over ``axis`` (None: all axes), like ``numpy.median``.

    For an even count it is the mean of the two middle values (each gets half of the
    gradient); a slice that holds nan has median nan (its last nan gets the gradient, as
    with ``torch.quantile``).  Integer inputs give float64.  An
    empty reduction raises ValueError.  ``Tensor.median`` is PyTorch's spelling (the lower
    median, with indices when a dim is given).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.median(tg.tensor([[1.0, 4.0, 2.0, 3.0]]), axis=1)
    tensor([2.5])
    """

    if not isinstance(x, Tensor):
        x = Tensor._wrap(np.asarray(x))
    if x.dtype.kind not in "fc":
        x = _ew.astype(x, np.float64)
    shape = _shape(x)
    ax = normalize_axis(axis, len(shape), op="median")
    _need_nonempty("median", x, ax)
    rest = [i for i in range(len(shape)) if i not in ax]
    y = _shape_ops.moveaxis(x, ax, tuple(range(len(rest), len(shape)))) if ax else x
    y = _shape_ops.reshape(y, tuple(shape[i] for i in rest) + (_count(shape, ax),))
    n = _shape(y)[-1]
    s = _gather(y, _argsort(y, axis=len(rest), descending=False), len(rest))
    mid = s[..., n // 2]
    if n % 2 == 0:
        mid = (s[..., n // 2 - 1] + mid) * 0.5
    has_nan = np.isnan(_val(y)).any(axis=-1)
    if has_nan.any():
        # The last sorted element, a nan: it gets the gradient (as torch.quantile's, which
        # picks the last nan of the slice).
        mid = _ew.where(has_nan, s[..., n - 1], mid)
    if keepdims:
        mid = _shape_ops.reshape(mid, _kshape(shape, ax))
    return mid


expose(
    median,
    kink="An even count: the two middle values get half the gradient each; a slice holding NaN: "
    "its last NaN gets it (torch.quantile).",
)


def lower_median(x: Any, axis: Any, keepdims: bool) -> Any:
    """PyTorch's ``median``: the lower middle value (index ``(n - 1) // 2`` of the sorted
    slice), nan where the slice holds nan.  With ``axis`` None the value only (ties share
    the gradient evenly, as ``torch.median()``); with an int axis ``(values, indices)``.
    """
    if axis is None:
        flat = _val(x).reshape(-1)
        if flat.size == 0:
            raise InvalidArgumentError(
                "median of an empty tensor is undefined; pass a non-empty tensor"
            )
        nan = np.isnan(flat) if flat.dtype.kind in "fc" else None
        if nan is not None and nan.any():
            i = int(np.argmax(nan))
        else:
            i = int(_argsort_impl(flat, axis=0, descending=False)[(flat.size - 1) // 2])
        if flat.dtype.kind not in "fc" or not (isinstance(x, Tensor) and x.requires_grad):
            return Tensor._wrap(np.asarray(flat[i]))
        # The gradient is shared evenly by the elements equal to the result (as
        # torch.median()): the max over those elements only, or the mean of the nans.

        xf = _shape_ops.reshape(x, (-1,))
        if nan is not None and nan.any():
            return sum(_ew.where(nan, xf, 0.0)) / int(nan.sum())
        return max(_ew.where(flat == flat[i], xf, -np.inf))

    nd = _ndim(x)
    ax = _shape_ops._axis(axis, builtins.max(nd, 1), "dim", op="median") if nd else 0
    _need_nonempty("median", x, (ax,) if nd else ())
    if nd == 0:
        idx = np.zeros((), np.int64)
        vals = _gather(x, idx, 0)
        return values_indices("median", vals, Tensor._wrap(idx))
    idx = _median_index(x, axis=ax)  # (a primitive: traced by tg.jit like the rest)
    vals = _gather(x, idx, ax)
    if not keepdims:
        vals = _shape_ops.squeeze(vals, ax)
        idx = _shape_ops.squeeze(idx, ax)
    return values_indices("median", vals, idx)


def _median_index_impl(xv: Any, *, axis: int) -> Any:
    n = xv.shape[axis]
    order = _argsort_impl(xv, axis=axis, descending=False)
    idx = np.take(order, [(n - 1) // 2], axis=axis)
    if xv.dtype.kind in "fc":
        nan = np.isnan(xv)
        anynan = nan.any(axis=axis, keepdims=True)
        if anynan.any():
            idx = np.where(anynan, np.argmax(nan, axis=axis, keepdims=True), idx)
    return idx.astype(np.int64, copy=False)


_median_index = Primitive(
    "median_index",
    _median_index_impl,
    doc="The index of the lower median along ``axis`` (kept as a length-1 axis; the last "
    "nan of a slice that holds nan); int64, not differentiable.",
)


def _extremum_index_impl(xv: Any, *, axis: int, largest: bool) -> Any:
    fn = np.argmax if largest else np.argmin
    # the first nan when there is one, as PyTorch
    return fn(xv, axis=axis, keepdims=True).astype(np.int64, copy=False)


_extremum_index = Primitive(
    "extremum_index",
    _extremum_index_impl,
    doc="The index of the first maximum (largest=True) or minimum along ``axis``, kept as a "
    "length-1 axis (nan counts as the extremum); int64, not differentiable.",
)


def extremum_with_indices(name: str, x: Any, axis: Any, keepdims: bool) -> Any:
    """PyTorch's ``max(dim)`` / ``min(dim)``: ``(values, indices)``, the first extremal index
    (nan counts as the extremum); the gradient goes to that index only.
    """

    nd = _ndim(x)
    ax = _shape_ops._axis(axis, builtins.max(nd, 1), "dim", op=name) if nd else 0
    if nd == 0:
        idx = np.zeros((), np.int64)
        return values_indices(name, _gather(x, idx, 0), Tensor._wrap(idx))
    _need_nonempty(name, x, (ax,))
    idx = _extremum_index(x, axis=ax, largest=name == "max")
    vals = _gather(x, idx, ax)
    if not keepdims:
        vals = _shape_ops.squeeze(vals, ax)
        idx = _shape_ops.squeeze(idx, ax)
    return values_indices(name, vals, idx)


# Rules that branch on the values (zeros, ties at the norm's maximum, a zero deviation):
# tg.jit calls them whole on the raw arrays (first order) instead of tracing them.
for _p in (_prod, _cumprod, _std, _var, _vector_norm):
    _p.opaque_rules = True
del _p

# Shape's rules use this module's sum: it imports this module, and this module uses shape's
# ops through the module object (bound last, so that either may be imported first).
from . import indexing as _indexing_ops  # noqa: E402
from . import shape as _shape_ops  # noqa: E402
