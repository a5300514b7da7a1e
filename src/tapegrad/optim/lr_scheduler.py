"""Learning-rate schedulers (PyTorch's recurrences, so the sequences match ``torch.optim``)."""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

from ..errors import AbstractMethodError, InvalidArgumentError, InvalidKeyError, InvalidTypeError
from .optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "SequentialLR",
    "linear_warmup",
]


class LRScheduler:
    """Base class: sets each group's ``lr`` from ``get_lr()`` at every :meth:`step`.

    Construction performs the first step (epoch 0), as in PyTorch.  Call ``optimizer.step()``
    before ``scheduler.step()`` in the training loop.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` are scheduled.
    last_epoch : int
        Index of the last epoch when resuming (-1 starts afresh).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise InvalidTypeError(
                f"{type(self).__name__}: {type(optimizer).__name__} is not an Optimizer"
            )
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise InvalidKeyError(
                        f"{type(self).__name__}: param 'initial_lr' is not in param_groups[{i}] "
                        "when resuming with last_epoch >= 0; load the optimizer's state_dict first"
                    )
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch`` (computed by subclasses)."""
        raise AbstractMethodError(
            f"{type(self).__name__} must define get_lr(): return one learning rate per "
            "parameter group"
        )

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last :meth:`step`, one per parameter group."""
        return self._last_lr

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer."""
        self._step_count += 1
        self.last_epoch += 1
        self._set(self.get_lr())

    def _set(self, values: list[float]) -> None:
        for g, lr in zip(self.optimizer.param_groups, values):
            g["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _group_lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (every attribute but the optimizer)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict`."""
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Examples
    --------
    >>> import tapegrad as tg
    >>> opt = tg.optim.SGD([tg.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = tg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> for _ in range(4): opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if not isinstance(step_size, int) or step_size <= 0:
            raise InvalidArgumentError(
                f"StepLR: step_size must be a positive integer, got {step_size!r}"
            )
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch.

    Examples
    --------
    >>> import tapegrad as tg
    >>> opt = tg.optim.SGD([tg.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = tg.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._group_lrs()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the base learning rate to ``eta_min`` over ``T_max`` epochs.

    Uses PyTorch's recurrence (so the values match ``torch.optim.lr_scheduler``); after
    ``T_max`` the cosine continues (goes back up), as in PyTorch.

    Examples
    --------
    >>> import tapegrad as tg
    >>> opt = tg.optim.SGD([tg.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = tg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    >>> opt.step(); sched.step(); round(sched.get_last_lr()[0], 6)
    0.5
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if T_max <= 0:
            raise InvalidArgumentError(
                f"CosineAnnealingLR: T_max must be a positive number of epochs, got {T_max!r}"
            )
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and self.last_epoch > 0:
            return [
                self.eta_min
                + (b - self.eta_min) * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                for b in self.base_lrs
            ]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [
                g["lr"] + (b - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                for b, g in zip(self.base_lrs, groups)
            ]
        return [
            (1 + math.cos(math.pi * self.last_epoch / self.T_max))
            / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
            * (g["lr"] - self.eta_min)
            + self.eta_min
            for g in groups
        ]


class LinearLR(LRScheduler):
    """Scale the learning rate linearly from ``start_factor`` to ``end_factor`` (warmup).

    Examples
    --------
    >>> import tapegrad as tg
    >>> opt = tg.optim.SGD([tg.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = tg.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3)
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(3): opt.step(); sched.step(); lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [0.25, 0.5, 0.75, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise InvalidArgumentError(
                f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}"
            )
        if end_factor > 1.0 or end_factor < 0:
            raise InvalidArgumentError(
                f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}"
            )
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        return [
            g["lr"]
            * (
                1.0
                + (self.end_factor - self.start_factor)
                / (
                    self.total_iters * self.start_factor
                    + (self.last_epoch - 1) * (self.end_factor - self.start_factor)
                )
            )
            for g in groups
        ]

    def _closed_form(self) -> list[float]:
        return [
            b
            * (
                self.start_factor
                + (self.end_factor - self.start_factor)
                * min(self.total_iters, self.last_epoch)
                / self.total_iters
            )
            for b in self.base_lrs
        ]


class SequentialLR(LRScheduler):
    """Run schedulers one after another, switching at the given epochs (``milestones``).

    Examples
    --------
    >>> import tapegrad as tg
    >>> from tapegrad.optim import lr_scheduler as S
    >>> opt = tg.optim.SGD([tg.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> warm = S.LinearLR(opt, start_factor=0.5, total_iters=2)
    >>> decay = S.ExponentialLR(opt, gamma=0.5)
    >>> sched = S.SequentialLR(opt, [warm, decay], milestones=[2])
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(4): opt.step(); sched.step(); lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        if len(schedulers) < 1:
            raise InvalidArgumentError("SequentialLR needs at least one scheduler")
        for i, s in enumerate(schedulers):
            if getattr(s, "optimizer", None) is not optimizer:
                raise InvalidArgumentError(
                    f"SequentialLR: scheduler {i} ({type(s).__name__}) belongs to a different "
                    "optimizer; all schedulers of a SequentialLR must share its optimizer"
                )
        if len(milestones) != len(schedulers) - 1:
            raise InvalidArgumentError(
                f"SequentialLR needs one milestone fewer than schedulers, got {len(schedulers)} "
                f"schedulers and {len(milestones)} milestones"
            )
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"]
        for s in self._schedulers:
            s.last_epoch -= 1
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        s = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            s._step_count += 1
            s.last_epoch = 0
            closed = getattr(s, "_closed_form", None)
            s._set(closed() if closed is not None else _closed_form_at0(s))
        else:
            s.step()
        self._last_lr = s.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        sd = dict(state_dict)
        subs = sd.pop("_schedulers")
        self.__dict__.update(sd)
        for s, d in zip(self._schedulers, subs):
            s.load_state_dict(d)


def _closed_form_at0(s: LRScheduler) -> list[float]:
    # PyTorch's closed forms at epoch 0 give the base learning rates for these schedulers.
    return list(s.base_lrs)


def linear_warmup(
    optimizer: Optimizer,
    warmup_iters: int,
    after: LRScheduler | None = None,
    start_factor: float = 0.1,
) -> LRScheduler:
    """Linear warmup over ``warmup_iters`` steps, then (optionally) another scheduler.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer to schedule.
    warmup_iters : int
        Steps of warmup from ``start_factor * lr`` to ``lr``.
    after : LRScheduler, optional
        The scheduler that takes over after warmup (built on the same optimizer).
    start_factor : float
        The first step's fraction of the learning rate.

    Examples
    --------
    >>> import tapegrad as tg
    >>> from tapegrad.optim import lr_scheduler as S
    >>> opt = tg.optim.SGD([tg.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = S.linear_warmup(opt, 2, S.CosineAnnealingLR(opt, T_max=10), start_factor=0.5)
    >>> sched.get_last_lr()
    [0.5]
    """
    warm = LinearLR(optimizer, start_factor=start_factor, total_iters=warmup_iters)
    if after is None:
        return warm
    return SequentialLR(optimizer, [warm, after], milestones=[warmup_iters])
