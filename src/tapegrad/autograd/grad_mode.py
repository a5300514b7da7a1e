"""Grad mode: whether operations are recorded on the tape (thread-local)."""

from __future__ import annotations

import functools
import os
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import InvalidTypeError

__all__ = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "collecting",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "strong_zeros",
    "set_strong_zeros",
    "is_strong_zeros_enabled",
]

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
    # Anomaly detection (``detect_anomaly``): on, and whether backward checks for NaN.
    anomaly: bool = False
    anomaly_check_nan: bool = False
    anomaly_check_inf: bool = False
    # Strong zeros (``strong_zeros``): a zero cotangent or tangent times anything is zero.
    strong_zeros: bool = False


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


# ----------------------------------------------------------------------------- anomaly mode
# The stack of the call that recorded each node while anomaly detection was on (weakly
# keyed: an entry goes with its node).
FORWARD_STACKS: weakref.WeakKeyDictionary[Any, traceback.StackSummary] = weakref.WeakKeyDictionary()
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class _AnomalyRecorder:
    """The collector of anomaly mode: keeps the stack of each recorded node's forward call
    (only while anomaly detection is on), then passes the node on outwards."""

    __slots__ = ("outer",)

    def __init__(self, outer: Any) -> None:
        while isinstance(outer, _AnomalyRecorder):  # nested detect_anomaly: record once
            outer = outer.outer
        self.outer = outer

    def append(self, node: Any, args: Any, out: Any) -> None:
        stack = traceback.StackSummary.extract(
            traceback.walk_stack(sys._getframe(1)), lookup_lines=False
        )
        stack.reverse()
        FORWARD_STACKS[node] = stack
        if self.outer is not None:
            self.outer.append(node, args, out)


def forward_stack(node: Any) -> str:
    """The user's frames of the call that recorded ``node`` (formatted; "" if unknown)."""
    stack = FORWARD_STACKS.get(node)
    if stack is None:
        return ""
    frames = [f for f in stack if not f.filename.startswith(_PACKAGE_DIR)]
    return "".join(traceback.format_list(frames or list(stack)))


def _set_anomaly(mode: bool, check_nan: bool, check_inf: bool = False) -> None:
    st = _state
    c = st.collector
    if mode:
        if not isinstance(c, _AnomalyRecorder):
            rec = _AnomalyRecorder(c)
            st.collector = rec
            if st.enabled:
                st.enabled = rec
    elif isinstance(c, _AnomalyRecorder):
        st.collector = c.outer
        if st.enabled:
            st.enabled = True if c.outer is None else c.outer
    st.anomaly = bool(mode)
    st.anomaly_check_nan = bool(mode and check_nan)
    st.anomaly_check_inf = bool(mode and check_inf)


class _AnomalyMode:
    _mode: bool
    _check_nan: bool
    _check_inf: bool = False

    def _save(self) -> tuple[Any, ...]:
        st = _state
        return (st.collector, st.enabled, st.anomaly, st.anomaly_check_nan, st.anomaly_check_inf)

    @staticmethod
    def _restore(prev: tuple[Any, ...]) -> None:
        st = _state
        st.collector, st.enabled, st.anomaly, st.anomaly_check_nan, st.anomaly_check_inf = prev

    def __enter__(self) -> None:
        self._prev = self._save()
        _set_anomaly(self._mode, self._check_nan, self._check_inf)

    def __exit__(self, *exc: object) -> None:
        self._restore(self._prev)

    def __call__(self, fn: F) -> F:
        mode, check_nan, check_inf = self._mode, self._check_nan, self._check_inf

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = self._save()
            _set_anomaly(mode, check_nan, check_inf)
            try:
                return fn(*args, **kwargs)
            finally:
                self._restore(prev)

        return wrapper  # type: ignore[return-value]


