"""Op specs for the shape family (see tests/opinfo/__init__.py)."""

from __future__ import annotations

import numpy as np

import tapegrad as tg

from . import OpSpec, Sample, real


def _xs(shapes, *extra, **kw):
    """Samples ``(real(shape), *extra)`` for each ``(shape, *extra)`` row."""

    def make(rng, dtype):
        return [Sample((real(rng, row[0], dtype), *row[1:]), dict(kw)) for row in shapes]

    return make


def _ints(shape, high, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape)


def _tkey(torch, key):
    """A NumPy-style key with its arrays/lists as torch tensors."""

    def one(k):
        if isinstance(k, (list, np.ndarray)) or (hasattr(k, "dtype") and hasattr(k, "ndim")):
            a = np.asarray(k.numpy() if hasattr(k, "numpy") else k)
            if a.size == 0 and a.dtype.kind == "f":
                a = a.astype(np.int64)
            return torch.as_tensor(a)
        return k

    return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)


# --------------------------------------------------------------------------- reshape family
_RESHAPE = [
    ((2, 3), (3, 2)),
    ((2, 3), (-1,)),
    ((), (1, 1)),
    ((4,), (2, 2)),
    ((0, 3), (3, 0)),
    ((1, 4), (4,)),
    ((2, 3, 4), (4, -1)),
    ((1,), ()),
]
_BROADCAST = [
    ((3,), (2, 3)),
    ((), (2, 2)),
    ((2, 1), (2, 3)),
    ((1,), (0,)),
    ((3, 1, 2), (2, 3, 4, 2)),
    ((), ()),
]
_TRANSPOSE = [
    ((2, 3, 4), (2, 0, 1)),
    ((2, 3), None),
    ((), None),
    ((5,), None),
    ((2, 3, 4), (-1, 0, 1)),
    ((0, 3), (1, 0)),
    ((2, 3, 4), None),
]
_SWAP = [((2, 3, 4), 0, 2), ((2, 3), -1, -2), ((3,), 0, 0), ((1, 0, 2), 1, 2)]
_MOVE = [
    ((2, 3, 4), 0, -1),
    ((2, 3, 4), (0, 1), (2, 0)),
    ((2, 3), -1, 0),
    ((5,), 0, 0),
    ((2, 3, 4, 1), (3, 0), (0, 1)),
]
_SQUEEZE = [
    ((1, 3, 1), None),
    ((1, 3, 1), -1),
    ((1, 3, 1), (0, 2)),
    ((), None),
    ((1,), 0),
    ((0, 1), 1),
    ((2, 3), None),
]
_EXPAND = [((2, 3), 0), ((2, 3), -1), ((2, 3), (0, 3)), ((), 0), ((0,), 1), ((2,), (-1, 0))]
_FLATTEN = [
    ((2, 3, 4), 0, -1),
    ((2, 3, 4), 1, -1),
    ((2, 3, 4), 0, 1),
    ((), 0, -1),
    ((5,), 0, 0),
    ((2, 0, 3), 1, 2),
    ((2, 3, 4), -2, -2),
]


def _torch_permute(torch, x, axes):
    return x.permute(tuple(reversed(range(x.ndim))) if axes is None else axes)


def _torch_squeeze(torch, x, axis):
    return torch.squeeze(x) if axis is None else torch.squeeze(x, axis)


def _torch_expand_dims(torch, x, axis):
    axes = (axis,) if isinstance(axis, int) else axis
    nd = x.ndim + len(axes)
    for a in sorted(a % nd for a in axes):
        x = x.unsqueeze(a)
    return x


SPECS: list[OpSpec] = [
    OpSpec(
        "reshape",
        tg.reshape,
        _xs(_RESHAPE),
        prims=("reshape",),
        torch_fn=lambda torch, x, s: torch.reshape(x, s),
        numpy_ref=np.reshape,
    ),
    OpSpec(
        "broadcast_to",
        tg.broadcast_to,
        _xs(_BROADCAST),
        prims=("broadcast_to",),
        torch_fn=lambda torch, x, s: torch.broadcast_to(x, s),
        numpy_ref=np.broadcast_to,
    ),
    OpSpec(
        "transpose",
        tg.transpose,
        _xs(_TRANSPOSE),
        prims=("transpose",),
        torch_fn=_torch_permute,
        numpy_ref=np.transpose,
    ),
    OpSpec(
        "swapaxes",
        tg.swapaxes,
        _xs(_SWAP),
        prims=("transpose",),
        torch_fn=lambda torch, x, a, b: torch.swapaxes(x, a, b),
        numpy_ref=np.swapaxes,
    ),
    OpSpec(
        "matrix_transpose",
        tg.matrix_transpose,
        lambda rng, dt: [
            Sample((real(rng, s, dt),)) for s in [(2, 3), (1, 4), (2, 3, 4), (2, 1, 3, 2), (0, 3)]
        ],
        prims=("matrix_transpose",),
        torch_fn=lambda torch, x: x.mT,
        numpy_ref=lambda x: np.swapaxes(x, -1, -2),
    ),
    OpSpec(
        "moveaxis",
        tg.moveaxis,
        _xs(_MOVE),
        prims=("transpose",),
        torch_fn=lambda torch, x, s, d: torch.movedim(x, s, d),
        numpy_ref=np.moveaxis,
    ),
    OpSpec(
        "squeeze",
        tg.squeeze,
        _xs(_SQUEEZE),
        prims=("reshape",),
        torch_fn=_torch_squeeze,
        numpy_ref=np.squeeze,
    ),
    OpSpec(
        "expand_dims",
        tg.expand_dims,
        _xs(_EXPAND),
        prims=("reshape",),
        torch_fn=_torch_expand_dims,
        numpy_ref=np.expand_dims,
    ),
    OpSpec(
        "flatten",
        tg.flatten,
        _xs(_FLATTEN),
        prims=("reshape",),
        torch_fn=lambda torch, x, s, e: torch.flatten(x, s, e),
    ),
    OpSpec(
        "ravel",
        tg.ravel,
        _xs([((),), ((5,),), ((2, 3),), ((0, 3),), ((3, 1, 2),)]),
        prims=("reshape",),
        torch_fn=lambda torch, x: torch.ravel(x),
        numpy_ref=np.ravel,
    ),
]


def _methods(x):
    # The Tensor spellings: .T, .mT, .transpose(a, b), .permute, .unsqueeze, .view
    return (
        x.T,
        x.mT,
        x.transpose(0, 2),
        x.permute(2, 0, 1),
        x.unsqueeze(1),
        x.view(-1),
        x.reshape(4, 6),
        x.flatten(1),
        x.squeeze(),
        x.moveaxis(0, 1),
        x.swapaxes(1, 2),
    )


def _methods_torch(torch, x):
    return (
        x.permute(2, 1, 0),
        x.mT,
        x.transpose(0, 2),
        x.permute(2, 0, 1),
        x.unsqueeze(1),
        x.view(-1),
        x.reshape(4, 6),
        x.flatten(1),
        x.squeeze(),
        x.movedim(0, 1),
        x.swapaxes(1, 2),
    )


SPECS.append(
    OpSpec(
        "shape_methods",
        _methods,
        _xs([((2, 3, 4),)]),
        prims=("transpose", "reshape"),
        torch_fn=_methods_torch,
    )
)


# --------------------------------------------------------------------------- join / split
def _seq_samples(groups):
    def make(rng, dtype):
        return [Sample(tuple(real(rng, s, dtype) for s in shapes), kw) for shapes, kw in groups]

    return make


_CONCAT = [
    ([(2, 3), (2, 1)], {"axis": 1}),
    ([(2, 3), (1, 3), (0, 3)], {"axis": 0}),
    ([(3,), (4,)], {"axis": 0}),
    ([(2, 3), (2, 3)], {"axis": -1}),
    ([(2, 2), (3,)], {"axis": None}),
    ([(2, 3)], {"axis": 0}),
    ([(1, 2, 3), (1, 2, 1), (1, 2, 2)], {"axis": 2}),
]
_STACK = [
    ([(3,), (3,)], {"axis": 0}),
    ([(2, 3), (2, 3), (2, 3)], {"axis": -1}),
    ([(), ()], {"axis": 0}),
    ([(0, 2), (0, 2)], {"axis": 1}),
    ([(2, 3)], {"axis": 1}),
]


def _torch_cat(torch, *xs, axis):
    if axis is None:
        return torch.cat([x.reshape(-1) for x in xs])
    return torch.cat(xs, axis)


SPECS += [
    OpSpec(
        "concatenate",
        lambda *xs, axis: tg.concatenate(xs, axis),
        _seq_samples(_CONCAT),
        prims=("concatenate", "getitem"),
        torch_fn=_torch_cat,
        numpy_ref=lambda *xs, axis: np.concatenate(xs, axis),
    ),
    OpSpec(
        "stack",
        lambda *xs, axis: tg.stack(xs, axis),
        _seq_samples(_STACK),
        prims=("stack", "getitem"),
        torch_fn=lambda torch, *xs, axis: torch.stack(xs, axis),
        numpy_ref=lambda *xs, axis: np.stack(xs, axis),
    ),
    OpSpec(
        "vstack",
        lambda *xs: tg.vstack(xs),
        _seq_samples([([(3,), (3,)], {}), ([(2, 3), (1, 3)], {}), ([(), ()], {})]),
        prims=("concatenate", "reshape"),
        torch_fn=lambda torch, *xs: torch.vstack(xs),
        numpy_ref=lambda *xs: np.vstack(xs),
    ),
    OpSpec(
        "hstack",
        lambda *xs: tg.hstack(xs),
        _seq_samples([([(2,), (3,)], {}), ([(2, 1), (2, 2)], {}), ([(), (2,)], {})]),
        prims=("concatenate", "reshape"),
        torch_fn=lambda torch, *xs: torch.hstack(xs),
        numpy_ref=lambda *xs: np.hstack(xs),
    ),
]

_SPLIT = [
    ((6,), 3, 0),
    ((4, 6), [1, 4], 1),
    ((4, 6), 2, -1),
    ((5,), [2, 2], 0),
    ((3,), [], 0),
    ((0, 2), 2, 0),
    ((3, 2), 1, 0),
    ((5, 2), [-2], 0),
]
_SPLIT_UNSORTED = [((5,), [3, 1], 0), ((6, 2), [4, 2, 7], 0)]
_ARRAY_SPLIT = [((5,), 3, 0), ((7, 4), 3, 0), ((2, 4), 5, 1), ((4, 6), [1, 4], -1)]


def _torch_split(torch, x, ios, axis):
    return torch.tensor_split(x, ios, axis)


SPECS += [
    OpSpec(
        "split",
        tg.split,
        _xs(_SPLIT),
        prims=("split", "concatenate"),
        torch_fn=_torch_split,
        numpy_ref=np.split,
    ),
    # Decreasing split points give overlapping / missing pieces: the backward pads each piece.
    OpSpec(
        "split_unsorted",
        tg.split,
        _xs(_SPLIT_UNSORTED),
        prims=("split", "pad"),
        torch_fn=_torch_split,
        numpy_ref=np.split,
    ),
    OpSpec(
        "array_split",
        tg.array_split,
        _xs(_ARRAY_SPLIT),
        prims=("split",),
        torch_fn=_torch_split,
        numpy_ref=np.array_split,
    ),
    OpSpec(
        "hsplit",
        tg.hsplit,
        _xs([((2, 4), 2), ((6,), [1, 3])]),
        prims=("split",),
        torch_fn=lambda torch, x, ios: torch.hsplit(x, ios),
        numpy_ref=np.hsplit,
    ),
    OpSpec(
        "vsplit",
        tg.vsplit,
        _xs([((4, 2), 2), ((3, 2, 2), [1])]),
        prims=("split",),
        torch_fn=lambda torch, x, ios: torch.vsplit(x, ios),
        numpy_ref=np.vsplit,
    ),
]


# --------------------------------------------------------------------------- repetition
_TILE = [
    ((3,), 2),
    ((2, 3), (2, 1)),
    ((2, 3), (2,)),
    ((2,), (2, 3, 1)),
    ((), (3,)),
    ((0, 2), (2, 2)),
    ((2, 3), (0, 1)),
    ((), ()),
]
_REPEAT = [
    ((3,), 2, None),
    ((2, 3), 2, 1),
    ((2, 3), [1, 0, 2], 1),
    ((2, 3), [2, 1], 0),
    ((2, 3), 3, None),
    ((), 2, None),
    ((2, 3), 0, 0),
    ((0, 3), 2, 0),
    ((2, 3), [0, 0, 0], -1),
    ((2, 3), [3], 1),
    ((4,), np.array([2, 0, 1, 3]), 0),
]


def _torch_tile(torch, x, reps):
    return torch.tile(x, (reps,) if isinstance(reps, int) else reps)


def _torch_repeat(torch, x, repeats, axis):
    if not isinstance(repeats, int):
        repeats = torch.as_tensor(np.asarray(repeats, dtype=np.int64))
    return torch.repeat_interleave(x, repeats, axis)


SPECS += [
    OpSpec("tile", tg.tile, _xs(_TILE), prims=("tile",), torch_fn=_torch_tile, numpy_ref=np.tile),
    OpSpec(
        "repeat",
        tg.repeat,
        _xs(_REPEAT),
        prims=("repeat", "segment_sum"),
        torch_fn=_torch_repeat,
        numpy_ref=np.repeat,
    ),
]


# --------------------------------------------------------------------------- reorderings
_FLIP = [
    ((3,), None),
    ((2, 3), 0),
    ((2, 3), (0, 1)),
    ((2, 3), -1),
    ((), None),
    ((0, 3), 1),
    ((2, 3, 4), (0, 2)),
]
_ROLL = [
    ((5,), 2, None),
    ((2, 3), 1, 0),
    ((2, 3), (1, -1), (0, 1)),
    ((2, 3), 4, None),
    ((2, 3), -1, -1),
    ((0, 3), 1, 1),
    ((2, 3), 2, (0, 1)),
    ((3,), 7, 0),
]


def _torch_flip(torch, x, axis):
    if axis is None:
        axis = tuple(range(x.ndim))
    return torch.flip(x, (axis,) if isinstance(axis, int) else axis)


def _torch_roll(torch, x, shift, axis):
    if isinstance(shift, int) and isinstance(axis, tuple):
        shift = (shift,) * len(axis)  # numpy broadcasts one shift over the axes; torch doesn't
    return torch.roll(x, shift, axis)


SPECS += [
    OpSpec("flip", tg.flip, _xs(_FLIP), prims=("flip",), torch_fn=_torch_flip, numpy_ref=np.flip),
    OpSpec("roll", tg.roll, _xs(_ROLL), prims=("roll",), torch_fn=_torch_roll, numpy_ref=np.roll),
]


# --------------------------------------------------------------------------- pad
_PAD = [
    ((3,), (1, 2), {}),
    ((2, 3), 1, {}),
    ((2, 3), ((0, 1), (2, 0)), {}),
    ((0, 2), ((1, 1), (0, 0)), {}),
    ((2, 3), ((1, 0), (1, 2)), {"constant_values": 1.5}),
    ((2, 2), 0, {}),
    ((), 1, {}),
]
_PAD_COPY = [
    ((3,), (2, 1), "edge"),
    ((4,), (3, 5), "reflect"),
    ((2, 3), ((1, 2), (0, 3)), "symmetric"),
    ((3,), (4, 4), "wrap"),
    ((1, 2), 1, "edge"),
    ((2, 3), ((2, 2), (1, 1)), "reflect"),
    ((1,), 2, "reflect"),
]


def _pad_samples(rows):
    def make(rng, dtype):
        return [Sample((real(rng, s, dtype), pw), dict(kw)) for s, pw, kw in rows]

    return make


def _pad_copy_samples(rng, dtype):
    return [Sample((real(rng, s, dtype), pw), {"mode": m}) for s, pw, m in _PAD_COPY]


def _torch_pad(torch, x, pad_width, constant_values=0):
    pw = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    flat = [int(v) for pair in pw[::-1] for v in pair]  # torch lists the last axis first
    return torch.nn.functional.pad(x, flat, value=constant_values)


SPECS += [
    OpSpec(
        "pad",
        tg.pad,
        _pad_samples(_PAD),
        prims=("pad", "getitem"),
        torch_fn=_torch_pad,
        numpy_ref=np.pad,
    ),
    OpSpec(
        "pad_copy_modes",
        tg.pad,
        _pad_copy_samples,
        prims=("index", "index_add"),
        torch_skip="numpy's pad modes are the reference (torch's need batch axes)",
        numpy_ref=lambda x, pw, mode: np.pad(x, pw, mode=mode),
    ),
]


# --------------------------------------------------------------------------- take
def _take_samples(rng, dtype):
    rows = [
        ((5,), [0, 2, 2, -1], None),
        ((3, 4), np.array([[0, 1], [2, 2]]), 1),
        ((3, 4), [1, 1, 0], 0),
        ((3, 4), 2, 1),
        ((2, 3), [], 0),
        ((2, 3), 4, None),
        ((2, 3, 2), np.array([1, -1, 1]), -2),
    ]
    return [Sample((real(rng, s, dtype), idx, ax)) for s, idx, ax in rows]


def _torch_take(torch, x, idx, axis):
    i = _tkey(torch, idx if not isinstance(idx, int) else np.asarray(idx))
    if axis is None:
        return x.reshape(-1)[i]
    return x[(slice(None),) * (axis % x.ndim) + (i,)]


def _take_along_samples(rng, dtype):
    rows = [
        ((3, 4), _ints((3, 2), 4), 1),
        ((3, 4), _ints((1, 4), 3), 0),
        ((3, 4), _ints((3, 1), 4), -1),
        ((5,), _ints((7,), 5), None),
        ((2, 3, 4), _ints((2, 3, 1), 4), 2),
        ((1, 4), _ints((3, 2), 4), 1),
        ((3, 4), _ints((1, 2), 4), 1),
        ((3, 0), _ints((3, 0), 1), 1),
        ((2, 3), -_ints((2, 3), 3, 1) - 1, 1),
    ]
    return [Sample((real(rng, s, dtype), idx, ax)) for s, idx, ax in rows]


SPECS += [
    OpSpec(
        "take",
        tg.take,
        _take_samples,
        prims=("index", "getitem", "index_add"),
        torch_fn=_torch_take,
        numpy_ref=np.take,
    ),
    OpSpec(
        "take_along_axis",
        tg.take_along_axis,
        _take_along_samples,
        prims=("index", "index_add"),
        torch_fn=lambda torch, x, idx, axis: torch.take_along_dim(x, idx, axis),
        numpy_ref=np.take_along_axis,
    ),
]


# --------------------------------------------------------------------------- indexing
def _key_samples(rows):
    def make(rng, dtype):
        return [Sample((real(rng, s, dtype), key)) for s, key in rows]

    return make


_BASIC_KEYS = [
    ((4,), 1),
    ((4,), -1),
    ((4,), slice(1, None)),
    ((3, 4), (slice(None), 0)),
    ((3, 4), (Ellipsis, None, slice(None, None, 2))),
    ((3, 4), ()),
    ((), ()),
    ((), Ellipsis),
    ((), None),
    ((3, 4), (0, 1)),
    ((2, 3, 4), (1, Ellipsis, 2)),
    ((3, 4), slice(5, 9)),
    ((2, 3, 4), (slice(0, 2), None, 1, slice(1, 3))),
]
_NEG_STEP_KEYS = [
    ((5,), slice(None, None, -1)),
    ((4, 5), (slice(None, None, -2), slice(3, 0, -1))),
    ((3, 4), (Ellipsis, slice(-1, None, -1))),
    ((5,), slice(-2, -6, -3)),
]


def _adv_keys():
    m34 = np.random.default_rng(3).random((3, 4)) < 0.5
    return [
        ((4,), [0, 0, 2]),
        ((3, 2), np.array([[0, 1], [1, 1]])),
        ((3, 4), m34),
        ((3, 4), (slice(None), [2, 0, 2])),
        ((3, 4), ([0, 2], [1, 1])),
        ((2, 3, 4), (np.array([0, 1, 1]), slice(None), np.array([1, 1, 3]))),
        ((3, 4), (Ellipsis, [0, 0])),
        ((3, 4), (None, [1, 1], 0)),
        ((3, 4), (np.array([True, False, True]), slice(1, 3))),
        ((), True),
        ((3,), []),
        ((3,), np.zeros(3, bool)),
        ((2, 3), (1, [2, -1, 2])),
        ((3, 4), (slice(None, None, -1), [3, 3])),
    ]


def _torch_index(torch, x, key):
    return x[_tkey(torch, key)]


SPECS += [
    OpSpec(
        "getitem",
        tg.getitem,
        _key_samples(_BASIC_KEYS),
        prims=("getitem", "index_add"),
        torch_fn=_torch_index,
        numpy_ref=lambda x, key: x[key],
    ),
    OpSpec(
        "getitem_negative_step",
        tg.getitem,
        _key_samples(_NEG_STEP_KEYS),
        prims=("getitem", "index_add"),
        torch_skip="torch slices have no negative steps",
        numpy_ref=lambda x, key: x[key],
    ),
    OpSpec(
        "getitem_advanced",
        tg.getitem,
        _key_samples(_adv_keys()[:-1]),
        prims=("index", "index_add"),
        torch_fn=_torch_index,
        numpy_ref=lambda x, key: x[key],
    ),
    OpSpec(
        "getitem_advanced_negative_step",
        tg.getitem,
        _key_samples(_adv_keys()[-1:]),
        prims=("index", "index_add"),
        torch_skip="torch slices have no negative steps",
        numpy_ref=lambda x, key: x[key],
    ),
    OpSpec(
        "getitem_method",
        lambda x: (x[1], x[:, ::2], x[[0, 0]], x[x.detach() > 0]),
        _xs([((3, 4),)]),
        prims=("getitem", "index"),
        torch_fn=lambda torch, x: (x[1], x[:, ::2], x[[0, 0]], x[x.detach() > 0]),
        jit="a boolean mask computed from the input: the result's shape depends on the values",
    ),
]


def _update_samples(rng, dtype):
    m = np.random.default_rng(5).random((3, 4)) < 0.5
    rows = [
        ((4,), 1, ()),
        ((3, 4), (slice(None), 0), (3,)),
        ((3, 4), m, ()),
        ((3, 4), [0, 2], (1, 4)),
        ((2, 3), (0, slice(None)), (1, 3)),
        ((3, 4), (Ellipsis, slice(None, None, 2)), (3, 1)),
        ((3, 4), ([0, 2], [1, 3]), (2,)),
        ((2, 3), (), (2, 3)),
        ((3,), slice(0, 0), (0,)),
    ]
    out = [Sample((real(rng, s, dtype), key, real(rng, v, dtype))) for s, key, v in rows]
    out.append(Sample((real(rng, (3, 4), dtype), (1, slice(1, 3)), 2.5)))
    return out


