"""The Tensor: a NumPy array plus the few fields reverse mode needs.

Nothing numeric is written here, and nothing here imports the op library: Tensor's operators
and methods are attached by :mod:`tapegrad.ops.install` (they live in
:mod:`tapegrad.ops.methods` and forward to the primitives), and the in-place machinery reaches
the few ops it needs through :data:`tapegrad.autograd.injected.OPS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .autograd import grad_mode
from .autograd.injected import OPS
from .autograd.node import MUTATIONS
from .errors import (
    DtypeMismatchError,
    InplaceModificationError,
    InvalidArgumentError,
    InvalidAttributeError,
    InvalidTypeError,
    NotDifferentiableError,
    ShapeMismatchError,
    complex_error,
)

__all__ = ["Tensor"]

# The dtype kinds a tensor may hold: bool, integers, floats, complex (no objects, strings,
# dates or records).
_DATA_KINDS = frozenset("biufc")
_NOT_PICKLED = ("_vchain", "_views", "__weakref__")


def _check_float(dtype: np.dtype) -> None:
    if dtype.kind == "c":
        raise complex_error("requires_grad")
    if dtype.kind != "f":
        raise NotDifferentiableError(
            f"only floating-point tensors can require grad, got dtype {dtype}; "
            "convert first, e.g. x.astype('float64')"
        )


def _check_grad(t: Tensor, value: Any) -> None:
    """What PyTorch checks when ``.grad`` is assigned: a tensor of the same shape and dtype."""
    if not isinstance(value, Tensor):
        raise InvalidTypeError(
            f"Tensor.grad: assigned grad must be a Tensor or None, got {type(value).__name__}; "
            "wrap it, e.g. x.grad = tg.tensor(value, dtype=x.dtype)"
        )
    if value.data.shape != t.data.shape:
        raise ShapeMismatchError(
            f"assigned grad has shape {value.data.shape} but the tensor has shape "
            f"{t.data.shape}; assign a gradient of the tensor's shape (or None)"
        )
    if value.data.dtype != t.data.dtype:
        raise DtypeMismatchError(
            f"assigned grad has dtype {value.data.dtype} but the tensor has dtype "
            f"{t.data.dtype}; cast it first, e.g. g.astype({str(t.data.dtype)!r})"
        )


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Create tensors with :func:`tapegrad.tensor` (which copies its input) or the creation
    functions (``tg.zeros``, ``tg.randn``, ...).  ``requires_grad=True`` marks a leaf whose
    gradient is accumulated into ``.grad`` by :meth:`backward`.

    Attributes
    ----------
    data : numpy.ndarray
        The values.  Changing it in place bypasses the tape; use tensor operations instead.
    requires_grad : bool
        Whether operations on this tensor are recorded.
    grad : Tensor or None
        The accumulated gradient (leaves, and non-leaves after :meth:`retain_grad`).
    grad_fn : Node or None
        The tape entry that produced this tensor (None for leaves).
    """

    __slots__ = (
        "data",
        "requires_grad",
        "_grad",
        "grad_fn",
        "_idx",
        "_version",
        "_base",
        "_vchain",
        "_views",
        "_hooks",
        "_fw",
        "__weakref__",
    )
    data: np.ndarray
    requires_grad: bool
    _grad: Tensor | None
    grad_fn: Any
    _idx: int
    _version: int
    _base: Tensor | None
    # Set only on views (read only where _base is not None): (differentiable base,
    # chain of view steps from it), or None for a detached tensor.
    _vchain: tuple[Tensor, tuple[Any, ...]] | None
    # Set only on bases with live views: weak references to them.
    _views: list[Any]
    _hooks: list[Callable[..., Any]] | None
    _fw: dict[int, Any] | None  # forward mode: {level: tangent}

    # Make NumPy defer to Tensor for mixed binary operators (ndarray + Tensor).
    __array_priority__ = 1000.0

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        src = data.data if isinstance(data, Tensor) else data
        try:
            arr = np.array(src, dtype=dtype, copy=True)
        except (ValueError, TypeError) as e:
            raise _array_error("Tensor", e) from e
        if arr.dtype.kind not in _DATA_KINDS:
            raise _kind_error("Tensor", data, arr)
        _tell("source", _copy_array, (src, arr.dtype), {}, arr)  # (tg.jit copies again)
        if requires_grad:
            _check_float(arr.dtype)
        new_tensor(arr, bool(requires_grad), None, 0, self)

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        # Pickled (and deep-copied) arrays are copies, so a copy of a view is no view: the
        # links to the base and to the views are left out.
        state = {}
        for name in Tensor.__slots__:
            if name not in _NOT_PICKLED and hasattr(self, name):
                state[name] = getattr(self, name)
        state["_base"] = None
        return None, state

    # ------------------------------------------------------------------ attributes
    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient: a tensor shaped and typed like this one, or None.

        Filled by :meth:`backward` for leaves that require grad (and for non-leaves after
        :meth:`retain_grad`).  Assigning checks the value as PyTorch does: None clears it,
        anything else must be a Tensor with this tensor's shape and dtype.

        Examples
        --------
        >>> import tapegrad as tg
        >>> w = tg.tensor([1.0, 2.0], requires_grad=True)
        >>> w.grad = tg.zeros(2)
        >>> w.grad = None
        >>> try:
        ...     w.grad = tg.zeros(3)
        ... except ValueError as e:
        ...     print(type(e).__name__)
        ShapeMismatchError
        """
        _tell("grad_read", self)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            _check_grad(self, value)
        self._grad = value
        _tell("grad_write", self)

    @grad.deleter
    def grad(self) -> None:
        self._grad = None
        _tell("grad_write", self)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the data (a tuple of ints)."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the data."""
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded operation."""
        return self.grad_fn is None

    def dim(self) -> int:
        """The number of axes (PyTorch's spelling of ``ndim``)."""
        return self.data.ndim

    def numel(self) -> int:
        """The number of elements (PyTorch's spelling of ``size``)."""
        return self.data.size

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shares memory).  Raises if the tensor requires grad."""
        _tell("concretize", self, "tensor.numpy()")
        if self.requires_grad:
            raise NotDifferentiableError(
                "can't call numpy() on a tensor that requires grad: the array would drop the "
                "tape. Use tensor.detach().numpy() to get the values."
            )
        return self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        _tell("concretize", self, "tensor.item()")
        if self.data.size != 1:
            raise InvalidArgumentError(
                f"item() needs a tensor with exactly one element, this one has shape "
                f"{self.data.shape}; index it first"
            )
        return self.data.item()

    def tolist(self) -> Any:
        """The values as nested Python lists (no gradient)."""
        _tell("concretize", self, "tensor.tolist()")
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        _tell("concretize", self, "converting a tensor to a NumPy array (np.asarray)")
        if self.requires_grad:
            raise NotDifferentiableError(
                "a tensor that requires grad can't be converted to a NumPy array implicitly "
                "(the gradient would be lost). Use the tapegrad function (tg.sin, tg.sum, ...) "
                "or tensor.detach().numpy() if you want the values only."
            )
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        if copy:
            return self.data.copy()
        return self.data

    def __float__(self) -> float:
        _tell("concretize", self, "float(tensor)")
        return float(self.item())

    def __int__(self) -> int:
        _tell("concretize", self, "int(tensor)")
        return int(self.item())

    def __bool__(self) -> bool:
        _tell("concretize", self, "bool(tensor) (an if, while, and/or or assert on a tensor)")
        if self.data.size != 1:
            raise InvalidArgumentError(
                f"the truth value of a tensor with shape {self.data.shape} is ambiguous; "
                "use tg.any(...) or tg.all(...)"
            )
        return bool(self.data)

    def __index__(self) -> int:
        _tell("concretize", self, "using a tensor as an index or size (tensor.__index__)")
        return self.data.__index__()

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _wrap(arr: Any) -> Tensor:
        """A constant tensor around ``arr`` without copying."""
        return new_tensor(arr if isinstance(arr, np.ndarray) else np.asarray(arr), False, None, 0)

    def detach(self) -> Tensor:
        """A tensor with the same data that is cut from the graph.

        It shares memory and version counter with ``self`` (as in PyTorch): an in-place
        change through it is seen by ``self``, and makes a backward that needs ``self``'s
        saved value raise :class:`~tapegrad.errors.InplaceModificationError`.

        Examples
        --------
        >>> import tapegrad as tg
        >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
        >>> with tg.no_grad():
        ...     x.detach().mul_(10)
        tensor([10., 20.])
        >>> x
        tensor([10., 20.], requires_grad=True)
        """
        t = new_tensor(self.data, False, None, 0)
        t._base = self if self._base is None else self._base
        t._vchain = None  # shares memory and version counter, but no history
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place: it becomes a leaf that does not require grad.

        Views can't be detached in place (their history is made from their base's); use
        :meth:`detach` for them.
        """
        if self._base is not None and self._vchain is not None:
            raise InplaceModificationError(
                "a view can't be detached in place (its grad_fn follows its base's history); "
                "use v = v.detach() instead"
            )
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place on a leaf and return self."""
        if not requires_grad and self.grad_fn is not None:
            raise InvalidArgumentError(
                "can't set requires_grad=False on a non-leaf tensor; use .detach() instead"
            )
        if requires_grad:
            _check_float(self.data.dtype)
        self.requires_grad = bool(requires_grad)
        return self

    # ------------------------------------------------------------------ autograd
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        Parameters
        ----------
        gradient : array_like, optional
            The cotangent of ``self``; required unless ``self`` has one element.
        retain_graph : bool, optional
            Keep the saved values so that backward can run through the graph again.
            Defaults to ``create_graph``.
        create_graph : bool
            Record the backward pass so the gradients can be differentiated again.
        inputs : Tensor or sequence of Tensor, optional
            Accumulate only into these tensors' ``.grad``.

        Examples
        --------
        >>> import tapegrad as tg
        >>> x = tg.tensor(3.0, requires_grad=True)
        >>> (x * x).backward()
        >>> x.grad
        tensor(6.)
        """
        _engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        _engine.retain_grad(self)

    def register_hook(self, hook: Callable[[Tensor], Any]) -> Callable[[], None]:
        """Call ``hook(grad)`` when the gradient w.r.t. this tensor is computed.

        The hook may return a replacement gradient.  Returns a function that removes it.
        """
        return _engine.register_hook(self, hook)

    # ------------------------------------------------------------------ in-place machinery
    # PyTorch's model.  A view (basic indexing, reshape, transpose, ...) shares its base's
    # memory and version counter.  An in-place op always writes into the existing memory
    # and bumps the version; under grad mode it is also recorded: the tensor's grad_fn
    # becomes the op's node, and for a view the base's history is rewritten (copy_slices)
    # and every live view of the base gets a grad_fn made again from the new base.
    def _bump(self) -> None:
        # A true in-place change of self.data.  Tape entries that saved this tensor compare
        # its version (and its base's, for views) in backward; the entry that produced it
        # and saved it as its output is marked dirty directly.
        self._version += 1
        MUTATIONS[0] += 1
        node = self.grad_fn
        if node is not None:
            node.output_written(self.data, self._idx)
        base = self._base
        if base is not None:
            base._bump()

    def _check_inplace(self) -> None:
        if self.requires_grad and self.grad_fn is None and grad_mode._state.enabled:
            raise InplaceModificationError(
                "a leaf tensor that requires grad can't be changed in place while grad mode "
                "is on (its gradient would be wrong); wrap the update in `with tg.no_grad():` "
                "or use an out-of-place operation"
            )

    def _recorded(self, other: Any) -> bool:
        """Whether an in-place op on self (with operand ``other``) is recorded on the tape
        or carries forward-mode tangents; raises for the in-place ops that grad mode
        forbids."""
        if other.__class__ is Tensor or isinstance(other, Tensor):
            other_rg = other.requires_grad
            fw = other._fw is not None or self._fw is not None
        else:
            other_rg = False
            fw = self._fw is not None
        if not grad_mode._state.enabled:
            return fw
        self._check_inplace()
        if self._base is not None:
            vc = self._vchain
            if vc is not None:
                base = vc[0]
                if base.requires_grad and base.grad_fn is None:
                    raise InplaceModificationError(
                        "a view of a leaf tensor that requires grad is being used in an "
                        "in-place operation while grad mode is on (the leaf's gradient would "
                        "be wrong); wrap the update in `with tg.no_grad():`, or change a copy "
                        "(x.clone()) instead"
                    )
                if base.requires_grad and not self.requires_grad:
                    raise InplaceModificationError(
                        "a view created under no_grad is being changed in place while grad "
                        "mode is on, so it is unclear whether the change should be recorded; "
                        "make the view and change it both inside or both outside no_grad"
                    )
        return self.requires_grad or other_rg or fw

    def _record_inplace(
        self,
        compute: Callable[[Tensor], Tensor],
        write: tuple[Any, ...] | None,
        same_kind: bool = False,
    ) -> Tensor:
        """Run a recorded in-place op: ``compute(self)`` gives the new values out of place
        (on the tape), which are then written into self's memory (by ``write = (fn,
        *args)``, ``fn(self.data, *args)``, when given, else copied whole) and take over
        self's history.  ``same_kind``: the result's dtype
        must cast to self's within its kind (arithmetic; assignment casts freely)."""
        if not self.data.flags.writeable:
            raise InplaceModificationError(
                "this tensor's memory is read-only (e.g. a broadcast view made by expand/"
                "broadcast_to, where several elements share one memory location); change a "
                "copy (x.clone()) instead"
            )
        out = compute(self)
        if out.shape != self.data.shape:
            raise ShapeMismatchError(
                f"an in-place op on a tensor of shape {self.data.shape} gave a result of shape "
                f"{out.shape}: the other operand must broadcast to the tensor's shape"
            )
        dt = self.data.dtype
        if out.dtype != dt:
            _check_kind(out.dtype, dt, "the in-place op")
            if same_kind and not np.can_cast(out.dtype, dt, "same_kind"):
                raise InplaceModificationError(
                    f"the result of an in-place op has dtype {out.dtype}, which can't be stored "
                    f"in this tensor of dtype {dt}; convert first (x.astype(...)) or compute "
                    "out of place"
                )
        root = self if self._base is None else self._base
        node = out.grad_fn
        if node is not None:
            node.own_saved(root)
        if out.dtype != dt:
            out = OPS.astype(out, dt)
        vc = self._vchain if self._base is not None else None
        if vc is not None:
            base, idx = OPS.view_index_map(self)
            base_fn, base_rg, base_fw = OPS.rewrite_base(base, out, idx)
        if write is None:
            grad_mode.effect(np.copyto, self.data, out.data)
        else:
            grad_mode.effect(write[0], self.data, *write[1:])
        self._bump()  # (marks the old history's saved outputs dirty)
        # Under no_grad only forward-mode tangents are carried: the history stays.
        rec = bool(grad_mode._state.enabled)
        if vc is None:
            if rec:
                self.grad_fn = out.grad_fn
                self._idx = out._idx
                self.requires_grad = out.requires_grad
            self._fw = out._fw
            _refresh_views(self, None, rec)
        else:
            if rec:
                base.grad_fn = base_fn
                base._idx = 0
                base.requires_grad = base_rg
            base._fw = base_fw
            _refresh_views(base, self, rec)
        return self

    def _inplace(self, fn: Callable[..., Any], ufunc: Any, other: Any) -> Tensor:
        is_t = isinstance(other, Tensor)
        if (
            grad_mode._state.enabled or self._fw is not None or (is_t and other._fw is not None)
        ) and self._recorded(other):
            if self.data.dtype.kind != "c":  # refuse before recording a complex op
                _check_kind(
                    np.result_type(other.data if is_t else other),
                    self.data.dtype,
                    "the in-place op",
                )
            return self._record_inplace(lambda s: fn(s, other), None, True)
        # Not recorded (e.g. an optimizer step under no_grad): change the memory itself.
        try:
            grad_mode.effect(inplace_ufunc, self.data, other.data if is_t else other, ufunc)
        except TypeError as e:  # NumPy's casting error (complex into float, ...)
            raise InplaceModificationError(
                f"an in-place {ufunc.__name__} can't store its result in this tensor of dtype "
                f"{self.data.dtype} ({e}); convert first (x.astype(...)) or compute out of place"
            ) from None
        except ValueError as e:  # NumPy's broadcast error
            raise ShapeMismatchError(
                f"in-place {ufunc.__name__}: {e}; the other operand must broadcast to the "
                f"tensor's shape {self.data.shape}"
            ) from None
        self._bump()
        return self

    # ------------------------------------------------------------------ operators, methods
    # Attached by tapegrad.ops.install (written in tapegrad.ops.methods, or generated from
    # the ops' declarations); the operators are declared here for type checkers only.
    __hash__ = object.__hash__  # (the attached __eq__ compares elementwise)

    if TYPE_CHECKING:

        def __add__(self, o: Any) -> Tensor: ...
        def __radd__(self, o: Any) -> Tensor: ...
        def __sub__(self, o: Any) -> Tensor: ...
        def __rsub__(self, o: Any) -> Tensor: ...
        def __mul__(self, o: Any) -> Tensor: ...
        def __rmul__(self, o: Any) -> Tensor: ...
        def __truediv__(self, o: Any) -> Tensor: ...
        def __rtruediv__(self, o: Any) -> Tensor: ...
        def __floordiv__(self, o: Any) -> Tensor: ...
        def __rfloordiv__(self, o: Any) -> Tensor: ...
        def __mod__(self, o: Any) -> Tensor: ...
        def __rmod__(self, o: Any) -> Tensor: ...
        def __pow__(self, o: Any) -> Tensor: ...
        def __rpow__(self, o: Any) -> Tensor: ...
        def __matmul__(self, o: Any) -> Tensor: ...
        def __rmatmul__(self, o: Any) -> Tensor: ...
        def __lt__(self, o: Any) -> Tensor: ...
        def __le__(self, o: Any) -> Tensor: ...
        def __gt__(self, o: Any) -> Tensor: ...
        def __ge__(self, o: Any) -> Tensor: ...
        def __and__(self, o: Any) -> Tensor: ...
        def __or__(self, o: Any) -> Tensor: ...
        def __xor__(self, o: Any) -> Tensor: ...
        def __iadd__(self, o: Any) -> Tensor: ...
        def __isub__(self, o: Any) -> Tensor: ...
        def __imul__(self, o: Any) -> Tensor: ...
        def __itruediv__(self, o: Any) -> Tensor: ...
        def __eq__(self, o: Any) -> Tensor: ...  # type: ignore[override]
        def __ne__(self, o: Any) -> Tensor: ...  # type: ignore[override]
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def __getitem__(self, key: Any) -> Tensor: ...
        def __setitem__(self, key: Any, value: Any) -> None: ...

    def __getattr__(self, name: str) -> Any:
        # Reached only when the normal lookup fails (every method is a class attribute, attached
        # by the installer); typed Any so that type checkers accept the attached methods.
        raise InvalidAttributeError(f"'Tensor' object has no attribute {name!r}")

    # ------------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise InvalidTypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        if self.data.ndim == 0:
            raise InvalidTypeError("iteration over a 0-d tensor")
        for i in range(len(self.data)):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype not in (np.float64, np.int64, np.bool_) or self.data.size == 0:
            extras.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.prim.name}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __format__(self, spec: str) -> str:
        if self.data.ndim == 0:
            return format(self.data.item(), spec)
        return repr(self)


