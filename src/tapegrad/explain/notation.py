"""How the tables write things: the step names' accents, numbers, constants, index keys.

``w3`` has the adjoint ``w̄3`` and the tangent ``ẇ3``; a value is written in full when it is
small (at most :data:`SMALL` elements), else as a summary; :func:`_to_ascii` spells the
accents out for terminals without them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Arrays with at most this many elements are shown in full; larger ones as a summary.
SMALL = 6

BAR = "\u0304"  # combining macron: w̄
WDOT = "\u1e87"  # ẇ

_ASCII = (
    ("w" + BAR, "wbar"),
    (WDOT, "wdot"),
    ("∂", "d"),
    ("·", "*"),
    ("ᵀ", ".T"),
    ("π", "pi"),
    ("—", "-"),
)


def _to_ascii(s: str) -> str:
    for u, a in _ASCII:
        s = s.replace(u, a)
    return s


def _wbar(name: str) -> str:
    """``w3`` -> ``w̄3``."""
    return name[0] + BAR + name[1:] if name.startswith("w") else name + BAR


def _wdot(name: str) -> str:
    """``w3`` -> ``ẇ3``."""
    return WDOT + name[1:] if name.startswith("w") else name + "\u0307"


def _num(v: Any, precision: int) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, complex):
        return f"{v:.{precision}g}"
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.{precision}g}"


def _nested(a: np.ndarray, precision: int) -> str:
    if a.ndim == 0:
        return _num(a, precision)
    return "[" + ", ".join(_nested(r, precision) for r in a) + "]"


def _fmt(a: Any, precision: int = 6) -> str:
    """A value for a table cell: the number, the array when small, else a summary."""
    if a is None:
        return "?"
    a = np.asarray(a)
    if a.ndim == 0:
        return _num(a, precision)
    if a.size <= SMALL:
        return _nested(a, precision)
    shape = "×".join(str(d) for d in a.shape)
    if a.dtype.kind not in "fciu":
        return f"array {shape}"
    return (
        f"{shape} array: min {_num(a.min(), precision)}, mean {_num(a.mean(), precision)}, "
        f"max {_num(a.max(), precision)}"
    )


def _const_text(v: Any) -> str:
    """A constant operand, inline in the op text."""
    a = np.asarray(v)
    if a.ndim == 0:
        s = _num(a, 6)
        return f"({s})" if s.startswith("-") else s
    if a.size <= SMALL:
        return _nested(a, 6)
    return "const(" + "×".join(str(d) for d in a.shape) + ")"


def _fmt_key(k: Any) -> str:
    if isinstance(k, slice):
        parts = ["" if v is None else str(v) for v in (k.start, k.stop)]
        s = ":".join(parts)
        return s if k.step is None else f"{s}:{k.step}"
    if k is Ellipsis:
        return "..."
    if k is None:
        return "None"
    if isinstance(k, (int, np.integer)):
        return str(int(k))
    a = np.asarray(k)
    return _nested(a, 6) if a.size <= SMALL else f"<index {a.shape}>"


def _fmt_param(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return _const_text(v)
    if callable(v):
        return getattr(v, "__name__", type(v).__name__)
    return repr(v)


def _pyval(a: np.ndarray | None) -> Any:
    if a is None:
        return None
    return float(a) if a.ndim == 0 and a.dtype.kind == "f" else a
