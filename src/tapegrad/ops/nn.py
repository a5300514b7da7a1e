"""Neural-network functional ops: softmax, losses, one_hot.

PyTorch's names and semantics (``torch.nn.functional``), NumPy's ``axis`` (``dim`` accepted
as a keyword alias).  Primitives: ``softmax``, ``log_softmax``, ``logsigmoid``, the fused
``cross_entropy`` (integer class labels), ``nn_gather``/``nn_scatter`` (pick one entry per
row along an axis, and its transpose), ``huber_loss`` (elementwise, on the difference) and
the non-differentiable ``one_hot``.  Everything else is composed of existing ops.

Class labels and class weights are constants: no gradient flows to them (PyTorch does not
differentiate ``weight`` of ``nll_loss``/``cross_entropy`` either).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import AxisError, InvalidArgumentError, InvalidTypeError, ShapeMismatchError
from ..tensor import Tensor
from .elementwise import abs as _abs
from .elementwise import exp, sigmoid, square, stop_gradient, where
from .reduce import _sum as _sum_prim
from .reduce import mean as _mean
from .reduce import sum as _sum
from .registry import Primitive, batch_ndim, defjvp, deflinear, defvjp, expose, on_tangent
from .shape import broadcast_to, reshape

__all__ = [
    "softmax",
    "log_softmax",
    "logsigmoid",
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "binary_cross_entropy_with_logits",
    "one_hot",
]

_REDUCTIONS = ("none", "mean", "sum")


# --------------------------------------------------------------------------- helpers


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _arr(x: Any) -> Any:
    """Tensors pass through; anything else becomes an ndarray."""
    return x if isinstance(x, Tensor) else np.asarray(x)


def _pick_axis(axis: Any, dim: Any, ndim: int, fn: str) -> int:
    if dim is not None:
        axis = dim
    if isinstance(axis, (tuple, list)):
        raise InvalidTypeError(f"{fn}: axis must be a single int, got {axis!r}")
    a = int(axis)
    n = max(ndim, 1)
    if not -n <= a < n:
        raise AxisError(
            f"{fn}: axis {a} is out of bounds for an input with {ndim} dimension(s); "
            f"use an axis in [{-n}, {n - 1}]"
        )
    return a % n


def _check_reduction(reduction: str, fn: str) -> None:
    if reduction not in _REDUCTIONS:
        raise InvalidArgumentError(
            f"{fn}: reduction must be one of 'none', 'mean', 'sum', got {reduction!r}"
        )


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction == "mean":
        return _mean(loss)
    if reduction == "sum":
        return _sum(loss)
    return loss


def _expand_at(v: Any, axis: int, ndim: int) -> Any:
    """A target-shaped (or 0-d) ``v`` with a length-1 class axis inserted at ``axis``."""
    shape = np.shape(v.data) if isinstance(v, Tensor) else np.shape(v)
    if len(shape) == 0:
        return v
    shape = shape[:axis] + (1,) + shape[axis:]
    return reshape(v, shape)


def _class_shape(ndim: int, axis: int, c: int) -> tuple[int, ...]:
    """Shape that broadcasts a (C,) vector along ``axis`` of an ``ndim`` array."""
    return tuple(c if i == axis else 1 for i in range(ndim))


def _batched_index(idx: Any, batch: tuple[int, ...]) -> np.ndarray:
    """Integer labels broadcast over a tangent's leading batch axes (read-only view)."""
    idx = _data(idx)
    return np.broadcast_to(idx, batch + idx.shape) if batch else idx


# --------------------------------------------------------------------------- softmax


