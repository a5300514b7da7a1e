"""Functional neural-network ops (``tg.nn.functional``), PyTorch's names."""

from __future__ import annotations

from ..ops import nn as _nn
from ..ops.elementwise import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus, tanh

__all__ = [*_nn.__all__, "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "sigmoid", "tanh"]

globals().update({name: getattr(_nn, name) for name in _nn.__all__})
