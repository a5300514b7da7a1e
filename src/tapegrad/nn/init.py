"""Parameter initializers (``tg.nn.init``), PyTorch's names, fans and gains.

Every function fills its tensor in place (without recording: like PyTorch, they run as if
under ``tg.no_grad()``), keeps its dtype and returns it.  Random ones draw from
``tg.random.default_generator()`` unless a ``generator=`` (a ``numpy.random.Generator``) is
given, so ``tg.random.seed(s)`` makes them reproducible.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import random as _random
from ..errors import InvalidArgumentError, InvalidTypeError
from ..tensor import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
]

_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def _check(tensor: Any, fn: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise InvalidTypeError(
            f"{fn} fills a tg.Tensor (or Parameter) in place, got {type(tensor).__name__}"
        )
    return tensor


def _fill(tensor: Tensor, values: Any) -> Tensor:
    # Initialisation is not recorded: write the memory, bump the version like an in-place op.
    if tensor.data.flags.writeable:
        np.copyto(tensor.data, values, casting="unsafe")
    else:
        tensor.data = np.array(np.broadcast_to(values, tensor.shape), dtype=tensor.dtype)
    tensor._bump()
    return tensor


def _gen(generator: np.random.Generator | None) -> np.random.Generator:
    if generator is None:
        return _random.default_generator()
    if not isinstance(generator, np.random.Generator):
        raise InvalidTypeError(
            "tg.nn.init: generator must be a numpy.random.Generator, got "
            f"{type(generator).__name__}; create one with numpy.random.default_rng(seed)"
        )
    return generator


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation (PyTorch's table).

    ``linear``, ``conv*``, ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + negative_slope**2)) (slope ``param``, default 0.01);
    ``selu``: 3/4.

    Examples
    --------
    >>> import tapegrad as tg
    >>> round(tg.nn.init.calculate_gain("relu"), 4)
    1.4142
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise InvalidArgumentError(
                f"calculate_gain: negative_slope {param!r} is not a valid number"
            )
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InvalidArgumentError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of linear, conv1d, "
        "conv2d, conv3d, sigmoid, tanh, relu, leaky_relu, selu"
    )


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    shape = tensor.shape
    if len(shape) < 2:
        raise InvalidArgumentError(
            "tg.nn.init: fan in and fan out can't be computed for a tensor with fewer than 2 "
            f"dimensions (shape {shape}); use uniform_/normal_ for biases and vectors"
        )
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise InvalidArgumentError(f"tg.nn.init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Fill with values drawn uniformly from ``[a, b)``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.nn.init.uniform_(tg.zeros(3), -1.0, 1.0)
    >>> bool(tg.all((w >= -1) & (w < 1)))
    True
    """
    t = _check(tensor, "uniform_")
    return _fill(t, _gen(generator).uniform(a, b, size=t.shape))


def normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Fill with values drawn from the normal distribution ``N(mean, std**2)``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.init.normal_(tg.zeros((2, 2)), std=0.02).shape
    (2, 2)
    """
    t = _check(tensor, "normal_")
    return _fill(t, _gen(generator).normal(mean, std, size=t.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the constant ``val``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.init.constant_(tg.zeros(2), 0.5)
    tensor([0.5, 0.5])
    """
    return _fill(_check(tensor, "constant_"), val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.init.zeros_(tg.ones(2))
    tensor([0., 0.])
    """
    return _fill(_check(tensor, "zeros_"), 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.init.ones_(tg.zeros(2))
    tensor([1., 1.])
    """
    return _fill(_check(tensor, "ones_"), 1)


def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Glorot uniform: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    For a tensor of shape ``(out, in, *kernel)``, ``fan_in = in * prod(kernel)`` and
    ``fan_out = out * prod(kernel)`` (PyTorch's convention).

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.nn.init.xavier_uniform_(tg.zeros((3, 5)))
    >>> bool(tg.all(abs(w) <= 0.75 ** 0.5))
    True
    """
    t = _check(tensor, "xavier_uniform_")
    if t.size == 0:
        return t
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return _fill(t, _gen(generator).uniform(-a, a, size=t.shape))


def xavier_normal_(
    tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Glorot normal: ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.init.xavier_normal_(tg.zeros((4, 4))).shape
    (4, 4)
    """
    t = _check(tensor, "xavier_normal_")
    if t.size == 0:
        return t
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _fill(t, _gen(generator).normal(0.0, std, size=t.shape))


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He uniform: ``U(-bound, bound)`` with ``bound = gain * sqrt(3 / fan)``.

    ``gain = calculate_gain(nonlinearity, a)``; ``fan`` is ``fan_in`` or ``fan_out`` by
    ``mode``.  ``Linear`` and ``Conv`` weights use ``a=sqrt(5)`` (PyTorch's default), giving
    ``bound = 1 / sqrt(fan_in)``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.nn.init.kaiming_uniform_(tg.zeros((8, 4)), nonlinearity="relu")
    >>> bool(tg.all(abs(w) <= (6 / 4) ** 0.5))
    True
    """
    t = _check(tensor, "kaiming_uniform_")
    if t.size == 0:
        return t
    fan = _fan(t, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return _fill(t, _gen(generator).uniform(-bound, bound, size=t.shape))


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He normal: ``N(0, std**2)`` with ``std = gain / sqrt(fan)``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.init.kaiming_normal_(tg.zeros((8, 4)), mode="fan_out").shape
    (8, 4)
    """
    t = _check(tensor, "kaiming_normal_")
    if t.size == 0:
        return t
    fan = _fan(t, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _fill(t, _gen(generator).normal(0.0, std, size=t.shape))
