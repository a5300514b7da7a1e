"""Indexing primitives: gather (``getitem``, basic and advanced), its transpose the scatter
``index_add``, out-of-place assignment ``index_update``, and the history of a base after an
in-place op on one of its views (``copy_slices``, ``flat_take``).

Basic indexing is a view (``view=True``): its output shares the input's version counter.
``index_add`` is the transpose of indexing and indexing the transpose of ``index_add``, so
every order of derivative stays on the tape.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..autograd.grad_mode import _state as _grad_state
from ..autograd.node import Meta, Node
from ..errors import IndexingError, ShapeMismatchError
from ..tensor import Tensor
from .registry import Primitive, deflinear
from .shape import _axis, _reshape, _shape_of, _transpose, ravel

__all__ = [
    "take",
    "take_along_axis",
    "getitem",
    "index_update",
    "unwrap_index",
]


def _gather_axis(key: tuple[Any, ...], ndim: int) -> int:
    """The axis of ``key``'s only index array when every other entry is ``:`` or ``...``
    (``x[idx]``, ``x[:, idx]``, ``x[..., idx]``: what take and embeddings do); else -1."""
    pos = -1
    ell = -1
    for k, item in enumerate(key):
        if item.__class__ is slice:
            if item != slice(None):
                return -1
        elif item is Ellipsis:
            ell = k
        elif pos < 0 and item.__class__ is np.ndarray and item.dtype.kind in "iu":
            pos = k
        else:
            return -1
    if pos < 0:
        return -1
    if 0 <= ell < pos:
        return ndim - (len(key) - pos)
    return pos


def _scatter_rows(g: Any, shape: tuple[int, ...], axis: int, idx: Any) -> Any:
    # Scatter-add g (shape[:axis] + idx.shape + shape[axis+1:]) into zeros(shape) along one
    # axis.  For rows (or columns) bincount is up to 3x faster than np.add.at, whose fast
    # path only covers a flat 1-d target.  When few rows are hit, the sums are formed over
    # the distinct rows only and then placed.
    a = int(np.prod(shape[:axis]))
    n = shape[axis]
    b = int(np.prod(shape[axis + 1 :]))
    if a == 1 and b == 1:
        z = np.zeros(shape, g.dtype)
        np.add.at(z.reshape(n), idx.reshape(-1), np.reshape(g, -1))
        return z
    i = idx.reshape(-1)
    if i.size and i.min() < 0:
        i = np.where(i < 0, i + n, i)
    rows = n
    u = None
    if 2 * i.size < n:
        u, i = np.unique(i, return_inverse=True)
        rows = u.size
    lin = (
        (np.arange(a) * (rows * b))[:, None, None]
        + (i * b)[None, :, None]
        + np.arange(b)[None, None, :]
    ).reshape(-1)
    acc = np.bincount(lin, np.reshape(g, -1), minlength=a * rows * b)
    if u is None:
        return acc.astype(g.dtype, copy=False).reshape(shape)
    z = np.zeros((a, n, b), g.dtype)
    z[:, u, :] = acc.reshape(a, rows, b)
    return z.reshape(shape)


def _index_add_impl(g: Any, *, key: Any, shape: tuple[int, ...], mode: str) -> Any:
    if mode == "accumulate" and g.size and g.dtype.kind == "f":
        axis = _gather_axis(key, len(shape))
        if axis >= 0:
            return _scatter_rows(g, shape, axis, next(k for k in key if k.__class__ is np.ndarray))
    z = np.zeros(shape, g.dtype)
    if mode == "accumulate":
        np.add.at(z, key, g)
    else:
        z[key] = g
    return z


def _getitem_impl(x: Any, *, key: Any) -> Any:
    return x[key]


def _getitem_adv_impl(x: Any, *, key: Any, mode: str) -> Any:
    return x[key]


def _index_explain(call: Any) -> Any:
    # tapegrad.explain writes the step as a subscript: w1[0, 1:].
    key = call.params.get("key")
    return None if "key" not in call.params else {"text": "{0}" + call.index_text(key)}


_getitem: Primitive = deflinear(
    Primitive(
        "getitem",
        _getitem_impl,
        view=True,
        doc="Basic indexing (ints, slices, None, Ellipsis): a view.",
        explain=_index_explain,
    ),
    lambda g, ans, x, *, key: _index_add(g, key=key, shape=x.shape, mode="basic"),
    batch=lambda nb, t, *, key: _getitem(t, key=(slice(None),) * nb + key),
)


def _index_batch(nb: int, t: Any, *, key: Any, mode: str) -> Any:
    pkey, m = _batch_key(key, nb, mode)
    r = _getitem_adv(t, key=pkey, mode=mode)
    if m:
        r = _transpose(
            r, axes=tuple(range(m, m + nb)) + tuple(range(m)) + tuple(range(m + nb, r.ndim))
        )
    return r


_getitem_adv: Primitive = deflinear(
    Primitive(
        "index",
        _getitem_adv_impl,
        doc="Advanced indexing (integer or boolean arrays): a copy.",
        explain=_index_explain,
    ),
    lambda g, ans, x, *, key, mode: _index_add(g, key=key, shape=x.shape, mode=mode),
    batch=_index_batch,
)


def _index(x: Any, key: Any, mode: str) -> Any:
    if mode == "basic":
        return _getitem(x, key=key)
    return _getitem_adv(x, key=key, mode=mode)


def _index_add_batch(nb: int, t: Any, *, key: Any, shape: Any, mode: str) -> Any:
    s = tuple(t.shape)
    pkey, m = _batch_key(key, nb, mode)
    t = _to_region(t, nb, s[nb:], _region_ndim(key, len(shape)), m)
    return _index_add(t, key=pkey, shape=s[:nb] + shape, mode=mode)


_index_add: Primitive = deflinear(
    Primitive(
        "index_add",
        _index_add_impl,
        doc="Scatter ``g`` into zeros of ``shape`` at ``key``, adding where an index "
        "repeats (the transpose of indexing).",
    ),
    lambda g, ans, _, *, key, shape, mode: _index(g, key, mode),
    batch=_index_add_batch,
)


def _batch_key(key: tuple[Any, ...], nb: int, mode: str) -> tuple[tuple[Any, ...], int]:
    """``key`` for a tangent with ``nb`` leading batch axes, and ``m``: 0 when ``t[key]`` keeps
    the batch axes first, else the number of index axes NumPy puts before them (advanced
    indices that a slice, None or Ellipsis separates go first: NumPy's ``consec`` rule)."""
    pkey = (slice(None),) * nb + key
    if not nb or mode == "basic":
        return pkey, 0
    state = 0  # 0: no advanced index yet, 1: in the first run, 2: after it, 3: split
    m = 0
    for k in key:
        if k.__class__ is np.ndarray or isinstance(k, (int, np.bool_)):
            state = 3 if state == 2 else max(state, 1)
            if k.__class__ is np.ndarray:
                m = max(m, 1 if k.dtype.kind == "b" else k.ndim)
            elif isinstance(k, (bool, np.bool_)):
                m = max(m, 1)
        elif state == 1:
            state = 2
    return pkey, m if state == 3 else 0


def _region_ndim(key: tuple[Any, ...], ndim: int) -> int:
    """The number of axes of ``x[key]`` for an ``ndim``-d ``x``."""
    used = dims = fancy = 0
    advanced = False
    for k in key:
        if k is None:
            dims += 1
        elif k.__class__ is slice:
            used += 1
            dims += 1
        elif k.__class__ is np.ndarray:
            advanced = True
            if k.dtype.kind == "b":
                used += k.ndim
                fancy = max(fancy, 1)
            else:
                used += 1
                fancy = max(fancy, k.ndim)
        elif isinstance(k, (bool, np.bool_)):
            advanced = True
            fancy = max(fancy, 1)
        elif k is not Ellipsis:
            used += 1
    return dims + ndim - used + (fancy if advanced else 0)


def _to_region(t: Any, nb: int, shape: tuple[int, ...], k: int, m: int) -> Any:
    """The tangent ``t`` (shape ``B + shape``) of a value written to or scattered into a
    ``k``-d region, laid out as the batched region ``t[batch key]`` (see _batch_key)."""
    if not nb:
        return t
    s = tuple(t.shape)
    v = len(shape)
    if v < k:
        t = _reshape(t, shape=s[:nb] + (1,) * (k - v) + s[nb:])
    elif v > k:  # NumPy drops leading length-one axes of an assigned value
        t = _reshape(t, shape=s[:nb] + s[nb + v - k :])
    if m:
        t = _transpose(
            t, axes=tuple(range(nb, nb + m)) + tuple(range(nb)) + tuple(range(nb + m, nb + k))
        )
    return t


def _key_item(k: Any) -> tuple[Any, int]:
    """One key entry, normalised; kind 0: basic, 1: boolean array, 2: integer array."""
    if k is None or k is Ellipsis or isinstance(k, slice):
        return k, 0
    if isinstance(k, Tensor):
        k = k.data
    if k.__class__ is np.ndarray and (tr := _grad_state.tracer) is not None and tr.traced(k):
        # Inside tg.jit, an index computed in the program: used as it is (no copy: the copy
        # would be a constant of the compiled program).
        if k.dtype.kind == "b":
            tr.concretize(
                k, "indexing with a boolean mask (the result's shape depends on the values)"
            )
        if k.dtype.kind in "iu":
            return k, 2
    if isinstance(k, (bool, np.bool_)):
        return k, 1
    if isinstance(k, (int, np.integer)):
        return int(k), 0
    if isinstance(k, (list, range, np.ndarray)):
        a = np.array(k)  # a copy: changing the caller's index array can't change the tape
        if a.dtype.kind == "b":
            return a, 1
        if a.dtype.kind in "iu":
            if a.ndim == 0:
                return int(a), 0
            return a, 2
        if a.size == 0:
            return a.astype(np.intp), 2
        raise IndexingError(
            f"getitem: index arrays must hold integers or booleans, got dtype {a.dtype}"
        )
    try:
        return operator.index(k), 0
    except TypeError:
        raise IndexingError(
            f"getitem: can't index with {type(k).__name__}: use ints, slices, None, Ellipsis, and "
            "integer or boolean arrays (or tuples of them)"
        ) from None


def _normalize_key(key: Any) -> tuple[tuple[Any, ...], str]:
    """The key as a tuple of NumPy index objects, and its mode (basic/unique/accumulate)."""
    items = key if isinstance(key, tuple) else (key,)
    out = []
    kinds = 0
    ellipsis = False
    for k in items:
        k, kind = _key_item(k)
        kinds |= 1 << kind
        if k is Ellipsis:
            ellipsis = True
        out.append(k)
    if kinds == 1:
        if not ellipsis:  # a trailing Ellipsis makes NumPy return a 0-d view, not a scalar
            out.append(Ellipsis)
        return tuple(out), "basic"
    return tuple(out), "accumulate" if kinds & 4 else "unique"


def getitem(x: Any, key: Any) -> Any:
    """``x[key]`` with NumPy semantics: ints, slices (negative steps too), None, Ellipsis,
    boolean masks, integer arrays, and tuples mixing them.  Tensors in the key are used
    by value.

    Basic indexing (no arrays) returns a view of ``x``; advanced indexing returns a copy.
    The gradient scatters back into zeros, adding up where an integer index repeats.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> tg.sum(x[[0, 0, 2]]).backward()
    >>> x.grad
    tensor([2., 0., 1.])
    """
    k, mode = _normalize_key(key)
    if mode == "basic":
        return _getitem(x, key=k)
    return _getitem_adv(x, key=k, mode=mode)


def _index_update_impl(x: Any, value: Any, *, key: Any, mode: str) -> Any:
    out = np.array(x, copy=True)
    out[key] = value
    return out


def _index_update_dvalue(g: Any, ans: Any, x: Any, value: Any, *, key: Any, mode: str) -> Any:
    r = _index(g, key, mode)
    lead = value.ndim - r.ndim
    if lead > 0:  # NumPy drops leading length-one axes of the value in assignment
        r = _reshape(r, shape=(1,) * lead + tuple(r.shape))
    return r


def _index_update_batch(nb: int, x: Any, value: Any, *, key: Any, mode: str) -> Any:
    pkey, m = _batch_key(key, nb, mode)
    v = _to_region(value, nb, tuple(value.shape[nb:]), _region_ndim(key, len(x.shape) - nb), m)
    return _index_update(x, v, key=pkey, mode=mode)


# Linear in (x, value) jointly: its jvp writes the value's tangent into the input's.
_index_update: Primitive = deflinear(
    Primitive(
        "index_update", _index_update_impl, doc="``x`` with ``x[key] = value`` (out of place)."
    ),
    lambda g, ans, x, value, *, key, mode: _index_update(g, 0, key=key, mode=mode),
    _index_update_dvalue,
    batch=_index_update_batch,
)


def index_update(x: Any, key: Any, value: Any) -> Any:
    """A copy of ``x`` with ``x[key] = value`` (what ``x[key] = value`` records on the tape).

    The result has the dtype of ``x``; ``value`` is broadcast to ``x[key]``.  The gradient
    w.r.t. ``x`` is the incoming gradient with the ``key`` region zeroed; w.r.t. ``value``
    it is the gradient at ``key``, summed back to the value's shape.  When an integer index
    repeats, NumPy does not promise which write wins and the gradient w.r.t. ``value``
    reaches every write.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.index_update(tg.zeros(3), 1, 5.0)
    tensor([0., 5., 0.])
    """
    k, mode = _normalize_key(key)
    return _index_update(x, value, key=k, mode=mode)


def unwrap_index(key: Any) -> Any:
    """``key`` with every Tensor in it replaced by its array (for direct NumPy indexing)."""
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, tuple):
        return tuple(k.data if isinstance(k, Tensor) else k for k in key)
    return key


