"""``tg.linalg``: differentiable linear algebra (inv, solve, det, decompositions, norms)."""

from __future__ import annotations

from .ops import linalg as _linalg

__all__ = list(_linalg.LINALG_ALL)

globals().update({name: getattr(_linalg, name) for name in __all__})
