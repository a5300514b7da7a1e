"""Argument handling shared by the transforms: argnums, has_aux, pytrees, input checks.

Also the nesting depth: how many transforms enclose the current call.  Results are NumPy
arrays at top level with array or number inputs, and Tensors inside another transform (or
with Tensor inputs), so every transform reads the depth to choose.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._tree import tree_flatten, tree_unflatten
from ..errors import InvalidArgumentError, InvalidTypeError, NotDifferentiableError, complex_error
from ..tensor import Tensor


class _Depth(threading.local):
    value = 0


# How many transforms enclose the current call (results are tensors inside one), and how
# many of them are reverse mode (then an inner backward pass must be recorded, to be
# differentiated again; inside forward mode only, its rules run on tensors unrecorded).
depth = _Depth()
rev_depth = _Depth()


def argnums_tuple(argnums: int | Sequence[int], nargs: int) -> tuple[int, ...]:
    """``argnums`` as a tuple of non-negative positions, checked against ``nargs``."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise InvalidArgumentError(
                f"argnums={argnums!r} refers to argument {a}, but the function was called with "
                f"{nargs} positional arguments"
            )
    return tuple(a % nargs for a in nums)


def bind_argnums(
    f: Callable[..., Any], args: tuple, nums: tuple[int, ...], kwargs: dict[str, Any]
) -> tuple[Callable[..., Any], tuple]:
    """``(g, selected)``: ``g(*xs)`` calls ``f`` with the arguments at ``nums`` replaced by
    ``xs`` (the others and ``kwargs`` fixed), and the arguments it replaces."""

    def g(*xs: Any) -> Any:
        full = list(args)
        for i, x in zip(nums, xs):
            full[i] = x
        return f(*full, **kwargs)

    return g, tuple(args[i] for i in nums)


def split_aux(res: Any, has_aux: bool) -> tuple[Any, Any]:
    """``(output, aux)`` of a function's result (``aux`` is None without ``has_aux``)."""
    if not has_aux:
        return res, None
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        raise InvalidTypeError("has_aux=True needs the function to return (output, aux)")
    return res[0], res[1]


def check_float(dtype: np.dtype, what: str, hint: str = "") -> None:
    """Raise unless ``dtype`` is a real floating-point dtype (``what``: the argument)."""
    if dtype.kind == "c":
        raise complex_error(what)
    if dtype.kind != "f":
        raise NotDifferentiableError(
            f"can only differentiate with respect to floating-point inputs, but {what} has "
            f"dtype {dtype}; pass floats (e.g. 1.0 instead of 1){hint}"
        )


def as_float_tensor(leaf: Any, what: str) -> Tensor:
    """``leaf`` as a Tensor (a NumPy value is wrapped), checked to be floating point."""
    t = leaf if isinstance(leaf, Tensor) else Tensor._wrap(np.asarray(leaf))
    check_float(t.dtype, what)
    return t


def to_numpy(v: Any) -> Any:
    """A Tensor or array as a NumPy array, a 0-d one as a NumPy scalar."""
    arr = v.data if isinstance(v, Tensor) else np.asarray(v)
    return arr[()] if arr.ndim == 0 else arr


def tree_numpy(tree: Any) -> Any:
    """Every Tensor leaf of ``tree`` through :func:`to_numpy`."""
    leaves, d = tree_flatten(tree)
    return tree_unflatten(d, [to_numpy(x) if isinstance(x, Tensor) else x for x in leaves])


def raw_inputs(args: Sequence[Any]) -> bool:
    """Whether no leaf of ``args`` is a Tensor (then top-level results are NumPy arrays)."""
    return not any(isinstance(leaf, Tensor) for p in args for leaf in tree_flatten(p)[0])


def results_as_numpy(args: Sequence[Any]) -> bool:
    """Whether a transform called with ``args`` returns NumPy arrays: at top level, with no
    Tensor among the inputs."""
    return not depth.value and raw_inputs(args)


def set_name(wrapped: Callable[..., Any], f: Callable[..., Any], what: str, doc: bool) -> None:
    """Name ``wrapped`` ``what(f)``; with ``doc``, give it ``f``'s docstring."""
    wrapped.__name__ = f"{what}({getattr(f, '__name__', 'f')})"
    if doc:
        wrapped.__doc__ = getattr(f, "__doc__", None)