def take(x: Any, indices: Any, axis: int | None = None) -> Any:
    """Elements of ``x`` at ``indices`` along ``axis`` (``numpy.take``; None: flattened).

    Negative indices count from the end.  Repeated indices add up in the gradient.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.take(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), [1, 1], axis=1)
    tensor([[2., 2.],
            [4., 4.]])
    """
    if axis is None:
        x = ravel(x)
        axis = 0
    nd = len(_shape_of(x))
    ax = _axis(axis, nd, op="take")
    idx, kind = _key_item(indices)
    if kind == 1:
        raise IndexingError("take needs integer indices, got booleans (use getitem for masks)")
    return getitem(x, (slice(None),) * ax + (idx,))


def take_along_axis(x: Any, indices: Any, axis: int | None) -> Any:
    """Pick one element per position along ``axis`` (``numpy.take_along_axis``).

    ``indices`` has the dimensions of ``x`` and broadcasts against it on the other axes;
    ``axis=None`` works on the flattened tensor.  Repeated picks add up in the gradient.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> tg.take_along_axis(x, tg.tensor([[1], [0]]), axis=1)
    tensor([[2.],
            [3.]])
    """
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu" and not (idx.size == 0 and idx.dtype.kind == "f"):
        raise IndexingError(f"take_along_axis needs integer indices, got dtype {idx.dtype}")
    idx = idx.astype(np.intp, copy=False)
    if axis is None:
        if idx.ndim != 1:
            raise ShapeMismatchError(
                f"take_along_axis with axis=None needs 1-d indices, got shape {idx.shape}"
            )
        return _getitem_adv(ravel(x), key=(idx,), mode="accumulate")
    shape = _shape_of(x)
    nd = len(shape)
    ax = _axis(axis, nd, op="take_along_axis")
    if idx.ndim != nd:
        raise ShapeMismatchError(
            f"take_along_axis: indices have {idx.ndim} dimensions but x has {nd}; they must "
            "have the same number (use expand_dims on the indices)"
        )
    key = []
    unique = idx.shape[ax] <= 1
    for d in range(nd):
        if d == ax:
            key.append(idx)
            continue
        if shape[d] == 1 and idx.shape[d] > 1:
            unique = False
        key.append(np.arange(shape[d]).reshape((1,) * d + (-1,) + (1,) * (nd - d - 1)))
    try:
        np.broadcast_shapes(*(k.shape for k in key))
    except ValueError:
        raise ShapeMismatchError(
            f"take_along_axis: indices of shape {idx.shape} don't broadcast against x of "
            f"shape {shape} on the axes other than {ax}"
        ) from None
    return _getitem_adv(x, key=tuple(key), mode="unique" if unique else "accumulate")