def _softmax_impl(x: Any, *, axis: Any) -> Any:
    if x.size == 0:
        return np.exp(x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return np.asarray(e)


def _log_softmax_impl(x: Any, *, axis: Any) -> Any:
    if x.size == 0:
        return x.copy()
    z = x - x.max(axis=axis, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return np.asarray(z)


def _softmax_vjp(g: Any, ans: Any, x: Any, *, axis: Any) -> Any:
    return ans * (g - _sum(g * ans, axis, keepdims=True))


def _log_softmax_vjp(g: Any, ans: Any, x: Any, *, axis: Any) -> Any:
    return g - exp(ans) * _sum(g, axis, keepdims=True)


def _softmax_jvp(t: Any, ans: Any, x: Any, *, axis: Any) -> Any:
    if axis is None:  # 0-d input: softmax is the constant 1
        return t * 0.0
    st = ans * t
    return st - ans * on_tangent(_sum_prim, st, ans, axis=(axis,), keepdims=True)


def _log_softmax_jvp(t: Any, ans: Any, x: Any, *, axis: Any) -> Any:
    if axis is None:  # 0-d input: log_softmax is the constant 0
        return t * 0.0
    return t - on_tangent(_sum_prim, exp(ans) * t, ans, axis=(axis,), keepdims=True)


_softmax = defvjp(
    Primitive(
        "softmax",
        _softmax_impl,
        save=("ans",),
        doc="Softmax along one axis (stable: shifted by the max).",
    ),
    _softmax_vjp,
)
defjvp(_softmax, _softmax_jvp)
_log_softmax = defvjp(
    Primitive(
        "log_softmax",
        _log_softmax_impl,
        save=("ans",),
        doc="Log-softmax along one axis (stable: shifted by the max).",
    ),
    _log_softmax_vjp,
)
defjvp(_log_softmax, _log_softmax_jvp)


def _softmax_axis(x: Any, axis: Any, dim: Any, fn: str) -> Any:
    xd = _data(x)
    if xd.dtype.kind != "f":
        raise InvalidArgumentError(
            f"{fn}: input must be floating point, got {xd.dtype}; convert it, "
            "e.g. x.astype('float32')"
        )
    nd = xd.ndim
    a = _pick_axis(axis, dim, nd, fn)
    return None if nd == 0 else a


def softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """Softmax along ``axis``: ``exp(x) / sum(exp(x), axis)``.

    Computed stably (``x - max(x, axis)`` is exponentiated), so large logits do not overflow.
    A row of all ``-inf`` gives NaN, as in PyTorch.

    Parameters
    ----------
    x : Tensor or array_like
        Logits (floating point).
    axis : int
        The axis that sums to one (negative counts from the end). ``dim`` is an alias.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.softmax(tg.tensor([0.0, 0.0, 0.0, 0.0]))
    tensor([0.25, 0.25, 0.25, 0.25])
    """
    x = _arr(x)
    return _softmax(x, axis=_softmax_axis(x, axis, dim, "softmax"))


def log_softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """Logarithm of :func:`softmax` along ``axis``: ``x - logsumexp(x, axis)``.

    Computed stably (shifted by the max); finite for any finite logits.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.exp(tg.log_softmax(tg.tensor([1e4, 1e4]))).tolist()
    [0.5, 0.5]
    """
    x = _arr(x)
    return _log_softmax(x, axis=_softmax_axis(x, axis, dim, "log_softmax"))


# --------------------------------------------------------------------------- logsigmoid


def _logsigmoid_impl(x: Any) -> Any:
    # -(max(-x, 0) + log1p(exp(-|x|))): no overflow for any x.
    out = np.negative(np.logaddexp(0, -x))
    return np.asarray(out, dtype=np.result_type(x, np.float16))


logsigmoid = defvjp(
    Primitive(
        "logsigmoid",
        _logsigmoid_impl,
        save=(0,),
        doc="Elementwise ``log(sigmoid(x)) = -softplus(-x)``, stable for any x "
        "(``torch.nn.functional.logsigmoid``); its derivative is ``sigmoid(-x)``.",
    ),
    lambda g, ans, x: g * sigmoid(-x),
)
defjvp(logsigmoid, lambda t, ans, x: t * sigmoid(-x))


# --------------------------------------------------------------------------- gather/scatter


def _gather_impl(x: Any, idx: Any, *, axis: int) -> Any:
    idx = np.asarray(idx)
    c = x.shape[axis]
    if axis == x.ndim - 1:  # the common (N, C) case: one fancy index into an (M, C) view
        flat = idx.reshape(-1)
        return x.reshape(-1, c)[np.arange(flat.size), flat].reshape(idx.shape)
    return np.take_along_axis(x, np.expand_dims(idx, axis), axis).reshape(idx.shape)


def _scatter_impl(v: Any, idx: Any, *, axis: int, shape: tuple[int, ...]) -> Any:
    # v has idx's shape, or is 0-d (the same value everywhere; the engine sums its cotangent).
    idx = np.asarray(idx)
    out = np.zeros(shape, dtype=np.result_type(v))
    if axis == len(shape) - 1:
        flat = idx.reshape(-1)
        vals = v if np.ndim(v) == 0 else np.reshape(v, -1)
        out.reshape(-1, shape[axis])[np.arange(flat.size), flat] = vals
        return out
    vals = v if np.ndim(v) == 0 else np.expand_dims(v, axis)
    np.put_along_axis(out, np.expand_dims(idx, axis), vals, axis)
    return out


def _gather_batch(nb: int, t: Any, idx: Any, *, axis: int) -> Any:
    return _gather(t, _batched_index(idx, tuple(t.shape[:nb])), axis=axis + nb)


def _scatter_batch(nb: int, t: Any, idx: Any, *, axis: int, shape: tuple[int, ...]) -> Any:
    batch = tuple(t.shape[:nb])
    idx = _batched_index(idx, batch)
    if t.ndim != idx.ndim:  # a 0-d v: one value per batch entry, spread over the labels
        t = broadcast_to(reshape(t, batch + (1,) * (idx.ndim - nb)), idx.shape)
    return _scatter(t, idx, axis=axis + nb, shape=batch + tuple(shape))


_gather = deflinear(
    Primitive(
        "nn_gather",
        _gather_impl,
        save=(1,),
        doc="``x`` at one index per position along ``axis`` (``idx`` has x's shape "
        "without ``axis``); the gradient goes back to those entries.",
    ),
    lambda g, ans, x, idx, *, axis: _scatter(g, idx, axis=axis, shape=x.shape),
    batch=_gather_batch,
)
_scatter = deflinear(
    Primitive(
        "nn_scatter",
        _scatter_impl,
        save=(1,),
        doc="The transpose of ``nn_gather``: zeros of ``shape`` with ``v`` placed at "
        "one index per position along ``axis``.",
    ),
    lambda g, ans, v, idx, *, axis, shape: _gather(g, idx, axis=axis),
    batch=_scatter_batch,
)


# --------------------------------------------------------------------------- class labels


def _label_consts(
    target: np.ndarray, weight: Any, ignore_index: int | None, dtype: Any
) -> tuple[np.ndarray, Any, float]:
    """(safe labels, per-sample weight w[y]*mask or None when all ones, mean denominator).

    ``ignore_index=None``: no label is ignored (the wrappers pass None when they have
    checked that no label equals it).
    """
    mask = None if ignore_index is None else target != ignore_index
    if mask is None or mask.all():
        if weight is None:
            return target, None, float(target.size)
        sw = weight[target]
        return target, sw, float(np.sum(sw, dtype=np.float64))
    safe = np.where(mask, target, 0)
    sw = mask.astype(dtype) if weight is None else weight[safe] * mask
    return safe, sw, float(np.sum(sw, dtype=np.float64))


def _mask_of(target: np.ndarray, ignore_index: int | None, dtype: Any) -> Any:
    if ignore_index is None:
        return None
    mask = target != ignore_index
    return None if mask.all() else mask.astype(dtype)


def _inv(d: float) -> float:
    return 1.0 / d if d else float("nan")


# Small per-shape constants of the fused cross-entropy, built once: row offsets for flat
# label positions, and ones for row sums as a matrix-vector product.  Read-only; only short
# ones are kept (they matter for small inputs), and the caches are cleared when they grow.
_ROWS: dict[tuple[int, int], np.ndarray] = {}
_ONES: dict[tuple[int, Any], np.ndarray] = {}


def _const(cache: dict[Any, np.ndarray], key: Any, n: int, make: Any) -> np.ndarray:
    v = cache.get(key)
    if v is None:
        v = make()
        if n <= 4096:
            if len(cache) >= 64:
                cache.clear()
            v.flags.writeable = False
            cache[key] = v
    return v


def _flat_index(idx: np.ndarray, c: int) -> Any:
    """Flat positions of the labels ``idx`` in a C-contiguous ``idx.shape + (c,)`` array."""
    n = idx.size
    rows = _const(_ROWS, (n, c), n, lambda: np.arange(0, n * c, c, dtype=np.intp))
    return np.add(idx.reshape(-1), rows, dtype=np.intp, casting="unsafe")


def _row_sums(a: np.ndarray) -> Any:
    """Sums of the rows of a 2-D array (a BLAS matrix-vector product for float32/64: a
    reduction along short rows costs NumPy a loop iteration per row)."""
    if a.dtype.char not in "fd":
        return np.add.reduce(a, axis=1)
    c = a.shape[1]
    return np.dot(a, _const(_ONES, (c, a.dtype), c, lambda: np.ones(c, a.dtype)))


_INF = float("inf")


def _ce_fast(x: Any, target: np.ndarray, reduction: str) -> Any:
    """The common case (class axis last, no weight/ignored label/smoothing), or None.

    Each row is shifted by its target logit instead of its max (no max pass, slow on short
    rows): then ``-log p[y] = log(sum_c exp(x_c - x_y))``.  The sum is >= 1 (the target's
    own term is exp(0) = 1), so the result is as accurate as with the max shift unless a
    logit exceeds the target's by more than the dtype's exp range: then (also for inf/NaN
    logits) the loss is not finite and the caller takes the max-shifted path.
    """
    c = x.shape[-1]
    xf = x.reshape(-1, c)
    with np.errstate(all="ignore"):  # inf/NaN here means: take the other path (it warns)
        z = xf - xf.reshape(-1)[_flat_index(target, c)][:, None]
        e = np.exp(z, out=z)
    s = _row_sums(e)
    loss = np.log(s)
    if reduction == "none":
        if not np.maximum.reduce(loss) < _INF:
            return None
        out = loss.reshape(target.shape)
    else:
        total = np.add.reduce(loss)
        if not total < _INF:
            return None
        if reduction == "mean":
            total = total * (1.0 / loss.size)
        out = np.asarray(total, dtype=x.dtype)
    e /= s[:, None]
    return out, e.reshape(x.shape)


def _ce_impl(
    x: Any,
    target: Any,
    weight: Any,
    *,
    axis: int,
    ignore_index: int | None,
    reduction: str,
    label_smoothing: float,
) -> Any:
    target = np.asarray(target)
    eps = label_smoothing
    if (
        weight is None
        and ignore_index is None
        and not eps
        and axis == x.ndim - 1
        and x.size
        and x.dtype.kind == "f"
    ):
        res = _ce_fast(x, target, reduction)
        if res is not None:
            return res
    safe, sw, denom = _label_consts(target, weight, ignore_index, x.dtype)
    z = x - np.maximum.reduce(x, axis=axis, keepdims=True) if x.size else x
    e = np.exp(z)
    s = np.add.reduce(e, axis=axis, keepdims=True)
    lse = np.log(s)
    # -log p[y] = lse - z[y]
    loss = lse.reshape(target.shape) - _gather_impl(z, safe, axis=axis)
    if sw is not None:
        loss *= sw
    if eps:
        c = x.shape[axis]
        # -sum_c w_c log p_c = W * lse - sum_c w_c z_c
        if weight is None:
            smooth = c * lse - np.sum(z, axis=axis, keepdims=True)
        else:
            wb = weight.reshape(_class_shape(x.ndim, axis, c))
            smooth = np.sum(wb) * lse - np.sum(z * wb, axis=axis, keepdims=True)
        smooth = smooth.reshape(target.shape)
        mask = _mask_of(target, ignore_index, x.dtype)
        if mask is not None:
            smooth *= mask
        loss = (1.0 - eps) * loss + (eps / c) * smooth
    e /= s
    if reduction == "none":
        return np.asarray(loss), e
    total = np.sum(loss)
    if reduction == "mean":
        total = total * _inv(denom)
    return np.asarray(total, dtype=x.dtype), e


def _ce_vjp(
    g: Any,
    ans: Any,
    x: Any,
    target: Any,
    weight: Any,
    *,
    axis: int,
    ignore_index: int | None,
    reduction: str,
    label_smoothing: float,
) -> Any:
    g, g1 = g
    p = ans[1]  # softmax(x, axis): the primitive's second output
    target = _data(target)
    weight = None if weight is None else _data(weight)
    dt = x.dtype
    safe, sw, denom = _label_consts(target, weight, ignore_index, dt)
    if reduction == "mean":
        g = g * (1.0 / denom if denom else 0.0)  # no target counted: zero gradient (PyTorch)
    eps = label_smoothing
    c = x.shape[axis]
    nd = len(x.shape)
    # d loss_n / d x = a_n * softmax(x) - (1 - eps) * sw_n * onehot(y_n) - eps/C * m_n * w
    hit = g if sw is None else g * sw
    if eps:
        mask = _mask_of(target, ignore_index, dt)
        gm = g if mask is None else g * mask
        wsum = float(c) if weight is None else float(np.sum(weight, dtype=np.float64))
        hit = hit * (1.0 - eps)
        coef = hit + gm * (eps * wsum / c)
    else:
        coef = hit
    out = _ce_grad(p, safe, coef, hit if eps != 1.0 else hit * 0.0, axis=axis)
    if eps:
        wb = np.full(_class_shape(nd, axis, c), eps / c, dtype=dt)
        if weight is not None:
            wb = wb * weight.reshape(wb.shape)
        out = out - _expand_at(gm, axis, nd) * wb
    # The softmax output is internal (the wrapper drops it): in a first-order backward its
    # cotangent is the engine's zero filler, skipped.  Recorded (create_graph), it carries
    # the second-order terms: the graph of the gradient above reads p.
    if g1.__class__ is not np.ndarray or g1.any():
        out = out + _softmax_vjp(g1, p, None, axis=axis)
    return out


def _ce_grad_impl(p: Any, idx: Any, coef: Any, hit: Any, *, axis: int) -> Any:
    idx = np.asarray(idx)
    coef = np.asarray(coef)
    out = p * (coef.reshape(coef.shape[:axis] + (1,) + coef.shape[axis:]) if coef.ndim else coef)
    if not out.size:
        return out
    hit = np.asarray(hit)
    if axis == p.ndim - 1 and out.flags.c_contiguous:
        out.reshape(-1)[_flat_index(idx, p.shape[axis])] -= hit.reshape(-1) if hit.ndim else hit
    else:
        i = np.expand_dims(idx, axis)
        h = np.expand_dims(hit, axis) if hit.ndim else hit
        np.put_along_axis(out, i, np.take_along_axis(out, i, axis) - h, axis)
    return out


def _ce_grad_dp(g: Any, ans: Any, p: Any, idx: Any, coef: Any, hit: Any, *, axis: int) -> Any:
    return g * _expand_at(coef, axis, len(p.shape))


def _ce_grad_dcoef(g: Any, ans: Any, p: Any, idx: Any, coef: Any, hit: Any, *, axis: int) -> Any:
    return _sum(g * p, axis)


def _ce_grad_dhit(g: Any, ans: Any, p: Any, idx: Any, coef: Any, hit: Any, *, axis: int) -> Any:
    return -_gather(g, idx, axis=axis)


# The gradient of the fused cross-entropy from its softmax output ``p``, itself a primitive
# so that a first-order backward is one pass of NumPy (p scaled, targets subtracted in
# place) and higher orders still work: p * coef - onehot(idx) * hit, coef/hit per sample
# (or 0-d).
_ce_grad = defvjp(
    Primitive(
        "cross_entropy_grad",
        _ce_grad_impl,
        save=(0, 1, 2),
        doc="``p * coef - onehot(idx, axis) * hit``, coef/hit per sample or 0-d (the "
        "gradient of the fused cross-entropy, ``p`` its softmax output).",
    ),
    _ce_grad_dp,
    None,
    _ce_grad_dcoef,
    _ce_grad_dhit,
)


def _ce_grad_jvp_coef(t: Any, ans: Any, p: Any, idx: Any, coef: Any, hit: Any, *, axis: int) -> Any:
    nb = batch_ndim(t, coef)
    cshape = tuple(t.shape[nb:])
    nd = len(p.shape)
    kshape = cshape[:axis] + (1,) + cshape[axis:] if cshape else (1,) * nd
    return p * reshape(t, tuple(t.shape[:nb]) + kshape)


def _ce_grad_jvp_hit(t: Any, ans: Any, p: Any, idx: Any, coef: Any, hit: Any, *, axis: int) -> Any:
    return -on_tangent(_scatter, t, hit, idx, axis=axis, shape=tuple(p.shape))


defjvp(_ce_grad, _ce_grad_dp, None, _ce_grad_jvp_coef, _ce_grad_jvp_hit)


_cross_entropy = defvjp(
    Primitive(
        "cross_entropy",
        _ce_impl,
        save=(1, 2, "ans"),
        nout=2,
        doc="Fused softmax cross-entropy with integer class labels (PyTorch "
        "semantics: weight, ignore_index, label_smoothing, reduction); returns "
        "``(loss, softmax(x, axis))``, the second output kept for the gradient. "
        "``ignore_index=None``: no label is ignored.",
    ),
    _ce_vjp,
    None,
    None,
)


def _ce_jvp(t: Any, ans: Any, x: Any, target: Any, weight: Any, **params: Any) -> Any:
    # Per-sample loss tangent <d loss_n / d x_n, t_n>: the vjp's gradient for a cotangent of
    # ones, contracted with t over the class axis (over every axis for a reduced loss).
    loss, p = ans
    dt = p.dtype
    ones = np.ones(loss.shape, dt)
    d = _ce_vjp((ones, np.zeros(p.shape, dt)), ans, x, target, weight, **params)
    axis = params["axis"]
    red = (axis,) if params["reduction"] == "none" else tuple(range(p.ndim))
    return on_tangent(_sum_prim, d * t, p, axis=red, keepdims=False), _softmax_jvp(
        t, p, x, axis=axis
    )


defjvp(_cross_entropy, _ce_jvp, None, None)

# Signed label dtypes viewed as unsigned: a negative label becomes huge, so one max pass
# finds labels below 0 and labels >= C.
_UNSIGNED = {np.dtype(f"i{k}"): np.dtype(f"u{k}") for k in (1, 2, 4, 8)}


def _labels_check(
    x: np.ndarray, t: np.ndarray, axis: int, ignore_index: int, fn: str, what: str
) -> bool:
    """Raise for a wrong target shape or label; return whether a label equals ignore_index."""
    expected = x.shape[:axis] + x.shape[axis + 1 :]
    if t.shape != expected:
        raise ShapeMismatchError(
            f"{fn}: class-index target must have the {what} shape without the class axis "
            f"{axis}, i.e. {expected}; got {t.shape} (input shape {x.shape}). For class "
            f"probabilities pass a float target of shape {x.shape}."
        )
    if not t.size:
        return False
    c = x.shape[axis]
    u = _UNSIGNED.get(t.dtype)
    if u is not None:
        ok = np.maximum.reduce(t.view(u), axis=None) < c
    elif t.dtype.kind == "u":
        ok = np.maximum.reduce(t, axis=None) < c
    else:
        ok = t.min() >= 0 and t.max() < c
    if ok:
        return 0 <= ignore_index < c and bool((t == ignore_index).any())
    bad = ((t < 0) | (t >= c)) & (t != ignore_index)
    if bad.any():
        v = t[bad].flat[0]
        raise InvalidArgumentError(
            f"{fn}: target label {int(v)} is out of range for {c} classes; labels must "
            f"be in [0, {c - 1}] (or equal ignore_index={ignore_index})."
        )
    return True  # every label out of [0, C) equals ignore_index


def _weight_check(weight: Any, c: int, dtype: Any, fn: str) -> Any:
    if weight is None:
        return None
    w = _data(weight)
    if w.dtype.kind not in "fiu":
        raise InvalidArgumentError(
            f"{fn}: weight must be a float array of shape ({c},), got dtype {w.dtype}"
        )
    if w.shape != (c,):
        raise ShapeMismatchError(
            f"{fn}: weight must have one entry per class, shape ({c},); got {w.shape}"
        )
    return np.asarray(w, dtype=dtype)


def _class_axis(x: np.ndarray, axis: Any, fn: str) -> int:
    if x.ndim == 0:
        raise ShapeMismatchError(
            f"{fn}: input must have a class axis (shape (C,), (N, C) or (N, C, d1, ...)); "
            "got a 0-d input"
        )
    if axis is None:
        return 0 if x.ndim == 1 else 1
    return _pick_axis(axis, None, x.ndim, fn)


def _is_int(a: np.ndarray) -> bool:
    return a.dtype.kind in "iu"


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    axis: int | None = None,
    *,
    dim: int | None = None,
) -> Any:
    """Cross-entropy between logits and a target, as ``torch.nn.functional.cross_entropy``.

    ``log_softmax`` over the class axis followed by the negative log-likelihood.

    Parameters
    ----------
    input : Tensor or array_like
        Unnormalised logits of shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``.
    target : Tensor or array_like
        Either integer class labels of the input's shape without the class axis (``()``,
        ``(N,)``, ``(N, d1, ...)``), or class probabilities of the input's shape (float;
        then differentiable).
    weight : array_like, optional
        A ``(C,)`` rescaling weight per class (a constant: no gradient flows to it).
    ignore_index : int
        Labels equal to it contribute neither loss nor gradient, and are left out of the
        ``"mean"`` denominator (class-index targets only).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` with class labels divides by the sum of the weights of the non-ignored
        targets (their count without ``weight``); with probabilities by the number of
        samples ``input.size / C``.  A mean over no target is NaN, as in PyTorch.
    label_smoothing : float
        In ``[0, 1]``: the target becomes ``(1 - label_smoothing) * target +
        label_smoothing / C`` (for labels: mixed with the uniform distribution).
    axis : int, optional
        The class axis; default PyTorch's (1, or 0 for 1-D input). ``dim`` is an alias.

    Notes
    -----
    Stable for any finite logits (shifted by the max).  Class labels use one fused
    primitive (its gradient is ``softmax(input) - onehot(target)``, scaled).

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> logits = tg.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    >>> loss = tg.nn.functional.cross_entropy(logits, np.array([0, 1]))
    >>> round(loss.item(), 6)
    0.126928
    >>> loss.backward()
    """
    fn = "cross_entropy"
    _check_reduction(reduction, fn)
    if dim is not None:
        axis = dim
    x, t = _arr(input), _arr(target)
    xd, td = _data(x), _data(t)
    if xd.dtype.kind != "f":
        raise InvalidArgumentError(
            f"{fn}: input (logits) must be floating point, got {xd.dtype}; "
            "convert it, e.g. x.astype('float32')"
        )
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise InvalidArgumentError(
            f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}"
        )
    ax = _class_axis(xd, axis, fn)
    c = xd.shape[ax]
    w = _weight_check(weight, c, xd.dtype, fn)
    if _is_int(td):
        if isinstance(t, Tensor):
            t = td
        ii = int(ignore_index)
        ignored = _labels_check(xd, td, ax, ii, fn, "input's")
        return _cross_entropy(
            x,
            t,
            w,
            axis=ax,
            ignore_index=ii if ignored else None,
            reduction=reduction,
            label_smoothing=ls,
        )[0]
    if td.dtype.kind != "f":
        raise InvalidArgumentError(
            f"{fn}: target must hold integer class labels or float class probabilities, "
            f"got dtype {td.dtype}; convert it, e.g. target.astype('int64')"
        )
    if td.shape != xd.shape:
        hint = ""
        if td.shape == xd.shape[:ax] + xd.shape[ax + 1 :]:
            hint = (
                " It has the shape of class labels: convert labels to an integer dtype, "
                "e.g. target.astype('int64')."
            )
        raise ShapeMismatchError(
            f"{fn}: a float target holds class probabilities and must have the input's shape "
            f"{xd.shape}; got {td.shape}.{hint}"
        )
    logp = log_softmax(x, axis=ax)
    if ls:
        t = t * (1.0 - ls) + ls / c
    if w is not None:
        t = t * w.reshape(_class_shape(xd.ndim, ax, c))
    loss = -_sum(logp * t, ax)
    return _reduce(loss, reduction)


