"""Reductions: sum, mean, prod, max/min, var/std, logsumexp, norm, cumsum/cumprod.

``axis`` is None, an int or a tuple of ints (negative allowed); ``keepdims`` as NumPy.
Rules receive the normalised axis tuple and restore reduced axes before broadcasting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import Primitive, defvjp

__all__ = ["sum", "mean"]


def normalize_axis(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative ints (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise np.exceptions.AxisError(
                f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def _ndim(x: Any) -> int:
    return np.ndim(x.data) if hasattr(x, "grad_fn") else np.ndim(x)


def expand_reduced(g: Any, shape: tuple[int, ...], axis: tuple[int, ...], keepdims: bool) -> Any:
    """Broadcast a reduced cotangent back to ``shape``."""
    from .shape import broadcast_to, reshape

    if not keepdims and axis:
        kshape = tuple(1 if i in axis else d for i, d in enumerate(shape))
        g = reshape(g, kshape)
    return broadcast_to(g, shape)


_sum = defvjp(
    Primitive("sum", lambda x, *, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims)),
    lambda g, ans, x, *, axis, keepdims: expand_reduced(g, x.shape, axis, keepdims),
)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` (None: all axes).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.sum(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    tensor([4., 6.])
    """
    return _sum(x, axis=normalize_axis(axis, _ndim(x)), keepdims=bool(keepdims))


_mean = defvjp(
    Primitive("mean", lambda x, *, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims)),
    lambda g, ans, x, *, axis, keepdims: expand_reduced(
        g / max(_count(x.shape, axis), 1), x.shape, axis, keepdims),
)


def _count(shape: tuple[int, ...], axis: tuple[int, ...]) -> int:
    n = 1
    for a in axis:
        n *= shape[a]
    return n


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Arithmetic mean over ``axis`` (None: all axes)."""
    return _mean(x, axis=normalize_axis(axis, _ndim(x)), keepdims=bool(keepdims))