# --------------------------------------------------------------------------- in-place on views
# An in-place op on a view rewrites its base's history (PyTorch's CopySlices): the new base
# is the old one with the view's elements replaced.  ``idx`` holds, for each element of the
# view, its flat (C-order) position in the base; ``shape`` is the base's shape.  Leading
# axes beyond ``shape`` (forward-mode batches) are carried along.


def _flat(x: Any, shape: tuple[int, ...]) -> Any:
    nb = x.ndim - len(shape)
    return np.reshape(x, x.shape[:nb] + (-1,))


def _copy_slices_impl(base: Any, value: Any, *, idx: Any, shape: tuple[int, ...]) -> Any:
    out = np.array(base, order="C", copy=True)
    _flat(out, shape)[..., idx] = value
    return out


def _flat_take_impl(x: Any, *, idx: Any, shape: tuple[int, ...]) -> Any:
    return _flat(np.asarray(x), shape)[..., idx]


# Linear in (base, value) jointly, and batched along leading axes already.
_copy_slices: Primitive = deflinear(
    Primitive(
        "copy_slices",
        _copy_slices_impl,
        doc="``base`` with the elements at flat positions ``idx`` replaced by ``value`` "
        "(the history of a base after an in-place op on one of its views).",
    ),
    lambda g, ans, base, value, *, idx, shape: _copy_slices(g, 0, idx=idx, shape=shape),
    lambda g, ans, base, value, *, idx, shape: _flat_take(g, idx=idx, shape=shape),
)
_flat_take: Primitive = deflinear(
    Primitive(
        "flat_take",
        _flat_take_impl,
        doc="The elements of ``x`` at distinct flat (C-order) positions ``idx`` (a view's "
        "elements in its base).",
    ),
    lambda g, ans, x, *, idx, shape: _copy_slices(
        np.zeros(x.shape, x.dtype), g, idx=idx, shape=shape
    ),
)