def nll_loss(
    input: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
) -> Any:
    """Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    ``loss_n = -weight[y_n] * input[n, y_n]``; the class axis is 1 (0 for 1-D input).

    Parameters
    ----------
    input : Tensor or array_like
        Log-probabilities of shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``.
    target : array_like of int
        Class labels of the input's shape without the class axis.
    weight : array_like, optional
        ``(C,)`` class weights (constants).
    ignore_index : int
        Labels equal to it are skipped (no loss, no gradient, not counted by "mean").
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides by the sum of the weights of the non-ignored targets.

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> round(tg.nll_loss(tg.log(tg.tensor([[0.5, 0.5]])), np.array([1])).item(), 4)
    0.6931
    """
    fn = "nll_loss"
    _check_reduction(reduction, fn)
    x, td = _arr(input), _data(target)
    xd = _data(x)
    if xd.dtype.kind != "f":
        raise InvalidArgumentError(
            f"{fn}: input (log-probabilities) must be floating point, got {xd.dtype}"
        )
    if not _is_int(td):
        raise InvalidArgumentError(
            f"{fn}: target must hold integer class labels, got dtype {td.dtype}; "
            "convert it, e.g. target.astype('int64')"
        )
    ax = _class_axis(xd, None, fn)
    w = _weight_check(weight, xd.shape[ax], xd.dtype, fn)
    ii = int(ignore_index)
    ignored = _labels_check(xd, td, ax, ii, fn, "input's")
    safe, sw, denom = _label_consts(td, w, ii if ignored else None, xd.dtype)
    picked = _gather(x, safe, axis=ax)
    if sw is None:
        return -_reduce(picked, reduction)
    if ignored:
        # An ignored sample reads class 0 as a placeholder: select 0 there (PyTorch skips
        # it), as its weight 0 would make inf * 0 = NaN of an infinite input.
        picked = where(td != ii, picked, 0.0)
    loss = picked * -sw
    if reduction == "mean":
        if not denom:  # NaN, with a zero gradient (PyTorch)
            return _sum(loss) * 0.0 + float("nan")
        return _sum(loss) * (1.0 / denom)
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- regression


