"""The exceptions tapegrad raises.

Every error derives from :class:`TapegradError` and from the builtin exception a user would
catch for it, so ``except ValueError`` keeps working.  An error raised by the NumPy code
inside an operation is re-raised as a member of this family that also inherits the original's
class, with the operation's name in front of the message; the original is its ``__cause__``.

Examples
--------
>>> import tapegrad as tg
>>> try:
...     tg.add(tg.ones(3), tg.ones(4))
... except tg.errors.ShapeMismatchError as e:
...     print(isinstance(e, ValueError), str(e).split(":")[0])
True add
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "TapegradError",
    "InvalidArgumentError",
    "ShapeMismatchError",
    "AxisError",
    "IndexingError",
    "InvalidTypeError",
    "LinAlgError",
    "InvalidStateError",
    "GraphFreedError",
    "InplaceModificationError",
    "NotDifferentiableError",
    "ComplexNotSupportedError",
    "GradientCheckError",
    "DtypeMismatchError",
    "AnomalyError",
    "ArgumentError",
    "InvalidKeyError",
    "InvalidAttributeError",
    "AbstractMethodError",
    "MissingDependencyError",
    "NonFiniteError",
    "ConcretizationError",
]


class TapegradError(Exception):
    """Base class of every error raised by tapegrad."""


class InvalidArgumentError(TapegradError, ValueError):
    """An argument with a value the operation cannot use (e.g. a repeated axis)."""


class ShapeMismatchError(InvalidArgumentError):
    """Shapes that cannot be combined (or a gradient of the wrong shape)."""


class AxisError(InvalidArgumentError, np.exceptions.AxisError):
    """An axis out of range for the array's number of dimensions.

    Also a :class:`numpy.exceptions.AxisError`, hence a ``ValueError`` and an ``IndexError``.
    Built like NumPy's: ``AxisError(message)`` or ``AxisError(axis, ndim, prefix)``.
    """

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.axis is None else f"{text}; pass an axis in [-ndim, ndim)"


class IndexingError(TapegradError, IndexError):
    """An index out of range, or more indices than the tensor has axes."""


class InvalidTypeError(TapegradError, TypeError):
    """An argument of a type or dtype the operation does not accept."""


class LinAlgError(InvalidArgumentError, np.linalg.LinAlgError):
    """A linear-algebra routine failed (singular matrix, no convergence)."""


class InvalidStateError(TapegradError, RuntimeError):
    """A call made where it can't run (e.g. ``make_dual`` outside a ``dual_level``)."""


class GraphFreedError(TapegradError, RuntimeError):
    """Backward through a part of the graph whose saved values were already freed."""


class InplaceModificationError(TapegradError, RuntimeError):
    """A value saved for the backward pass was changed in place, or an in-place op on a leaf."""


class NotDifferentiableError(TapegradError, TypeError):
    """Asked for a gradient of something that has none (integer data, non-differentiable op)."""


class ComplexNotSupportedError(NotDifferentiableError):
    """Complex data on the tape or in forward mode: complex differentiation is not supported
    yet.  Computing with complex data that nothing differentiates keeps working."""


class GradientCheckError(TapegradError, AssertionError):
    """Analytic and numerical derivatives disagree (raised by :mod:`tapegrad.testing`)."""


class DtypeMismatchError(TapegradError, TypeError, RuntimeError):
    """An input whose dtype does not match a layer's parameters, a gradient of the wrong dtype
    (assigned to ``.grad`` or returned by a hook), or a dtype not allowed there.

    Both a ``TypeError`` (Python's error for a value of the wrong type) and a ``RuntimeError``
    (what PyTorch raises for the same mistake, e.g. "mat1 and mat2 must have the same
    dtype"), so code written either way catches it.
    """


