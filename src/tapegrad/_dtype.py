"""The default dtype of new layer parameters: ``tg.set_default_dtype`` / ``tg.get_default_dtype``.

Only the parameters (and buffers) that ``tg.nn`` layers create follow it.  Data keeps NumPy's
rules: ``tg.tensor(1.0)``, ``tg.zeros(3)`` and ``tg.randn(3)`` are float64 whatever the
default (unlike PyTorch, where they follow ``torch.get_default_dtype()``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DtypeMismatchError

__all__ = ["set_default_dtype", "get_default_dtype"]

_ALLOWED = (np.dtype(np.float32), np.dtype(np.float64))
_default: list[np.dtype] = [np.dtype(np.float32)]


def _as_float_dtype(dtype: Any, what: str) -> np.dtype:
    dt: np.dtype | None = None
    if dtype is not None:  # np.dtype(None) would be float64
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
    if dt is None or dt not in _ALLOWED:
        shown = repr(dtype) if dt is None else str(dt)
        raise DtypeMismatchError(
            f"{what} must be float32 or float64, got {shown}; pass np.float32, np.float64, "
            "'float32' or 'float64'"
        )
    return dt


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that ``tg.nn`` layers create their parameters in (float32 at start).

    Parameters
    ----------
    dtype : float32 or float64
        As a NumPy dtype or scalar type (``np.float64``), a string (``"float64"``), or a
        tensor's ``.dtype``.  Anything else raises :class:`DtypeMismatchError` (a
        ``TypeError``).

    Notes
    -----
    As ``torch.set_default_dtype``, but only for layer parameters and buffers: tensors made
    from data keep NumPy's dtypes, so ``tg.tensor(1.0)`` is float64 whatever the default
    (in PyTorch it would follow the default).  An explicit ``dtype=`` given to a layer wins.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.set_default_dtype("float64")
    >>> tg.nn.Linear(2, 3).weight.dtype
    dtype('float64')
    >>> tg.tensor(1.0).dtype, tg.tensor([1.0], dtype="float32").dtype
    (dtype('float64'), dtype('float32'))
    >>> tg.set_default_dtype("float32")
    >>> tg.get_default_dtype()
    dtype('float32')
    """
    _default[0] = _as_float_dtype(dtype, "the default dtype")


def get_default_dtype() -> np.dtype:
    """The dtype ``tg.nn`` layers create their parameters in (float32 unless changed).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.get_default_dtype()
    dtype('float32')
    """
    return _default[0]


def param_dtype(dtype: Any, layer: str) -> np.dtype:
    """The dtype for a layer's parameters: ``dtype`` if given (floating), else the default."""
    if dtype is None:
        return _default[0]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DtypeMismatchError(
            f"{layer}: dtype {dtype!r} is not a dtype; use 'float32' or 'float64'"
        ) from None
    if dt.kind != "f":
        raise DtypeMismatchError(
            f"{layer}: layer parameters must be floating point, got dtype {dt}; use 'float32' "
            "or 'float64'"
        )
    return dt


def check_input_dtype(x: Any, expected: np.dtype, layer: str, what: str = "input") -> None:
    """Raise :class:`DtypeMismatchError` unless ``x``'s dtype is ``expected``.

    The message names the layer, both dtypes and the three ways to make them agree.
    """
    dt = getattr(x, "dtype", None)
    if dt is None:
        dt = np.asarray(x).dtype
    if dt == expected:
        return
    cast = {"float32": "x.float()", "float64": "x.double()"}.get(str(expected))
    to_input = {"float32": "model.float()", "float64": "model.double()"}.get(str(dt))
    fixes = []
    if cast is not None:
        fixes.append(f"cast the {what} with {cast} (or x.astype('{expected}'))")
    else:
        fixes.append(f"cast the {what} with x.astype('{expected}')")
    if to_input is not None:
        fixes.append(
            f"or cast the model with {to_input}, or build it after tg.set_default_dtype('{dt}')"
        )
    raise DtypeMismatchError(
        f"{layer}: the {what} has dtype {dt} but the layer's parameters are {expected}; "
        + ", ".join(fixes)
    )


def check_float_input(x: Any, layer: str) -> None:
    """For layers without parameters: the input must be floating point."""
    dt = getattr(x, "dtype", None)
    if dt is None:
        dt = np.asarray(x).dtype
    if np.dtype(dt).kind != "f":
        raise DtypeMismatchError(
            f"{layer}: the input has dtype {dt}; it needs a floating-point input, cast it with "
            "x.float() or x.double()"
        )