def _torch_update(torch, x, key, value):
    y = x.clone()
    y[_tkey(torch, key)] = value
    return y


SPECS += [
    OpSpec(
        "index_update",
        tg.index_update,
        _update_samples,
        prims=("index_update", "getitem", "index", "index_add", "reshape"),
        torch_fn=_torch_update,
        numpy_ref=lambda x, key, v: (lambda y: (y.__setitem__(key, v), y)[1])(x.copy()),
    ),
]


# --------------------------------------------------------------------------- diagonals
_DIAG = [
    ((3, 3), 0, 0, 1),
    ((3, 4), 1, 0, 1),
    ((3, 4), -2, 0, 1),
    ((2, 3, 4), 0, 1, 2),
    ((2, 3, 4), 1, 0, 2),
    ((2, 3, 4), 0, 2, 0),
    ((2, 3, 4), -1, -1, 0),
    ((3, 3), 5, 0, 1),
    ((0, 3), 0, 0, 1),
    ((2, 3, 4, 2), 1, 3, 1),
]
_TRI = [((3, 3), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 0), ((0, 3), 0), ((2, 5), -4)]

SPECS += [
    OpSpec(
        "diagonal",
        tg.diagonal,
        _xs(_DIAG),
        prims=("diagonal", "index_add", "transpose"),
        torch_fn=lambda torch, x, o, a, b: torch.diagonal(x, o, a, b),
        numpy_ref=np.diagonal,
    ),
    OpSpec(
        "trace",
        tg.trace,
        _xs(_DIAG),
        prims=("diagonal",),
        torch_fn=lambda torch, x, o, a, b: torch.diagonal(x, o, a, b).sum(-1),
        numpy_ref=np.trace,
    ),
    OpSpec(
        "trace_2d",
        tg.trace,
        _xs([((3, 3),), ((2, 4),)]),
        prims=("diagonal",),
        torch_fn=lambda torch, x: torch.trace(x),
        numpy_ref=np.trace,
    ),
    OpSpec(
        "tril",
        tg.tril,
        _xs(_TRI),
        prims=("tril",),
        torch_fn=lambda torch, x, k: torch.tril(x, k),
        numpy_ref=np.tril,
    ),
    OpSpec(
        "triu",
        tg.triu,
        _xs(_TRI),
        prims=("triu",),
        torch_fn=lambda torch, x, k: torch.triu(x, k),
        numpy_ref=np.triu,
    ),
]


# --------------------------------------------------------------------------- in-place on views
def _inplace_on_view(x, v):
    """An in-place op on a view of a view: the base's history is rewritten (copy_slices)."""
    y = x * 1.0
    w = y.T[1:, ::2]
    w.mul_(v)
    return y


def _torch_inplace_on_view(torch, x, v):
    y = x * 1.0
    w = y.T[1:, ::2]
    w.mul_(v)
    return y


def _flat_take_op(x):
    idx = np.array([[5, 0], [3, 1]])
    return tg.ops.indexing._flat_take(x, idx=idx, shape=(2, 3))


SPECS += [
    OpSpec(
        "inplace_on_view",
        _inplace_on_view,
        lambda rng, dtype: [
            Sample((real(rng, (3, 4), dtype), real(rng, (3, 2), dtype))),
            Sample((real(rng, (3, 4), dtype), real(rng, (2,), dtype))),
        ],
        prims=("copy_slices", "multiply", "transpose", "getitem"),
        torch_fn=_torch_inplace_on_view,
    ),
    OpSpec(
        "flat_take",
        _flat_take_op,
        _xs([((2, 3),)]),
        prims=("flat_take",),
        numpy_ref=lambda x: x.reshape(-1)[np.array([[5, 0], [3, 1]])],
    ),
]
