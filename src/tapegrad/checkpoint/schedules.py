"""The schedules of :func:`~tapegrad.checkpoint.checkpoint_chain`: the binomial (Revolve)
schedule of Griewank & Walther (2000), from the ``checkpoint-schedules`` package, and its
cost."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, InvalidTypeError, MissingDependencyError

__all__ = ["binomial_steps"]


def binomial_steps(n_steps: int, snapshots: int) -> int:
    """The fewest step evaluations that reverse an ``n_steps`` chain with ``snapshots``
    snapshots: the forward sweep, the recomputations and the taped steps together
    (Griewank & Walther 2000, Proposition 1).

    With ``r`` the smallest integer such that ``C(s + r, s) >= n``, the steps beyond the
    ``n`` taped ones number ``r n - C(s + r, s + 1)``.

    Examples
    --------
    >>> from tapegrad.checkpoint import binomial_steps
    >>> binomial_steps(10, 3)   # 10 taped + 15 recomputed
    25
    >>> binomial_steps(10, 9)   # a snapshot per step: the forward sweep, then each step taped
    19
    """
    n, s = _check_chain_args(n_steps, snapshots)
    if n <= 1:
        return n
    s = min(s, n - 1)
    r = 0
    while math.comb(s + r, s) < n:
        r += 1
    return n + r * n - math.comb(s + r, s + 1)


def _check_chain_args(n_steps: Any, snapshots: Any) -> tuple[int, int]:
    for name, v in (("n_steps", n_steps), ("snapshots", snapshots)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InvalidTypeError(
                f"checkpoint_chain: {name} must be an int, got {type(v).__name__}"
            )
    if n_steps < 0:
        raise InvalidArgumentError(f"checkpoint_chain: n_steps must be >= 0, got {n_steps}")
    if snapshots < 1:
        raise InvalidArgumentError(
            f"checkpoint_chain: snapshots must be >= 1 (the initial state is one), got {snapshots}"
        )
    return int(n_steps), int(snapshots)


def _schedule(n: int, s: int) -> Any:
    try:
        from checkpoint_schedules import MultistageCheckpointSchedule
    except ImportError:
        raise MissingDependencyError(
            "checkpoint_chain takes its binomial (Revolve) schedule from the "
            'checkpoint-schedules package: pip install "tapegrad[checkpoint]" (or pip '
            "install checkpoint-schedules)"
        ) from None
    return MultistageCheckpointSchedule(n, min(s, max(n - 1, 0)), 0)
