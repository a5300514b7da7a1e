"""Convolution and pooling primitives (im2col / strided views, no Python loops over pixels)."""

from __future__ import annotations

__all__: list[str] = []
