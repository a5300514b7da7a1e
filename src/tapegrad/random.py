"""Random numbers: one global ``numpy.random.Generator``, reseedable, or your own.

``tg.random.seed(0)`` makes ``tg.rand``/``tg.randn`` (and everything built on them, such as
layer initialisers) reproducible; pass ``generator=np.random.default_rng(s)`` to any random
function for an independent stream.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidTypeError

__all__ = ["seed", "default_generator", "set_generator", "get_state", "set_state"]

# Made on first use: numpy.random takes longer to import than the rest of tapegrad's core.
_gen: np.random.Generator | None = None


def seed(s: int | None) -> np.random.Generator:
    """Reseed the global generator (None: fresh entropy) and return it."""
    global _gen
    _gen = np.random.default_rng(s)
    return _gen


def default_generator() -> np.random.Generator:
    """The global generator used when no ``generator=`` is given."""
    global _gen
    if _gen is None:
        _gen = np.random.default_rng()
    return _gen


def set_generator(gen: np.random.Generator) -> None:
    """Replace the global generator."""
    global _gen
    if not isinstance(gen, np.random.Generator):
        raise InvalidTypeError(f"expected a numpy.random.Generator, got {type(gen).__name__}")
    _gen = gen


def get_state() -> dict:
    """The global generator's state (for exact replay)."""
    return dict(default_generator().bit_generator.state)


def set_state(state: dict) -> None:
    """Restore a state returned by :func:`get_state`."""
    default_generator().bit_generator.state = state
