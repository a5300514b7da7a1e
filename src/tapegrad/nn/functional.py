"""Functional neural-network ops (``tg.nn.functional``), PyTorch's names."""

from __future__ import annotations

from ..ops.conv import *  # noqa: F403
from ..ops.conv import __all__ as _conv_all
from ..ops.elementwise import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus, tanh
from ..ops.nn import *  # noqa: F403
from ..ops.nn import __all__ as _nn_all

__all__ = [
    *_nn_all,
    *_conv_all,
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
    "sigmoid",
    "tanh",
]
