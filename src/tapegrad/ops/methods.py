"""Tensor's operators and methods, installed on :class:`~tapegrad.tensor.Tensor` by
:mod:`tapegrad.ops.install`.

They are the op library's surface on the tensor: each forwards to the primitives.  A method
with a PyTorch name behaves as PyTorch's when called with PyTorch's spelling (positional
arguments, ``dim=``, ``keepdim=``, ``unbiased=``, ...); NumPy's keywords (``axis=``,
``keepdims=``, ``ddof=``) select NumPy's behaviour (that is also how ``np.sum(t)``,
``np.std(t)``, ... reach these methods).  Mixing the two in one call raises
:class:`~tapegrad.errors.ArgumentError`.  The table of every difference is in
docs/guides/semantics.md.  The elementwise math methods (``t.exp()``, ``t.tanh()``, ...) are
not written here: the installer generates them from the ops' ``method=`` declarations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import grad_mode
from ..errors import (
    ArgumentError,
    AxisError,
    InvalidArgumentError,
    NotDifferentiableError,
    ShapeMismatchError,
)
from ..tensor import Tensor, _check_kind, copy_same_kind, fill, setitem
from . import elementwise as _ew
from . import indexing as _indexing
from . import linalg as _linalg
from . import reduce as _reduce
from . import shape as _shape
from .elementwise import add as _add
from .elementwise import divide as _divide
from .elementwise import multiply as _multiply
from .elementwise import negative as _negative
from .elementwise import power as _power
from .elementwise import subtract as _subtract
from .indexing import getitem as _getitem
from .linalg import matmul as _matmul
from .registry import UFUNCS

__all__ = ["TensorMethods"]


class _Missing:
    """The default of an argument that was not passed (None is a meaningful value)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<not given>"


_NO: Any = _Missing()


def _no_mix(name: str, torch_kw: list[str], numpy_kw: list[str]) -> None:
    if torch_kw and numpy_kw:
        raise ArgumentError(
            f"{name}() mixes PyTorch's arguments ({', '.join(torch_kw)}) with NumPy's "
            f"({', '.join(k + '=' for k in numpy_kw)}); use one style: PyTorch's "
            f"dim/keepdim or NumPy's axis=/keepdims= (see the 'PyTorch and NumPy names' guide)"
        )


def _flag(name: str, arg: str, value: Any) -> bool:
    """A bool argument; anything else (a dtype passed positionally, say) raises."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (int, np.integer)) and value in (0, 1)
    ):
        return bool(value)
    raise ArgumentError(f"{name}(): {arg} must be True or False, got {value!r}")


def _reduce_args(
    name: str, dim: Any, keepdim: Any, axis: Any, keepdims: Any
) -> tuple[Any, bool, str]:
    """(axis, keepdims, style) of a reduction called with PyTorch's (positional, ``dim=``,
    ``keepdim=``) or NumPy's (``axis=``, ``keepdims=``) spelling; style is "torch" or
    "numpy".  No arguments count as PyTorch's spelling."""
    if axis is _NO and keepdims is _NO:
        keep = False if keepdim is _NO else _flag(name, "keepdim", keepdim)
        return (None if dim is _NO else dim), keep, "torch"
    torch_kw = [k for k, v in (("dim", dim), ("keepdim", keepdim)) if v is not _NO]
    numpy_kw = [k for k, v in (("axis", axis), ("keepdims", keepdims)) if v is not _NO]
    _no_mix(name, torch_kw, numpy_kw)
    if numpy_kw:
        keep = False if keepdims is _NO else _flag(name, "keepdims", keepdims)
        return (None if axis is _NO else axis), keep, "numpy"
    keep = False if keepdim is _NO else _flag(name, "keepdim", keepdim)
    return (None if dim is _NO else dim), keep, "torch"


def _cast(name: str, x: Tensor, dtype: Any) -> Tensor:
    """``x`` cast to ``dtype`` first (PyTorch's and NumPy's ``dtype=`` of a reduction)."""
    if dtype is None:
        return x
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ArgumentError(
            f"{name}(dtype={dtype!r}): not a dtype; pass a NumPy dtype such as 'float64'"
        ) from None
    return x if dt == x.data.dtype else _ew.astype(x, dt)


def _write_out(name: str, out: Any, res: Any) -> Any:
    """``res``, or ``res`` written into ``out`` (PyTorch's ``out=``: same shape, a dtype it
    casts to safely; a tuple of two tensors for a ``(values, indices)`` result)."""
    if out is None:
        return res
    if isinstance(res, tuple):
        if not (isinstance(out, (tuple, list)) and len(out) == len(res)):
            raise ArgumentError(
                f"{name}(out=...) needs a tuple of {len(res)} tensors (values, indices), "
                f"got {type(out).__name__}"
            )
        for o, r in zip(out, res):
            _write_out(name, o, r)
        return type(res)(*out)
    if not isinstance(out, Tensor):
        raise ArgumentError(f"{name}(out=...) needs a Tensor, got {type(out).__name__}")
    if grad_mode._state.enabled and (out.requires_grad or res.requires_grad):
        raise ArgumentError(
            f"{name}(out=...) can't be recorded for autograd (the result or out requires "
            f"grad); use the returned tensor (y = x.{name}(...)) or call it under "
            "tg.no_grad()"
        )
    if out.data.shape != res.data.shape:
        raise ShapeMismatchError(
            f"{name}(out=...): out has shape {out.data.shape}, the result has shape "
            f"{res.data.shape}; pass a tensor of the result's shape"
        )
    try:
        grad_mode.effect(copy_same_kind, out.data, res.data)
    except TypeError:
        raise ArgumentError(
            f"{name}(out=...): can't store a {res.data.dtype} result in a {out.data.dtype} "
            "tensor; pass an out tensor of a compatible dtype"
        ) from None
    out._bump()
    return out


