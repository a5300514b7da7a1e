"""The few ops that autograd itself calls, installed from above.

The engine sums a cotangent back to an input's shape and casts it; forward mode reshapes,
broadcasts and casts tangents.  Those are ops, and ops sit above autograd: rather than
import upward, autograd reads them from :data:`OPS`, which the op library's installer
(:mod:`tapegrad.ops`) fills once when it is imported (as JAX installs operators on its
tracers).  Until then the slots are unset and reading one raises AttributeError.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPS"]


class _Ops:
    """Slots for the ops autograd needs; each is the public op of the same name."""

    __slots__ = ("sum", "reshape", "broadcast_to", "astype", "where", "identity")

    sum: Any  # the sum primitive: sum(x, axis=canonical_axes, keepdims=bool)
    reshape: Any
    broadcast_to: Any
    astype: Any
    where: Any
    identity: Any


OPS = _Ops()
