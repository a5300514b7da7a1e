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

from ..errors import InvalidStateError, InvalidTypeError

__all__ = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "Observer",
    "observe",
    "observe_everywhere",
    "scope",
    "Scope",
    "current_scope",
    "active_observers",
    "record_node",
    "collecting",
    "tracing",
    "active_tracer",
    "effect",
    "source",
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
    # ``enabled`` is False, True, or (while recording with an observer that wants record
    # events) the dispatcher ``recorder``: it is truthy, and the primitives hand it every
    # node they record (``en.append(node, args, out)``).
    enabled: Any = True
    # The active observers (see ``observe``), outermost first; the process-wide ones
    # (``observe_everywhere``) come first in every thread.
    observers: tuple[Any, ...] = ()
    # The dispatcher of record events to those of ``observers`` that want them, or None.
    recorder: Any = None
    # The active scopes (see ``scope``), innermost last.
    scopes: tuple[Any, ...] = ()
    # Anomaly detection (``detect_anomaly``): on, and whether backward checks for NaN.
    anomaly: bool = False
    anomaly_check_nan: bool = False
    anomaly_check_inf: bool = False
    # Strong zeros (``strong_zeros``): a zero cotangent or tangent times anything is zero.
    strong_zeros: bool = False
    # The active tracer (see ``tracing``): an Observer that receives ``call`` events for
    # every primitive call on tensors, recorded or not (recorded calls reach it through the
    # record dispatcher), and the other tracer events; None when nothing is traced (then a
    # call that records nothing pays one test for it).
    tracer: Any = None


_state = _State()


def is_grad_enabled() -> bool:
    """Return True when operations on tensors that require grad are recorded."""
    return bool(_state.enabled)


def recording(flag: Any) -> Any:
    """The value of ``_state.enabled`` that means "recording is ``flag``": the record
    dispatcher when an active observer wants record events (so that turning grad on
    inside an observed block keeps observing), else True; False for off."""
    if not flag:
        return False
    r = _state.recorder
    return True if r is None else r