class detect_anomaly(_AnomalyMode):
    """Context manager / decorator that turns anomaly detection on (PyTorch's API).

    Inside the block every recorded operation keeps the stack of the call that recorded
    it, and a backward pass checks the result of every rule: a NaN raises
    :class:`~tapegrad.errors.AnomalyError` naming the operation and showing where its
    forward call was made.  Any other error raised by a rule gets that stack as a note.
    The mode is slow (a stack per operation, every rule's result checked): use it to
    debug.  Like grad mode, and unlike PyTorch's global flag, it is per thread.

    Parameters
    ----------
    check_nan : bool
        Check the rules' results for NaN (default True, as PyTorch); False only records the
        stacks.
    check_inf : bool
        Also raise for ±inf in a rule's result (default False: PyTorch checks NaN only, and
        an infinite gradient can be right, e.g. of ``sqrt`` at 0).

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([0.0, 1.0], requires_grad=True)
    >>> with tg.autograd.detect_anomaly():
    ...     y = tg.sum(tg.log(x) * 0.0)
    ...     try:
    ...         y.backward()
    ...     except RuntimeError as e:
    ...         print(str(e).splitlines()[0])
    Function 'log' returned nan values in its 0th output.
    """

    def __init__(self, check_nan: bool = True, check_inf: bool = False) -> None:
        self._mode = True
        self._check_nan = bool(check_nan)
        self._check_inf = bool(check_inf)


class set_detect_anomaly(_AnomalyMode):
    """Turn anomaly detection on or off: a call (takes effect at once), context or
    decorator, like ``torch.autograd.set_detect_anomaly``; see :class:`detect_anomaly`.

    Examples
    --------
    >>> import tapegrad as tg
    >>> with tg.autograd.set_detect_anomaly(True):
    ...     tg.autograd.is_anomaly_enabled()
    True
    >>> tg.autograd.is_anomaly_enabled()
    False
    """

    def __init__(self, mode: bool, check_nan: bool = True, check_inf: bool = False) -> None:
        self._mode = bool(mode)
        self._check_nan = bool(check_nan)
        self._check_inf = bool(check_inf)
        self._prev = self._save()
        _set_anomaly(self._mode, self._check_nan, self._check_inf)

    def __enter__(self) -> None:
        _set_anomaly(self._mode, self._check_nan, self._check_inf)


def is_anomaly_enabled() -> bool:
    """True while anomaly detection is on in this thread (see :class:`detect_anomaly`)."""
    return _state.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """True while anomaly detection is on and checks the rules' results for NaN."""
    return _state.anomaly_check_nan


# ----------------------------------------------------------------------------- strong zeros
class _StrongZerosMode:
    _mode: bool

    def __enter__(self) -> None:
        self._prev = _state.strong_zeros
        _state.strong_zeros = self._mode

    def __exit__(self, *exc: object) -> None:
        _state.strong_zeros = self._prev

    def __call__(self, fn: F) -> F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _state.strong_zeros
            _state.strong_zeros = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.strong_zeros = prev

        return wrapper  # type: ignore[return-value]


class strong_zeros(_StrongZerosMode):
    """Context manager / decorator: a zero cotangent (or tangent) is a *strong* zero.

    In this mode ``0 * inf`` and ``0 * nan`` are 0 wherever a derivative is multiplied by
    a zero cotangent, so the unselected branch of ``tg.where`` can no longer turn the
    gradient into NaN (the "where trap").  What is guaranteed, for backward passes (and
    ``create_graph`` ones) started inside the block:

    * for an elementwise operation, every entry of an input's cotangent whose incoming
      cotangent entry is exactly zero is zero (before broadcasting is summed back);
    * for any operation whose incoming cotangents are all exactly zero, the rule does not
      run and each input receives exact zeros;
    * in forward mode (``jvp``, ``make_dual``), the same for zero tangents.

    A non-elementwise rule whose cotangent is zero in some entries only (a row of a
    matrix product, one output of ``eigh``) runs as usual.  A zero cotangent is a
    constant: differentiating with respect to the cotangent itself (the "double vjp"
    trick) is not supported in this mode.  Off by default (PyTorch's and JAX's arithmetic);
    the mode is per thread.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> with tg.autograd.strong_zeros():
    ...     tg.sum(tg.where(x > 0, tg.log(x), 0.0)).backward()
    >>> x.grad
    tensor([0. , 0. , 0.5])
    """

    def __init__(self) -> None:
        self._mode = True


class set_strong_zeros(_StrongZerosMode):
    """Turn strong zeros on or off: a call (takes effect at once), context or decorator;
    see :class:`strong_zeros`."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = _state.strong_zeros
        _state.strong_zeros = self._mode

    def __enter__(self) -> None:
        _state.strong_zeros = self._mode


def is_strong_zeros_enabled() -> bool:
    """True while strong zeros are on in this thread (see :class:`strong_zeros`)."""
    return _state.strong_zeros
