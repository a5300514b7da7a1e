"""Linear algebra primitives: matmul family and tg.linalg decompositions."""

from __future__ import annotations

__all__: list[str] = []
# Names exposed as tg.linalg.<name>.
LINALG_ALL: list[str] = []