def checked_array(data: Any, dtype: Any, copy: Any, what: str) -> np.ndarray:
    """``np.array(data, dtype, copy=copy)`` for untrusted input: only numbers, (nested)
    sequences of numbers and arrays of bool or numeric dtype; anything NumPy would store as
    objects, strings, dates or records raises :class:`InvalidTypeError`."""
    try:
        arr = np.array(data, dtype=dtype, copy=copy)
    except (ValueError, TypeError) as e:
        raise _array_error(what, e) from e
    if arr.dtype.kind not in _DATA_KINDS:
        raise _kind_error(what, data, arr)
    if arr is not data:
        _tell("source", _copy_array, (data, arr.dtype), {}, arr)  # (tg.jit copies again)
    return arr


def _copy_array(src: Any, dtype: np.dtype) -> np.ndarray:
    """A new array from ``src``: announced to the tracer as a ``source``, so that a compiled
    function copies the value of its call (a traced argument, or a constant such as a list)
    instead of reusing the traced copy."""
    return np.array(src, dtype=dtype, copy=True)


def _array_error(what: str, e: Exception) -> Exception:
    if isinstance(e, TypeError):
        return InvalidTypeError(f"{what}: {e}")
    if "inhomogeneous" in str(e) or "sequence" in str(e):
        return ShapeMismatchError(
            f"{what}: nested sequences of different lengths can't make a tensor ({e}); "
            "give every row the same length"
        )
    return InvalidArgumentError(f"{what}: {e}")


