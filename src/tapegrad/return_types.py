"""The named tuples that PyTorch-style methods return, like ``torch.return_types``.

``t.max(dim)``, ``t.min(dim)``, ``t.sort()``, ``t.topk(k)``, ``t.median(dim)`` and
:func:`tapegrad.topk` return one of these: a tuple ``(values, indices)`` whose fields can also
be read by name.

Examples
--------
>>> import tapegrad as tg
>>> res = tg.tensor([[1.0, 5.0], [7.0, 2.0]]).max(1)
>>> res.indices, isinstance(res, tg.return_types.max)
(tensor([1, 0]), True)
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["max", "min", "sort", "topk", "median"]


class max(NamedTuple):  # noqa: N801  (PyTorch's names)
    """``(values, indices)`` of ``Tensor.max(dim)``."""

    values: Any
    indices: Any


class min(NamedTuple):  # noqa: N801
    """``(values, indices)`` of ``Tensor.min(dim)``."""

    values: Any
    indices: Any


class sort(NamedTuple):  # noqa: N801
    """``(values, indices)`` of ``Tensor.sort``."""

    values: Any
    indices: Any


class topk(NamedTuple):  # noqa: N801
    """``(values, indices)`` of ``Tensor.topk`` and :func:`tapegrad.topk`."""

    values: Any
    indices: Any


class median(NamedTuple):  # noqa: N801
    """``(values, indices)`` of ``Tensor.median(dim)``."""

    values: Any
    indices: Any