class AnomalyError(TapegradError, RuntimeError):
    """Anomaly detection (:func:`tapegrad.autograd.detect_anomaly`) found NaN (or, with
    ``check_inf=True``, inf) in a gradient.

    ``node`` is the tape entry whose rule produced it, ``forward_stack`` the formatted
    stack of the call that recorded that entry ("" when it was recorded with anomaly
    detection off).
    """

    def __init__(self, message: str, node: object = None, forward_stack: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.forward_stack = forward_stack


class InvalidKeyError(TapegradError, KeyError):
    """A key that is missing (a ``state_dict`` entry, a ``ModuleDict`` key, a step name) or a
    name that can't be used as one (an empty or dotted parameter name, a name already taken).

    Unlike a plain ``KeyError``, ``str()`` gives the message without quotes around it.
    """

    def __str__(self) -> str:
        if len(self.args) == 1 and isinstance(self.args[0], str):
            return self.args[0]
        return super().__str__()


class InvalidAttributeError(TapegradError, AttributeError):
    """An attribute that does not exist, or one that can't be set yet.  An ``AttributeError``,
    so ``hasattr`` and ``getattr(obj, name, default)`` keep working."""


class AbstractMethodError(TapegradError, NotImplementedError):
    """A method a subclass must define was not defined (``Module.forward``,
    ``Dataset.__getitem__``, ``LRScheduler.get_lr``)."""


class MissingDependencyError(TapegradError, ImportError):
    """A feature needs an optional package that is not installed (scipy for
    :func:`tapegrad.optimize.minimize`, checkpoint-schedules for ``checkpoint_chain``)."""


class NonFiniteError(TapegradError, FloatingPointError, RuntimeError):
    """A value that must be finite became NaN or infinite (a training loss, the total norm in
    ``clip_grad_norm_(error_if_nonfinite=True)``).

    Both a ``FloatingPointError`` and a ``RuntimeError`` (what PyTorch raises for the same
    case).
    """


def complex_error(what: str) -> ComplexNotSupportedError:
    """The error for complex data reaching differentiation in ``what`` (an op's name)."""
    return ComplexNotSupportedError(
        f"{what}: complex differentiation is not supported yet (complex data met a tensor "
        "that requires grad or carries a tangent). Compute on the real and imaginary parts "
        "as separate real tensors, or .detach() the values that need no gradient"
    )


# Builtin class -> family member; other classes get a derived class made once (below).
_NAMED: dict[type, type] = {
    ValueError: InvalidArgumentError,
    IndexError: IndexingError,
    TypeError: InvalidTypeError,
    np.exceptions.AxisError: AxisError,
    np.linalg.LinAlgError: LinAlgError,
}
_DERIVED: dict[type, type | None] = {}
_SHAPE_WORDS = ("broadcast", "shape", "mismatch", "aligned", "dimension", "size")
_HINTS: dict[type, str] = {
    ShapeMismatchError: "; check the shapes of the arguments (tensor.shape)",
    IndexingError: "; an index must lie in [-size, size) along its axis",
}


def _family(cls: type, msg: str) -> type | None:
    if cls is ValueError and any(w in msg for w in _SHAPE_WORDS):
        return ShapeMismatchError
    named = _NAMED.get(cls)
    if named is not None:
        return named
    if cls not in _DERIVED:
        try:
            _DERIVED[cls] = type(
                cls.__name__,
                (TapegradError, cls),
                {"__module__": __name__, "__doc__": f"A {cls.__name__} raised by an op."},
            )
        except TypeError:  # a builtin whose layout admits no second base
            _DERIVED[cls] = None
    return _DERIVED[cls]


def op_error(name: str, exc: BaseException) -> BaseException:
    """``exc`` (raised by the NumPy code inside op ``name``) as a member of the family.

    Errors of the family come back unchanged.  The new error inherits ``exc``'s class and
    carries the op's name; raise it ``from exc``.  Falls back to ``exc`` itself for the rare
    class that cannot be subclassed or rebuilt from a message.
    """
    if isinstance(exc, TapegradError):
        return exc
    msg = str(exc).strip()
    if msg.startswith(f"{name}: "):  # NumPy already named it (matmul)
        msg = msg[len(name) + 2 :]
    cls = _family(exc.__class__, msg)
    if cls is None:
        return exc
    hint = _HINTS.get(cls, "")
    new: Any
    try:
        if cls is AxisError and getattr(exc, "ndim", None) is not None:
            new = AxisError(exc.axis, exc.ndim, name)  # type: ignore[attr-defined]
        else:
            new = cls(f"{name}: {msg}{hint}")
    except Exception:
        return exc
    return new


class ConcretizationError(TapegradError, TypeError):
    """Python needed the concrete value of a traced tensor inside ``tg.jit`` (``if x > 0``,
    ``float(x)``, ``x.item()``): the function is traced once, without values.  Use
    ``tg.where``, mark the argument static, or run the function without ``tg.jit``."""


class ArgumentError(InvalidTypeError):
    """Arguments that can't be used together (PyTorch's and NumPy's keywords mixed in one
    call), or a value an argument doesn't accept (a bad ``dtype=``, an ``out=`` that can't
    receive the result)."""
