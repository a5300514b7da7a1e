"""Grad mode: whether operations are recorded on the tape (thread-local)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import InvalidTypeError

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "collecting"]

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    # Class attributes = the defaults seen by every new thread.
    # ``enabled`` is False, True, or (while recording with a collector active) the
    # collector itself: it is truthy, and the primitives hand it every node they record.
    enabled: Any = True
    # The innermost active collector (see ``collecting``), or None.
    collector: Any = None
    # The active memory account (``autograd.memory.peak_saved_bytes``), or None.
    tracker: Any = None


_state = _State()


def is_grad_enabled() -> bool:
    """Return True when operations on tensors that require grad are recorded."""
    return bool(_state.enabled)


def recording(flag: Any) -> Any:
    """The value of ``_state.enabled`` that means "recording is ``flag``": the active
    collector when there is one (so that turning grad on inside a collected block keeps
    collecting), else True; False for off."""
    if not flag:
        return False
    c = _state.collector
    return True if c is None else c


class collecting:
    """Hand every tape entry recorded inside the block to ``collector.append(node, args,
    out)``: the new node, the arguments of the call that recorded it, and its output (a
    tuple for several outputs).  A plain list collects the nodes alone.

    This is the engine's one observation hook: checkpointing (which records the nodes of a
    recomputable block), memory accounting and the tape explainer use it.  Collectors
    nest; the innermost one receives the nodes (and may pass them on outwards).  Grad mode
    switches (``no_grad``, ``enable_grad``) inside the block keep the collector.  The
    collector must be truthy (recording tests it); a list is wrapped.

    Examples
    --------
    >>> import tapegrad as tg
    >>> from tapegrad.autograd.grad_mode import collecting
    >>> nodes = []
    >>> x = tg.tensor(1.0, requires_grad=True)
    >>> with collecting(nodes):
    ...     y = tg.sin(x) * x
    >>> [n.name for n in nodes]
    ['sin', 'multiply']
    """

    __slots__ = ("collector", "_prev")

    def __init__(self, collector: Any) -> None:
        if not hasattr(collector, "append"):
            raise InvalidTypeError(
                "a collector needs an append(node, args, out) method, or is a list"
            )
        self.collector = _Truthy(collector) if isinstance(collector, list) else collector

    def __enter__(self) -> Any:
        self._prev = (_state.collector, _state.enabled)
        _state.collector = self.collector
        if _state.enabled:
            _state.enabled = self.collector
        return self.collector

    def __exit__(self, *exc: object) -> None:
        _state.collector, _state.enabled = self._prev


class _Truthy:
    """Wraps a list collector (an empty list is falsy, and recording tests truthiness):
    keeps the nodes only."""

    __slots__ = ("nodes",)

    def __init__(self, target: list[Any]) -> None:
        self.nodes = target

    def append(self, node: Any, args: Any, out: Any) -> None:
        self.nodes.append(node)


class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    _target: bool

    def __enter__(self) -> None:
        self._prev = _state.enabled
        _state.enabled = recording(self._target)

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev

    def __call__(self, fn: F) -> F:
        target = self._target

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _state.enabled
            _state.enabled = recording(target)
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
        _state.enabled = recording(self._target)

    def __enter__(self) -> None:
        _state.enabled = recording(self._target)

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev
