"""The few ops that autograd and the tensor itself call, installed from above.

The engine sums a cotangent back to an input's shape and casts it; forward mode reshapes,
broadcasts and casts tangents; an in-place change of a view rewrites its base's history.
Those are ops, and ops sit above autograd and the tensor: rather than import upward, they
read them from :data:`OPS`, which the op library's installer (:mod:`tapegrad.ops.install`)
fills once when it is imported (as JAX installs operators on its tracers).  Until then the
slots are unset and reading one raises AttributeError.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPS"]


class _Ops:
    """Slots for the ops autograd needs; each is the public op of the same name."""

    __slots__ = (
        "sum",
        "reshape",
        "broadcast_to",
        "astype",
        "where",
        "identity",
        "view_index_map",
        "rewrite_base",
    )

    sum: Any  # the sum primitive: sum(x, axis=canonical_axes, keepdims=bool)
    reshape: Any
    broadcast_to: Any
    astype: Any
    where: Any
    identity: Any
    # Tensor's in-place machinery: a view's position in its base, and the base's new history
    # (see tapegrad.ops.indexing.view_index_map / rewrite_base).
    view_index_map: Any
    rewrite_base: Any


OPS = _Ops()
