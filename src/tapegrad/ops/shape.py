"""Shape and indexing primitives.  Linear ops: each rule is the transpose of the op."""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import Primitive, defvjp

__all__ = ["reshape", "broadcast_to"]

_reshape = defvjp(
    Primitive("reshape", lambda x, *, shape: np.reshape(x, shape), view=True),
    lambda g, ans, x, *, shape: reshape(g, x.shape),
)


def reshape(x: Any, shape: Any) -> Any:
    """Give ``x`` a new shape with the same number of elements (-1 infers one axis)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    return _reshape(x, shape=tuple(int(s) for s in shape))


def _broadcast_to_vjp(g: Any, ans: Any, x: Any, *, shape: Any) -> Any:
    return g  # the engine sums back over the broadcast axes


_broadcast_to = defvjp(
    Primitive("broadcast_to", lambda x, *, shape: np.broadcast_to(x, shape), view=True),
    _broadcast_to_vjp,
)


def broadcast_to(x: Any, shape: Any) -> Any:
    """Broadcast ``x`` to ``shape`` (a read-only view; gradients are summed back)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    return _broadcast_to(x, shape=tuple(int(s) for s in shape))
