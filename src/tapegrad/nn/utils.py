"""Gradient utilities (``tg.nn.utils``): clipping by norm and by value, as in PyTorch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, InvalidTypeError, NonFiniteError
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in ps:
        if not isinstance(p, Tensor):
            raise InvalidTypeError(
                f"clip_grad: expected Tensors (parameters), got {type(p).__name__}"
            )
    return [p for p in ps if p.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale the gradients in place so that their total norm is at most ``max_norm``.

    The total norm is that of all gradients concatenated into one vector (PyTorch's
    ``torch.nn.utils.clip_grad_norm_``): gradients are multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Tensors whose ``.grad`` are clipped (those without a gradient are skipped).
    max_norm : float
        Largest allowed total norm.
    norm_type : float
        Order of the norm (``float("inf")`` for the largest absolute entry).
    error_if_nonfinite : bool
        Raise if the total norm is NaN or infinite (otherwise the gradients become NaN).

    Returns
    -------
    Tensor
        The total norm of the gradients before clipping (a 0-d tensor, the gradients' dtype).

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.tensor([0.0, 0.0], requires_grad=True)
    >>> tg.sum(w * tg.tensor([3.0, 4.0])).backward()
    >>> float(tg.nn.utils.clip_grad_norm_([w], 1.0).data), w.grad.data.round(4)
    (5.0, array([0.6, 0.8]))
    """
    gs = _grads(parameters)
    norm_type = float(norm_type)
    if not gs:
        return Tensor(np.array(0.0))
    arrays = [np.asarray(_grad_of(p)) for p in gs]
    dtype = np.result_type(*arrays)
    if norm_type == np.inf:
        norms = [np.max(np.abs(a)) if a.size else dtype.type(0) for a in arrays]
        total = np.max(np.array(norms, dtype=dtype))
    else:
        norms = [np.linalg.norm(a.reshape(-1), ord=norm_type) for a in arrays]
        total = np.linalg.norm(np.array(norms, dtype=dtype), ord=norm_type)
    total = np.asarray(total, dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise NonFiniteError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite "
            f"({total}), so they cannot be clipped; set error_if_nonfinite=False to clip anyway "
            "(the gradients become NaN) or find where the NaN/inf comes from"
        )
    coef = np.asarray(float(max_norm) / (total + 1e-6), dtype=dtype)
    coef = np.minimum(coef, np.asarray(1.0, dtype=dtype))
    for p, a in zip(gs, arrays):
        _grad_tensor(p).data = (a * coef.astype(a.dtype)).astype(a.dtype, copy=False)
    return Tensor(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry in place to ``[-clip_value, clip_value]``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Tensors whose ``.grad`` are clipped.
    clip_value : float
        Largest allowed absolute value (>= 0).

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.tensor([0.0, 0.0], requires_grad=True)
    >>> tg.sum(w * tg.tensor([3.0, -0.5])).backward()
    >>> tg.nn.utils.clip_grad_value_([w], 1.0); w.grad.data
    array([ 1. , -0.5])
    """
    clip_value = float(clip_value)
    if clip_value < 0:
        raise InvalidArgumentError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _grads(parameters):
        _grad_tensor(p).data = np.clip(np.asarray(_grad_of(p)), -clip_value, clip_value)


def _grad_tensor(p: Any) -> Any:
    """The ``.grad`` tensor of a parameter known to have one."""
    return p.grad


def _grad_of(p: Any) -> np.ndarray:
    """The gradient array of a parameter known to have one."""
    return p.grad.data
