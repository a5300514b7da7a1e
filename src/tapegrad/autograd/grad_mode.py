"""Grad mode: whether operations are recorded on the tape (thread-local)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    # Class attribute = the default seen by every new thread.
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    """Return True when operations on tensors that require grad are recorded."""
    return _state.enabled


class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    _target: bool

    def __enter__(self) -> None:
        self._prev = _state.enabled
        _state.enabled = self._target

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev

    def __call__(self, fn: F) -> F:
        target = self._target

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _state.enabled
            _state.enabled = target
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = prev

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):
    """Context manager / decorator that turns recording off.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> with tg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    _target = False


class enable_grad(_GradMode):
    """Context manager / decorator that turns recording on (inside ``no_grad``)."""

    _target = True


class set_grad_enabled(_GradMode):
    """Turn recording on or off: ``tg.set_grad_enabled(False)`` as a call, context or decorator.

    Called as a plain function it takes effect immediately (like PyTorch); used in a
    ``with`` block the previous mode comes back at the end of the block.
    """

    def __init__(self, mode: bool) -> None:
        self._target = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._target

    def __enter__(self) -> None:
        _state.enabled = self._target

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev
