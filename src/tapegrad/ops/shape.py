"""Shape primitives.  Linear ops: each rule is the transpose of the op.

Views (reshape, transpose, flip, diagonal, broadcast_to, split) are declared ``view=True``:
their output shares the input's version counter, so an in-place change of a view is seen by
every tape entry that saved the base.  Indexing lives in :mod:`.indexing`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from ..errors import (
    AxisError,
    InvalidArgumentError,
    InvalidTypeError,
    ShapeMismatchError,
)
from ..tensor import Tensor
from .reduce import sum as _sum
from .registry import REGISTRY, Primitive, _mark_view, deflinear, defvjp

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


def _ensure_arity(prim: Primitive, rule: Callable[..., Any], n: int) -> None:
    """Variadic primitives: one vjp rule per input position, ``rule(i, g, ans, ...)``.  They
    mark the positions as differentiable and pull back one input on its own; the engine
    and forward mode call the primitive's joint rules instead (declared with
    ``deflinear(..., variadic=True)``), which handle all ``n`` inputs in one O(n) pass
    (each per-input rule receives all ``n`` inputs, so calling them all would cost
    O(n**2))."""
    if len(prim.vjps) < n:
        m = max(n, 2 * len(prim.vjps), 16)
        defvjp(prim, *(partial(rule, i) for i in range(m)))
        if len(prim.savemask) < m:  # nothing is saved, at any position
            prim.savemask = prim.savemask + (False,) * (m - len(prim.savemask))


# =========================================================================== reshape family
def _reshape_impl(x: Any, *, shape: tuple[int, ...]) -> Any:
    return np.reshape(x, shape)


def _reshape_batch(nb: int, t: Any, *, shape: tuple[int, ...]) -> Any:
    s = tuple(t.shape)
    if -1 in shape:  # resolved from the primal's size (the batch may be empty)
        size = int(np.prod(s[nb:], dtype=np.int64))
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        shape = tuple(size // known if d == -1 and known else d for d in shape)
    return _reshape(t, shape=s[:nb] + shape)


_reshape: Primitive = deflinear(
    Primitive(
        "reshape",
        _reshape_impl,
        view=True,
        doc="``x`` with a new shape (a view where NumPy can make one).",
    ),
    lambda g, ans, x, *, shape: _reshape(g, shape=x.shape),
    batch=_reshape_batch,
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


def _broadcast_to_batch(nb: int, t: Any, *, shape: tuple[int, ...]) -> Any:
    s = tuple(t.shape)
    batch, xshape = s[:nb], s[nb:]
    if len(shape) > len(xshape):
        t = _reshape(t, shape=batch + (1,) * (len(shape) - len(xshape)) + xshape)
    return _broadcast_to(t, shape=batch + shape)


_broadcast_to: Primitive = deflinear(
    Primitive(
        "broadcast_to",
        lambda x, *, shape: np.broadcast_to(x, shape),
        view=True,
        doc="A read-only broadcast view of ``x``.",
    ),
    _broadcast_to_vjp,
    batch=_broadcast_to_batch,
)


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


_transpose: Primitive = deflinear(
    Primitive("transpose", _transpose_impl, view=True, doc="Permute the axes (a view)."),
    lambda g, ans, x, *, axes: _transpose(g, axes=tuple(np.argsort(axes).tolist())),
    batch=lambda nb, t, *, axes: _transpose(t, axes=tuple(range(nb)) + tuple(a + nb for a in axes)),
)


def _matrix_transpose_impl(x: Any) -> Any:
    if np.ndim(x) < 2:
        raise InvalidArgumentError(
            f"matrix_transpose needs at least 2 axes, got shape {np.shape(x)}; use "
            "transpose/reshape for vectors"
        )
    return x.mT if isinstance(x, np.ndarray) else np.swapaxes(x, -1, -2)


matrix_transpose: Primitive = deflinear(
    Primitive(
        "matrix_transpose",
        _matrix_transpose_impl,
        view=True,
        doc="Swap the last two axes (``x.mT``; the transpose of each matrix in a batch). "
        "A view; its own transpose in backward.",
    ),
    lambda g, ans, x: matrix_transpose(g),
)


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
    return _indexing._getitem(g, key=key)


def _concat_joint(g: Any, create_graph: bool, node: Any) -> Any:
    """Every input's cotangent in one pass: its slice of ``g`` (a view per input; on the
    tape, one ``split`` whose own backward is one ``concatenate``)."""
    axis = node.params["axis"]
    offsets = node.params["offsets"]
    if isinstance(g, Tensor):
        return split(g, list(offsets[1:-1]), axis)
    pre = (slice(None),) * axis
    return [g[pre + (slice(offsets[k], offsets[k + 1]),)] for k in range(len(offsets) - 1)]


_concat = deflinear(
    Primitive("concatenate", _concat_impl, doc="Join tensors along an existing axis (variadic)."),
    _concat_joint,
    variadic=True,
    batch="axis",
)


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
    _ensure_arity(_concat, _concat_vjp, len(xs))
    return _concat(*xs, axis=ax, offsets=tuple(offsets))


def _stack_impl(*xs: Any, axis: int) -> Any:
    return np.stack(xs, axis=axis)


def _stack_vjp(i: int, g: Any, ans: Any, *xs: Any, axis: int) -> Any:
    return _indexing._getitem(g, key=(slice(None),) * axis + (i, Ellipsis))


def _stack_joint(g: Any, create_graph: bool, node: Any) -> Any:
    """Every input's cotangent in one pass: its slice of ``g`` along the new axis (views;
    on the tape, one ``split`` whose own backward is one ``concatenate``)."""
    axis = node.params["axis"]
    if isinstance(g, Tensor):
        s = tuple(g.shape)
        shape = s[:axis] + s[axis + 1 :]
        return [_reshape(p, shape=shape) for p in split(g, s[axis], axis)]
    return list(np.moveaxis(g, axis, 0))


_stack = deflinear(
    Primitive("stack", _stack_impl, doc="Join same-shape tensors along a new axis."),
    _stack_joint,
    variadic=True,
    batch="axis",
)


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
    _ensure_arity(_stack, _stack_vjp, len(xs))
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


_SPLIT: dict[int, Primitive] = {}


def _split_prim(n: int) -> Primitive:
    # nout is fixed per primitive, so there is one "split" primitive per number of pieces
    # (made on first use); the one with two pieces is the registered representative.
    p = _SPLIT.get(n)
    if p is None:
        p = _SPLIT[n] = deflinear(
            Primitive(
                "split",
                _split_impl if n != 1 else _split_impl1,
                nout=n,
                view=True,
                register=n == 2 and "split" not in REGISTRY,
                doc="Split along an axis into views (one output per piece).",
            ),
            _split_vjp,
            batch="axis",
        )
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


def _tile_batch(nb: int, t: Any, *, reps: tuple[int, ...]) -> Any:
    s = tuple(t.shape)
    if len(reps) > len(s) - nb:
        t = _reshape(t, shape=s[:nb] + (1,) * (len(reps) - len(s) + nb) + s[nb:])
    return _tile(t, reps=(1,) * nb + reps)


_tile: Primitive = deflinear(
    Primitive(
        "tile",
        lambda x, *, reps: np.tile(x, reps),
        doc="Repeat the whole tensor ``reps[i]`` times along axis i.",
    ),
    _tile_vjp,
    batch=_tile_batch,
)


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


_repeat: Primitive = deflinear(
    Primitive("repeat", _repeat_impl, doc="Repeat each element along an axis (numpy.repeat)."),
    _repeat_vjp,
    batch="axis",
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


_segment_sum: Primitive = deflinear(
    Primitive(
        "segment_sum",
        _segment_sum_impl,
        doc="Sum runs of consecutive elements along an axis (the transpose of repeat).",
    ),
    lambda g, ans, x, *, repeats, axis: _repeat(g, repeats=repeats, axis=axis),
    batch="axis",
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
_flip: Primitive = deflinear(
    Primitive(
        "flip",
        lambda x, *, axis: np.flip(x, axis),
        view=True,
        doc="Reverse the order of elements along axes (a view).",
    ),
    lambda g, ans, x, *, axis: _flip(g, axis=axis),
    batch="axis",
)


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


def _roll_batch(nb: int, t: Any, *, shift: Any, axis: Any) -> Any:
    if axis is not None:
        return _roll(t, shift=shift, axis=tuple(a + nb for a in axis))
    s = tuple(t.shape)
    flat = _reshape(t, shape=s[:nb] + (int(np.prod(s[nb:], dtype=np.int64)),))
    return _reshape(_roll(flat, shift=(shift,), axis=(nb,)), shape=s)


_roll: Primitive = deflinear(
    Primitive(
        "roll",
        lambda x, *, shift, axis: np.roll(x, shift, axis),
        doc="Rotate elements cyclically along axes.",
    ),
    lambda g, ans, x, *, shift, axis: _roll(
        g, shift=-shift if axis is None else tuple(-s for s in shift), axis=axis
    ),
    batch=_roll_batch,
)


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
    return _indexing._getitem(g, key=key)


_pad: Primitive = deflinear(
    Primitive("pad", _pad_impl, doc="Pad with a constant (``numpy.pad``)."),
    _pad_vjp,
    batch=lambda nb, t, *, pad_width, constant_values: _pad(
        t, pad_width=((0, 0),) * nb + pad_width, constant_values=constant_values
    ),
    affine=("constant_values",),
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
            x = _indexing._getitem_adv(x, key=(slice(None),) * ax + (idx,), mode="accumulate")
    return x


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
    return _indexing._index_add(g, key=tuple(key), shape=shape, mode="unique")


_diagonal: Primitive = deflinear(
    Primitive(
        "diagonal",
        _diagonal_impl,
        view=True,
        doc="The diagonal of the (axis1, axis2) planes, as a last axis.",
    ),
    _diagonal_vjp,
    batch=("axis1", "axis2"),
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


_tril: Primitive = deflinear(
    Primitive(
        "tril", _tri_impl(np.tril), doc="Zero the elements above the k-th diagonal (last two axes)."
    ),
    lambda g, ans, x, *, k: _tril(g, k=k),
)
_triu: Primitive = deflinear(
    Primitive(
        "triu", _tri_impl(np.triu), doc="Zero the elements below the k-th diagonal (last two axes)."
    ),
    lambda g, ans, x, *, k: _triu(g, k=k),
)


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


# Indexing is built on the primitives above and they slice with it: imported last, so that
# either module may be imported first.
from . import indexing as _indexing  # noqa: E402