class _Size(int):
    """An element count that, called, gives PyTorch's ``size()`` / ``size(dim)``."""

    shape: tuple[int, ...]

    def __call__(self, dim: Any = None) -> Any:
        if dim is None:
            return self.shape
        try:
            return self.shape[dim]
        except (IndexError, TypeError):
            raise AxisError(
                f"size({dim!r}): a tensor with shape {self.shape} has dims "
                f"{-len(self.shape)}..{len(self.shape) - 1}"
            ) from None


class TensorMethods(Tensor):
    """The operators and methods of :class:`~tapegrad.tensor.Tensor`.

    Never instantiated: :func:`tapegrad.ops.install.install` copies every attribute of this
    class onto ``Tensor`` (a subclass only so that type checkers see the tensor's fields).
    """

    __slots__ = ()

    @property
    def size(self) -> int:
        """The number of elements (NumPy's ``size``, an int).

        Calling it is PyTorch's ``size()``: ``t.size()`` is the shape and ``t.size(d)`` the
        length of axis ``d``.

        Examples
        --------
        >>> import tapegrad as tg
        >>> t = tg.zeros((2, 3))
        >>> t.size, t.size(), t.size(-1)
        (6, (2, 3), 3)
        """
        s = _Size(self.data.size)
        s.shape = self.data.shape
        return s

    @property
    def T(self) -> Tensor:
        """The transpose (all axes reversed, like NumPy's ``.T``)."""
        return _shape.transpose(self)

    @property
    def mT(self) -> Tensor:
        """The transpose of each matrix (the last two axes swapped)."""
        return _shape.matrix_transpose(self)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = UFUNCS.get(ufunc.__name__) if method == "__call__" else None
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

    def copy(self) -> Tensor:
        """A differentiable copy (new memory)."""
        return _ew.copy(self)

    clone = copy

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype``; differentiable between floating dtypes."""
        return _ew.astype(self, dtype)

    def float(self) -> Tensor:
        """A float32 copy (differentiable; PyTorch's ``.float()``)."""
        return _ew.astype(self, np.float32)

    def double(self) -> Tensor:
        """A float64 copy (differentiable; PyTorch's ``.double()``)."""
        return _ew.astype(self, np.float64)

    def zero_(self) -> Tensor:
        """Set every element to 0, in place."""
        return self._inplace_fill(0)

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value``, in place."""
        return self._inplace_fill(value)

    def _inplace_fill(self, value: Any) -> Tensor:
        if isinstance(value, Tensor):
            value = value.data
        _check_kind(np.asarray(value).dtype, self.data.dtype, "fill_")
        if self._recorded(None):
            # The new values are constants: no gradient flows to what was there before.
            full = np.full(self.shape, value, self.data.dtype)
            return self._record_inplace(lambda s: _ew.where(False, s, full), None)
        grad_mode.effect(fill, self.data, value)
        self._bump()
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace(_ew.add, np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace(_ew.subtract, np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace(_ew.multiply, np.multiply, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace(_ew.divide, np.true_divide, other)

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
        is_t = isinstance(src, Tensor)
        _check_kind((src.data if is_t else np.asarray(src)).dtype, self.data.dtype, "copy_")
        if self._recorded(src):
            # Gradient to src; none to the old values (PyTorch's CopyBackwards).
            return self._record_inplace(lambda s: _ew.where(False, s, src), None)
        grad_mode.effect(copy_same_kind, self.data, src.data if is_t else src)
        self._bump()
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        is_t = isinstance(value, Tensor)
        raw = value.data if is_t else value
        _check_kind(np.asarray(raw).dtype, self.data.dtype, "item assignment")
        k = _indexing.unwrap_index(key)
        if self._recorded(value):
            # (index_update computes exactly this assignment on a copy)
            self._record_inplace(lambda s: _indexing.index_update(s, key, value), (setitem, k, raw))
            return
        grad_mode.effect(setitem, self.data, k, raw)
        self._bump()

    def __add__(self, o: Any) -> Tensor:
        return _add(self, o)

    def __radd__(self, o: Any) -> Tensor:
        return _add(o, self)

    def __sub__(self, o: Any) -> Tensor:
        return _subtract(self, o)

    def __rsub__(self, o: Any) -> Tensor:
        return _subtract(o, self)

    def __mul__(self, o: Any) -> Tensor:
        return _multiply(self, o)

    def __rmul__(self, o: Any) -> Tensor:
        return _multiply(o, self)

    def __truediv__(self, o: Any) -> Tensor:
        return _divide(self, o)

    def __rtruediv__(self, o: Any) -> Tensor:
        return _divide(o, self)

    def __floordiv__(self, o: Any) -> Tensor:
        return _ew.floor_divide(self, o)

    def __rfloordiv__(self, o: Any) -> Tensor:
        return _ew.floor_divide(o, self)

    def __mod__(self, o: Any) -> Tensor:
        return _ew.mod(self, o)

    def __rmod__(self, o: Any) -> Tensor:
        return _ew.mod(o, self)

    def __pow__(self, o: Any) -> Tensor:
        return _power(self, o)

    def __rpow__(self, o: Any) -> Tensor:
        return _power(o, self)

    def __matmul__(self, o: Any) -> Tensor:
        return _matmul(self, o)

    def __rmatmul__(self, o: Any) -> Tensor:
        return _matmul(o, self)

    def __neg__(self) -> Tensor:
        return _negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ew.abs(self)

    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return _ew.equal(self, o)

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return _ew.not_equal(self, o)

    # Tensors hash by identity although == compares elementwise (defining __eq__ alone would
    # set __hash__ to None, and the installer copies it).
    __hash__ = object.__hash__

    def __lt__(self, o: Any) -> Tensor:
        return _ew.less(self, o)

    def __le__(self, o: Any) -> Tensor:
        return _ew.less_equal(self, o)

    def __gt__(self, o: Any) -> Tensor:
        return _ew.greater(self, o)

    def __ge__(self, o: Any) -> Tensor:
        return _ew.greater_equal(self, o)

    def __invert__(self) -> Tensor:
        return _ew.logical_not(self)

    def __and__(self, o: Any) -> Tensor:
        return _ew.logical_and(self, o)

    def __or__(self, o: Any) -> Tensor:
        return _ew.logical_or(self, o)

    def __xor__(self, o: Any) -> Tensor:
        return _ew.logical_xor(self, o)

    def __getitem__(self, key: Any) -> Tensor:
        return _getitem(self, key)

    # ------------------------------------------------------------------ methods -> ops
    # A method with a PyTorch name behaves as PyTorch's when called with PyTorch's spelling
    # (positional arguments, dim=, keepdim=, unbiased=, ...); NumPy's keywords (axis=,
    # keepdims=, ddof=) select NumPy's behaviour (that is also how np.sum(t), np.std(t), ...
    # reach these methods).  Mixing the two in one call raises ArgumentError.  The table of
    # every difference is in docs/guides/semantics.md.
    def sum(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        dtype: Any = None,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Sum over ``dim`` / ``axis`` (all axes by default); see :func:`tapegrad.sum`.

        PyTorch's ``t.sum(1, True)`` / ``dim=`` / ``keepdim=`` and NumPy's ``axis=`` /
        ``keepdims=`` give the same result.  ``dtype=`` casts the input first; ``out=``
        writes into a tensor (not while recording a gradient).

        Examples
        --------
        >>> import tapegrad as tg
        >>> tg.tensor([[1, 2], [3, 4]]).sum(1, dtype="float64")
        tensor([3., 7.])
        """
        ax, keep = _reduce_args("sum", dim, keepdim, axis, keepdims)[:2]
        return _write_out("sum", out, _reduce.sum(_cast("sum", self, dtype), ax, keep))

    def mean(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        dtype: Any = None,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Mean over ``dim`` / ``axis``; see :func:`tapegrad.mean` (``dtype=``, ``out=`` as
        :meth:`sum`).

        Examples
        --------
        >>> import tapegrad as tg
        >>> tg.tensor([[1.0, 2.0], [3.0, 4.0]]).mean(dim=0)
        tensor([2., 3.])
        """
        ax, keep = _reduce_args("mean", dim, keepdim, axis, keepdims)[:2]
        return _write_out("mean", out, _reduce.mean(_cast("mean", self, dtype), ax, keep))

    def prod(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        dtype: Any = None,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Product over ``dim`` / ``axis``; see :func:`tapegrad.prod` (``dtype=``, ``out=``
        as :meth:`sum`).

        Examples
        --------
        >>> import tapegrad as tg
        >>> tg.tensor([[1.0, 2.0], [3.0, 4.0]]).prod(1)
        tensor([ 2., 12.])
        """
        ax, keep = _reduce_args("prod", dim, keepdim, axis, keepdims)[:2]
        return _write_out("prod", out, _reduce.prod(_cast("prod", self, dtype), ax, keep))

    def _extremum(
        self, name: str, dim: Any, keepdim: Any, out: Any, axis: Any, keepdims: Any
    ) -> Any:
        if isinstance(dim, (Tensor, np.ndarray)):  # PyTorch's elementwise max(other)
            if keepdim is not _NO or axis is not _NO or keepdims is not _NO:
                raise ArgumentError(
                    f"{name}(other) is the elementwise {name}imum of two tensors and takes no "
                    f"dim/axis; call {name}(other) alone"
                )
            fn = _ew.maximum if name == "max" else _ew.minimum
            return _write_out(name, out, fn(self, dim))
        ax, keep, style = _reduce_args(name, dim, keepdim, axis, keepdims)
        if style == "torch" and ax is not None:
            if isinstance(ax, (tuple, list)):
                raise ArgumentError(
                    f"{name}(dim) with PyTorch's spelling takes one dim (an int) and returns "
                    f"(values, indices); for several axes use {name}(axis={tuple(ax)!r}) "
                    f"(NumPy's, values only) or a{name}(dim={tuple(ax)!r})"
                )
            res = _reduce.extremum_with_indices(name, self, ax, keep)
            return _write_out(name, out, res)
        if style == "torch" and keepdim is not _NO:
            raise ArgumentError(
                f"{name}(keepdim=...) needs a dim: {name}(dim, keepdim=True) (PyTorch's, "
                f"values and indices) or {name}(axis=None, keepdims=True) (NumPy's)"
            )
        red: Any = _reduce.max if name == "max" else _reduce.min
        return _write_out(name, out, red(self, ax, keep))

    def max(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Any:
        """The maximum, in PyTorch's or NumPy's form.

        * ``t.max()``: the largest element (ties share the gradient evenly).
        * ``t.max(dim)``, ``t.max(dim=d, keepdim=...)`` (PyTorch): a named tuple
          ``(values, indices)``, the first maximal index of each slice; the gradient goes
          to that index only (as ``torch.max(dim)``).
        * ``t.max(other)`` with a tensor: the elementwise :func:`tapegrad.maximum`.
        * ``t.max(axis=..., keepdims=...)`` (NumPy, also ``np.max(t)``): the values only,
          over one or several axes; ties share the gradient (:func:`tapegrad.max`).

        Examples
        --------
        >>> import tapegrad as tg
        >>> x = tg.tensor([[1.0, 5.0], [7.0, 2.0]])
        >>> values, indices = x.max(1)
        >>> values, indices
        (tensor([5., 7.]), tensor([1, 0]))
        >>> x.max(axis=1)
        tensor([5., 7.])
        """
        return self._extremum("max", dim, keepdim, out, axis, keepdims)

    def min(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Any:
        """The minimum: ``t.min(dim)`` gives ``(values, indices)`` (PyTorch), ``t.min(other)``
        the elementwise minimum, ``t.min()`` / ``t.min(axis=...)`` the values; as :meth:`max`.

        Examples
        --------
        >>> import tapegrad as tg
        >>> tg.tensor([[1.0, 5.0], [7.0, 2.0]]).min(dim=0).indices
        tensor([0, 1])
        """
        return self._extremum("min", dim, keepdim, out, axis, keepdims)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """PyTorch's ``amax``: the maximum over ``dim`` (an int or tuple; ``()`` means all
        axes), values only, ties sharing the gradient; see :func:`tapegrad.max`.
        """
        return _reduce.max(self, None if dim == () else dim, _flag("amax", "keepdim", keepdim))

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """PyTorch's ``amin``: the minimum over ``dim`` (``()``: all axes); as :meth:`amax`."""
        return _reduce.min(self, None if dim == () else dim, _flag("amin", "keepdim", keepdim))

    def argmax(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Index of the maximum over ``dim`` / ``axis`` (None: of the flattened tensor);
        int64, no gradient.  See :func:`tapegrad.argmax`.

        Examples
        --------
        >>> import tapegrad as tg
        >>> tg.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(1)
        tensor([1, 0])
        """
        ax, keep = _reduce_args("argmax", dim, keepdim, axis, keepdims)[:2]
        return _write_out("argmax", out, _reduce.argmax(self, ax, keep))

    def argmin(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Index of the minimum over ``dim`` / ``axis``; as :meth:`argmax`."""
        ax, keep = _reduce_args("argmin", dim, keepdim, axis, keepdims)[:2]
        return _write_out("argmin", out, _reduce.argmin(self, ax, keep))

    def _moment(
        self,
        name: str,
        dim: Any,
        unbiased: Any,
        keepdim: Any,
        correction: Any,
        dtype: Any,
        out: Any,
        axis: Any,
        ddof: Any,
        keepdims: Any,
    ) -> Tensor:
        if isinstance(dim, (bool, np.bool_)):  # PyTorch's var(unbiased) overload
            if unbiased is not _NO:
                raise ArgumentError(f"{name}() got unbiased twice (positionally and by keyword)")
            dim, unbiased = _NO, dim
        torch_kw = [
            k
            for k, v in (("dim", dim), ("unbiased", unbiased), ("keepdim", keepdim))
            if v is not _NO
        ]
        numpy_kw = [
            k for k, v in (("axis", axis), ("ddof", ddof), ("keepdims", keepdims)) if v is not _NO
        ]
        _no_mix(name, torch_kw, numpy_kw)
        if numpy_kw:
            if ddof is not _NO and correction is not _NO:
                raise ArgumentError(
                    f"{name}() got both ddof= and correction= (the same thing); pass one"
                )
            d = correction if correction is not _NO else (0 if ddof is _NO else ddof)
            ax = None if axis is _NO else axis
            keep = False if keepdims is _NO else _flag(name, "keepdims", keepdims)
        else:
            if unbiased is not _NO and correction is not _NO:
                raise ArgumentError(
                    f"{name}() got both unbiased= and correction=; pass correction= only "
                    "(correction=1 is unbiased=True, correction=0 is unbiased=False)"
                )
            if correction is not _NO:
                d = correction
            elif unbiased is not _NO:
                d = 1 if _flag(name, "unbiased", unbiased) else 0
            else:
                d = 1  # PyTorch's default: the unbiased estimate
            ax = None if dim is _NO else dim
            keep = False if keepdim is _NO else _flag(name, "keepdim", keepdim)
        fn = _reduce.var if name == "var" else _reduce.std
        return _write_out(name, out, fn(_cast(name, self, dtype), ax, ddof=d, keepdims=keep))

    def var(
        self,
        dim: Any = _NO,
        unbiased: Any = _NO,
        keepdim: Any = _NO,
        *,
        correction: Any = _NO,
        dtype: Any = None,
        out: Any = None,
        axis: Any = _NO,
        ddof: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Variance, in PyTorch's or NumPy's form; see :func:`tapegrad.var`.

        PyTorch's spelling (no argument, positional ``dim``/``unbiased``/``keepdim``, or
        ``dim=``, ``unbiased=``, ``keepdim=``) divides by ``N - correction`` with
        ``correction=1`` (the unbiased estimate) unless told otherwise.  NumPy's keywords
        (``axis=``, ``ddof=``, ``keepdims=``, as ``np.var(t)`` passes them) default to
        ``ddof=0``.  ``correction=`` works with both (NumPy 2 has it too).

        Examples
        --------
        >>> import tapegrad as tg
        >>> x = tg.tensor([1.0, 2.0, 3.0, 4.0])
        >>> x.var(), x.var(axis=0)
        (tensor(1.66666667), tensor(1.25))
        """
        return self._moment(
            "var", dim, unbiased, keepdim, correction, dtype, out, axis, ddof, keepdims
        )

    def std(
        self,
        dim: Any = _NO,
        unbiased: Any = _NO,
        keepdim: Any = _NO,
        *,
        correction: Any = _NO,
        dtype: Any = None,
        out: Any = None,
        axis: Any = _NO,
        ddof: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Standard deviation; PyTorch's spelling is unbiased by default, NumPy's keywords
        use ``ddof=0``, as :meth:`var`.  See :func:`tapegrad.std`.

        Examples
        --------
        >>> import tapegrad as tg
        >>> x = tg.tensor([[1.0, 3.0], [2.0, 2.0]])
        >>> x.std(1), x.std(axis=1)
        (tensor([1.41421356, 0.        ]), tensor([1., 0.]))
        """
        return self._moment(
            "std", dim, unbiased, keepdim, correction, dtype, out, axis, ddof, keepdims
        )

    def logsumexp(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """``log(sum(exp(x)))`` over ``dim`` / ``axis`` (all axes by default), computed
        stably; see :func:`tapegrad.logsumexp`.
        """
        ax, keep = _reduce_args("logsumexp", dim, keepdim, axis, keepdims)[:2]
        return _write_out("logsumexp", out, _reduce.logsumexp(self, ax, keep))

    def norm(
        self,
        p: Any = "fro",
        dim: Any = None,
        keepdim: bool = False,
        dtype: Any = None,
        *,
        ord: Any = _NO,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """A norm, in PyTorch's form (``torch.Tensor.norm``) or NumPy's (``ord=``/``axis=``,
        ``numpy.linalg.norm``).

        PyTorch's: ``p='fro'`` (default) is the 2-norm of all elements, or over ``dim``;
        ``p='nuc'`` the nuclear norm of the matrices on ``dim`` (two axes); a number ``p``
        is always a vector norm over ``dim`` (None: all elements flattened, also for a
        matrix: ``t.norm(1)`` of a 2-d ``t`` sums all absolute values).  NumPy's keywords
        give :func:`tapegrad.norm` (``ord=1`` of a matrix is its max column sum).

        Examples
        --------
        >>> import tapegrad as tg
        >>> a = tg.tensor([[1.0, -2.0], [3.0, 4.0]])
        >>> a.norm(1), a.norm(ord=1)
        (tensor(10.), tensor(6.))
        """
        numpy_kw = [
            k for k, v in (("ord", ord), ("axis", axis), ("keepdims", keepdims)) if v is not _NO
        ]
        if numpy_kw:
            torch_kw = [
                k
                for k, v, d in (("p", p, "fro"), ("dim", dim, None), ("keepdim", keepdim, False))
                if v is not d
            ]
            _no_mix("norm", torch_kw, numpy_kw)
            x = _cast("norm", self, dtype)
            return _reduce.norm(
                x,
                None if ord is _NO else ord,
                None if axis is _NO else axis,
                False if keepdims is _NO else _flag("norm", "keepdims", keepdims),
            )
        x = _cast("norm", self, dtype)
        keep = _flag("norm", "keepdim", keepdim)
        if p == "nuc":
            if dim is None and x.ndim != 2:
                raise InvalidArgumentError(
                    f"norm(p='nuc') of a {x.ndim}-d tensor needs dim= (the two matrix axes)"
                )
            return _reduce.norm(x, "nuc", (0, 1) if dim is None else tuple(dim), keep)
        if isinstance(p, str) and p != "fro":
            raise InvalidArgumentError(f"norm: p must be 'fro', 'nuc' or a number, got {p!r}")
        if isinstance(dim, (int, np.integer)):
            dim = (int(dim),)
        if x.dtype.kind not in "fc":
            x = _ew.astype(x, np.float64)
        return _reduce._vnorm(x, 2 if p == "fro" else p, _reduce.normalize_axis(dim, x.ndim), keep)

    def cumsum(
        self, dim: Any = _NO, *, dtype: Any = None, out: Any = None, axis: Any = _NO
    ) -> Tensor:
        """Cumulative sum along ``dim`` / ``axis``; see :func:`tapegrad.cumsum`.

        With no axis the tensor is flattened first (NumPy's behaviour; PyTorch requires a
        dim).  ``dtype=`` casts first; ``out=`` as :meth:`sum`.
        """
        _no_mix("cumsum", ["dim"] if dim is not _NO else [], ["axis"] if axis is not _NO else [])
        ax = axis if axis is not _NO else (None if dim is _NO else dim)
        return _write_out("cumsum", out, _reduce.cumsum(_cast("cumsum", self, dtype), ax))

    def cumprod(
        self, dim: Any = _NO, *, dtype: Any = None, out: Any = None, axis: Any = _NO
    ) -> Tensor:
        """Cumulative product along ``dim`` / ``axis``; as :meth:`cumsum`."""
        _no_mix("cumprod", ["dim"] if dim is not _NO else [], ["axis"] if axis is not _NO else [])
        ax = axis if axis is not _NO else (None if dim is _NO else dim)
        return _write_out("cumprod", out, _reduce.cumprod(_cast("cumprod", self, dtype), ax))

    def any(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Whether any element over ``dim`` / ``axis`` is nonzero (bool); see
        :func:`tapegrad.any`.
        """
        ax, keep = _reduce_args("any", dim, keepdim, axis, keepdims)[:2]
        return _write_out("any", out, _reduce.any(self, ax, keep))

    def all(
        self,
        dim: Any = _NO,
        keepdim: Any = _NO,
        *,
        out: Any = None,
        axis: Any = _NO,
        keepdims: Any = _NO,
    ) -> Tensor:
        """Whether every element over ``dim`` / ``axis`` is nonzero (bool); see
        :func:`tapegrad.all`.
        """
        ax, keep = _reduce_args("all", dim, keepdim, axis, keepdims)[:2]
        return _write_out("all", out, _reduce.all(self, ax, keep))

    def sort(
        self, dim: int = -1, descending: bool = False, stable: bool = False, *, out: Any = None
    ) -> Any:
        """PyTorch's ``sort``: a named tuple ``(values, indices)`` along ``dim``.

        The order is always stable (``stable=`` is accepted), nan sorts last (first with
        ``descending=True``).  The gradient of the values goes back to the elements they
        came from.  NumPy's ``ndarray.sort`` sorts in place; use :func:`tapegrad.sort`
        (values only, ``axis=``) for NumPy's functional form.

        Examples
        --------
        >>> import tapegrad as tg
        >>> tg.tensor([3.0, 1.0, 2.0]).sort(descending=True)
        sort(values=tensor([3., 2., 1.]), indices=tensor([0, 2, 1]))
        """
        values, indices = _reduce._sort_with_indices(
            self, dim, _flag("sort", "descending", descending)
        )
        _flag("sort", "stable", stable)
        return _write_out("sort", out, _reduce.values_indices("sort", values, indices))

    def argsort(
        self,
        dim: Any = _NO,
        descending: bool = False,
        stable: bool = False,
        *,
        axis: Any = _NO,
        kind: Any = None,
        order: Any = None,
    ) -> Tensor:
        """Indices that sort along ``dim`` / ``axis`` (default the last axis); stable, int64.

        PyTorch's ``argsort(dim, descending, stable)`` and NumPy's ``argsort(axis, kind,
        order)`` (``np.argsort(t)``); ``axis=None`` sorts the flattened tensor.  ``order``
        (structured arrays) is not supported.  See :func:`tapegrad.argsort`.
        """
        _no_mix("argsort", ["dim"] if dim is not _NO else [], ["axis"] if axis is not _NO else [])
        if order is not None:
            raise ArgumentError("argsort(order=...) is for structured arrays; tensors have none")
        if kind not in (None, "quicksort", "mergesort", "heapsort", "stable"):
            raise InvalidArgumentError(f"argsort: unknown kind {kind!r}; the sort is always stable")
        if stable is not None:  # np.argsort passes stable=None
            _flag("argsort", "stable", stable)
        ax = axis if axis is not _NO else (-1 if dim is _NO else dim)
        return _reduce.argsort(self, ax, descending=_flag("argsort", "descending", descending))

    def topk(
        self,
        k: int,
        dim: int = -1,
        largest: bool = True,
        sorted: bool = True,
        *,
        out: Any = None,
    ) -> Any:
        """PyTorch's ``topk``: the ``k`` largest (or smallest) along ``dim`` as a named tuple
        ``(values, indices)``; see :func:`tapegrad.topk`.

        Examples
        --------
        >>> import tapegrad as tg
        >>> tg.tensor([1.0, 4.0, 2.0]).topk(2).indices
        tensor([1, 2])
        """
        res = _reduce.topk(
            self, k, dim, _flag("topk", "largest", largest), _flag("topk", "sorted", sorted)
        )
        return _write_out("topk", out, res)

    def median(self, dim: Any = _NO, keepdim: bool = False, *, out: Any = None) -> Any:
        """PyTorch's ``median``: the lower median (the ``(n - 1) // 2``-th smallest), nan
        where a slice holds nan.

        ``t.median()`` is the value over all elements (ties share the gradient);
        ``t.median(dim, keepdim=False)`` is a named tuple ``(values, indices)`` with the
        gradient at the index.  :func:`tapegrad.median` is NumPy's (the mean of the two
        middle values for an even count).

        Examples
        --------
        >>> import tapegrad as tg
        >>> x = tg.tensor([[1.0, 4.0, 2.0, 3.0]])
        >>> x.median(), x.median(1).values, tg.median(x)
        (tensor(2.), tensor([2.]), tensor(2.5))
        """
        keep = _flag("median", "keepdim", keepdim)
        if dim is _NO or dim is None:
            if keep:
                raise ArgumentError("median(keepdim=True) needs a dim: median(dim, keepdim=True)")
            return _write_out("median", out, _reduce.lower_median(self, None, False))
        return _write_out("median", out, _reduce.lower_median(self, dim, keep))

    def reshape(self, *shape: Any, order: str = "C") -> Tensor:
        """The same data in another shape (``x.reshape(2, 3)`` or ``x.reshape((2, 3))``).

        ``order='C'`` (row-major) is the only order; ``np.reshape(t, shape)`` works.
        """
        if order != "C":
            raise ArgumentError(
                f"reshape(order={order!r}) is not supported: tensors are reshaped in C "
                "(row-major) order; transpose first for another order"
            )
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return _shape.reshape(self, shape)

    def view(self, *shape: Any) -> Tensor:
        """The same data in another shape, as :meth:`reshape`.

        PyTorch's ``view(dtype)`` (reinterpreting the bytes) is not differentiable: it is
        supported for tensors that don't require grad.
        """
        if len(shape) == 1 and isinstance(shape[0], (str, type, np.dtype)):
            if self.requires_grad:
                raise NotDifferentiableError(
                    "view(dtype) reinterprets the bytes and has no gradient; use astype() to "
                    "convert values, or call view(dtype) on a tensor.detach()"
                )
            return Tensor._wrap(self.data.view(np.dtype(shape[0])))
        return self.reshape(*shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes.  Two ints swap those two axes (PyTorch's ``transpose(dim0, dim1)``,
        also for a 2-d tensor: ``t.transpose(0, 1)`` transposes it); no argument (or None)
        reverses the axes; one tuple, or three or more ints, is NumPy's full permutation.
        """
        if len(axes) == 1:
            if axes[0] is None:
                return _shape.transpose(self, None)
            if not isinstance(axes[0], (int, np.integer)):
                axes = tuple(axes[0])
        if len(axes) == 2:
            return _shape.swapaxes(self, axes[0], axes[1])
        return _shape.transpose(self, axes or None)

    def permute(self, *axes: Any) -> Tensor:
        """Reorder the axes (PyTorch's ``permute``; NumPy's ``transpose(axes)``)."""
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return _shape.transpose(self, axes)

    def swapaxes(self, a: int, b: int) -> Tensor:
        """Swap two axes; see :func:`tapegrad.swapaxes`."""
        return _shape.swapaxes(self, a, b)

    def moveaxis(self, source: Any, destination: Any) -> Tensor:
        """Move axes to new positions; see :func:`tapegrad.moveaxis`."""
        return _shape.moveaxis(self, source, destination)

    def squeeze(self, dim: Any = _NO, *, axis: Any = _NO) -> Tensor:
        """Remove axes of length one (all of them by default).

        PyTorch's ``squeeze(dim)`` (an int or tuple) leaves a named axis whose length is not
        one alone; NumPy's ``squeeze(axis=...)`` raises for it (see :func:`tapegrad.squeeze`).

        Examples
        --------
        >>> import tapegrad as tg
        >>> tg.zeros((2, 1)).squeeze(0).shape
        (2, 1)
        """
        _no_mix("squeeze", ["dim"] if dim is not _NO else [], ["axis"] if axis is not _NO else [])
        if axis is not _NO:
            return _shape.squeeze(self, axis)
        if dim is _NO or dim is None:
            return _shape.squeeze(self, None)
        shape = self.data.shape
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        nd = max(len(shape), 1)
        for d in dims:
            if not -nd <= d < nd:
                raise np.exceptions.AxisError(
                    f"squeeze: dim {d} is out of range for a tensor with {len(shape)} "
                    f"dimension(s); use a value in [{-nd}, {nd - 1}]"
                )
        keep = tuple(d for d in dims if not shape or shape[d % nd] == 1)
        return _shape.squeeze(self, keep)

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert an axis of length one at ``dim`` (PyTorch's spelling of ``expand_dims``)."""
        return _shape.expand_dims(self, dim)

    def expand_dims(self, axis: Any) -> Tensor:
        """Insert an axis of length one at ``axis``."""
        return _shape.expand_dims(self, axis)

    def broadcast_to(self, shape: Any) -> Tensor:
        """Broadcast to ``shape`` (a view; the gradient is summed back)."""
        return _shape.broadcast_to(self, shape)

    def expand(self, *shape: Any) -> Tensor:
        """Broadcast to the given sizes (PyTorch's ``expand``; ``-1`` keeps a size)."""
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        return _shape.broadcast_to(self, shape)

    def flatten(self, start_dim: Any = 0, end_dim: int = -1, *, order: Any = _NO) -> Tensor:
        """All axes (or ``start_dim`` to ``end_dim``) merged into one (PyTorch's), or NumPy's
        ``flatten(order)`` with ``order`` 'C' (row-major) or 'F' (column-major).
        """
        if isinstance(start_dim, str):
            if order is not _NO:
                raise ArgumentError("flatten() got order twice (positionally and by keyword)")
            start_dim, order = 0, start_dim
        if order is not _NO:
            if start_dim != 0 or end_dim != -1:
                raise ArgumentError(
                    "flatten() mixes PyTorch's start_dim/end_dim with NumPy's order=; "
                    "use one of them"
                )
            if order == "F":
                return _shape.ravel(_shape.transpose(self))
            if order != "C":
                raise ArgumentError(f"flatten(order={order!r}): use 'C' or 'F'")
        return _shape.flatten(self, start_dim, end_dim)

    def ravel(self) -> Tensor:
        """The data as one axis."""
        return _shape.ravel(self)

    def repeat(self, *sizes: Any, axis: Any = _NO) -> Tensor:
        """PyTorch's ``repeat(*sizes)`` tiles the whole tensor (NumPy's ``tile``); NumPy's
        ``repeat(repeats, axis=...)`` repeats each element.

        Positional sizes are PyTorch's: ``t.repeat(2, 3)`` of a 2-d ``t`` has shape
        ``(2 * rows, 3 * cols)``, and there must be at least ``t.ndim`` sizes (extra ones add
        leading axes).  Passing ``axis=`` (``axis=None`` flattens, as ``np.repeat(t, r)``
        does) selects NumPy's element repeat; :meth:`repeat_interleave` is PyTorch's name
        for it.

        Examples
        --------
        >>> import tapegrad as tg
        >>> x = tg.tensor([1.0, 2.0])
        >>> x.repeat(2), x.repeat(2, axis=None)
        (tensor([1., 2., 1., 2.]), tensor([1., 1., 2., 2.]))
        """
        if axis is not _NO:
            if len(sizes) != 1:
                raise ArgumentError(
                    f"repeat(repeats, axis=...) (NumPy's) takes one repeats argument, got "
                    f"{len(sizes)}; PyTorch's repeat(*sizes) takes no axis"
                )
            r = sizes[0]
            return _shape.repeat(self, r.data if isinstance(r, Tensor) else r, axis)
        if len(sizes) == 1 and not isinstance(sizes[0], (int, np.integer)):
            s = sizes[0]
            sizes = tuple(
                (s.data if isinstance(s, Tensor) else s).tolist() if hasattr(s, "tolist") else s
            )
        if not sizes or len(sizes) < self.data.ndim:
            raise ShapeMismatchError(
                f"repeat(*sizes) is PyTorch's: it tiles the tensor and needs one size per "
                f"dimension (at least {self.data.ndim}), got {len(sizes)}; for NumPy's repeat "
                "of each element use repeat(r, axis=...) or repeat_interleave(r, dim)"
            )
        for s in sizes:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0:
                raise InvalidArgumentError(
                    f"repeat: sizes must be non-negative ints, got {sizes!r}"
                )
        return _shape.tile(self, tuple(int(s) for s in sizes))

    def repeat_interleave(self, repeats: Any, dim: Any = None) -> Tensor:
        """Repeat each element ``repeats`` times along ``dim`` (None: flattened), PyTorch's
        name for NumPy's ``repeat``; see :func:`tapegrad.repeat`.
        """
        r = repeats.data if isinstance(repeats, Tensor) else repeats
        return _shape.repeat(self, r, dim)

    def tile(self, reps: Any) -> Tensor:
        """Repeat the whole tensor ``reps`` times; see :func:`tapegrad.tile`."""
        return _shape.tile(self, reps)

    def flip(self, *dims: Any, axis: Any = _NO) -> Tensor:
        """Reverse the order of elements along ``dims`` (PyTorch's ``flip(dims)``; ints or one
        sequence, required), or along ``axis=`` (NumPy's ``np.flip``; None reverses all).
        """
        if axis is not _NO:
            if dims:
                raise ArgumentError("flip() mixes PyTorch's dims with NumPy's axis=; use one")
            return _shape.flip(self, axis)
        if not dims:
            raise ArgumentError(
                "flip() needs the dims to reverse (PyTorch's flip(dims)); pass them, e.g. "
                "flip(0), or axis=None to reverse every axis"
            )
        if len(dims) == 1 and not isinstance(dims[0], (int, np.integer)):
            dims = tuple(dims[0])
        return _shape.flip(self, tuple(dims))

    def roll(
        self, shifts: Any = _NO, dims: Any = _NO, *, shift: Any = _NO, axis: Any = _NO
    ) -> Tensor:
        """Roll elements by ``shifts`` along ``dims`` (None: the flattened tensor, then the
        shape is restored); PyTorch's ``shifts=``/``dims=`` and NumPy's ``shift=``/``axis=``
        mean the same.  See :func:`tapegrad.roll`.
        """
        torch_kw = [k for k, v in (("shifts", shifts), ("dims", dims)) if v is not _NO]
        numpy_kw = [k for k, v in (("shift", shift), ("axis", axis)) if v is not _NO]
        _no_mix("roll", torch_kw, numpy_kw)
        s = shift if shift is not _NO else shifts
        if s is _NO:
            raise ArgumentError("roll() needs shifts (how far to roll)")
        a = axis if axis is not _NO else (None if dims is _NO else dims)
        return _shape.roll(self, s, a)

    def diagonal(
        self,
        offset: int = 0,
        dim1: Any = _NO,
        dim2: Any = _NO,
        *,
        axis1: Any = _NO,
        axis2: Any = _NO,
    ) -> Tensor:
        """The diagonal; PyTorch's ``dim1``/``dim2`` and NumPy's ``axis1``/``axis2`` (defaults
        0 and 1) mean the same.  See :func:`tapegrad.diagonal`.
        """
        torch_kw = [k for k, v in (("dim1", dim1), ("dim2", dim2)) if v is not _NO]
        numpy_kw = [k for k, v in (("axis1", axis1), ("axis2", axis2)) if v is not _NO]
        _no_mix("diagonal", torch_kw, numpy_kw)
        a1 = axis1 if axis1 is not _NO else (0 if dim1 is _NO else dim1)
        a2 = axis2 if axis2 is not _NO else (1 if dim2 is _NO else dim2)
        return _shape.diagonal(self, offset, a1, a2)

    def trace(
        self,
        offset: int = 0,
        axis1: int = 0,
        axis2: int = 1,
        dtype: Any = None,
        out: Any = None,
    ) -> Tensor:
        """Sum of the diagonal (NumPy's arguments; PyTorch's ``trace()`` is the no-argument
        call on a matrix).  ``dtype=`` casts first, ``out=`` as :meth:`sum`.
        """
        return _write_out(
            "trace", out, _shape.trace(_cast("trace", self, dtype), offset, axis1, axis2)
        )

    def clip(
        self,
        min: Any = None,
        max: Any = None,
        out: Any = None,
        *,
        a_min: Any = _NO,
        a_max: Any = _NO,
    ) -> Tensor:
        """Limit values to ``[min, max]`` (either may be None; tensors broadcast).

        The gradient is 1 where ``min <= x <= max`` and 0 outside (PyTorch's clamp);
        where ``min > max`` every value is ``max`` (PyTorch and NumPy agree).  NumPy's
        ``a_min=``/``a_max=`` and ``np.clip(t, lo, hi)`` work too.  ``clamp`` is the same.
        """
        if a_min is not _NO or a_max is not _NO:
            if min is not None or max is not None:
                raise ArgumentError("clip() got both min/max and a_min/a_max; pass one pair")
            min = None if a_min is _NO else a_min
            max = None if a_max is _NO else a_max
        if min is None and max is None:
            raise ArgumentError("clip/clamp needs min or max (at least one of them not None)")
        return _write_out("clip", out, _ew.clip(self, min, max))

    clamp = clip

    def dot(self, other: Any) -> Tensor:
        """Dot product (NumPy's ``dot`` semantics); see :func:`tapegrad.dot`."""
        return _linalg.dot(self, other)

    def take(self, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Tensor:
        """Elements at ``indices`` along ``axis`` (the flattened tensor when None, which is
        PyTorch's ``take(index)``).  NumPy's ``mode`` 'raise' (default), 'wrap' or 'clip'.
        """
        if mode != "raise":
            if mode not in ("wrap", "clip"):
                raise InvalidArgumentError(
                    f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}"
                )
            n = self.data.size if axis is None else self.data.shape[axis]
            idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
            indices = idx % n if mode == "wrap" else np.clip(idx, 0, n - 1)
        return _write_out("take", out, _indexing.take(self, indices, axis))

    def round(self, decimals: int = 0, out: Any = None) -> Tensor:
        """Round half to even to ``decimals`` places (PyTorch and NumPy agree); derivative
        0.  See :func:`tapegrad.round`.
        """
        d = int(decimals)
        if d == 0:
            res = _ew.round(self)
        elif self.data.dtype.kind not in "fc":
            res = Tensor._wrap(np.round(self.data, d))
        elif d > 0:
            s = 10.0**d
            res = _ew.round(self * s) / s
        else:
            s = 10.0**-d
            res = _ew.round(self / s) * s
        return _write_out("round", out, res)