def _pair(input: Any, target: Any, fn: str) -> tuple[Any, Any]:
    x, t = _arr(input), _arr(target)
    xs, ts = _data(x).shape, _data(t).shape
    if xs != ts:
        try:
            np.broadcast_shapes(xs, ts)
        except ValueError:
            raise ShapeMismatchError(
                f"{fn}: input shape {xs} and target shape {ts} do not broadcast; pass a "
                "target of the input's shape"
            ) from None
        warnings.warn(
            f"{fn}: target shape {ts} differs from input shape {xs}; they are broadcast, "
            "which is likely not intended (as PyTorch warns). Reshape the target to match.",
            UserWarning,
            stacklevel=3,
        )
    return x, t


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean squared error ``(input - target) ** 2``, reduced; both arguments differentiable.

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> tg.mse_loss(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 4.0])).item()
    2.0
    """
    _check_reduction(reduction, "mse_loss")
    x, t = _pair(input, target, "mse_loss")
    return _reduce(square(x - t), reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean absolute error ``|input - target|``, reduced.

    At ``input == target`` the gradient is 0 (PyTorch's ``abs'(0) = 0``).
    """
    _check_reduction(reduction, "l1_loss")
    x, t = _pair(input, target, "l1_loss")
    return _reduce(_abs(x - t), reduction)


