"""Convolution and pooling layers (PyTorch's names, shapes, defaults and initialisation)."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from .._dtype import check_input_dtype, param_dtype
from ..errors import InvalidArgumentError, InvalidTypeError
from ..ops import conv as _C
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


def _int(v: Any, name: str, cls: str, minimum: int) -> int:
    try:
        out = operator.index(v)
    except TypeError:
        raise InvalidTypeError(f"{cls}: {name} must be an int, got {v!r}") from None
    if out < minimum:
        raise InvalidArgumentError(f"{cls}: {name} must be >= {minimum}, got {out}")
    return out


def _tuple(v: Any, n: int, name: str, cls: str, minimum: int) -> tuple[int, ...]:
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
    if len(vals) != n:
        raise InvalidArgumentError(
            f"{cls}: {name} must be an int or a {n}-tuple of ints, got {v!r}"
        )
    return tuple(_int(a, name, cls, minimum) for a in vals)


class _ConvNd(Module):
    _nsp = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        groups: int,
        bias: bool,
        dtype: Any,
    ) -> None:
        super().__init__()
        cls, n = type(self).__name__, self._nsp
        self.in_channels = _int(in_channels, "in_channels", cls, 1)
        self.out_channels = _int(out_channels, "out_channels", cls, 1)
        self.groups = _int(groups, "groups", cls, 1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise InvalidArgumentError(
                f"{cls}: in_channels ({self.in_channels}) and out_channels "
                f"({self.out_channels}) must both be divisible by groups ({self.groups})"
            )
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", cls, 1)
        self.stride = _tuple(stride, n, "stride", cls, 1)
        if isinstance(padding, str):
            raise InvalidArgumentError(
                f"{cls}: string padding ({padding!r}) is not supported; give ints"
            )
        self.padding = _tuple(padding, n, "padding", cls, 0)
        self.dilation = _tuple(dilation, n, "dilation", cls, 1)
        dt = param_dtype(dtype, cls)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dt))
        self.bias = Parameter(np.empty(self.out_channels, dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the parameters with PyTorch's default initialisation.

        ``weight``: ``kaiming_uniform_(a=sqrt(5))``, i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
        with ``fan_in = in_channels / groups * prod(kernel_size)``; ``bias``: the same bound.
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels // self.groups * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if any(self.padding):
            s += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over ``(N, C, H, W)`` inputs, as ``torch.nn.Conv2d``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding, dilation : int or (int, int)
        Defaults 1, 0, 1 (zero padding on both sides).
    groups : int
        Both channel counts must be divisible by it.
    bias : bool
        Learn an additive per-channel bias (default True).
    dtype : dtype, optional
        Parameter dtype; inputs must have it too (default ``tg.get_default_dtype()``,
        float32).

    Attributes
    ----------
    weight : Parameter, shape ``(out_channels, in_channels // groups, kH, kW)``
    bias : Parameter of shape ``(out_channels,)`` or None

    Examples
    --------
    >>> import tapegrad as tg
    >>> conv = tg.nn.Conv2d(1, 4, 3, padding=1)
    >>> conv(tg.ones((2, 1, 8, 8), dtype="float32")).shape
    (2, 4, 8, 8)
    >>> conv
    Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    """

    _nsp = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, dtype
        )

    def forward(self, x: Any) -> Any:
        check_input_dtype(x, self.weight.dtype, "Conv2d")
        return _C.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class Conv1d(_ConvNd):
    """1-D convolution over ``(N, C, L)`` inputs, as ``torch.nn.Conv1d``.

    Parameters are those of :class:`Conv2d` with ints (or 1-tuples) for the one spatial axis;
    ``weight`` has shape ``(out_channels, in_channels // groups, kernel_size)``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> conv = tg.nn.Conv1d(3, 5, 2, stride=2)
    >>> conv(tg.ones((4, 3, 10), dtype="float32")).shape
    (4, 5, 5)
    >>> conv
    Conv1d(3, 5, kernel_size=(2,), stride=(2,))
    """

    _nsp = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, dtype
        )

    def forward(self, x: Any) -> Any:
        check_input_dtype(x, self.weight.dtype, "Conv1d")
        return _C.conv1d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class _Pool2d(Module):
    def __init__(self, kernel_size: Any, stride: Any, padding: Any) -> None:
        super().__init__()
        cls = type(self).__name__
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        # Validate now rather than at the first call.
        k = _tuple(kernel_size, 2, "kernel_size", cls, 1)
        _tuple(self.stride, 2, "stride", cls, 1)
        p = _tuple(padding, 2, "padding", cls, 0)
        if p[0] > k[0] // 2 or p[1] > k[1] // 2:
            raise InvalidArgumentError(
                f"{cls}: padding {padding} must be at most half the kernel size"
            )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """2-D max pooling, as ``torch.nn.MaxPool2d`` (see :func:`tapegrad.max_pool2d`).

    The gradient goes to each window's maximum; on ties, to the first one in row-major order.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Implicit ``-inf`` padding, at most half the kernel size.

    Examples
    --------
    >>> import tapegrad as tg
    >>> pool = tg.nn.MaxPool2d(2)
    >>> pool(tg.ones((1, 3, 8, 8))).shape
    (1, 3, 4, 4)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__(kernel_size, stride, padding)

    def forward(self, x: Any) -> Any:
        return _C.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """2-D average pooling, as ``torch.nn.AvgPool2d`` (see :func:`tapegrad.avg_pool2d`).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Implicit zero padding, at most half the kernel size.
    count_include_pad : bool
        Whether the padding counts in the divisor (default True, as PyTorch).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.AvgPool2d(2)(tg.ones((1, 3, 8, 8))).shape
    (1, 3, 4, 4)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Any) -> Any:
        return _C.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Adaptive 2-D average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``.

    Parameters
    ----------
    output_size : int or (int or None, int or None)
        ``None`` keeps that input size.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.AdaptiveAvgPool2d(1)(tg.ones((2, 3, 5, 7))).shape
    (2, 3, 1, 1)
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Any:
        return _C.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