def view_index_map(t: Any) -> Any:
    """For a view ``t`` of a base ``b``: ``(b, idx)`` with ``idx[i]`` the flat (C-order)
    position in ``b`` of element ``i`` of ``t``; ``None`` when ``t`` is not a view."""
    vc = t._vchain if t._base is not None else None
    if vc is None:
        return None
    base, chain = vc
    b = base.data
    v = t.data
    if b.flags.c_contiguous and v.dtype == b.dtype:
        # From the memory layout: O(size of the view).
        it = b.itemsize
        off = v.__array_interface__["data"][0] - b.__array_interface__["data"][0]
        if off % it == 0 and all(st % it == 0 for st in v.strides):
            idx: Any = np.array(off // it, dtype=np.intp)
            nd = v.ndim
            for k, (n, st) in enumerate(zip(v.shape, v.strides)):
                step = np.arange(n, dtype=np.intp) * (st // it)
                idx = idx + step.reshape((n,) + (1,) * (nd - k - 1))
            return base, np.broadcast_to(idx, v.shape).copy()
    # Else replay the view ops on the positions.
    m: Any = np.arange(b.size).reshape(b.shape)
    for prim, rest, params, k in chain:
        r = prim.impl(m, *rest, **params)
        m = r[k] if prim.nout != 1 else r
    return base, np.asarray(m)


def rewrite_base(base: Tensor, value: Tensor, idx: Any) -> tuple[Any, bool, Any]:
    """``(grad_fn, requires_grad, tangents)`` of ``copy_slices(base, value)``: the history
    of ``base`` after an in-place op wrote ``value`` into the view at ``idx``.

    The output itself is not computed (the in-place op writes the base's memory), unless
    forward-mode tangents flow (then the primitive runs as usual).
    """
    shape = base.data.shape
    if base._fw is not None or value._fw is not None:
        nb = _copy_slices(base, value, idx=idx, shape=shape)
        return nb.grad_fn, nb.requires_grad, nb._fw
    en = _grad_state.enabled
    rb = base.requires_grad
    rv = value.requires_grad
    if not en or not (rb or rv):
        return None, False, None
    pb = (base.grad_fn or base) if rb else None
    pv = (value.grad_fn or value) if rv else None
    ib = base._idx if rb else 0
    iv = value._idx if rv else 0
    b = base.data
    v = value.data
    node = Node(
        _copy_slices,
        [pb, pv],
        [ib, iv] if (ib or iv) else None,
        [Meta(b.shape, b.dtype) if rb else None, Meta(v.shape, v.dtype) if rv else None],
        None,
        {"idx": idx, "shape": shape},
        None,
        None,
    )
    if en is not True:  # a collector is active (checkpoint, accounting)
        en.append(node, (base, value), base)
    return node, True, None
