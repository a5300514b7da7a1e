"""Convolution and pooling primitives (im2col / strided views, no Python loops over pixels).

Everything is 2-D underneath (``conv1d`` is ``conv2d`` on a height-1 image).  Three
primitives carry the math, all bilinear and all accepting leading broadcast axes on either
operand (so batched cotangents and tangents flow through in one call):

- ``conv2d(x, w)``: im2col through a strided view of the padded input, then one ``matmul``
  per call (groups are a matmul batch axis);
- ``conv2d_input_grad(g, w)``: its transpose in ``x`` (the transposed convolution, computed
  as a stride-1 convolution of the zero-stuffed cotangent with the flipped kernel);
- ``conv2d_weight_grad(x, g)``: its transpose in ``w`` (im2col, one matmul, a batch sum).

Each is the transpose of the others, so their vjp rules are each other and second order
works; they are declared bilinear, so their jvps are the ops themselves.  Pooling is built
on these: max pooling gathers each window's argmax (``max_pool2d_gather``, whose transpose
``max_pool2d_scatter`` sends the gradient back to the argmax), average pooling is a depthwise
convolution with a constant kernel, adaptive average pooling two matmuls with averaging
matrices.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import InvalidArgumentError, InvalidTypeError, ShapeMismatchError
from ..tensor import Tensor
from .linalg import matmul
from .registry import Primitive, defbilinear, deflinear, expose
from .shape import reshape

__all__ = [
    "conv1d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
]

_Pair = tuple[int, int]


# --------------------------------------------------------------------------- helpers
def _out_len(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _windows(xp: np.ndarray, k: _Pair, s: _Pair, d: _Pair, o: _Pair) -> np.ndarray:
    """Read-only view ``(..., C, kh, kw, Ho, Wo)`` of the padded image ``xp`` (no copy)."""
    st = xp.strides
    return as_strided(
        xp,
        xp.shape[:-2] + (k[0], k[1], o[0], o[1]),
        st[:-2] + (st[-2] * d[0], st[-1] * d[1], st[-2] * s[0], st[-1] * s[1]),
        writeable=False,
    )


def _pad_hw(x: np.ndarray, p: _Pair, value: float = 0.0) -> np.ndarray:
    if p == (0, 0):
        return x
    h, w = x.shape[-2:]
    out = np.full(x.shape[:-2] + (h + 2 * p[0], w + 2 * p[1]), value, dtype=x.dtype)
    out[..., p[0] : p[0] + h, p[1] : p[1] + w] = x
    return out


def _lead(a: Any) -> tuple[int, ...]:
    """Leading broadcast axes of a 4-d-per-item operand (``(*B, N, C, H, W)`` etc.)."""
    return tuple(a.shape[:-4])


def _conv_impl(
    x: np.ndarray, w: np.ndarray, *, stride: _Pair, padding: _Pair, dilation: _Pair, groups: int
) -> np.ndarray:
    n, c, h, wd = x.shape[-4:]
    o, cg, kh, kw = w.shape[-4:]
    ho = _out_len(h, kh, stride[0], padding[0], dilation[0])
    wo = _out_len(wd, kw, stride[1], padding[1], dilation[1])
    cols = _windows(_pad_hw(x, padding), (kh, kw), stride, dilation, (ho, wo))
    # (*Bx, N, g, Cg*kh*kw, Ho*Wo): the im2col copy.
    cols = cols.reshape(_lead(x) + (n, groups, cg * kh * kw, ho * wo))
    wr = w.reshape(_lead(w) + (1, groups, o // groups, cg * kh * kw))
    out = np.matmul(wr, cols)  # (*B, N, g, Og, Ho*Wo)
    return out.reshape(out.shape[:-4] + (n, o, ho, wo))


def _conv_input_grad_impl(
    g: np.ndarray,
    w: np.ndarray,
    *,
    stride: _Pair,
    padding: _Pair,
    dilation: _Pair,
    groups: int,
    in_hw: _Pair,
) -> np.ndarray:
    # The transposed convolution, computed as a stride-1 convolution (im2col + one matmul)
    # of the cotangent (zero-stuffed by the stride, padded by d*(k-1) - p) with the kernel
    # flipped and its channel axes swapped within each group.
    n, o, ho, wo = g.shape[-4:]
    _, cg, kh, kw = w.shape[-4:]
    og = o // groups
    if stride != (1, 1):
        gd = np.zeros(
            g.shape[:-2] + ((ho - 1) * stride[0] + 1, (wo - 1) * stride[1] + 1), dtype=g.dtype
        )
        gd[..., :: stride[0], :: stride[1]] = g
    else:
        gd = g
    width = []
    for size, k, s, p, d in zip(in_hw, (kh, kw), stride, padding, dilation):
        rem = (size + 2 * p - d * (k - 1) - 1) % s
        width.append((d * (k - 1) - p, d * (k - 1) - p + rem))
    if min(width[0] + width[1]) < 0:  # padding larger than the kernel's reach: crop
        h0, h1 = (max(-v, 0) for v in width[0])
        w0, w1 = (max(-v, 0) for v in width[1])
        gd = gd[..., h0 : gd.shape[-2] - h1, w0 : gd.shape[-1] - w1]
        width = [(max(a, 0), max(b, 0)) for a, b in width]
    if any(width[0] + width[1]):
        gd = np.pad(gd, [(0, 0)] * (gd.ndim - 2) + width)
    lw = _lead(w)
    nl = len(lw)
    wt = w.reshape(lw + (groups, og, cg, kh, kw))
    wt = wt.transpose(list(range(nl)) + [nl, nl + 2, nl + 1, nl + 3, nl + 4])
    wt = wt.reshape(lw + (groups * cg, og, kh, kw))[..., ::-1, ::-1]
    return _conv_impl(gd, wt, stride=(1, 1), padding=(0, 0), dilation=dilation, groups=groups)


def _conv_weight_grad_impl(
    x: np.ndarray,
    g: np.ndarray,
    *,
    stride: _Pair,
    padding: _Pair,
    dilation: _Pair,
    groups: int,
    ksize: _Pair,
) -> np.ndarray:
    n, c, _, _ = x.shape[-4:]
    o, ho, wo = g.shape[-3:]
    kh, kw = ksize
    cg, og = c // groups, o // groups
    win = _windows(_pad_hw(x, padding), ksize, stride, dilation, (ho, wo))
    # im2col as in the forward: (*Bx, N, g, Cg*kh*kw, Ho*Wo); one batched matmul per sample,
    # then a sum over the batch (small GEMMs: faster here than one long-inner-axis GEMM).
    cols = win.reshape(_lead(x) + (n, groups, cg * kh * kw, ho * wo))
    gr = g.reshape(_lead(g) + (n, groups, og, ho * wo))
    out = np.matmul(gr, np.swapaxes(cols, -1, -2)).sum(axis=-4)  # (*B, g, Og, Cg*kh*kw)
    return out.reshape(out.shape[:-3] + (o, cg, kh, kw))


_DOC_CONV = "2-D cross-correlation, NCHW (as ``torch.nn.functional.conv2d`` without bias)."
_conv = Primitive("conv2d", _conv_impl, save=(0, 1), doc=_DOC_CONV)
_conv_input_grad = Primitive(
    "conv2d_input_grad",
    _conv_input_grad_impl,
    save=(0, 1),
    doc="Transpose of conv2d in its input (col2im scatter of the cotangent).",
)
_conv_weight_grad = Primitive(
    "conv2d_weight_grad",
    _conv_weight_grad_impl,
    save=(0, 1),
    doc="Transpose of conv2d in its weight (im2col of the input times the cotangent).",
)


def _hw(a: Any) -> _Pair:
    s = a.shape
    return (int(s[-2]), int(s[-1]))


# conv2d(x, w): <g, conv(x, w)> = <conv_input_grad(g, w), x> = <conv_weight_grad(x, g), w>.
def _conv_vjp_x(g: Any, ans: Any, x: Any, w: Any, **p: Any) -> Any:
    return _conv_input_grad(g, w, in_hw=_hw(x), **p)


def _conv_vjp_w(g: Any, ans: Any, x: Any, w: Any, **p: Any) -> Any:
    return _conv_weight_grad(x, g, ksize=_hw(w), **p)


defbilinear(_conv, _conv_vjp_x, _conv_vjp_w)


# conv2d_input_grad(g, w): <h, T(g, w)> = <conv(h, w), g>.
def _cig_vjp_g(h: Any, ans: Any, g: Any, w: Any, *, in_hw: _Pair, **p: Any) -> Any:
    return _conv(h, w, **p)


def _cig_vjp_w(h: Any, ans: Any, g: Any, w: Any, *, in_hw: _Pair, **p: Any) -> Any:
    return _conv_weight_grad(h, g, ksize=_hw(w), **p)


defbilinear(_conv_input_grad, _cig_vjp_g, _cig_vjp_w)


# conv2d_weight_grad(x, g): <h, T(x, g)> = <conv(x, h), g>.
def _cwg_vjp_x(h: Any, ans: Any, x: Any, g: Any, *, ksize: _Pair, **p: Any) -> Any:
    return _conv_input_grad(g, h, in_hw=_hw(x), **p)


def _cwg_vjp_g(h: Any, ans: Any, x: Any, g: Any, *, ksize: _Pair, **p: Any) -> Any:
    return _conv(x, h, **p)


defbilinear(_conv_weight_grad, _cwg_vjp_x, _cwg_vjp_g)


# --------------------------------------------------------------------------- pool gather
# Max pooling picks one input element per output element: ``index`` holds, for every output
# element of the (N, C, Ho, Wo) block, its flat position in the (N, C, H, W) block.  Leading
# broadcast axes (batched cotangents / tangents) are carried along.
def _gather_impl(
    x: np.ndarray, *, index: np.ndarray, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> np.ndarray:
    lead = x.shape[: x.ndim - len(in_shape)]
    return x.reshape(lead + (-1,))[..., index].reshape(lead + out_shape)


def _scatter_impl(
    g: np.ndarray, *, index: np.ndarray, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> np.ndarray:
    lead = g.shape[: g.ndim - len(out_shape)]
    size = int(np.prod(in_shape))
    nb = int(np.prod(lead))
    full = (np.arange(nb, dtype=np.intp)[:, None] * size + index).ravel() if lead else index
    out = np.bincount(full, weights=g.ravel(), minlength=nb * size)
    return out.astype(g.dtype, copy=False).reshape(lead + in_shape)


_pool_gather = Primitive(
    "max_pool2d_gather",
    _gather_impl,
    doc="Pick the window maxima by flat index (forward of max pooling).",
)
_pool_scatter = Primitive(
    "max_pool2d_scatter",
    _scatter_impl,
    doc="Add cotangents back at the window maxima (transpose of max_pool2d_gather).",
)


def _gather_vjp(g: Any, ans: Any, x: Any, **p: Any) -> Any:
    return _pool_scatter(g, **p)


def _scatter_vjp(h: Any, ans: Any, g: Any, **p: Any) -> Any:
    return _pool_gather(h, **p)


deflinear(_pool_gather, _gather_vjp)
deflinear(_pool_scatter, _scatter_vjp)


# --------------------------------------------------------------------------- argument checks
def _pair(v: Any, name: str, fn: str, minimum: int) -> _Pair:
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(vals) == 1:
        vals = (vals[0], vals[0])
    if len(vals) != 2:
        raise InvalidArgumentError(f"{fn}: {name} must be an int or a pair of ints, got {v!r}")
    try:
        out = (operator.index(vals[0]), operator.index(vals[1]))
    except TypeError:
        raise InvalidTypeError(
            f"{fn}: {name} must be an int or a pair of ints, got {v!r}"
        ) from None
    if min(out) < minimum:
        raise InvalidArgumentError(f"{fn}: {name} must be >= {minimum}, got {v!r}")
    return out


def _single(v: Any, name: str, fn: str, minimum: int) -> int:
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise InvalidArgumentError(f"{fn}: {name} must be an int or a 1-tuple, got {v!r}")
        v = v[0]
    try:
        out = operator.index(v)
    except TypeError:
        raise InvalidTypeError(f"{fn}: {name} must be an int, got {v!r}") from None
    if out < minimum:
        raise InvalidArgumentError(f"{fn}: {name} must be >= {minimum}, got {v!r}")
    return out


def _as_operand(a: Any, fn: str, name: str) -> Any:
    if isinstance(a, Tensor):
        if a.dtype.kind != "f":
            raise InvalidTypeError(f"{fn}: {name} must be a floating tensor, got dtype {a.dtype}")
        return a
    arr = np.asarray(a)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(a.shape)


def _conv_nd(
    fn: str,
    x: Any,
    w: Any,
    bias: Any,
    stride: _Pair,
    padding: _Pair,
    dilation: _Pair,
    groups: int,
    nsp: int,
) -> Any:
    """Shared body of conv1d / conv2d (``nsp`` spatial axes); returns the op's output."""
    x = _as_operand(x, fn, "input")
    w = _as_operand(w, fn, "weight")
    xs, ws = _shape(x), _shape(w)
    letters = "NCL" if nsp == 1 else "NCHW"
    if len(xs) not in (nsp + 1, nsp + 2):
        raise ShapeMismatchError(
            f"{fn}: input must have shape ({letters}) or unbatched ({letters[1:]}), got shape {xs}"
        )
    if len(ws) != nsp + 2:
        raise ShapeMismatchError(
            f"{fn}: weight must have {nsp + 2} dimensions (out_channels, in_channels/groups, "
            f"{'kernel' if nsp == 1 else 'kH, kW'}), got shape {ws}"
        )
    if groups < 1:
        raise InvalidArgumentError(f"{fn}: groups must be a positive int, got {groups}")
    unbatched = len(xs) == nsp + 1
    if unbatched:
        xs = (1,) + xs
    c, o, cg = xs[1], ws[0], ws[1]
    if c % groups or o % groups:
        raise InvalidArgumentError(
            f"{fn}: in_channels ({c}) and out_channels ({o}) must both be divisible by "
            f"groups ({groups})"
        )
    if cg * groups != c:
        raise ShapeMismatchError(
            f"{fn}: weight of shape {ws} expects {cg * groups} input channels "
            f"(weight.shape[1] * groups = {cg} * {groups}) but the input of shape "
            f"{_shape(x)} has {c}; make in_channels / groups match weight.shape[1]"
        )
    x4: tuple[int, ...]
    w4: tuple[int, ...]
    if nsp == 1:
        x4 = (xs[0], c, 1, xs[2])
        w4 = (o, cg, 1, ws[2])
    else:
        x4 = xs
        w4 = ws
    for k, (n, kk) in enumerate(zip(x4[2:], w4[2:])):
        if n + 2 * padding[k] < dilation[k] * (kk - 1) + 1:
            raise ShapeMismatchError(
                f"{fn}: the (padded) input of spatial size {x4[2:]} is smaller than the "
                f"(dilated) kernel of size {w4[2:]}; use a smaller kernel or more padding"
            )
    xr = reshape(x, x4) if x4 != _shape(x) else x
    wr = reshape(w, w4) if w4 != ws else w
    out = _conv(xr, wr, stride=stride, padding=padding, dilation=dilation, groups=groups)
    osh = _shape(out)
    if bias is not None:
        b = _as_operand(bias, fn, "bias")
        if _shape(b) != (o,):
            raise ShapeMismatchError(
                f"{fn}: bias must have shape ({o},) (one value per output channel), got "
                f"shape {_shape(b)}"
            )
        out = out + reshape(b, (o, 1, 1))
    final = ((o,) if unbatched else (osh[0], o)) + (osh[2:] if nsp == 2 else (osh[3],))
    return reshape(out, final) if final != osh else out


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> Any:
    """2-D convolution (cross-correlation) over an NCHW batch, as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    input : Tensor, shape ``(N, C, H, W)`` or unbatched ``(C, H, W)``
    weight : Tensor, shape ``(O, C // groups, kH, kW)``
    bias : Tensor of shape ``(O,)``, optional
    stride, padding, dilation : int or (int, int)
        Zero padding on both sides; ``padding`` strings ('same'/'valid') are not supported.
    groups : int
        ``C`` and ``O`` must both be divisible by it.

    Returns
    -------
    Tensor of shape ``(N, O, Ho, Wo)`` with ``Ho = (H + 2*pH - dH*(kH-1) - 1) // sH + 1``.

    Notes
    -----
    im2col through a strided view and one matmul; the input gradient is the transposed
    convolution (a primitive too, so higher derivatives work), the weight gradient one matmul
    of the columns and the cotangent.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.ones((1, 1, 3, 3))
    >>> tg.conv2d(x, tg.ones((1, 1, 2, 2))).shape
    (1, 1, 2, 2)
    """
    fn = "conv2d"
    return _conv_nd(
        fn,
        input,
        weight,
        bias,
        _pair(stride, "stride", fn, 1),
        _pair(padding, "padding", fn, 0),
        _pair(dilation, "dilation", fn, 1),
        _single(groups, "groups", fn, 1),
        2,
    )


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> Any:
    """1-D convolution (cross-correlation) over an NCL batch, as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    input : Tensor, shape ``(N, C, L)`` or unbatched ``(C, L)``
    weight : Tensor, shape ``(O, C // groups, K)``
    bias : Tensor of shape ``(O,)``, optional
    stride, padding, dilation : int
    groups : int

    Returns
    -------
    Tensor of shape ``(N, O, Lo)`` with ``Lo = (L + 2*p - d*(K-1) - 1) // s + 1``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.conv1d(tg.ones((2, 3, 5)), tg.ones((4, 3, 2)), padding=1).shape
    (2, 4, 6)
    """
    fn = "conv1d"
    return _conv_nd(
        fn,
        input,
        weight,
        bias,
        (1, _single(stride, "stride", fn, 1)),
        (0, _single(padding, "padding", fn, 0)),
        (1, _single(dilation, "dilation", fn, 1)),
        _single(groups, "groups", fn, 1),
        1,
    )


