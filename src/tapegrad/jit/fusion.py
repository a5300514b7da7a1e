"""Fusion of elementwise chains into one ``numexpr.evaluate`` call (optional: ``[jit]``)."""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["available", "threshold", "plan_fusion", "FusionPlan"]

# Elements from which a fused chain beats one NumPy call per op (measured: see
# benchmarks/w12_jit.py, BENCHMARKS.md).
THRESHOLD = 32768


def available() -> bool:
    """Whether numexpr can be imported."""
    return importlib.util.find_spec("numexpr") is not None


def threshold() -> int:
    """The number of elements from which ``fuse="auto"`` fuses a chain."""
    return THRESHOLD


class FusionPlan:
    """Which equations are fused: ``groups`` maps the index of a chain's last equation to
    the group that computes it; ``skip`` holds the other equations of every chain."""

    def __init__(self) -> None:
        self.groups: dict[int, Any] = {}
        self.skip: set[int] = set()


def plan_fusion(g: Any, uses: dict, pinned: set[int], fuse_min: int) -> FusionPlan:
    return FusionPlan()
