"""The Tensor: a NumPy array plus the few fields reverse mode needs.

Nothing numeric is written here: operators and methods forward to the primitives in
:mod:`tapegrad.ops`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .autograd import grad_mode
from .autograd.node import MUTATIONS
from .errors import (
    InplaceModificationError,
    InvalidArgumentError,
    InvalidAttributeError,
    InvalidTypeError,
    NotDifferentiableError,
    ShapeMismatchError,
    complex_error,
    DtypeMismatchError,
)

__all__ = ["Tensor"]

# The dtype kinds a tensor may hold: bool, integers, floats, complex (no objects, strings,
# dates or records).
_DATA_KINDS = frozenset("biufc")


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


def _axis_kw(axis: Any, dim: Any) -> Any:
    return dim if dim is not None else axis


def _keep_kw(keepdims: bool, keepdim: Any) -> bool:
    return bool(keepdim) if keepdim is not None else keepdims


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
    _hooks: list[Callable[..., Any]] | None
    _fw: dict[int, Any] | None  # forward mode: {level: tangent}

    # Make NumPy defer to Tensor for mixed binary operators (ndarray + Tensor).
    __array_priority__ = 1000.0

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        try:
            arr = np.array(data.data if isinstance(data, Tensor) else data, dtype=dtype, copy=True)
        except (ValueError, TypeError) as e:
            raise _array_error("Tensor", e) from e
        if arr.dtype.kind not in _DATA_KINDS:
            raise _kind_error("Tensor", data, arr)
        if requires_grad:
            _check_float(arr.dtype)
        self.data = arr
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self.grad_fn = None
        self._idx = 0
        self._version = 0
        self._base = None
        self._hooks = None
        self._fw = None

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
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            _check_grad(self, value)
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the data (a tuple of ints)."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements."""
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the data."""
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded operation."""
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        """The transpose (all axes reversed, like NumPy's ``.T``)."""
        return _ops.transpose(self)

    @property
    def mT(self) -> Tensor:
        """The transpose of each matrix (the last two axes swapped)."""
        return _ops.matrix_transpose(self)

    def dim(self) -> int:
        """The number of axes (PyTorch's spelling of ``ndim``)."""
        return self.data.ndim

    def numel(self) -> int:
        """The number of elements (PyTorch's spelling of ``size``)."""
        return self.data.size

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shares memory).  Raises if the tensor requires grad."""
        if self.requires_grad:
            raise NotDifferentiableError(
                "can't call numpy() on a tensor that requires grad: the array would drop the "
                "tape. Use tensor.detach().numpy() to get the values."
            )
        return self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise InvalidArgumentError(
                f"item() needs a tensor with exactly one element, this one has shape "
                f"{self.data.shape}; index it first"
            )
        return self.data.item()

    def tolist(self) -> Any:
        """The values as nested Python lists (no gradient)."""
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
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

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = _ops.UFUNC_DISPATCH.get(ufunc.__name__) if method == "__call__" else None
        if fn is None or kwargs:
            if any(isinstance(a, Tensor) and a.requires_grad for a in inputs):
                raise NotDifferentiableError(
                    f"numpy.{ufunc.__name__} (method {method!r}) has no tapegrad counterpart "
                    "that keeps the gradient; use a tapegrad function, or .detach() first"
                )
            raw = [a.data if isinstance(a, Tensor) else a for a in inputs]
            out = getattr(ufunc, method)(*raw, **kwargs)
            return Tensor._wrap(out) if isinstance(out, np.ndarray) else out
        return fn(*inputs)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise InvalidArgumentError(
                f"the truth value of a tensor with shape {self.data.shape} is ambiguous; "
                "use tg.any(...) or tg.all(...)"
            )
        return bool(self.data)

    def __index__(self) -> int:
        return self.data.__index__()

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _wrap(arr: Any) -> Tensor:
        """A constant tensor around ``arr`` without copying."""
        return new_tensor(arr if isinstance(arr, np.ndarray) else np.asarray(arr), False, None, 0)

    def detach(self) -> Tensor:
        """A tensor with the same data (shared memory) that is cut from the graph."""
        t = new_tensor(self.data, False, None, 0)
        t._base = self if self._base is None else self._base
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place: it becomes a leaf that does not require grad."""
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

    def copy(self) -> Tensor:
        """A differentiable copy (new memory)."""
        return _ops.copy(self)

    clone = copy

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype``; differentiable between floating dtypes."""
        return _ops.astype(self, dtype)

    def float(self) -> Tensor:
        """A float32 copy (differentiable; PyTorch's ``.float()``)."""
        return _ops.astype(self, np.float32)

    def double(self) -> Tensor:
        """A float64 copy (differentiable; PyTorch's ``.double()``)."""
        return _ops.astype(self, np.float64)

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
        from .autograd.engine import backward as _backward

        _backward(self, gradient, retain_graph, create_graph, inputs)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        from .autograd.engine import retain_grad as _retain

        _retain(self)

    def register_hook(self, hook: Callable[[Tensor], Any]) -> Callable[[], None]:
        """Call ``hook(grad)`` when the gradient w.r.t. this tensor is computed.

        The hook may return a replacement gradient.  Returns a function that removes it.
        """
        from .autograd.engine import register_hook as _register

        return _register(self, hook)

    def zero_(self) -> Tensor:
        """Set every element to 0, in place."""
        return self._inplace_fill(0)

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value``, in place."""
        return self._inplace_fill(value)

    def _inplace_fill(self, value: Any) -> Tensor:
        self._check_inplace()
        if self.requires_grad and grad_mode._state.enabled:
            # The new values are constants: no gradient flows to what was there before.
            self._adopt(_ops.where(False, self, np.full(self.shape, value, self.data.dtype)))
        else:
            self.data[...] = value
            self._bump()
        return self

    # ------------------------------------------------------------------ in-place machinery
    def _bump(self) -> None:
        # A true in-place change of self.data.  Tape entries that saved this tensor compare
        # its version (and its base's, for views) in backward; the entry that produced it
        # and saved it as its output is marked dirty directly.
        self._version += 1
        MUTATIONS[0] += 1
        node = self.grad_fn
        if node is not None and node.ans is not None:
            node.dirty = True
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

    def _adopt(self, out: Tensor) -> None:
        # Out-of-place result taken over by self: the old buffer stays intact for any tape
        # entry that saved it, so no version bump is needed for those entries.
        self.data = out.data
        self.grad_fn = out.grad_fn
        self._idx = out._idx
        self.requires_grad = out.requires_grad
        self._base = out._base

    def _inplace(self, fn: Callable[..., Any], ufunc: Any, other: Any) -> Tensor:
        is_t = isinstance(other, Tensor)
        if grad_mode._state.enabled and (self.requires_grad or (is_t and other.requires_grad)):
            self._check_inplace()
            out = fn(self, other)
            if out.dtype != self.data.dtype:
                out = _ops.astype(out, self.data.dtype)
            self._adopt(out)
            return self
        # Not recorded (e.g. an optimizer step under no_grad): change the memory itself.
        ufunc(self.data, other.data if is_t else other, out=self.data, casting="same_kind")
        self._bump()
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace(_ops.add, np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace(_ops.subtract, np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace(_ops.multiply, np.multiply, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace(_ops.divide, np.true_divide, other)

    def add_(self, other: Any) -> Tensor:
        """In-place ``self += other`` (recorded on the tape when grad is on)."""
        return self.__iadd__(other)

    def sub_(self, other: Any) -> Tensor:
        """In-place ``self -= other`` (recorded on the tape when grad is on)."""
        return self.__isub__(other)

    def mul_(self, other: Any) -> Tensor:
        """In-place ``self *= other`` (recorded on the tape when grad is on)."""
        return self.__imul__(other)

    def div_(self, other: Any) -> Tensor:
        """In-place ``self /= other`` (recorded on the tape when grad is on)."""
        return self.__itruediv__(other)

    def copy_(self, src: Any) -> Tensor:
        """Overwrite the values with ``src`` (broadcast), in place."""
        self._check_inplace()
        src_rg = isinstance(src, Tensor) and src.requires_grad
        if (self.requires_grad or src_rg) and grad_mode._state.enabled:
            out = _ops.astype(_ops.broadcast_to(src, self.shape), self.data.dtype)
            self._adopt(out if out.requires_grad else out.copy())
        else:
            np.copyto(self.data, src.data if isinstance(src, Tensor) else src, casting="same_kind")
            self._bump()
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        self._check_inplace()
        val_rg = isinstance(value, Tensor) and value.requires_grad
        if (self.requires_grad or val_rg) and grad_mode._state.enabled:
            out = _ops.index_update(self, key, value)
            if out.dtype != self.data.dtype:
                out = _ops.astype(out, self.data.dtype)
            self._adopt(out)
        else:
            k = _ops.unwrap_index(key)
            self.data[k] = value.data if isinstance(value, Tensor) else value
            self._bump()

    # ------------------------------------------------------------------ operators
    def __add__(self, o: Any) -> Tensor:
        return _ops.add(self, o)

    def __radd__(self, o: Any) -> Tensor:
        return _ops.add(o, self)

    def __sub__(self, o: Any) -> Tensor:
        return _ops.subtract(self, o)

    def __rsub__(self, o: Any) -> Tensor:
        return _ops.subtract(o, self)

    def __mul__(self, o: Any) -> Tensor:
        return _ops.multiply(self, o)

    def __rmul__(self, o: Any) -> Tensor:
        return _ops.multiply(o, self)

    def __truediv__(self, o: Any) -> Tensor:
        return _ops.divide(self, o)

    def __rtruediv__(self, o: Any) -> Tensor:
        return _ops.divide(o, self)

    def __floordiv__(self, o: Any) -> Tensor:
        return _ops.floor_divide(self, o)

    def __rfloordiv__(self, o: Any) -> Tensor:
        return _ops.floor_divide(o, self)

    def __mod__(self, o: Any) -> Tensor:
        return _ops.mod(self, o)

    def __rmod__(self, o: Any) -> Tensor:
        return _ops.mod(o, self)

    def __pow__(self, o: Any) -> Tensor:
        return _ops.power(self, o)

    def __rpow__(self, o: Any) -> Tensor:
        return _ops.power(o, self)

    def __matmul__(self, o: Any) -> Tensor:
        return _ops.matmul(self, o)

    def __rmatmul__(self, o: Any) -> Tensor:
        return _ops.matmul(o, self)

    def __neg__(self) -> Tensor:
        return _ops.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return _ops.equal(self, o)

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return _ops.not_equal(self, o)

    def __lt__(self, o: Any) -> Tensor:
        return _ops.less(self, o)

    def __le__(self, o: Any) -> Tensor:
        return _ops.less_equal(self, o)

    def __gt__(self, o: Any) -> Tensor:
        return _ops.greater(self, o)

    def __ge__(self, o: Any) -> Tensor:
        return _ops.greater_equal(self, o)

    def __invert__(self) -> Tensor:
        return _ops.logical_not(self)

    def __and__(self, o: Any) -> Tensor:
        return _ops.logical_and(self, o)

    def __or__(self, o: Any) -> Tensor:
        return _ops.logical_or(self, o)

    def __xor__(self, o: Any) -> Tensor:
        return _ops.logical_xor(self, o)

    __hash__ = object.__hash__

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

    def __getitem__(self, key: Any) -> Tensor:
        return _ops.getitem(self, key)

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

    # ------------------------------------------------------------------ methods -> ops
    def sum(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: Any = None,
        dtype: Any = None,
        out: Any = None,
    ) -> Tensor:
        """Sum over ``axis`` (all axes by default); see :func:`tapegrad.sum`. PyTorch's
        ``dim``/``keepdim`` are accepted.
        """
        return _ops.sum(self, _axis_kw(axis, dim), _keep_kw(keepdims, keepdim))

    def mean(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: Any = None,
        dtype: Any = None,
        out: Any = None,
    ) -> Tensor:
        """Mean over ``axis``; see :func:`tapegrad.mean`. ``dim``/``keepdim`` accepted."""
        return _ops.mean(self, _axis_kw(axis, dim), _keep_kw(keepdims, keepdim))

    def prod(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: Any = None,
        dtype: Any = None,
        out: Any = None,
    ) -> Tensor:
        """Product over ``axis``; see :func:`tapegrad.prod`. ``dim``/``keepdim`` accepted."""
        return _ops.prod(self, _axis_kw(axis, dim), _keep_kw(keepdims, keepdim))

    def max(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: Any = None,
        out: Any = None,
    ) -> Tensor:
        """Maximum over ``axis`` (ties share the gradient); see :func:`tapegrad.max`."""
        return _ops.max(self, _axis_kw(axis, dim), _keep_kw(keepdims, keepdim))

    def min(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: Any = None,
        out: Any = None,
    ) -> Tensor:
        """Minimum over ``axis`` (ties share the gradient); see :func:`tapegrad.min`."""
        return _ops.min(self, _axis_kw(axis, dim), _keep_kw(keepdims, keepdim))

    def argmax(
        self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
    ) -> Tensor:
        """Index of the maximum over ``axis`` (no gradient); see :func:`tapegrad.argmax`."""
        return _ops.argmax(self, _axis_kw(axis, dim), _keep_kw(keepdims, keepdim))

    def argmin(
        self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
    ) -> Tensor:
        """Index of the minimum over ``axis`` (no gradient); see :func:`tapegrad.argmin`."""
        return _ops.argmin(self, _axis_kw(axis, dim), _keep_kw(keepdims, keepdim))

    def var(
        self,
        axis: Any = None,
        ddof: int = 0,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: Any = None,
    ) -> Tensor:
        """Variance over ``axis`` (``ddof`` as in NumPy); see :func:`tapegrad.var`."""
        return _ops.var(self, _axis_kw(axis, dim), ddof=ddof, keepdims=_keep_kw(keepdims, keepdim))

    def std(
        self,
        axis: Any = None,
        ddof: int = 0,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: Any = None,
    ) -> Tensor:
        """Standard deviation over ``axis``; see :func:`tapegrad.std`."""
        return _ops.std(self, _axis_kw(axis, dim), ddof=ddof, keepdims=_keep_kw(keepdims, keepdim))

    def logsumexp(
        self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
    ) -> Tensor:
        """``log(sum(exp(x)))`` over ``axis``, computed stably; see :func:`tapegrad.logsumexp`."""
        return _ops.logsumexp(self, _axis_kw(axis, dim), _keep_kw(keepdims, keepdim))

    def norm(self, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Vector or matrix norm; see :func:`tapegrad.norm`."""
        return _ops.norm(self, ord, axis, keepdims)

    def cumsum(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        """Cumulative sum along ``axis``; see :func:`tapegrad.cumsum`."""
        return _ops.cumsum(self, _axis_kw(axis, dim))

    def cumprod(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        """Cumulative product along ``axis``; see :func:`tapegrad.cumprod`."""
        return _ops.cumprod(self, _axis_kw(axis, dim))

    def reshape(self, *shape: Any) -> Tensor:
        """The same data in another shape (``x.reshape(2, 3)`` or ``x.reshape((2, 3))``); ``view``
        is the same.
        """
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    view = reshape

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes.  Two ints swap those two axes (PyTorch's ``transpose(dim0, dim1)``);
        no argument reverses the axes; a full permutation (as ints or one tuple) is NumPy's.
        """
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        elif len(axes) == 2:
            return _ops.swapaxes(self, axes[0], axes[1])
        return _ops.transpose(self, axes or None)

    def permute(self, *axes: Any) -> Tensor:
        """Reorder the axes (PyTorch's ``permute``; NumPy's ``transpose(axes)``)."""
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes)

    def swapaxes(self, a: int, b: int) -> Tensor:
        """Swap two axes; see :func:`tapegrad.swapaxes`."""
        return _ops.swapaxes(self, a, b)

    def moveaxis(self, source: Any, destination: Any) -> Tensor:
        """Move axes to new positions; see :func:`tapegrad.moveaxis`."""
        return _ops.moveaxis(self, source, destination)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        """Remove axes of length one (all, or those named)."""
        return _ops.squeeze(self, _axis_kw(axis, dim))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert an axis of length one at ``dim`` (PyTorch's spelling of ``expand_dims``)."""
        return _ops.expand_dims(self, dim)

    def expand_dims(self, axis: Any) -> Tensor:
        """Insert an axis of length one at ``axis``."""
        return _ops.expand_dims(self, axis)

    def broadcast_to(self, shape: Any) -> Tensor:
        """Broadcast to ``shape`` (a view; the gradient is summed back)."""
        return _ops.broadcast_to(self, shape)

    def expand(self, *shape: Any) -> Tensor:
        """Broadcast to the given sizes (PyTorch's ``expand``; ``-1`` keeps a size)."""
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        return _ops.broadcast_to(self, shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """All axes (or ``start_dim`` to ``end_dim``) merged into one."""
        return _ops.flatten(self, start_dim, end_dim)

    def ravel(self) -> Tensor:
        """The data as one axis."""
        return _ops.ravel(self)

    def repeat(self, repeats: Any, axis: Any = None) -> Tensor:
        """Repeat elements along ``axis`` (NumPy's ``repeat``); see :func:`tapegrad.repeat`."""
        return _ops.repeat(self, repeats, axis)

    def tile(self, reps: Any) -> Tensor:
        """Repeat the whole tensor ``reps`` times; see :func:`tapegrad.tile`."""
        return _ops.tile(self, reps)

    def flip(self, axis: Any = None) -> Tensor:
        """Reverse the order of elements along ``axis``."""
        return _ops.flip(self, axis)

    def roll(self, shift: Any, axis: Any = None) -> Tensor:
        """Roll elements along ``axis`` by ``shift``."""
        return _ops.roll(self, shift, axis)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        """The diagonal (``offset``, ``axis1``, ``axis2`` as in NumPy)."""
        return _ops.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        """Sum of the diagonal."""
        return _ops.trace(self, offset, axis1, axis2)

    def clip(self, a_min: Any = None, a_max: Any = None) -> Tensor:
        """Limit values to ``[a_min, a_max]`` (gradient 1 inside, 0 outside; ``clamp`` is the
        same).
        """
        return _ops.clip(self, a_min, a_max)

    clamp = clip

    def dot(self, other: Any) -> Tensor:
        """Dot product (NumPy's ``dot`` semantics); see :func:`tapegrad.dot`."""
        return _ops.dot(self, other)

    def take(self, indices: Any, axis: Any = None) -> Tensor:
        """Elements at ``indices`` along ``axis`` (flattened when ``axis`` is None)."""
        return _ops.take(self, indices, axis)

    def __getattr__(self, name: str) -> Any:
        # Elementwise math methods (x.exp(), x.tanh(), ...) forward to the op of that name.
        fn = _ops.UNARY_METHODS.get(name)
        if fn is None:
            raise InvalidAttributeError(f"'Tensor' object has no attribute {name!r}")
        return lambda: fn(self)


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
    return arr


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


def new_tensor(data: np.ndarray, requires_grad: bool, grad_fn: Any, idx: int) -> Tensor:
    """Fast constructor for op outputs (no copy, no checks)."""
    t = _new(Tensor)
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

from . import ops as _ops  # noqa: E402  (methods above resolve ops at call time)