expose(l1_loss, kink="At input == target the gradient is 0 (PyTorch's abs'(0) = 0).")


def _huber_impl(d: Any, *, delta: float) -> Any:
    a = np.abs(d)
    return np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))


def _huber_slope(d: Any, delta: float) -> Any:
    # clip(d, -delta, delta) whose own derivative is 1 only for |d| < delta (PyTorch's
    # huber double backward); at |d| == delta the value is the constant +-delta (= d), at
    # NaN a constant NaN.
    outer = where(d < 0, -delta, where(d > 0, delta, stop_gradient(d)))
    return where(_abs(d) < delta, d, outer)


_huber = defvjp(
    Primitive(
        "huber_loss",
        _huber_impl,
        save=(0,),
        doc="Elementwise Huber function of the difference ``d``: ``0.5 d^2`` for "
        "``|d| < delta``, else ``delta (|d| - delta/2)``; derivative "
        "``clip(d, -delta, delta)`` (NaN at NaN). PyTorch's second derivative: 1 for "
        "``|d| < delta``, 0 elsewhere, also at ``|d| == delta``.",
        kink="At |d| == delta the gradient is +-delta and the second derivative 0 (PyTorch).",
    ),
    lambda g, ans, d, *, delta: g * _huber_slope(d, delta),
)
defjvp(_huber, lambda t, ans, d, *, delta: t * _huber_slope(d, delta))


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Any:
    """Huber loss: quadratic for ``|input - target| < delta``, linear beyond.

    ``0.5 d^2`` if ``|d| < delta`` else ``delta * (|d| - 0.5 delta)``, with ``d = input -
    target``.  The gradient is ``clip(d, -delta, delta)`` (continuous; at ``|d| == delta`` it
    is ``±delta``, as in PyTorch); the second derivative jumps there.

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> tg.huber_loss(tg.tensor([0.5, 3.0]), tg.zeros(2), reduction="none").tolist()
    [0.125, 2.5]
    """
    _check_reduction(reduction, "huber_loss")
    if not delta > 0:
        raise InvalidArgumentError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _pair(input, target, "huber_loss")
    return _reduce(_huber(x - t, delta=float(delta)), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Any:
    """Smooth L1 loss: ``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``.

    Equals ``huber_loss(delta=beta) / beta``; ``beta == 0`` gives :func:`l1_loss` (as in
    PyTorch).  The gradient is ``clip(d / beta, -1, 1)``.
    """
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise InvalidArgumentError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    x, t = _pair(input, target, "smooth_l1_loss")
    return _reduce(_huber(x - t, delta=float(beta)) * (1.0 / beta), reduction)


expose(
    smooth_l1_loss,
    kink="At |d| == beta the gradient is +-1 and the second derivative 0; beta == 0 is l1_loss "
    "(PyTorch).",
)


def binary_cross_entropy_with_logits(
    input: Any, target: Any, weight: Any = None, pos_weight: Any = None, reduction: str = "mean"
) -> Any:
    """Binary cross-entropy on logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    ``loss = -w * (pos_weight * t * log sigmoid(x) + (1 - t) * log(1 - sigmoid(x)))``,
    computed stably as ``(1 - t) x - (1 + (pos_weight - 1) t) * logsigmoid(x)`` (which equals
    ``max(x, 0) - x t + log1p(exp(-|x|))`` without ``pos_weight``).  Smooth everywhere
    (the gradient at ``x = 0`` is ``0.5 - t``).  Differentiable w.r.t. ``input``, ``target``,
    ``weight`` and ``pos_weight``.

    Parameters
    ----------
    input, target : Tensor or array_like
        Logits and targets in [0, 1], same shape.
    weight : array_like, optional
        Broadcast to the input's shape; multiplies each element's loss.
    pos_weight : array_like, optional
        Weight of the positive class, broadcast along the last axis (one per class).
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> loss = tg.binary_cross_entropy_with_logits(tg.tensor([0.0]), tg.tensor([1.0]))
    >>> round(loss.item(), 4)
    0.6931
    """
    fn = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, fn)
    x, t = _arr(input), _arr(target)
    xs, ts = _data(x).shape, _data(t).shape
    if xs != ts:
        raise ShapeMismatchError(f"{fn}: target shape {ts} must equal input shape {xs}")
    for name, a in (("input", x), ("target", t)):
        if _data(a).dtype.kind != "f":
            raise InvalidArgumentError(
                f"{fn}: {name} must be floating point, got {_data(a).dtype}; "
                "convert it, e.g. .astype('float32')"
            )
    for name, a in (("weight", weight), ("pos_weight", pos_weight)):
        if a is not None:
            try:
                np.broadcast_shapes(np.shape(_data(a)), xs)
            except ValueError:
                raise ShapeMismatchError(
                    f"{fn}: {name} of shape {np.shape(_data(a))} does not broadcast to the "
                    f"input shape {xs}"
                ) from None
    ls = logsigmoid(x)
    if pos_weight is None:
        loss = (1.0 - t) * x - ls
    else:
        pw = _arr(pos_weight)
        loss = (1.0 - t) * x - (1.0 + (pw - 1.0) * t) * ls
    if weight is not None:
        loss = loss * _arr(weight)
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- one_hot


