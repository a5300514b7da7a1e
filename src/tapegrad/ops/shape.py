"""Shape and indexing primitives.  Linear ops: each rule is the transpose of the op.

Views (reshape, transpose, basic indexing, flip, diagonal, broadcast_to, split) are declared
``view=True``: their output shares the input's version counter, so an in-place change of a
view is seen by every tape entry that saved the base.  Indexing has a scatter primitive,
``index_add``, as its transpose; the two are each other's vjp, so every order of derivative
stays on the tape.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from ..autograd.grad_mode import _state as _grad_state
from ..autograd.node import Meta, Node
from ..errors import (
    AxisError,
    IndexingError,
    InvalidArgumentError,
    InvalidTypeError,
    ShapeMismatchError,
)
from ..tensor import Tensor
from .reduce import sum as _sum
from .registry import (
    REGISTRY,
    Primitive,
    _mark_view,
    defjvp,
    defjvp_joint,
    defvjp,
    defvjp_joint,
)

__all__ = [
    "reshape",
    "broadcast_to",
    "transpose",
    "matrix_transpose",
    "swapaxes",
    "moveaxis",
    "squeeze",
    "expand_dims",
    "flatten",
    "ravel",
    "concatenate",
    "stack",
    "vstack",
    "hstack",
    "split",
    "array_split",
    "hsplit",
    "vsplit",
    "tile",
    "repeat",
    "flip",
    "roll",
    "pad",
    "take",
    "take_along_axis",
    "getitem",
    "index_update",
    "unwrap_index",
    "diagonal",
    "trace",
    "tril",
    "triu",
]


def _shape_of(x: Any) -> tuple[int, ...]:
    return x.data.shape if isinstance(x, Tensor) else np.shape(x)


def _axis(axis: Any, ndim: int, what: str = "axis", op: str | None = None) -> int:
    """One axis as a non-negative int, with an error that says the valid range (and starts
    with ``op``, the calling op's name)."""
    if op:
        what = f"{op}: {what}"
    try:
        a = operator.index(axis)
    except TypeError:
        raise InvalidTypeError(f"{what} must be an integer, got {type(axis).__name__}") from None
    if not -ndim <= a < ndim:
        if ndim == 0:
            raise AxisError(f"{what} {a} is out of bounds: a 0-d tensor has no axes")
        raise AxisError(
            f"{what} {a} is out of bounds for a tensor with {ndim} dimension(s); "
            f"use a value in [{-ndim}, {ndim - 1}]"
        )
    return a % ndim


def _axes(axis: Any, ndim: int, what: str = "axis", op: str | None = None) -> tuple[int, ...]:
    """An int or a sequence of ints as a tuple of non-negative ints (order kept, no repeats)."""
    if isinstance(axis, (int, np.integer)):
        return (_axis(axis, ndim, what, op),)
    out = tuple(_axis(a, ndim, what, op) for a in axis)
    if len(set(out)) != len(out):
        pre = f"{op}: " if op else ""
        raise InvalidArgumentError(
            f"{pre}repeated {what} in {tuple(axis)}; each axis may appear once"
        )
    return out


def _ensure_arity(
    prim: Primitive, rule: Callable[..., Any], jvp_rule: Callable[..., Any], n: int
) -> None:
    """Variadic primitives: one vjp rule per input position, ``rule(i, g, ans, ...)``, and
    one jvp rule, ``jvp_rule(i, t, ans, ...)``.  They mark the positions as differentiable
    and pull back one input on its own; the engine and forward mode call the primitive's
    joint rules instead, which handle all ``n`` inputs in one O(n) pass (each per-input
    rule receives all ``n`` inputs, so calling them all would cost O(n**2))."""
    if len(prim.vjps) < n:
        m = max(n, 2 * len(prim.vjps), 16)
        defvjp(prim, *(partial(rule, i) for i in range(m)))
        defjvp(prim, *(partial(jvp_rule, i) for i in range(m)))
        if len(prim.savemask) < m:  # nothing is saved, at any position
            prim.savemask = prim.savemask + (False,) * (m - len(prim.savemask))


def _nb(t: Any, x: Any) -> int:
    """The number of leading batch axes of the tangent ``t`` of ``x``."""
    return len(t.shape) - len(_shape_of(x))


def _pad_axis(t: Any, axis: int, before: int, after: int) -> Any:
    width = [(0, 0)] * len(t.shape)
    width[axis] = (before, after)
    return _pad(t, pad_width=tuple(width), constant_values=0)


# =========================================================================== reshape family
def _reshape_impl(x: Any, *, shape: tuple[int, ...]) -> Any:
    return np.reshape(x, shape)


_reshape: Primitive = defvjp(
    Primitive(
        "reshape",
        _reshape_impl,
        view=True,
        doc="``x`` with a new shape (a view where NumPy can make one).",
    ),
    lambda g, ans, x, *, shape: _reshape(g, shape=x.shape),
)
defjvp(
    _reshape,
    lambda t, ans, x, *, shape: _reshape(t, shape=tuple(t.shape[: _nb(t, x)]) + ans.shape),
)


def reshape(x: Any, shape: Any) -> Any:
    """Give ``x`` a new shape with the same number of elements (-1 infers one axis).

    Returns a view when NumPy can make one (it then shares the version counter of ``x``).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.reshape(tg.arange(6.0), (2, -1))
    tensor([[0., 1., 2.],
            [3., 4., 5.]])
    """
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    try:
        return _reshape(x, shape=shape)
    except ValueError:
        raise ShapeMismatchError(
            f"reshape: can't reshape a tensor of shape {_shape_of(x)} "
            f"({int(np.prod(_shape_of(x)))} elements) into shape {shape}: the number of "
            "elements must stay the same (at most one -1 may stand for the inferred size)"
        ) from None


def _broadcast_to_vjp(g: Any, ans: Any, x: Any, *, shape: Any) -> Any:
    return g  # the engine sums back over the broadcast axes


_broadcast_to: Primitive = defvjp(
    Primitive(
        "broadcast_to",
        lambda x, *, shape: np.broadcast_to(x, shape),
        view=True,
        doc="A read-only broadcast view of ``x``.",
    ),
    _broadcast_to_vjp,
)


def _broadcast_to_jvp(t: Any, ans: Any, x: Any, *, shape: tuple[int, ...]) -> Any:
    nb = _nb(t, x)
    batch = tuple(t.shape[:nb])
    xshape = _shape_of(x)
    if nb and len(shape) > len(xshape):
        t = _reshape(t, shape=batch + (1,) * (len(shape) - len(xshape)) + tuple(xshape))
    return _broadcast_to(t, shape=batch + shape)


defjvp(_broadcast_to, _broadcast_to_jvp)


def broadcast_to(x: Any, shape: Any) -> Any:
    """Broadcast ``x`` to ``shape`` (a read-only view; gradients are summed back).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.broadcast_to(tg.tensor([1.0, 2.0]), (2, 2))
    tensor([[1., 2.],
            [1., 2.]])
    """
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    try:
        return _broadcast_to(x, shape=shape)
    except ValueError:
        raise ShapeMismatchError(
            f"broadcast_to: can't broadcast a tensor of shape {_shape_of(x)} to shape {shape}: "
            "each axis must be equal or 1 in the input (axes are matched from the right)"
        ) from None


def squeeze(x: Any, axis: Any = None) -> Any:
    """Remove axes of length one (all of them when ``axis`` is None).

    As NumPy (not PyTorch), naming an axis whose length is not one is an error.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.squeeze(tg.zeros((1, 3, 1)), axis=-1).shape
    (1, 3)
    """
    shape = _shape_of(x)
    if axis is None:
        return reshape(x, tuple(d for d in shape if d != 1))
    if not shape:  # as NumPy and PyTorch: axis 0 / -1 of a 0-d tensor may be named
        _axes(axis, 1, op="squeeze")
        return reshape(x, ())
    axes = _axes(axis, len(shape), op="squeeze")
    for a in axes:
        if shape[a] != 1:
            raise ShapeMismatchError(
                f"squeeze: can't squeeze axis {a} of a tensor with shape {shape}: its length is "
                f"{shape[a]}, not 1"
            )
    return reshape(x, tuple(d for i, d in enumerate(shape) if i not in axes))


def expand_dims(x: Any, axis: Any) -> Any:
    """Insert axes of length one at the positions ``axis`` (int or tuple) of the result.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.expand_dims(tg.zeros((2, 3)), (0, -1)).shape
    (1, 2, 3, 1)
    """
    shape = _shape_of(x)
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    nd = len(shape) + len(axis)
    axes = set(_axes(axis, nd, op="expand_dims"))
    it = iter(shape)
    return reshape(x, tuple(1 if i in axes else next(it) for i in range(nd)))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    """Merge the axes ``start_dim..end_dim`` (inclusive) into one, as ``torch.flatten``.

    A 0-d input becomes shape ``(1,)``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.flatten(tg.zeros((2, 3, 4)), 1).shape
    (2, 12)
    """
    shape = _shape_of(x)
    if not shape:
        _axis(start_dim, 1, "start_dim", op="flatten")
        _axis(end_dim, 1, "end_dim", op="flatten")
        return reshape(x, (1,))
    s = _axis(start_dim, len(shape), "start_dim", op="flatten")
    e = _axis(end_dim, len(shape), "end_dim", op="flatten")
    if s > e:
        raise InvalidArgumentError(
            f"flatten: start_dim ({start_dim}) must not come after end_dim "
            f"({end_dim}) for a tensor with {len(shape)} dimensions"
        )
    n = 1
    for d in shape[s : e + 1]:
        n *= d
    return reshape(x, shape[:s] + (n,) + shape[e + 1 :])


def ravel(x: Any) -> Any:
    """The elements of ``x`` as a 1-d tensor (C order; a view when possible)."""
    return reshape(x, (-1,))


# =========================================================================== permutations
def _transpose_impl(x: Any, *, axes: tuple[int, ...]) -> Any:
    return np.transpose(x, axes)


_transpose: Primitive = defvjp(
    Primitive("transpose", _transpose_impl, view=True, doc="Permute the axes (a view)."),
    lambda g, ans, x, *, axes: _transpose(g, axes=tuple(np.argsort(axes).tolist())),
)
defjvp(
    _transpose,
    lambda t, ans, x, *, axes: _transpose(
        t, axes=tuple(range(_nb(t, x))) + tuple(a + _nb(t, x) for a in axes)
    ),
)


def _matrix_transpose_impl(x: Any) -> Any:
    if np.ndim(x) < 2:
        raise InvalidArgumentError(
            f"matrix_transpose needs at least 2 axes, got shape {np.shape(x)}; use "
            "transpose/reshape for vectors"
        )
    return x.mT if isinstance(x, np.ndarray) else np.swapaxes(x, -1, -2)


matrix_transpose: Primitive = defvjp(
    Primitive(
        "matrix_transpose",
        _matrix_transpose_impl,
        view=True,
        doc="Swap the last two axes (``x.mT``; the transpose of each matrix in a batch). "
        "A view; its own transpose in backward.",
    ),
    lambda g, ans, x: matrix_transpose(g),
)
defjvp(matrix_transpose, lambda t, ans, x: matrix_transpose(t))


def transpose(x: Any, axes: Any = None) -> Any:
    """Permute the axes: ``axes[i]`` is the input axis that becomes axis ``i``.

    ``None`` reverses the axes (``x.T``).  Returns a view.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.transpose(tg.zeros((2, 3, 4)), (2, 0, 1)).shape
    (4, 2, 3)
    """
    nd = len(_shape_of(x))
    if axes is None:
        perm = tuple(range(nd - 1, -1, -1))
    else:
        if isinstance(axes, (int, np.integer)):
            axes = (axes,)
        perm = _axes(axes, nd, op="transpose")
        if len(perm) != nd:
            raise InvalidArgumentError(
                f"transpose: axes {tuple(axes)} don't match a tensor with {nd} dimensions: "
                "give a permutation of all the axes"
            )
    return _transpose(x, axes=perm)


def swapaxes(x: Any, a: int, b: int) -> Any:
    """Exchange the axes ``a`` and ``b`` (a view)."""
    nd = len(_shape_of(x))
    a, b = _axis(a, nd, op="swapaxes"), _axis(b, nd, op="swapaxes")
    perm = list(range(nd))
    perm[a], perm[b] = b, a
    return _transpose(x, axes=tuple(perm))


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    """Move the axes ``source`` to the positions ``destination``; the others keep their order.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.moveaxis(tg.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    nd = len(_shape_of(x))
    src = _axes(source, nd, "source", op="moveaxis")
    dst = _axes(destination, nd, "destination", op="moveaxis")
    if len(src) != len(dst):
        raise InvalidArgumentError(
            f"moveaxis: source {source} and destination {destination} must name the same "
            "number of axes"
        )
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _transpose(x, axes=tuple(order))


# =========================================================================== join / split
def _concat_impl(*xs: Any, axis: int, offsets: tuple[int, ...]) -> Any:
    return np.concatenate(xs, axis=axis)


def _concat_vjp(i: int, g: Any, ans: Any, *xs: Any, axis: int, offsets: tuple[int, ...]) -> Any:
    key = (slice(None),) * axis + (slice(offsets[i], offsets[i + 1]), Ellipsis)
    return _getitem(g, key=key)


def _concat_jvp(i: int, t: Any, ans: Any, *xs: Any, axis: int, offsets: tuple[int, ...]) -> Any:
    return _pad_axis(t, _nb(t, xs[i]) + axis, offsets[i], offsets[-1] - offsets[i + 1])


def _concat_joint(g: Any, create_graph: bool, node: Any) -> Any:
    """Every input's cotangent in one pass: its slice of ``g`` (a view per input; on the
    tape, one ``split`` whose own backward is one ``concatenate``)."""
    axis = node.params["axis"]
    offsets = node.params["offsets"]
    if isinstance(g, Tensor):
        return split(g, list(offsets[1:-1]), axis)
    pre = (slice(None),) * axis
    return [g[pre + (slice(offsets[k], offsets[k + 1]),)] for k in range(len(offsets) - 1)]


def _tangents_full(tangents: Any, xs: Any) -> tuple[list[Any], int]:
    """The inputs' tangents with zeros for the absent ones, all with the same leading batch
    axes (returned: how many)."""
    batch: tuple[int, ...] = ()
    for t, x in zip(tangents, xs):
        if t is not None:
            batch = np.broadcast_shapes(batch, tuple(t.shape[: _nb(t, x)]))
    out = []
    for t, x in zip(tangents, xs):
        full = batch + _shape_of(x)
        if t is None:
            dt = x.dtype if isinstance(x, Tensor) else np.result_type(x)
            t = np.zeros(full, dt if dt.kind in "fc" else np.float64)
        elif tuple(t.shape) != full:
            t = broadcast_to(t, full)
        out.append(t)
    return out, len(batch)


def _concat_jvp_joint(tangents: Any, ans: Any, *xs: Any, axis: int, offsets: Any) -> Any:
    ts, nb = _tangents_full(tangents, xs)
    r = concatenate(ts, axis=nb + axis)
    return r if r.dtype == ans.dtype else r.astype(ans.dtype)


_concat = Primitive(
    "concatenate", _concat_impl, doc="Join tensors along an existing axis (variadic)."
)
defvjp_joint(_concat, _concat_joint)
defjvp_joint(_concat, _concat_jvp_joint)


def concatenate(seq: Sequence[Any], axis: int | None = 0) -> Any:
    """Join a sequence of tensors along an existing axis (``None``: flatten them first).

    Every shape must match except along ``axis``; dtypes are promoted as NumPy does.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.concatenate([tg.zeros((2, 1)), tg.ones((2, 2))], axis=1)
    tensor([[0., 1., 1.],
            [0., 1., 1.]])
    """
    xs = tuple(seq)
    if not xs:
        raise InvalidArgumentError("concatenate needs at least one tensor")
    if axis is None:
        xs = tuple(ravel(x) for x in xs)
        axis = 0
    shapes = [_shape_of(x) for x in xs]
    nd = len(shapes[0])
    if nd == 0:
        raise ShapeMismatchError(
            "concatenate: 0-d tensors can't be concatenated (they have no axis); use "
            "stack, or reshape them to 1-d first"
        )
    ax = _axis(axis, nd, op="concatenate")
    ref = shapes[0][:ax] + shapes[0][ax + 1 :]
    offsets = [0]
    for k, s in enumerate(shapes):
        if len(s) != nd or s[:ax] + s[ax + 1 :] != ref:
            raise ShapeMismatchError(
                f"concatenate along axis {ax}: tensor {k} has shape {s} but tensor 0 has shape "
                f"{shapes[0]}; all shapes must match except along the joined axis"
            )
        offsets.append(offsets[-1] + s[ax])
    _ensure_arity(_concat, _concat_vjp, _concat_jvp, len(xs))
    return _concat(*xs, axis=ax, offsets=tuple(offsets))


def _stack_impl(*xs: Any, axis: int) -> Any:
    return np.stack(xs, axis=axis)


def _stack_vjp(i: int, g: Any, ans: Any, *xs: Any, axis: int) -> Any:
    return _getitem(g, key=(slice(None),) * axis + (i, Ellipsis))


def _stack_jvp(i: int, t: Any, ans: Any, *xs: Any, axis: int) -> Any:
    ax = _nb(t, xs[i]) + axis
    s = tuple(t.shape)
    t = _reshape(t, shape=s[:ax] + (1,) + s[ax:])
    return _pad_axis(t, ax, i, len(xs) - 1 - i)


def _stack_joint(g: Any, create_graph: bool, node: Any) -> Any:
    """Every input's cotangent in one pass: its slice of ``g`` along the new axis (views;
    on the tape, one ``split`` whose own backward is one ``concatenate``)."""
    axis = node.params["axis"]
    if isinstance(g, Tensor):
        s = tuple(g.shape)
        shape = s[:axis] + s[axis + 1 :]
        return [_reshape(p, shape=shape) for p in split(g, s[axis], axis)]
    return list(np.moveaxis(g, axis, 0))


def _stack_jvp_joint(tangents: Any, ans: Any, *xs: Any, axis: int) -> Any:
    ts, nb = _tangents_full(tangents, xs)
    r = stack(ts, axis=nb + axis)
    return r if r.dtype == ans.dtype else r.astype(ans.dtype)


_stack = Primitive("stack", _stack_impl, doc="Join same-shape tensors along a new axis.")
defvjp_joint(_stack, _stack_joint)
defjvp_joint(_stack, _stack_jvp_joint)


def stack(seq: Sequence[Any], axis: int = 0) -> Any:
    """Join a sequence of same-shape tensors along a new axis ``axis``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.stack([tg.zeros(3), tg.ones(3)], axis=-1).shape
    (3, 2)
    """
    xs = tuple(seq)
    if not xs:
        raise InvalidArgumentError("stack needs at least one tensor")
    shape0 = _shape_of(xs[0])
    for k, x in enumerate(xs):
        if _shape_of(x) != shape0:
            raise ShapeMismatchError(
                f"stack: tensor {k} has shape {_shape_of(x)} but tensor 0 has shape {shape0}; "
                "all tensors must have the same shape"
            )
    ax = _axis(axis, len(shape0) + 1, op="stack")
    _ensure_arity(_stack, _stack_vjp, _stack_jvp, len(xs))
    return _stack(*xs, axis=ax)


def _atleast(x: Any, nd: int) -> Any:
    shape = _shape_of(x)
    if len(shape) >= nd:
        return x
    if nd == 2 and len(shape) == 1:
        return reshape(x, (1,) + shape)
    return reshape(x, (1,) * (nd - len(shape)) + shape)


def vstack(seq: Sequence[Any]) -> Any:
    """Stack rows: 1-d tensors of length n become rows (1, n), then join along axis 0."""
    return concatenate([_atleast(x, 2) for x in seq], axis=0)


def hstack(seq: Sequence[Any]) -> Any:
    """Join along axis 1 (axis 0 for 1-d tensors), as ``numpy.hstack``."""
    xs = [_atleast(x, 1) for x in seq]
    if not xs:
        raise InvalidArgumentError("hstack needs at least one tensor")
    return concatenate(xs, axis=0 if len(_shape_of(xs[0])) == 1 else 1)


def _split_impl(x: Any, *, axis: int, bounds: tuple[tuple[int, int], ...]) -> Any:
    pre = (slice(None),) * axis
    return tuple(x[pre + (slice(a, b),)] for a, b in bounds)


def _split_impl1(x: Any, *, axis: int, bounds: tuple[tuple[int, int], ...]) -> Any:
    a, b = bounds[0]
    return x[(slice(None),) * axis + (slice(a, b),)]


def _split_vjp(g: Any, ans: Any, x: Any, *, axis: int, bounds: tuple[tuple[int, int], ...]) -> Any:
    if len(bounds) == 1:
        g = (g,)
    n = x.shape[axis]
    tiles = (
        bounds[0][0] == 0
        and bounds[-1][1] == n
        and all(bounds[k][1] == bounds[k + 1][0] for k in range(len(bounds) - 1))
    )
    if tiles:
        return g[0] if len(g) == 1 else concatenate(g, axis)
    # Overlapping or missing pieces (unsorted split points): scatter each piece separately.
    width = [(0, 0)] * x.ndim
    out = None
    for (a, b), gk in zip(bounds, g):
        width[axis] = (a, n - b)
        p = _pad(gk, pad_width=tuple(width), constant_values=0)
        out = p if out is None else out + p
    return out


def _split_jvp(t: Any, ans: Any, x: Any, *, axis: int, bounds: tuple[tuple[int, int], ...]) -> Any:
    pre = (slice(None),) * (_nb(t, x) + axis)
    out = tuple(_getitem(t, key=pre + (slice(a, b), Ellipsis)) for a, b in bounds)
    return out if len(bounds) != 1 else out[0]


_SPLIT: dict[int, Primitive] = {}


def _split_prim(n: int) -> Primitive:
    # nout is fixed per primitive, so there is one "split" primitive per number of pieces
    # (made on first use); the one with two pieces is the registered representative.
    p = _SPLIT.get(n)
    if p is None:
        p = _SPLIT[n] = defvjp(
            Primitive(
                "split",
                _split_impl if n != 1 else _split_impl1,
                nout=n,
                view=True,
                register=n == 2 and "split" not in REGISTRY,
                doc="Split along an axis into views (one output per piece).",
            ),
            _split_vjp,
        )
        defjvp(p, _split_jvp)
    return p


_split_prim(2)


def _split_bounds(n: int, indices_or_sections: Any, uneven: bool) -> list[tuple[int, int]]:
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise InvalidArgumentError(
                f"split: the number of sections must be positive, got {sections}"
            )
        if not uneven and n % sections:
            raise ShapeMismatchError(
                f"split: an axis of length {n} can't be divided into {sections} equal "
                "sections; pass split points instead, or use array_split for unequal pieces"
            )
        size, extra = divmod(n, sections)
        points = [0]
        for k in range(sections):
            points.append(points[-1] + size + (1 if k < extra else 0))
        return [(points[k], points[k + 1]) for k in range(sections)]
    idx = np.asarray(
        indices_or_sections.data if isinstance(indices_or_sections, Tensor) else indices_or_sections
    )
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise InvalidTypeError(
            "split: indices_or_sections must be an int (number of sections) or a 1-d "
            f"sequence of integer split points, got {indices_or_sections!r}"
        )
    cuts: list[Any] = [None, *idx.tolist(), None]
    out = []
    for k in range(len(cuts) - 1):
        a, b, _ = slice(cuts[k], cuts[k + 1]).indices(n)
        out.append((a, max(a, b)))
    return out


def _split(x: Any, indices_or_sections: Any, axis: int, uneven: bool) -> tuple[Any, ...]:
    shape = _shape_of(x)
    ax = _axis(axis, len(shape), op="array_split" if uneven else "split")
    bounds = tuple(_split_bounds(shape[ax], indices_or_sections, uneven))
    prim = _split_prim(len(bounds))
    out = prim(x, axis=ax, bounds=bounds)
    if len(bounds) == 1:
        return (out,)
    if isinstance(x, Tensor):  # the pieces are views of x (the registry does this for one output)
        params = {"axis": ax, "bounds": bounds}
        for k, o in enumerate(out):
            _mark_view(o, x, prim, (), params, k)
    return out


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> tuple[Any, ...]:
    """Split ``x`` along ``axis`` into views, as ``numpy.split``.

    Parameters
    ----------
    indices_or_sections : int or sequence of int
        A number of equal sections (an error if the axis doesn't divide evenly), or the
        split points: ``[2, 5]`` gives ``x[:2], x[2:5], x[5:]`` along the axis.
    axis : int

    Returns
    -------
    tuple of Tensor
        Views of ``x``; in backward the pieces' cotangents are joined in one array.

    Examples
    --------
    >>> import tapegrad as tg
    >>> [p.shape for p in tg.split(tg.zeros(5), [2, 3])]
    [(2,), (1,), (2,)]
    """
    return _split(x, indices_or_sections, axis, uneven=False)


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> tuple[Any, ...]:
    """As :func:`split`, but ``n`` sections need not divide the axis evenly: the first
    ``len % n`` pieces get one more element (``numpy.array_split``, ``torch.tensor_split``)."""
    return _split(x, indices_or_sections, axis, uneven=True)


def hsplit(x: Any, indices_or_sections: Any) -> tuple[Any, ...]:
    """Split along axis 1 (axis 0 for 1-d tensors), as ``numpy.hsplit``."""
    nd = len(_shape_of(x))
    if nd == 0:
        raise InvalidArgumentError("hsplit needs a tensor with at least 1 dimension")
    return split(x, indices_or_sections, 1 if nd > 1 else 0)


def vsplit(x: Any, indices_or_sections: Any) -> tuple[Any, ...]:
    """Split along axis 0 of a tensor with at least 2 dimensions, as ``numpy.vsplit``."""
    if len(_shape_of(x)) < 2:
        raise InvalidArgumentError("vsplit needs a tensor with at least 2 dimensions")
    return split(x, indices_or_sections, 0)


# =========================================================================== repetition
def _tile_vjp(g: Any, ans: Any, x: Any, *, reps: tuple[int, ...]) -> Any:
    xshape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    inter = tuple(d for pair in zip(reps, xshape) for d in pair)
    g = _sum(_reshape(g, shape=inter), tuple(range(0, 2 * len(reps), 2)))
    return _reshape(g, shape=x.shape)


_tile: Primitive = defvjp(
    Primitive(
        "tile",
        lambda x, *, reps: np.tile(x, reps),
        doc="Repeat the whole tensor ``reps[i]`` times along axis i.",
    ),
    _tile_vjp,
)


def _tile_jvp(t: Any, ans: Any, x: Any, *, reps: tuple[int, ...]) -> Any:
    nb = _nb(t, x)
    xshape = tuple(_shape_of(x))
    if nb and len(reps) > len(xshape):
        t = _reshape(t, shape=tuple(t.shape[:nb]) + (1,) * (len(reps) - len(xshape)) + xshape)
    return _tile(t, reps=(1,) * nb + reps)


defjvp(_tile, _tile_jvp)


def tile(x: Any, reps: Any) -> Any:
    """Repeat ``x`` as a block, ``reps[i]`` times along axis ``i`` (``numpy.tile``).

    ``reps`` shorter than ``x.ndim`` is padded with leading ones; longer, ``x`` gets leading
    axes of length one.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.tile(tg.tensor([1.0, 2.0]), 2)
    tensor([1., 2., 1., 2.])
    """
    if isinstance(reps, (int, np.integer)):
        reps = (reps,)
    reps = tuple(operator.index(r) for r in reps)
    if any(r < 0 for r in reps):
        raise InvalidArgumentError(f"tile: reps must be non-negative, got {reps}")
    nd = len(_shape_of(x))
    reps = (1,) * (nd - len(reps)) + reps
    return _tile(x, reps=reps)


def _repeat_impl(x: Any, *, repeats: Any, axis: int) -> Any:
    return np.repeat(x, repeats, axis)


def _repeat_vjp(g: Any, ans: Any, x: Any, *, repeats: Any, axis: int) -> Any:
    if isinstance(repeats, int):
        shape = tuple(x.shape)
        g = _reshape(g, shape=shape[:axis] + (shape[axis], repeats) + shape[axis + 1 :])
        return _sum(g, (axis + 1,))
    return _segment_sum(g, repeats=repeats, axis=axis)


_repeat: Primitive = defvjp(
    Primitive("repeat", _repeat_impl, doc="Repeat each element along an axis (numpy.repeat)."),
    _repeat_vjp,
)
defjvp(
    _repeat,
    lambda t, ans, x, *, repeats, axis: _repeat(t, repeats=repeats, axis=axis + _nb(t, x)),
)


def _segment_sum_impl(g: Any, *, repeats: Any, axis: int) -> Any:
    # Sums consecutive runs of lengths ``repeats`` along ``axis`` (the transpose of repeat).
    shape = g.shape[:axis] + (len(repeats),) + g.shape[axis + 1 :]
    nz = repeats > 0
    if nz.all() and g.shape[axis]:
        return np.add.reduceat(g, np.cumsum(repeats) - repeats, axis=axis)
    out = np.zeros(shape, g.dtype)
    if g.shape[axis]:
        starts = (np.cumsum(repeats) - repeats)[nz]
        out[(slice(None),) * axis + (nz,)] = np.add.reduceat(g, starts, axis=axis)
    return out


_segment_sum: Primitive = defvjp(
    Primitive(
        "segment_sum",
        _segment_sum_impl,
        doc="Sum runs of consecutive elements along an axis (the transpose of repeat).",
    ),
    lambda g, ans, x, *, repeats, axis: _repeat(g, repeats=repeats, axis=axis),
)
defjvp(
    _segment_sum,
    lambda t, ans, x, *, repeats, axis: _segment_sum(t, repeats=repeats, axis=axis + _nb(t, x)),
)


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Any:
    """Repeat each element ``repeats`` times along ``axis`` (``numpy.repeat``,
    ``torch.repeat_interleave``).

    Parameters
    ----------
    repeats : int or sequence of int
        One count for all elements, or one per element along ``axis``.
    axis : int or None
        None repeats the elements of the flattened tensor.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.repeat(tg.tensor([1.0, 2.0]), [1, 2])
    tensor([1., 2., 2.])
    """
    if axis is None:
        x = ravel(x)
        axis = 0
    shape = _shape_of(x)
    ax = _axis(axis, len(shape), op="repeat")
    if isinstance(repeats, Tensor):
        repeats = repeats.data
    r = np.asarray(repeats)
    if r.dtype.kind not in "iu" and not (r.size == 0 and r.dtype.kind == "f"):
        raise InvalidTypeError(f"repeat: repeats must be integers, got dtype {r.dtype}")
    if r.ndim > 1:
        raise InvalidArgumentError(
            f"repeat: repeats must be an int or a 1-d sequence, got shape {r.shape}"
        )
    if (r < 0).any():
        raise InvalidArgumentError("repeat: repeats must be non-negative")
    if r.ndim == 0 or r.size == 1:
        rep: Any = int(r.reshape(-1)[0]) if r.size else 0
    else:
        if r.size != shape[ax]:
            raise ShapeMismatchError(
                f"repeat: got {r.size} repeat counts for an axis of length {shape[ax]}; give "
                "one count, or one per element"
            )
        rep = r.astype(np.intp)
    return _repeat(x, repeats=rep, axis=ax)


# =========================================================================== reorderings
_flip: Primitive = defvjp(
    Primitive(
        "flip",
        lambda x, *, axis: np.flip(x, axis),
        view=True,
        doc="Reverse the order of elements along axes (a view).",
    ),
    lambda g, ans, x, *, axis: _flip(g, axis=axis),
)
defjvp(_flip, lambda t, ans, x, *, axis: _flip(t, axis=tuple(a + _nb(t, x) for a in axis)))


def flip(x: Any, axis: Any = None) -> Any:
    """Reverse the order of the elements along ``axis`` (int, tuple, or None: every axis).

    Returns a view.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.flip(tg.tensor([1.0, 2.0, 3.0]))
    tensor([3., 2., 1.])
    """
    nd = len(_shape_of(x))
    return _flip(x, axis=tuple(range(nd)) if axis is None else _axes(axis, nd, op="flip"))


_roll: Primitive = defvjp(
    Primitive(
        "roll",
        lambda x, *, shift, axis: np.roll(x, shift, axis),
        doc="Rotate elements cyclically along axes.",
    ),
    lambda g, ans, x, *, shift, axis: _roll(
        g, shift=-shift if axis is None else tuple(-s for s in shift), axis=axis
    ),
)


def _roll_jvp(t: Any, ans: Any, x: Any, *, shift: Any, axis: Any) -> Any:
    nb = _nb(t, x)
    if axis is not None:
        return _roll(t, shift=shift, axis=tuple(a + nb for a in axis))
    if not nb:
        return _roll(t, shift=shift, axis=None)
    batch = tuple(t.shape[:nb])
    xshape = tuple(_shape_of(x))
    flat = _reshape(t, shape=batch + (int(np.prod(xshape, dtype=np.int64)),))
    return _reshape(_roll(flat, shift=(shift,), axis=(nb,)), shape=batch + xshape)


defjvp(_roll, _roll_jvp)


def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    """Shift elements cyclically by ``shift`` along ``axis`` (``numpy.roll``).

    ``axis=None`` rolls the flattened tensor and restores the shape; ``shift`` and ``axis``
    may be tuples of the same length (or one of them an int, broadcast).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.roll(tg.tensor([1.0, 2.0, 3.0]), 1)
    tensor([3., 1., 2.])
    """
    nd = len(_shape_of(x))
    if axis is None:
        try:
            return _roll(x, shift=operator.index(shift), axis=None)
        except TypeError:
            raise InvalidTypeError(
                "roll with axis=None takes one integer shift; give axis to roll along several axes"
            ) from None
    shifts = (shift,) if isinstance(shift, (int, np.integer)) else tuple(shift)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise InvalidArgumentError(f"roll: shift {shift} and axis {axis} must have the same length")
    axes = tuple(_axis(a, nd, op="roll") for a in axes)
    return _roll(x, shift=tuple(operator.index(s) for s in shifts), axis=axes)


# =========================================================================== pad
def _pad_impl(x: Any, *, pad_width: tuple[tuple[int, int], ...], constant_values: Any) -> Any:
    if not pad_width:  # 0-d: nothing to pad
        return np.array(x, copy=True)
    return np.pad(x, pad_width, mode="constant", constant_values=constant_values)


def _pad_vjp(g: Any, ans: Any, x: Any, *, pad_width: Any, constant_values: Any) -> Any:
    key = tuple(slice(b, b + d) for (b, _), d in zip(pad_width, x.shape)) + (Ellipsis,)
    return _getitem(g, key=key)


_pad: Primitive = defvjp(
    Primitive("pad", _pad_impl, doc="Pad with a constant (``numpy.pad``)."), _pad_vjp
)
defjvp(
    _pad,
    lambda t, ans, x, *, pad_width, constant_values: _pad(
        t, pad_width=((0, 0),) * _nb(t, x) + pad_width, constant_values=0
    ),
)

_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Any:
    """Pad ``x`` as ``numpy.pad``.

    Parameters
    ----------
    pad_width : int, (before, after) or one (before, after) pair per axis
        How many elements to add at each end of each axis (NumPy's order: first axis first;
        ``torch.nn.functional.pad`` lists the *last* axis first).
    mode : {"constant", "edge", "reflect", "symmetric", "wrap"}
        ``edge``/``reflect``/``symmetric``/``wrap`` copy existing elements, so their
        gradients are summed back onto the elements they copy.
    constant_values : scalar or per-axis pairs
        The fill for ``mode="constant"`` (a constant: no gradient flows to it).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.pad(tg.tensor([1.0, 2.0]), (1, 2))
    tensor([0., 1., 2., 0., 0.])
    """
    shape = _shape_of(x)
    nd = len(shape)
    try:
        pw = np.broadcast_to(np.asarray(pad_width), (nd, 2))
    except ValueError:
        raise InvalidArgumentError(
            f"pad_width {pad_width!r} doesn't fit a tensor with {nd} dimensions: "
            "give an int, a (before, after) pair, or one pair per axis"
        ) from None
    if pw.size and pw.dtype.kind not in "iu":
        raise InvalidTypeError(f"pad_width must hold integers, got {pad_width!r}")
    if (pw < 0).any():
        raise InvalidArgumentError(f"pad_width must be non-negative, got {pad_width!r}")
    width = tuple((int(b), int(a)) for b, a in pw)
    if mode == "constant":
        cv = constant_values.data if isinstance(constant_values, Tensor) else constant_values
        return _pad(x, pad_width=width, constant_values=cv)
    if mode not in _PAD_MODES:
        raise InvalidArgumentError(f"pad mode {mode!r} is not supported; use one of {_PAD_MODES}")
    # Copying modes are a gather along each padded axis: the gradient scatters back.
    copy_mode: Any = mode
    for ax, (b, a) in enumerate(width):
        if b or a:
            if shape[ax] == 0:
                raise InvalidArgumentError(f"pad: can't pad an empty axis ({ax}) in mode {mode!r}")
            idx = np.pad(np.arange(shape[ax]), (b, a), mode=copy_mode)
            x = _getitem_adv(x, key=(slice(None),) * ax + (idx,), mode="accumulate")
    return x


# =========================================================================== indexing
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


_getitem: Primitive = defvjp(
    Primitive(
        "getitem",
        _getitem_impl,
        view=True,
        doc="Basic indexing (ints, slices, None, Ellipsis): a view.",
        explain=_index_explain,
    ),
    lambda g, ans, x, *, key: _index_add(g, key=key, shape=x.shape, mode="basic"),
)
_getitem_adv: Primitive = defvjp(
    Primitive(
        "index",
        _getitem_adv_impl,
        doc="Advanced indexing (integer or boolean arrays): a copy.",
        explain=_index_explain,
    ),
    lambda g, ans, x, *, key, mode: _index_add(g, key=key, shape=x.shape, mode=mode),
)


def _index(x: Any, key: Any, mode: str) -> Any:
    if mode == "basic":
        return _getitem(x, key=key)
    return _getitem_adv(x, key=key, mode=mode)


_index_add: Primitive = defvjp(
    Primitive(
        "index_add",
        _index_add_impl,
        doc="Scatter ``g`` into zeros of ``shape`` at ``key``, adding where an index "
        "repeats (the transpose of indexing).",
    ),
    lambda g, ans, _, *, key, shape, mode: _index(g, key, mode),
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


def _index_jvp(t: Any, ans: Any, x: Any, *, key: Any, mode: str) -> Any:
    nb = _nb(t, x)
    pkey, m = _batch_key(key, nb, mode)
    r = _index(t, pkey, mode)
    if m:
        r = _transpose(
            r, axes=tuple(range(m, m + nb)) + tuple(range(m)) + tuple(range(m + nb, r.ndim))
        )
    return r


def _index_add_jvp(t: Any, ans: Any, g: Any, *, key: Any, shape: Any, mode: str) -> Any:
    gshape = tuple(_shape_of(g))
    nb = len(t.shape) - len(gshape)
    batch = tuple(t.shape[:nb])
    pkey, m = _batch_key(key, nb, mode)
    t = _to_region(t, nb, gshape, _region_ndim(key, len(shape)), m)
    return _index_add(t, key=pkey, shape=batch + shape, mode=mode)


defjvp(_getitem, lambda t, ans, x, *, key: _index_jvp(t, ans, x, key=key, mode="basic"))
defjvp(_getitem_adv, _index_jvp)
defjvp(_index_add, _index_add_jvp)


def _key_item(k: Any) -> tuple[Any, int]:
    """One key entry, normalised; kind 0: basic, 1: boolean array, 2: integer array."""
    if k is None or k is Ellipsis or isinstance(k, slice):
        return k, 0
    if isinstance(k, Tensor):
        k = k.data
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


_index_update: Primitive = defvjp(
    Primitive(
        "index_update", _index_update_impl, doc="``x`` with ``x[key] = value`` (out of place)."
    ),
    lambda g, ans, x, value, *, key, mode: _index_update(g, 0, key=key, mode=mode),
    _index_update_dvalue,
)


def _index_update_dvalue_jvp(t: Any, ans: Any, x: Any, value: Any, *, key: Any, mode: str) -> Any:
    vshape = tuple(_shape_of(value))
    nb = len(t.shape) - len(vshape)
    pkey, m = _batch_key(key, nb, mode)
    zeros = np.zeros(tuple(t.shape[:nb]) + ans.shape, ans.dtype)
    t = _to_region(t, nb, vshape, _region_ndim(key, ans.ndim), m)
    return _index_update(zeros, t, key=pkey, mode=mode)


defjvp(
    _index_update,
    lambda t, ans, x, value, *, key, mode: _index_update(
        t, 0, key=_batch_key(key, _nb(t, x), mode)[0], mode=mode
    ),
    _index_update_dvalue_jvp,
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


# =========================================================================== diagonals
def _diagonal_impl(x: Any, *, offset: int, axis1: int, axis2: int) -> Any:
    d = np.diagonal(x, offset, axis1, axis2)
    if x.flags.writeable:  # NumPy's diagonal view is read-only; PyTorch's is writable
        d.flags.writeable = True
    return d


def _diagonal_vjp(g: Any, ans: Any, x: Any, *, offset: int, axis1: int, axis2: int) -> Any:
    shape = tuple(x.shape)
    length = g.shape[-1]
    i = np.arange(length)
    rows, cols = (i, i + offset) if offset >= 0 else (i - offset, i)
    key: list[Any] = [slice(None)] * len(shape)
    key[axis1], key[axis2] = rows, cols
    # NumPy puts the broadcast index axis in place when the two arrays are adjacent in the
    # key, first otherwise; np.diagonal puts it last.
    pos = min(axis1, axis2) if abs(axis1 - axis2) == 1 else 0
    if pos != g.ndim - 1:
        perm = list(range(g.ndim - 1))
        perm.insert(pos, g.ndim - 1)
        g = _transpose(g, axes=tuple(perm))
    return _index_add(g, key=tuple(key), shape=shape, mode="unique")


_diagonal: Primitive = defvjp(
    Primitive(
        "diagonal",
        _diagonal_impl,
        view=True,
        doc="The diagonal of the (axis1, axis2) planes, as a last axis.",
    ),
    _diagonal_vjp,
)
defjvp(
    _diagonal,
    lambda t, ans, x, *, offset, axis1, axis2: _diagonal(
        t, offset=offset, axis1=axis1 + _nb(t, x), axis2=axis2 + _nb(t, x)
    ),
)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal of each (axis1, axis2) plane, as a new last axis (``numpy.diagonal``).

    ``offset > 0`` picks a diagonal above the main one, ``< 0`` below.  Returns a read-only
    view.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.diagonal(tg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor([1., 4.])
    """
    nd = len(_shape_of(x))
    if nd < 2:
        raise ShapeMismatchError(f"diagonal needs a tensor with at least 2 dimensions, got {nd}")
    a1, a2 = _axis(axis1, nd, "axis1", op="diagonal"), _axis(axis2, nd, "axis2", op="diagonal")
    if a1 == a2:
        raise InvalidArgumentError(
            f"diagonal: axis1 and axis2 must be different axes, got {axis1} and {axis2}"
        )
    return _diagonal(x, offset=operator.index(offset), axis1=a1, axis2=a2)


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """Sum of the diagonal of each (axis1, axis2) plane (``numpy.trace``).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.trace(tg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(5.)
    """
    return _sum(diagonal(x, offset, axis1, axis2), -1)


def _tri_impl(fn: Any) -> Callable[..., Any]:
    return lambda x, *, k: fn(x, k)


_tril: Primitive = defvjp(
    Primitive(
        "tril", _tri_impl(np.tril), doc="Zero the elements above the k-th diagonal (last two axes)."
    ),
    lambda g, ans, x, *, k: _tril(g, k=k),
)
_triu: Primitive = defvjp(
    Primitive(
        "triu", _tri_impl(np.triu), doc="Zero the elements below the k-th diagonal (last two axes)."
    ),
    lambda g, ans, x, *, k: _triu(g, k=k),
)
defjvp(_tril, lambda t, ans, x, *, k: _tril(t, k=k))
defjvp(_triu, lambda t, ans, x, *, k: _triu(t, k=k))


def _check_2d(x: Any, name: str) -> None:
    nd = len(_shape_of(x))
    if nd < 2:
        raise ShapeMismatchError(
            f"{name} needs a tensor with at least 2 dimensions (it works on the last two), got {nd}"
        )


def tril(x: Any, k: int = 0) -> Any:
    """Lower triangle of the last two axes: elements above the ``k``-th diagonal set to 0.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.tril(tg.ones((2, 2)))
    tensor([[1., 0.],
            [1., 1.]])
    """
    _check_2d(x, "tril")
    return _tril(x, k=operator.index(k))


def triu(x: Any, k: int = 0) -> Any:
    """Upper triangle of the last two axes: elements below the ``k``-th diagonal set to 0."""
    _check_2d(x, "triu")
    return _triu(x, k=operator.index(k))


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


_copy_slices: Primitive = defvjp(
    Primitive(
        "copy_slices",
        _copy_slices_impl,
        doc="``base`` with the elements at flat positions ``idx`` replaced by ``value`` "
        "(the history of a base after an in-place op on one of its views).",
    ),
    lambda g, ans, base, value, *, idx, shape: _copy_slices(g, 0, idx=idx, shape=shape),
    lambda g, ans, base, value, *, idx, shape: _flat_take(g, idx=idx, shape=shape),
)
_flat_take: Primitive = defvjp(
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


def _copy_slices_dvalue_jvp(
    t: Any, ans: Any, base: Any, value: Any, *, idx: Any, shape: Any
) -> Any:
    nb = len(t.shape) - len(_shape_of(value))
    zeros = np.zeros(tuple(t.shape[:nb]) + tuple(shape), ans.dtype)
    return _copy_slices(zeros, t, idx=idx, shape=shape)


defjvp(
    _copy_slices,
    lambda t, ans, base, value, *, idx, shape: _copy_slices(t, 0, idx=idx, shape=shape),
    _copy_slices_dvalue_jvp,
)
defjvp(_flat_take, lambda t, ans, x, *, idx, shape: _flat_take(t, idx=idx, shape=shape))


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
