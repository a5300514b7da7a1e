"""Creating tensors.  ``tensor`` always copies its input."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import random as _random
from .autograd import grad_mode
from .tensor import Tensor, checked_array

__all__ = [
    "tensor",
    "as_tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "eye",
    "zeros_like",
    "ones_like",
    "full_like",
    "rand",
    "randn",
    "randint",
]


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (array-like, scalar or Tensor).

    The copy means that changing the caller's array afterwards can never change a recorded
    graph.  Python floats become float64 and ints int64, as in NumPy.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> x
    tensor([1., 2.], requires_grad=True)
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` itself if it is a Tensor (of that dtype), else a tensor sharing its memory."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    if isinstance(data, Tensor):
        return data.astype(dtype)
    return Tensor._wrap(checked_array(data, dtype, None, "as_tensor"))


def _made(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*shape: Any, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``tg.zeros(2, 3)`` or ``tg.zeros((2, 3))``."""
    return _made(np.zeros(_shape(shape), dtype), requires_grad)


def ones(*shape: Any, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _made(np.ones(_shape(shape), dtype), requires_grad)


def empty(*shape: Any, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (values are arbitrary)."""
    return _made(np.empty(_shape(shape), dtype), requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    return _made(np.full(tuple(shape), fill_value, dtype), requires_grad)


def arange(
    start: Any, stop: Any = None, step: Any = 1, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """Evenly spaced values in ``[start, stop)`` (NumPy's arange)."""
    arr = (
        np.arange(start, stop, step, dtype=dtype)
        if stop is not None
        else np.arange(start, dtype=dtype)
    )
    return _made(arr, requires_grad)


def linspace(
    start: float,
    stop: float,
    num: int = 50,
    endpoint: bool = True,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``."""
    return _made(np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype), requires_grad)


def eye(
    n: int, m: int | None = None, k: int = 0, dtype: Any = np.float64, requires_grad: bool = False
) -> Tensor:
    """A 2-D tensor with ones on the ``k``-th diagonal."""
    return _made(np.eye(n, m, k, dtype=dtype), requires_grad)


def _like(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def zeros_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and dtype unless given) of ``x``."""
    return _made(np.zeros_like(_like(x), dtype=dtype), requires_grad)


def ones_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and dtype unless given) of ``x``."""
    return _made(np.ones_like(_like(x), dtype=dtype), requires_grad)


def full_like(x: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with the shape (and dtype unless given) of ``x``."""
    return _made(np.full_like(_like(x), fill_value, dtype=dtype), requires_grad)


def rand(
    *shape: Any,
    dtype: Any = np.float64,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Uniform samples in [0, 1) from ``generator`` (default: tapegrad's global one)."""
    return _made(grad_mode.source(draw, generator, "random", _shape(shape), dtype), requires_grad)


def randn(
    *shape: Any,
    dtype: Any = np.float64,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Standard normal samples from ``generator`` (default: tapegrad's global one)."""
    arr = grad_mode.source(draw, generator, "standard_normal", _shape(shape), dtype)
    return _made(arr, requires_grad)


def randint(
    low: int,
    high: int | None = None,
    size: Any = (),
    dtype: Any = np.int64,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Random integers in ``[low, high)``."""
    if isinstance(size, (int, np.integer)):
        size = (size,)
    return Tensor._wrap(grad_mode.source(_integers, generator, low, high, tuple(size), dtype))


def draw(generator: np.random.Generator | None, method: str, shape: Any, dtype: Any) -> Any:
    """``generator.<method>(shape)`` as ``dtype`` (None: tapegrad's global generator, looked
    up at the call, so that reseeding takes effect in compiled functions too)."""
    gen = generator or _random.default_generator()
    return getattr(gen, method)(shape).astype(dtype, copy=False)


def _integers(gen: np.random.Generator | None, low: int, high: Any, size: Any, dtype: Any) -> Any:
    return (gen or _random.default_generator()).integers(low, high, size=size, dtype=dtype)
