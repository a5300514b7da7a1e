"""Neural-network functional ops: softmax, losses, one_hot."""

from __future__ import annotations

__all__: list[str] = []