def _kind_error(what: str, data: Any, arr: np.ndarray) -> InvalidTypeError:
    stored = "" if isinstance(data, np.ndarray) else f" (NumPy would store it as {arr.dtype})"
    return InvalidTypeError(
        f"{what}: can't make a tensor from {_describe(data)}{stored}; a tensor holds "
        "numbers: pass a number, a (nested) list or tuple of numbers, or an array of bool "
        "or numeric dtype (for a generator, build a list first: list(gen))"
    )


def _describe(data: Any) -> str:
    if isinstance(data, np.ndarray):
        return f"an array of dtype {data.dtype}"
    if data is None:
        return "None"
    return f"a {type(data).__name__}" + (f" ({data!r:.40})" if isinstance(data, str) else "")


def _check_kind(src: np.dtype, dst: np.dtype, what: str) -> None:
    """Writing complex values into a real tensor raises (the imaginary part would be lost)."""
    if src.kind == "c" and dst.kind != "c":
        raise InplaceModificationError(
            f"{what} would write complex values ({src}) into a tensor of dtype {dst}, which "
            "would drop the imaginary part; convert the tensor first (x.astype(complex)) or "
            "take the real part of the value explicitly"
        )


def _refresh_views(base: Tensor, also: Tensor | None, history: bool = True) -> None:
    """Give every live view of ``base`` (and ``also``) a grad_fn made again from ``base``'s
    new history: the view ops replayed on it (PyTorch does this lazily).  With
    ``history=False`` (no_grad) only the forward-mode tangents are made again."""
    try:
        refs = [r for r in base._views if r() is not None]
    except AttributeError:
        refs = []
    else:
        base._views = refs  # (the replay below appends its temporaries to the old list)
    views = [r() for r in refs]
    if also is not None and not any(v is also for v in views):
        views.append(also)
    for v in views:
        vc = v._vchain
        if vc is None or vc[0] is not base:  # (e.g. a weak reference copied with the base)
            continue
        t: Any = base
        for prim, rest, params, k in vc[1]:
            r = prim(t, *rest, **params)
            t = r[k] if prim.nout != 1 else r
        if history:
            v.grad_fn = t.grad_fn
            v._idx = t._idx
            v.requires_grad = t.requires_grad
        v._fw = t._fw


