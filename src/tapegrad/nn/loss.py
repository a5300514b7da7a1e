"""Loss functions as modules (``tg.nn.CrossEntropyLoss`` ...), wrapping ``tg.nn.functional``.

Each takes ``(input, target)`` in ``forward`` and has a ``reduction`` of ``"mean"``
(the default), ``"sum"`` or ``"none"``, as in PyTorch.  Class weights are buffers (they
appear in ``state_dict`` and follow ``astype``).
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError
from . import functional as F
from .module import Module

__all__ = [
    "CrossEntropyLoss",
    "NLLLoss",
    "MSELoss",
    "L1Loss",
    "HuberLoss",
    "SmoothL1Loss",
    "BCEWithLogitsLoss",
]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise InvalidArgumentError(
                f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got "
                f"{reduction!r}"
            )
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Cross-entropy between logits and class labels (or class probabilities).

    Parameters
    ----------
    weight : array_like, optional
        ``(C,)`` rescaling weight of each class.
    ignore_index : int
        Target value that contributes nothing (and is left out of the mean).
    reduction : {"mean", "sum", "none"}
        How the per-sample losses are combined.
    label_smoothing : float
        In ``[0, 1]``: mix the target with the uniform distribution.

    Examples
    --------
    >>> import tapegrad as tg
    >>> loss = tg.nn.CrossEntropyLoss()
    >>> round(float(loss(tg.tensor([[2.0, 0.0], [0.0, 2.0]]), tg.tensor([0, 1])).data), 4)
    0.1269
    """

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise InvalidArgumentError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}"
            )
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Any, target: Any) -> Any:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (use after ``LogSoftmax``).

    Examples
    --------
    >>> import tapegrad as tg
    >>> logp = tg.log(tg.tensor([[0.5, 0.5], [0.25, 0.75]]))
    >>> round(float(tg.nn.NLLLoss()(logp, tg.tensor([0, 1])).data), 4)
    0.4904
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Any:
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class MSELoss(_Loss):
    """Mean squared error ``(input - target)**2``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> float(tg.nn.MSELoss()(tg.tensor([1.0, 3.0]), tg.tensor([0.0, 0.0])).data)
    5.0
    """

    def forward(self, input: Any, target: Any) -> Any:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|input - target|``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> float(tg.nn.L1Loss()(tg.tensor([1.0, -3.0]), tg.tensor([0.0, 0.0])).data)
    2.0
    """

    def forward(self, input: Any, target: Any) -> Any:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Huber loss: quadratic within ``delta`` of the target, linear beyond.

    Examples
    --------
    >>> import tapegrad as tg
    >>> float(tg.nn.HuberLoss(delta=1.0)(tg.tensor([0.5, 3.0]), tg.zeros(2)).data)
    1.3125
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise InvalidArgumentError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Any, target: Any) -> Any:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [super().extra_repr(), f"delta={self.delta}"]))


class SmoothL1Loss(_Loss):
    """Smooth L1 loss: ``0.5 d**2 / beta`` within ``beta``, ``|d| - 0.5 beta`` beyond.

    Examples
    --------
    >>> import tapegrad as tg
    >>> float(tg.nn.SmoothL1Loss(beta=1.0)(tg.tensor([0.5, 3.0]), tg.zeros(2)).data)
    1.3125
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        if beta < 0:
            raise InvalidArgumentError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = beta

    def forward(self, input: Any, target: Any) -> Any:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [super().extra_repr(), f"beta={self.beta}"]))


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (a sigmoid and BCE in one stable step).

    Parameters
    ----------
    weight : array_like, optional
        Rescaling weight of each element (broadcast against the input).
    reduction : {"mean", "sum", "none"}
        How the element losses are combined.
    pos_weight : array_like, optional
        Weight of the positive examples, per class (broadcast along the last axis).

    Examples
    --------
    >>> import tapegrad as tg
    >>> loss = tg.nn.BCEWithLogitsLoss()
    >>> round(float(loss(tg.tensor([0.0, 2.0]), tg.tensor([1.0, 1.0])).data), 4)
    0.41
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Any, target: Any) -> Any:
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, pos_weight=self.pos_weight, reduction=self.reduction
        )
