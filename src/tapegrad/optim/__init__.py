"""Optimizers and learning-rate schedulers (tg.optim)."""

from __future__ import annotations

__all__: list[str] = []