def _one_hot_impl(labels: Any, *, num_classes: int) -> Any:
    labels = np.asarray(labels)
    out = np.zeros(labels.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


_one_hot = Primitive(
    "one_hot", _one_hot_impl, doc="Integer labels to an int64 one-hot array (no gradient)."
)


def one_hot(labels: Any, num_classes: int = -1) -> Any:
    """Integer labels to one-hot vectors (int64), as ``torch.nn.functional.one_hot``.

    The output is a Tensor of shape ``labels.shape + (num_classes,)``; ``num_classes=-1``
    uses ``labels.max() + 1``.  Not differentiable.

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> tg.one_hot(np.array([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    ld = _data(labels)
    if not _is_int(ld):
        raise InvalidArgumentError(
            f"one_hot: labels must be integers, got dtype {ld.dtype}; convert "
            "them, e.g. labels.astype('int64')"
        )
    num_classes = int(num_classes)
    if num_classes == -1:
        if ld.size == 0:
            raise InvalidArgumentError(
                "one_hot: cannot infer num_classes from empty labels; pass num_classes"
            )
        num_classes = int(ld.max()) + 1
    if num_classes < 0 and num_classes != -1:
        raise InvalidArgumentError(
            f"one_hot: num_classes must be -1 or non-negative, got {num_classes}"
        )
    if ld.size and (ld.min() < 0 or ld.max() >= num_classes):
        bad = ld[(ld < 0) | (ld >= num_classes)].flat[0]
        raise InvalidArgumentError(
            f"one_hot: label {int(bad)} is out of range for {num_classes} "
            f"classes; labels must be in [0, {num_classes - 1}]"
        )
    return _one_hot(
        labels if isinstance(labels, Tensor) else Tensor._wrap(ld), num_classes=num_classes
    )
