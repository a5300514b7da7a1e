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
    "DtypeMismatchError",
    "AnomalyError",
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


class DtypeMismatchError(TapegradError, TypeError):
    """A gradient of the wrong dtype (assigned to ``.grad``, or returned by a hook)."""


class AnomalyError(TapegradError, RuntimeError):
    """Anomaly detection (:func:`tapegrad.autograd.detect_anomaly`) found NaN in a gradient.

    ``node`` is the tape entry whose rule produced it, ``forward_stack`` the formatted
    stack of the call that recorded that entry ("" when it was recorded with anomaly
    detection off).
    """

    def __init__(self, message: str, node: object = None, forward_stack: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.forward_stack = forward_stack
