"""The exceptions tapegrad raises.

Every error derives from :class:`TapegradError` and from the builtin exception a user would
catch for it, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "TapegradError",
    "ShapeMismatchError",
    "GraphFreedError",
    "InplaceModificationError",
    "NotDifferentiableError",
    "GradientCheckError",
    "ArgumentError",
]


class TapegradError(Exception):
    """Base class of every error raised by tapegrad."""


class ShapeMismatchError(TapegradError, ValueError):
    """Shapes that cannot be combined (or a gradient of the wrong shape)."""


class GraphFreedError(TapegradError, RuntimeError):
    """Backward through a part of the graph whose saved values were already freed."""


class InplaceModificationError(TapegradError, RuntimeError):
    """A value saved for the backward pass was changed in place, or an in-place op on a leaf."""


class NotDifferentiableError(TapegradError, TypeError):
    """Asked for a gradient of something that has none (integer data, non-differentiable op)."""


class GradientCheckError(TapegradError, AssertionError):
    """Analytic and numerical derivatives disagree (raised by :mod:`tapegrad.testing`)."""


class ArgumentError(TapegradError, TypeError):
    """Arguments that can't be used together (PyTorch's and NumPy's keywords mixed in one
    call), or a value an argument doesn't accept (a bad ``dtype=``, an ``out=`` that can't
    receive the result)."""