# --------------------------------------------------------------------------- pooling
def _pool_args(
    fn: str, x: Any, kernel_size: Any, stride: Any, padding: Any
) -> tuple[Any, _Pair, _Pair, _Pair, bool]:
    x = _as_operand(x, fn, "input")
    k = _pair(kernel_size, "kernel_size", fn, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else None
    s = s or _pair(stride, "stride", fn, 1)
    p = _pair(padding, "padding", fn, 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise InvalidArgumentError(
            f"{fn}: padding {p} must be at most half the kernel size {k} (as in PyTorch)"
        )
    xs = _shape(x)
    if len(xs) not in (3, 4):
        raise ShapeMismatchError(
            f"{fn}: input must have shape (N, C, H, W) or unbatched (C, H, W), got {xs}"
        )
    for n, kk, pp in zip(xs[-2:], k, p):
        if n + 2 * pp < kk:
            raise ShapeMismatchError(
                f"{fn}: the (padded) input of spatial size {xs[-2:]} is smaller than the "
                f"kernel {k}; use a smaller kernel_size or more padding"
            )
    return x, k, s, p, len(xs) == 3


def _pool_index_impl(xd: Any, *, k: Any, s: Any, p: Any, ho: int, wo: int) -> Any:
    """The flat index of each pooling window's maximum (see max_pool2d)."""
    if xd.ndim == 3:
        xd = xd[None]
    h, w = xd.shape[-2:]
    lead = xd.shape[:-2]
    win = _windows(_pad_hw(xd, p, -np.inf), k, s, (1, 1), (ho, wo))  # (N, C, kh, kw, Ho, Wo)
    offsets = [(i, j) for i in range(k[0]) for j in range(k[1])]
    best = win[..., 0, 0, :, :].copy()
    for i, j in offsets[1:]:
        np.maximum(best, win[..., i, j, :, :], out=best)  # propagates NaN, as PyTorch
    # Flat index of each window's maximum in its (H, W) plane: the first maximum in row-major
    # order on ties (PyTorch's CPU convention); only bool masks and adds, no argmax copy.
    top = (np.arange(ho)[:, None] * s[0] - p[0]) * w + (np.arange(wo)[None, :] * s[1] - p[1])
    off = np.zeros(best.shape, dtype=np.intp)
    found = win[..., 0, 0, :, :] == best
    for i, j in offsets[1:]:
        e = win[..., i, j, :, :] == best
        e &= ~found
        found |= e
        off += e * (i * w + j)
    if best.dtype.kind == "f" and np.isnan(best).any():
        for i, j in offsets:  # a NaN wins its window (the last one, as PyTorch)
            v = win[..., i, j, :, :]
            np.copyto(off, i * w + j, where=v != v)
    off += top
    off += np.arange(0, int(np.prod(lead)) * h * w, h * w, dtype=np.intp).reshape(lead + (1, 1))
    return off.ravel()


_pool_index = Primitive(
    "max_pool2d_index",
    _pool_index_impl,
    doc="The flat index of every window's maximum (max pooling's selection; not differentiable).",
)


def max_pool2d(
    input: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, ...] = 0,
) -> Any:
    """2-D max pooling over an NCHW batch, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : Tensor, shape ``(N, C, H, W)`` or ``(C, H, W)``
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Implicit ``-inf`` padding, at most half the kernel size.

    Notes
    -----
    The gradient goes to the argmax of each window.  Ties: the first maximum in row-major
    order within the window gets it all (PyTorch's CPU convention); overlapping windows that
    pick the same element add up.  A NaN in a window is propagated.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.reshape(tg.arange(16.0), (1, 1, 4, 4))
    >>> tg.max_pool2d(x, 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    fn = "max_pool2d"
    x, k, s, p, unbatched = _pool_args(fn, input, kernel_size, stride, padding)
    xs = _shape(x)
    h, w = xs[-2:]
    ho = _out_len(h, k[0], s[0], p[0], 1)
    wo = _out_len(w, k[1], s[1], p[1], 1)
    lead = ((1,) + tuple(xs))[:-2] if unbatched else tuple(xs)[:-2]
    # The window maxima's flat indices: a primitive, so that tg.jit traces it.
    index = _pool_index(x, k=k, s=s, p=p, ho=ho, wo=wo)
    index = index.data if isinstance(index, Tensor) else index
    xin = reshape(x, (1,) + xs) if unbatched else x
    out = _pool_gather(xin, index=index, in_shape=lead + (h, w), out_shape=lead + (ho, wo))
    return reshape(out, _shape(out)[1:]) if unbatched else out


expose(
    max_pool2d,
    kink="Ties: the first maximum of a window in row-major order gets the whole gradient "
    "(PyTorch's CPU convention); overlapping windows add up.",
)


def avg_pool2d(
    input: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, ...] = 0,
    count_include_pad: bool = True,
) -> Any:
    """2-D average pooling over an NCHW batch, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : Tensor, shape ``(N, C, H, W)`` or ``(C, H, W)``
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Implicit zero padding, at most half the kernel size.
    count_include_pad : bool
        Divide by the full window size (True) or by the number of non-padding elements.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.reshape(tg.arange(16.0), (1, 1, 4, 4))
    >>> tg.avg_pool2d(x, 2)
    tensor([[[[ 2.5,  4.5],
              [10.5, 12.5]]]])
    """
    fn = "avg_pool2d"
    x, k, s, p, unbatched = _pool_args(fn, input, kernel_size, stride, padding)
    xs = _shape(x)
    if unbatched:
        x = reshape(x, (1,) + xs)
    n, c, h, w = _shape(x)
    dt = x.dtype
    kern = np.ones((c, 1) + k, dtype=dt)
    params: dict[str, Any] = {"stride": s, "padding": p, "dilation": (1, 1), "groups": c}
    if count_include_pad or p == (0, 0):
        out = _conv(x, kern * dt.type(1.0 / (k[0] * k[1])), **params)
    else:
        counts = _conv_impl(
            np.ones((1, 1, h, w), dt), np.ones((1, 1) + k, dt), **{**params, "groups": 1}
        )[0, 0]
        out = _conv(x, kern, **params) * (dt.type(1.0) / counts).astype(dt)
    return reshape(out, _shape(out)[1:]) if unbatched else out


def _adaptive_matrix(n: int, m: int, dtype: Any) -> np.ndarray:
    """(m, n) averaging matrix: row i averages [floor(i*n/m), ceil((i+1)*n/m))."""
    i = np.arange(m)
    start = (i * n) // m
    end = -((-(i + 1) * n) // m)
    j = np.arange(n)
    mask = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
    return (mask / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d(input: Any, output_size: int | tuple[int | None, int | None]) -> Any:
    """Adaptive 2-D average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell ``(i, j)`` averages rows ``[floor(i*H/oh), ceil((i+1)*H/oh))`` and the
    matching columns; ``None`` in ``output_size`` keeps that input size.

    Parameters
    ----------
    input : Tensor, shape ``(N, C, H, W)`` or ``(C, H, W)``
    output_size : int or (int or None, int or None)

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.adaptive_avg_pool2d(tg.ones((2, 3, 5, 7)), (2, 3)).shape
    (2, 3, 2, 3)
    """
    fn = "adaptive_avg_pool2d"
    x = _as_operand(input, fn, "input")
    xs = _shape(x)
    if len(xs) not in (3, 4):
        raise ShapeMismatchError(
            f"{fn}: input must have shape (N, C, H, W) or unbatched (C, H, W), got {xs}"
        )
    h, w = xs[-2:]
    if h == 0 or w == 0:
        raise ShapeMismatchError(f"{fn}: input spatial size {xs[-2:]} must be non-empty")
    osz = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(osz) != 2:
        raise InvalidArgumentError(
            f"{fn}: output_size must be an int or a pair, got {output_size!r}"
        )
    oh = h if osz[0] is None else _single(osz[0], "output_size", fn, 1)
    ow = w if osz[1] is None else _single(osz[1], "output_size", fn, 1)
    dt = x.dtype
    ah = _adaptive_matrix(h, oh, dt)
    aw = _adaptive_matrix(w, ow, dt)
    return matmul(matmul(ah, x), np.ascontiguousarray(aw.T))
