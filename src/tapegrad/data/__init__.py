"""Datasets and loaders (tg.data)."""

from __future__ import annotations

__all__: list[str] = []