# ----------------------------------------------------------------------------- observers
class Observer:
    """Watches the tape: subclass it, override the events you want, and activate it with
    :func:`observe`.  Every method is a no-op here.

    This is the one way to watch what autograd does: checkpointing, memory accounting,
    the explainer, ``tg.viz``'s module frames and the compiler's tracer all observe through
    it.  An observer that does not override :meth:`record` costs nothing on the recording
    path; while none that does is active, recording a node costs one truth test.

    Events
    ------
    ``record(node, inputs, outputs)``
        A primitive call recorded ``node`` (see :class:`~tapegrad.autograd.node.Node` for
        its read API: ``name``, ``prim``, ``params``, ``inputs``, ``saved_inputs``,
        ``saved_output``, ``output_meta``).  ``inputs`` is the call's positional arguments
        exactly as passed: tensors (their ``.data`` is the value; those that do not require
        grad are constants of the node) and plain values (Python numbers, arrays);
        ``outputs`` is the tuple of the output tensors (one for most primitives).  With
        ``node.prim`` (whose ``impl`` recomputes the outputs from the raw inputs and
        ``node.params``) that is a complete record of the call: a tracer that marks its
        inputs as requiring grad sees every operation that depends on them, and can
        rebuild the computation from these events alone.  Only calls with an input that
        requires grad, in grad mode, are recorded.
    ``release(node)``
        A backward pass freed ``node``'s saved values (``node.freed`` is then True), or a
        checkpoint dropped them for recomputation.
    ``update(owner)``
        What ``owner`` keeps for the backward pass changed: a node whose values were
        recomputed, a checkpoint block that now keeps its inputs, a chain's snapshots.
        Memory accounting recounts it.
    ``backward_done()``
        A backward pass (``backward``, ``grad`` or a transform's) finished.
    ``scope_enter(kind, obj)`` / ``scope_exit(kind, obj, outputs)``
        A labelled region began or ended (see :func:`scope`): ``kind`` ``"module"`` for a
        ``tg.nn.Module`` call (``obj`` the module), ``"checkpoint"`` for a checkpointed
        block (``obj`` the block); ``outputs`` what the region returned.  While a scope is
        active, :func:`current_scope` gives its inputs too.

    Tracer events (only for the one observer activated with :func:`tracing`, such as the
    compiler's tracer behind ``tg.jit``; ordinary observers never receive them):

    ``call(prim, inputs, params, outputs)``
        Every call of a primitive with a Tensor among its inputs, recorded or not (under
        ``no_grad``, on tensors that do not require grad, inside backward rules, in forward
        mode), after it ran: with ``prim.impl(*raw inputs, **params)`` it is a complete
        description of the operation.
    ``effect(fn, args)``
        ``fn(*args)`` ran for its side effect on the arrays among ``args`` (an in-place
        write, an optimizer's update): tapegrad changes memory only through :func:`effect`.
    ``source(fn, args, kwargs, out)``
        ``out = fn(*args, **kwargs)`` made a new array outside the primitives (a random
        draw, a saved value's copy); see :func:`source`.
    ``grad_read(tensor)`` / ``grad_write(tensor)``
        ``tensor.grad`` was read (by the getter, the engine or an optimizer) or replaced.
    ``concretize(tensor, what)``
        Python asks for the concrete value of ``tensor`` (``what``: ``"bool(tensor)"``,
        ``"tensor.item()"``, ...); a tracer raises when the value is traced.

    Observers nest: every active one receives every event, in the order they were
    activated.  Events happen in the thread that caused them; ``observe`` is per thread,
    like grad mode.

    Examples
    --------
    >>> import tapegrad as tg
    >>> from tapegrad.autograd import Observer, observe
    >>> class Names(Observer):
    ...     def __init__(self):
    ...         self.names = []
    ...     def record(self, node, inputs, outputs):
    ...         self.names.append(node.name)
    >>> x = tg.tensor(1.0, requires_grad=True)
    >>> with observe(Names()) as seen:
    ...     y = tg.sin(x) * x
    >>> seen.names
    ['sin', 'multiply']
    """

    __slots__ = ()

    def record(self, node: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        """A primitive call recorded ``node`` from ``inputs``; ``outputs`` its results."""

    def release(self, node: Any) -> None:
        """``node``'s saved values were freed (or dropped for recomputation)."""

    def update(self, owner: Any) -> None:
        """What ``owner`` (a node, a checkpoint block, a chain) keeps changed."""

    def backward_done(self) -> None:
        """A backward pass finished."""

    def scope_enter(self, kind: str, obj: Any) -> None:
        """A scope of ``kind`` for ``obj`` began."""

    def scope_exit(self, kind: str, obj: Any, outputs: Any) -> None:
        """The scope of ``kind`` for ``obj`` ended, returning ``outputs``."""

    def call(self, prim: Any, inputs: tuple[Any, ...], params: dict, outputs: Any) -> None:
        """(Tracer event) ``prim`` ran on ``inputs`` with ``params``, giving ``outputs``."""

    def effect(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """(Tracer event) ``fn(*args)`` is about to change the arrays among ``args``."""

    def source(self, fn: Callable[..., Any], args: tuple, kwargs: dict, out: Any) -> None:
        """(Tracer event) ``fn(*args, **kwargs)`` made the new array ``out``."""

    def grad_read(self, tensor: Any) -> None:
        """(Tracer event) ``tensor.grad`` is about to be read."""

    def grad_write(self, tensor: Any) -> None:
        """(Tracer event) ``tensor.grad`` was replaced."""

    def concretize(self, tensor: Any, what: str) -> None:
        """(Tracer event) Python needs the value of ``tensor`` for ``what``."""


class _Dispatch:
    """The value of ``_state.enabled`` while observers that want record events (or a
    tracer) are active: truthy, and ``append`` hands a recorded node to each of them.  A
    primitive hands its nodes to ``primitive``, which also tells the tracer of the call
    (so that a recorded call costs the tracer nothing extra when none is active)."""

    __slots__ = ("targets", "tracer")

    def __init__(self, targets: tuple[Any, ...], tracer: Any = None) -> None:
        self.targets = targets
        self.tracer = tracer

    def append(self, node: Any, args: Any, out: Any) -> None:
        outputs = out if out.__class__ is tuple else (out,)
        for o in self.targets:
            o.record(node, args, outputs)

    def primitive(self, node: Any, args: Any, out: Any) -> None:
        """``node`` was recorded by a call of its primitive on ``args``, giving ``out``."""
        self.append(node, args, out)
        if self.tracer is not None:
            self.tracer.call(node.prim, args, node.params, out)


def _wants_record(o: Any) -> bool:
    return type(o).record is not Observer.record


def _set_observers(observers: tuple[Any, ...]) -> None:
    """Make ``observers`` the active ones (and the record dispatcher to match)."""
    st = _state
    rec = tuple(o for o in observers if _wants_record(o))
    st.observers = observers
    tr = st.tracer
    st.recorder = _Dispatch(rec, tr) if rec or tr is not None else None
    if st.enabled:
        st.enabled = True if st.recorder is None else st.recorder


class observe:
    """Context manager: activate ``observer`` (an :class:`Observer`) in this thread for
    the block; returns it from ``with``.

    Observers nest; grad-mode switches (``no_grad``, ``enable_grad``) inside the block
    keep them.  ``alone=True`` suspends the other active observers (the process-wide ones
    included) for the block, so that only ``observer`` sees what happens inside: a
    checkpoint's recomputation, or a tracer's private run.
    """

    __slots__ = ("observer", "alone", "_prev")

    def __init__(self, observer: Observer, *, alone: bool = False) -> None:
        if not isinstance(observer, Observer):
            raise InvalidTypeError(
                f"observe() needs an Observer (a subclass of tapegrad.autograd.Observer), got "
                f"{type(observer).__name__}"
            )
        self.observer = observer
        self.alone = alone

    def __enter__(self) -> Any:
        st = _state
        self._prev = (st.observers, st.recorder, st.enabled, st.scopes)
        if self.alone:
            st.scopes = ()
            _set_observers((self.observer,))
        else:
            _set_observers(st.observers + (self.observer,))
        return self.observer

    def __exit__(self, *exc: object) -> None:
        st = _state
        st.observers, st.recorder, st.enabled, st.scopes = self._prev


def observe_everywhere(observer: Observer) -> None:
    """Activate ``observer`` in every thread for the life of the process (before the
    observers of :func:`observe`).  For logs that must exist before anyone asks, such as
    the module calls that ``tg.viz`` draws as frames; such an observer should not override
    :meth:`Observer.record` (it would slow every recorded operation)."""
    if not isinstance(observer, Observer):
        raise InvalidTypeError(
            f"observe_everywhere() needs an Observer, got {type(observer).__name__}"
        )
    _State.observers = _State.observers + (observer,)
    if "observers" in _state.__dict__:  # this thread has its own list: add it there too
        _set_observers((observer,) + _state.observers)
    else:
        _set_observers(_State.observers)


def active_observers() -> tuple[Any, ...]:
    """The observers active in this thread, outermost first (empty tuple: none)."""
    return _state.observers


def record_node(node: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
    """Announce ``node``, recorded by code other than a primitive call (a tape entry built
    by hand), to the observers that want record events.  A primitive call does the same
    with ``en.append(node, args, out)`` on the truthy ``_state.enabled``."""
    r = _state.recorder
    if r is not None and _state.enabled:
        r.append(node, inputs, outputs)


def notify_release(node: Any) -> None:
    """Tell the active observers that ``node``'s saved values were dropped."""
    for o in _state.observers:
        o.release(node)


def notify_update(owner: Any) -> None:
    """Tell the active observers that what ``owner`` keeps for backward changed."""
    for o in _state.observers:
        o.update(owner)


class tracing:
    """Context manager: make ``observer`` the tracer of this thread for the block (it
    receives the tracer events ``call``, ``effect``, ``source``, ``grad_read``,
    ``grad_write`` and ``concretize`` of :class:`Observer`, on top of the ordinary events
    while it is also active through :func:`observe`).  One tracer at a time: a second one
    raises.  The ``alone=True`` of :func:`observe` does not suspend it, so that a
    checkpoint's recomputation inside a traced backward pass is traced too."""

    __slots__ = ("observer",)

    def __init__(self, observer: Observer) -> None:
        if not isinstance(observer, Observer):
            raise InvalidTypeError(f"tracing() needs an Observer, got {type(observer).__name__}")
        self.observer = observer

    def __enter__(self) -> Any:
        st = _state
        if st.tracer is not None:
            raise InvalidStateError(
                "a tracer is already active in this thread; trace one function at a time"
            )
        st.tracer = self.observer
        _set_observers(st.observers)  # (the record dispatcher tells the tracer too)
        return self.observer

    def __exit__(self, *exc: object) -> None:
        _state.tracer = None
        _set_observers(_state.observers)


def active_tracer() -> Any:
    """The tracer active in this thread (see :func:`tracing`), or None."""
    return _state.tracer


def effect(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` for its side effect on the NumPy arrays among ``args`` (the first
    one is the array written), and tell the active tracer: every in-place change of a
    tensor's memory in tapegrad goes through here, so that a compiled function repeats it."""
    tr = _state.tracer
    if tr is not None:
        tr.effect(fn, args)
    return fn(*args)


def source(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``: a new array made outside the primitives (a random draw, a
    copy of a saved value), announced to the active tracer so that a compiled function
    makes it anew on every call instead of reusing the traced values."""
    out = fn(*args, **kwargs)
    tr = _state.tracer
    if tr is not None:
        tr.source(fn, args, kwargs, out)
    return out


class Scope:
    """One active labelled region (see :func:`scope`): ``kind``, ``obj``, ``inputs`` (what
    the region was called with, or None), and ``outputs`` (set by the code inside before
    the region ends; handed to ``scope_exit``)."""

    __slots__ = ("kind", "obj", "inputs", "outputs", "_prev")

    def __init__(self, kind: str, obj: Any, inputs: Any = None) -> None:
        self.kind = kind
        self.obj = obj
        self.inputs = inputs
        self.outputs: Any = None

    def __enter__(self) -> Scope:
        st = _state
        self._prev = st.scopes
        st.scopes = self._prev + (self,)
        for o in st.observers:
            o.scope_enter(self.kind, self.obj)
        return self

    def __exit__(self, *exc: object) -> None:
        st = _state
        try:
            for o in st.observers:
                o.scope_exit(self.kind, self.obj, self.outputs)
        finally:
            st.scopes = self._prev

    def __repr__(self) -> str:
        return f"Scope({self.kind!r}, {type(self.obj).__name__})"


def scope(kind: str, obj: Any, inputs: Any = None) -> Scope:
    """Context manager: a labelled region of the program, announced to the active
    observers (``scope_enter(kind, obj)`` at the start, ``scope_exit(kind, obj,
    outputs)`` at the end).  Set ``.outputs`` on the returned :class:`Scope` to what the
    region computed.  ``tg.nn.Module`` calls are scopes of kind ``"module"``, checkpointed
    blocks of kind ``"checkpoint"``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> from tapegrad.autograd import Observer, observe, scope
    >>> class Log(Observer):
    ...     def scope_exit(self, kind, obj, outputs):
    ...         print(kind, obj, outputs)
    >>> with observe(Log()):
    ...     with scope("stage", "encoder") as s:
    ...         s.outputs = 42
    stage encoder 42
    """
    return Scope(kind, obj, inputs)


def current_scope() -> Scope | None:
    """The innermost active :class:`Scope` of this thread, or None."""
    sc = _state.scopes
    return sc[-1] if sc else None


class collecting(Observer):
    """Observe the nodes recorded inside the block with a collector: ``collector.append(
    node, args, out)`` receives each new node, the arguments of the call that recorded it,
    and its outputs (a tuple); a plain list collects the nodes alone.  A shorthand for
    :func:`observe` with an observer whose ``record`` appends.

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

    __slots__ = ("collector", "_list", "_scope")

    def __init__(self, collector: Any) -> None:
        if not hasattr(collector, "append"):
            raise InvalidTypeError(
                "a collector needs an append(node, args, out) method, or is a list"
            )
        self.collector = collector
        self._list = isinstance(collector, list)

    def record(self, node: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        if self._list:
            self.collector.append(node)
        else:
            self.collector.append(node, inputs, outputs)

    def __enter__(self) -> Any:
        self._scope = observe(self)
        self._scope.__enter__()
        return self.collector

    def __exit__(self, *exc: object) -> None:
        self._scope.__exit__()


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


class _AnomalyRecorder(Observer):
    """The observer of anomaly mode: keeps the stack of each recorded node's forward call
    (only while anomaly detection is on)."""

    __slots__ = ()

    def record(self, node: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        stack = traceback.StackSummary.extract(
            traceback.walk_stack(sys._getframe(1)), lookup_lines=False
        )
        stack.reverse()
        FORWARD_STACKS[node] = stack


_ANOMALY = _AnomalyRecorder()


def forward_stack(node: Any) -> str:
    """The user's frames of the call that recorded ``node`` (formatted; "" if unknown)."""
    stack = FORWARD_STACKS.get(node)
    if stack is None:
        return ""
    frames = [f for f in stack if not f.filename.startswith(_PACKAGE_DIR)]
    return "".join(traceback.format_list(frames or list(stack)))


def _set_anomaly(mode: bool, check_nan: bool, check_inf: bool = False) -> None:
    st = _state
    obs = st.observers
    if mode:
        if _ANOMALY not in obs:
            _set_observers(obs + (_ANOMALY,))
    elif _ANOMALY in obs:
        _set_observers(tuple(o for o in obs if o is not _ANOMALY))
    st.anomaly = bool(mode)
    st.anomaly_check_nan = bool(mode and check_nan)
    st.anomaly_check_inf = bool(mode and check_inf)


class _AnomalyMode:
    _mode: bool
    _check_nan: bool
    _check_inf: bool = False

    def _save(self) -> tuple[Any, ...]:
        st = _state
        return (
            st.observers,
            st.recorder,
            st.enabled,
            st.anomaly,
            st.anomaly_check_nan,
            st.anomaly_check_inf,
        )

    @staticmethod
    def _restore(prev: tuple[Any, ...]) -> None:
        st = _state
        (
            st.observers,
            st.recorder,
            st.enabled,
            st.anomaly,
            st.anomaly_check_nan,
            st.anomaly_check_inf,
        ) = prev

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