def _tell(event: str, *args: Any) -> None:
    """Hand the tracer event ``event`` (see grad_mode.Observer) to the active tracer."""
    tr = grad_mode._state.tracer
    if tr is not None:
        getattr(tr, event)(*args)


def inplace_ufunc(dst: np.ndarray, other: Any, ufunc: Any) -> None:
    """``dst op= other`` with NumPy's same-kind casting (an effect: see grad_mode.effect)."""
    ufunc(dst, other, out=dst, casting="same_kind")


def copy_same_kind(dst: np.ndarray, src: Any) -> None:
    """Copy ``src`` (broadcast) into ``dst`` with same-kind casting (an effect)."""
    np.copyto(dst, src, casting="same_kind")


def fill(dst: np.ndarray, value: Any) -> None:
    """Set every element of ``dst`` to ``value`` (an effect)."""
    dst[...] = value


def setitem(dst: np.ndarray, key: Any, value: Any) -> None:
    """``dst[key] = value`` (an effect)."""
    dst[key] = value


def new_tensor(
    data: np.ndarray, requires_grad: bool, grad_fn: Any, idx: int, into: Any = None
) -> Tensor:
    """A tensor around ``data`` (no copy, no checks): the one place that sets a tensor's
    fields.  Op outputs come from here; ``into`` (a Tensor or Parameter being initialised)
    is filled instead of a new Tensor.  ``_vchain``/``_views`` stay unset: only views and
    bases with views have them (see ``_mark_view``)."""
    t = _new(Tensor) if into is None else into
    t.data = data
    t.requires_grad = requires_grad
    t._grad = None
    t.grad_fn = grad_fn
    t._idx = idx
    t._version = 0
    t._base = None
    t._hooks = None
    t._fw = None
    return t


_new = object.__new__

# The one mutual import of the layers: ``backward`` runs the engine, which imports Tensor.
from .autograd import engine as _engine  # noqa: E402
