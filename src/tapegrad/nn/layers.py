"""Layers as modules (PyTorch's names, shapes and default initialisation).

Every layer is composed of tapegrad ops, so gradients (of any order) come from the ops'
rules.  Parameters are created in ``tg.get_default_dtype()`` (float32 unless
``tg.set_default_dtype`` changed it, PyTorch's default) unless ``dtype=`` says otherwise; pass
``dtype="float64"`` for gradient checks.

A layer with parameters takes inputs of its parameters' dtype only, as PyTorch: float64 or
integer data into a float32 layer raises :class:`tapegrad.DtypeMismatchError` (a
``TypeError`` and a ``RuntimeError``) whose message says how to make them agree (``x.float()``,
``model.double()`` or ``tg.set_default_dtype``).  The output has the parameters' dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops as _ops
from .. import random as _random
from .._dtype import check_float_input, check_input_dtype, param_dtype
from ..autograd import grad_mode
from ..errors import (
    DtypeMismatchError,
    IndexingError,
    InvalidArgumentError,
    InvalidTypeError,
    ShapeMismatchError,
)
from ..ops import nn as _F
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = [
    "Identity",
    "Linear",
    "Dropout",
    "Flatten",
    "Embedding",
    "LayerNorm",
    "BatchNorm1d",
    "BatchNorm2d",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "GELU",
    "SiLU",
    "LeakyReLU",
    "ELU",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "RNNCell",
    "LSTMCell",
]


def _positive_int(value: Any, name: str, layer: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidTypeError(f"{layer}: {name} must be an int, got {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidArgumentError(f"{layer}: {name} must be positive, got {value}")
    return int(value)


def _last_dim(x: Any, expected: int, layer: str, what: str = "features") -> None:
    shape = x.shape if hasattr(x, "shape") else np.shape(x)
    if len(shape) == 0 or shape[-1] != expected:
        raise ShapeMismatchError(
            f"{layer} expects inputs whose last dimension has {expected} {what}, got shape "
            f"{tuple(shape)}; reshape the input or build the layer with the right size"
        )


# --------------------------------------------------------------------------- simple layers


class Identity(Module):
    """Returns its input unchanged (arguments to the constructor are ignored).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.Identity()(tg.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Linear(Module):
    """Affine map ``y = x @ weight.T + bias`` over the last axis.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of the input and of the output.
    bias : bool
        Whether to learn an additive bias (default True).
    dtype : dtype, optional
        Parameter dtype; inputs must have it too (default ``tg.get_default_dtype()``, float32).

    Attributes
    ----------
    weight : Parameter
        Shape ``(out_features, in_features)``, initialised by PyTorch's default
        ``kaiming_uniform_(a=sqrt(5))``, i.e. ``U(-1/sqrt(in), 1/sqrt(in))``.
    bias : Parameter or None
        Shape ``(out_features,)``, ``U(-1/sqrt(in), 1/sqrt(in))``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> layer = tg.nn.Linear(3, 2)
    >>> layer(tg.ones((4, 3), dtype="float32")).shape
    (4, 2)
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear", True)
        self.out_features = _positive_int(out_features, "out_features", "Linear", True)
        dt = param_dtype(dtype, "Linear")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dt))
        self.bias = Parameter(np.empty(self.out_features, dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the parameters with PyTorch's default initialisation."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Any) -> Any:
        _last_dim(x, self.in_features, "Linear")
        check_input_dtype(x, self.weight.dtype, "Linear")
        y = _ops.matmul(x, _ops.matrix_transpose(self.weight))
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Dropout(Module):
    """Zero each element with probability ``p`` in training mode, scaling the rest by
    ``1 / (1 - p)``; the identity in evaluation mode.

    The mask is drawn from ``tg.random.default_generator()`` (``tg.random.seed`` makes it
    reproducible) unless a ``generator`` is given.

    Examples
    --------
    >>> import tapegrad as tg
    >>> drop = tg.nn.Dropout(0.5)
    >>> y = drop(tg.ones(1000))
    >>> sorted(set(y.tolist()))
    [0.0, 2.0]
    >>> drop.eval()(tg.ones(3))
    tensor([1., 1., 1.])
    """

    def __init__(
        self, p: float = 0.5, inplace: bool = False, generator: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise InvalidArgumentError(
                f"{type(self).__name__}: dropout probability must be a number in [0, 1], got {p!r}"
            )
        self.p = float(p)
        self.inplace = inplace
        self.generator = generator

    def forward(self, x: Any) -> Any:
        if not self.training or self.p == 0.0:
            return x
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if data.dtype.kind != "f":
            # PyTorch: "result type Float can't be cast to the desired output type Long"
            raise DtypeMismatchError(
                f"Dropout: the input has dtype {data.dtype}, but dropout in training mode scales "
                "by 1 / (1 - p), which needs floating-point data; cast it first (x.float())"
            )
        dt = data.dtype
        if self.p == 1.0:
            return x * np.zeros(data.shape, dt)
        mask = grad_mode.source(_dropout_mask, self.generator, data.shape, self.p, dt)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


def _bn_update_stats(bn: Any, mu: np.ndarray, var: np.ndarray, n: int) -> None:
    """Fold a batch's mean and (biased) variance into a batch norm's running statistics."""
    nbt = bn.num_batches_tracked
    nbt.data = np.array(nbt.data + 1, dtype=nbt.data.dtype)
    m = 1.0 / float(nbt.data) if bn.momentum is None else float(bn.momentum)
    mean = mu.reshape(-1)
    unbiased = var.reshape(-1) * (n / (n - 1))
    rm, rv = bn.running_mean, bn.running_var
    rm.data = ((1 - m) * rm.data + m * mean).astype(rm.data.dtype, copy=False)
    rv.data = ((1 - m) * rv.data + m * unbiased).astype(rv.data.dtype, copy=False)


def _dropout_mask(gen: np.random.Generator | None, shape: Any, p: float, dt: np.dtype) -> Any:
    """Dropout's scaled keep-mask: 0 with probability p, else 1 / (1 - p) (a random source:
    drawn anew on every call of a compiled function)."""
    keep = (gen if gen is not None else _random.default_generator()).random(shape) >= p
    return keep.astype(dt) * dt.type(1.0 / (1.0 - p))


class Flatten(Module):
    """Merge the axes ``start_dim..end_dim`` into one (default: all but the batch axis).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.Flatten()(tg.zeros((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Any) -> Any:
        return _ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Embedding(Module):
    """A lookup table: integer indices of any shape -> rows of ``weight``.

    Parameters
    ----------
    num_embeddings : int
        Number of rows (valid indices are ``0 .. num_embeddings - 1``).
    embedding_dim : int
        Size of each row.
    padding_idx : int, optional
        A row that starts at zero and receives no gradient.
    dtype : dtype, optional
        Parameter dtype; inputs must have it too (default ``tg.get_default_dtype()``, float32).

    Attributes
    ----------
    weight : Parameter
        Shape ``(num_embeddings, embedding_dim)``, initialised ``N(0, 1)`` (PyTorch's default).

    Examples
    --------
    >>> import tapegrad as tg
    >>> emb = tg.nn.Embedding(10, 3)
    >>> emb(tg.tensor([[1, 2], [3, 1]])).shape
    (2, 2, 3)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise InvalidArgumentError(
                    f"Embedding: padding_idx {padding_idx} is out of range for "
                    f"{self.num_embeddings} embeddings"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(
            np.empty((self.num_embeddings, self.embedding_dim), param_dtype(dtype, "Embedding"))
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw ``weight`` from ``N(0, 1)`` (the padding row set to zero)."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices: Any) -> Any:
        idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        if idx.dtype.kind not in "iu":
            raise DtypeMismatchError(
                f"Embedding takes integer indices, got dtype {idx.dtype}; convert with "
                ".astype('int64')"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise IndexingError(
                f"Embedding index out of range: indices must be in [0, {self.num_embeddings}), "
                f"got values in [{idx.min()}, {idx.max()}]"
            )
        out = _ops.getitem(self.weight, idx)
        if self.padding_idx is not None:
            keep = (idx != self.padding_idx)[..., None]
            out = _ops.where(keep, out, out.detach())
        return out

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


# --------------------------------------------------------------------------- normalisation


class LayerNorm(Module):
    """Normalise over the last ``len(normalized_shape)`` axes, then scale and shift.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the biased variance.

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The trailing shape to normalise over.
    eps : float
        Added to the variance (default 1e-5).
    elementwise_affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros) of shape ``normalized_shape``.
    bias : bool
        With ``elementwise_affine``, whether to learn the bias too.
    dtype : dtype, optional
        Parameter dtype; inputs must have it too (default ``tg.get_default_dtype()``, float32).

    Examples
    --------
    >>> import tapegrad as tg
    >>> ln = tg.nn.LayerNorm(4)
    >>> y = ln(tg.tensor([[1.0, 2.0, 3.0, 4.0]], dtype="float32"))
    >>> round(float(y.mean()), 6), y.dtype
    (0.0, dtype('float32'))
    """

    weight: Parameter | None
    bias: Parameter | None

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = elementwise_affine
        dt = param_dtype(dtype, "LayerNorm")
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            self.bias = Parameter(np.zeros(self.normalized_shape, dt)) if bias else None
        else:
            self.weight = None
            self.bias = None

    def reset_parameters(self) -> None:
        """Set ``weight`` to ones and ``bias`` to zeros."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Any:
        k = len(self.normalized_shape)
        shape = tuple(x.shape)
        if shape[len(shape) - k :] != self.normalized_shape or len(shape) < k:
            raise ShapeMismatchError(
                f"LayerNorm({self.normalized_shape}) expects inputs whose trailing shape is "
                f"{self.normalized_shape}, got shape {shape}"
            )
        if self.weight is not None:
            check_input_dtype(x, self.weight.dtype, "LayerNorm")
        elif self.bias is not None:
            check_input_dtype(x, self.bias.dtype, "LayerNorm")
        else:
            check_float_input(x, "LayerNorm")
        axes = tuple(range(-k, 0))
        mu = _ops.mean(x, axes, True)
        d = x - mu
        var = _ops.mean(d * d, axes, True)
        y = d / _ops.sqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class _BatchNorm(Module):
    _ndims: tuple[int, ...] = ()
    weight: Parameter | None
    bias: Parameter | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(num_features, "num_features", name)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = param_dtype(dtype, name)
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dt))
            self.bias = Parameter(np.zeros(self.num_features, dt)) if bias else None
        else:
            self.weight = None
            self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dt)))
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, ``num_batches_tracked`` 0."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        """Reset the running statistics and set ``weight`` to ones, ``bias`` to zeros."""
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Any:
        name = type(self).__name__
        shape = tuple(x.shape)
        if len(shape) not in self._ndims or shape[1] != self.num_features:
            dims = " or ".join(f"{n}-d" for n in self._ndims)
            raise ShapeMismatchError(
                f"{name}({self.num_features}) expects {dims} input of shape (N, "
                f"{self.num_features}, ...), got shape {shape}"
            )
        ref = self.weight if self.weight is not None else self.running_mean
        if ref is not None:
            check_input_dtype(x, ref.dtype, name)
        else:
            check_float_input(x, name)
        axes = (0,) + tuple(range(2, len(shape)))
        bshape = (1, self.num_features) + (1,) * (len(shape) - 2)
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            n = int(np.prod([shape[a] for a in axes]))
            if self.training and n <= 1:
                raise InvalidArgumentError(
                    f"{name} needs more than 1 value per channel in training mode, got input "
                    f"shape {shape}; use a larger batch or call .eval()"
                )
            mu = _ops.mean(x, axes, True)
            d = x - mu
            var = _ops.mean(d * d, axes, True)
            if self.training and self.track_running_stats:
                self._update_stats(mu, var, n)
            y = d / _ops.sqrt(var + self.eps)
        else:
            rm = _ops.reshape(self.running_mean, bshape)
            rv = _ops.reshape(self.running_var, bshape)
            y = (x - rm) / _ops.sqrt(rv + self.eps)
        if self.weight is not None:
            y = y * _ops.reshape(self.weight, bshape)
        if self.bias is not None:
            y = y + _ops.reshape(self.bias, bshape)
        return y

    def _update_stats(self, mu: Any, var: Any, n: int) -> None:
        mean = mu.data if isinstance(mu, Tensor) else np.asarray(mu)
        v = var.data if isinstance(var, Tensor) else np.asarray(var)
        # (an effect: a compiled training step updates the running statistics every call)
        grad_mode.effect(_bn_update_stats, self, mean, v, n)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over ``(N, C)`` or ``(N, C, L)`` inputs, per channel ``C``.

    In training mode the batch statistics (biased variance) normalise the input and update
    ``running_mean`` / ``running_var`` (unbiased variance) with ``momentum``
    (``running = (1 - momentum) * running + momentum * batch``; ``momentum=None`` gives the
    cumulative average); ``num_batches_tracked`` counts the updates.  In evaluation mode the
    running statistics are used.

    Parameters
    ----------
    num_features : int
        Number of channels ``C``.
    eps : float
        Added to the variance (default 1e-5).
    momentum : float or None
        Weight of the new batch in the running statistics (default 0.1).
    affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros) per channel.
    track_running_stats : bool
        Keep running statistics; if False, batch statistics are used in both modes.
    dtype : dtype, optional
        Parameter and buffer dtype; inputs must have it too (default
        ``tg.get_default_dtype()``, float32).
    bias : bool
        With ``affine``, whether to learn the bias too (keyword only).

    Examples
    --------
    >>> import tapegrad as tg
    >>> bn = tg.nn.BatchNorm1d(3)
    >>> y = bn(tg.randn(8, 3).astype("float32"))
    >>> int(bn.num_batches_tracked.item()), y.shape
    (1, (8, 3))
    """

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over ``(N, C, H, W)`` inputs, per channel ``C``.

    Same parameters and running-statistics rules as :class:`BatchNorm1d`.

    Examples
    --------
    >>> import tapegrad as tg
    >>> bn = tg.nn.BatchNorm2d(2).eval()
    >>> bn(tg.ones((1, 2, 3, 3), dtype="float32")).shape
    (1, 2, 3, 3)
    """

    _ndims = (4,)


# --------------------------------------------------------------------------- activations


class ReLU(Module):
    """``max(x, 0)`` elementwise (derivative 0 at 0).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.ReLU()(tg.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Any) -> Any:
        return _ops.relu(x)


class Tanh(Module):
    """``tanh(x)`` elementwise.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.Tanh()(tg.tensor([0.0]))
    tensor([0.])
    """

    def forward(self, x: Any) -> Any:
        return _ops.tanh(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.Sigmoid()(tg.tensor([0.0]))
    tensor([0.5])
    """

    def forward(self, x: Any) -> Any:
        return _ops.sigmoid(x)


class GELU(Module):
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate="tanh"`` for the tanh form.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.GELU()(tg.tensor([0.0]))
    tensor([0.])
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise InvalidArgumentError(
                f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}"
            )
        self.approximate = approximate

    def forward(self, x: Any) -> Any:
        return _ops.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)`` elementwise (swish).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.SiLU()(tg.tensor([0.0]))
    tensor([0.])
    """

    def forward(self, x: Any) -> Any:
        return _ops.silu(x)


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x`` elementwise.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.LeakyReLU(0.1)(tg.tensor([-1.0, 2.0]))
    tensor([-0.1,  2. ])
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = inplace

    def forward(self, x: Any) -> Any:
        return _ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """``x if x > 0 else alpha * (exp(x) - 1)`` elementwise.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.ELU()(tg.tensor([1.0]))
    tensor([1.])
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.inplace = inplace

    def forward(self, x: Any) -> Any:
        return _ops.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> round(float(tg.nn.Softplus()(tg.tensor(0.0))), 4)
    0.6931
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = float(beta)
        self.threshold = float(threshold)

    def forward(self, x: Any) -> Any:
        return _ops.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """Softmax along ``dim`` (None means the last axis).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.Softmax(dim=-1)(tg.tensor([0.0, 0.0]))
    tensor([0.5, 0.5])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Any:
        return _F.softmax(x, -1 if self.dim is None else self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim`` (None means the last axis).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.nn.LogSoftmax(dim=1)(tg.zeros((1, 2))).shape
    (1, 2)
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Any:
        return _F.log_softmax(x, -1 if self.dim is None else self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# --------------------------------------------------------------------------- recurrent cells


class _RNNCellBase(Module):
    _gates = 1
    bias_ih: Parameter | None
    bias_hh: Parameter | None

    def __init__(self, input_size: int, hidden_size: int, bias: bool, dtype: Any) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _positive_int(input_size, "input_size", name, True)
        self.hidden_size = _positive_int(hidden_size, "hidden_size", name)
        self.bias = bias
        dt = param_dtype(dtype, name)
        g = self._gates * self.hidden_size
        self.weight_ih = Parameter(np.empty((g, self.input_size), dt))
        self.weight_hh = Parameter(np.empty((g, self.hidden_size), dt))
        if bias:
            self.bias_ih = Parameter(np.empty(g, dt))
            self.bias_hh = Parameter(np.empty(g, dt))
        else:
            self.bias_ih = None
            self.bias_hh = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _gates_of(self, x: Any, h: Any) -> Any:
        z = _ops.matmul(x, _ops.matrix_transpose(self.weight_ih))
        z = z + _ops.matmul(h, _ops.matrix_transpose(self.weight_hh))
        if self.bias_ih is not None:
            z = z + (self.bias_ih + self.bias_hh)
        return z

    def _check_input(self, x: Any) -> bool:
        name = type(self).__name__
        if x.ndim not in (1, 2):
            raise ShapeMismatchError(
                f"{name} expects input of shape (batch, {self.input_size}) or "
                f"({self.input_size},), got shape {tuple(x.shape)}"
            )
        _last_dim(x, self.input_size, name)
        check_input_dtype(x, self.weight_ih.dtype, name)
        return x.ndim == 1

    def _check_state(self, h: Any, x: Any, what: str) -> None:
        expected = tuple(x.shape[:-1]) + (self.hidden_size,)
        if tuple(h.shape) != expected:
            raise ShapeMismatchError(
                f"{type(self).__name__}: {what} has shape {tuple(h.shape)}, expected {expected} "
                f"(batch of the input, hidden_size={self.hidden_size})"
            )
        check_input_dtype(h, self.weight_ih.dtype, type(self).__name__, what)

    def _zeros(self, x: Any) -> Tensor:
        return Tensor._wrap(
            np.zeros(tuple(x.shape[:-1]) + (self.hidden_size,), self.weight_ih.data.dtype)
        )

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s


class RNNCell(_RNNCellBase):
    """One step of an Elman RNN: ``h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)``.

    Parameters
    ----------
    input_size, hidden_size : int
        Feature sizes of the input and of the hidden state.
    bias : bool
        Learn ``bias_ih`` and ``bias_hh`` (default True).
    nonlinearity : {"tanh", "relu"}
        The activation.
    dtype : dtype, optional
        Parameter dtype; inputs must have it too (default ``tg.get_default_dtype()``, float32).

    Notes
    -----
    ``forward(input, hx=None)``: ``input`` has shape ``(batch, input_size)`` or
    ``(input_size,)``; ``hx`` (zeros if None) the matching ``(..., hidden_size)``.  Every
    parameter starts ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))`` (PyTorch's default).

    Examples
    --------
    >>> import tapegrad as tg
    >>> cell = tg.nn.RNNCell(3, 5)
    >>> cell(tg.zeros((2, 3), dtype="float32")).shape
    (2, 5)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise InvalidArgumentError(
                f"{type(self).__name__}: nonlinearity must be 'tanh' or 'relu', got "
                f"{nonlinearity!r}"
            )
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Any:
        self._check_input(input)
        if hx is None:
            hx = self._zeros(input)
        else:
            self._check_state(hx, input, "hx")
        z = self._gates_of(input, hx)
        return _ops.tanh(z) if self.nonlinearity == "tanh" else _ops.relu(z)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class LSTMCell(_RNNCellBase):
    """One step of an LSTM, PyTorch's gate order ``i, f, g, o``.

    ``i, f, o = sigmoid(...)``, ``g = tanh(...)`` of the rows of
    ``x @ W_ih.T + b_ih + h @ W_hh.T + b_hh``; ``c' = f * c + i * g``,
    ``h' = o * tanh(c')``.  Returns ``(h', c')``.

    Parameters
    ----------
    input_size, hidden_size : int
        Feature sizes of the input and of the hidden state.
    bias : bool
        Learn ``bias_ih`` and ``bias_hh`` (default True).
    dtype : dtype, optional
        Parameter dtype; inputs must have it too (default ``tg.get_default_dtype()``, float32).

    Notes
    -----
    ``forward(input, hx=None)``: ``hx`` is a pair ``(h, c)`` (zeros if None).  ``weight_ih``
    has shape ``(4 * hidden_size, input_size)``; every parameter starts
    ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))`` (PyTorch's default).

    Examples
    --------
    >>> import tapegrad as tg
    >>> cell = tg.nn.LSTMCell(3, 4)
    >>> h, c = cell(tg.zeros((2, 3), dtype="float32"))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """

    _gates = 4

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        self._check_input(input)
        if hx is None:
            h = c = self._zeros(input)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise InvalidTypeError("LSTMCell: hx must be a pair (h, c) of tensors, or None")
            h, c = hx
            self._check_state(h, input, "h")
            self._check_state(c, input, "c")
        z = self._gates_of(input, h)
        n = self.hidden_size
        i = _ops.sigmoid(z[..., :n])
        f = _ops.sigmoid(z[..., n : 2 * n])
        g = _ops.tanh(z[..., 2 * n : 3 * n])
        o = _ops.sigmoid(z[..., 3 * n :])
        c2 = f * c + i * g
        h2 = o * _ops.tanh(c2)
        return h2, c2
