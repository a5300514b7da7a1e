"""The rows of an explained tape: :class:`Step` (one value on the tape) and :class:`Partial`
(one local partial derivative of a step)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Step", "Partial"]


@dataclass(frozen=True)
class Partial:
    """One local partial derivative ``∂w_out/∂w_in`` of a step.

    Attributes
    ----------
    wrt : str
        The step it is taken with respect to (``"w1"``).
    position : int
        The argument position of the op that ``wrt`` fills (``x * x`` has two partials
        w.r.t. the same step, one per position).
    formula : str or None
        The derivative written in the step names (``"cos(w1)"``); None where no formula is
        tabulated for the op (the value is still exact).
    value : ndarray or None
        Its value: a scalar for scalar steps; for an elementwise op the elementwise
        derivative (shaped like the step's output); for a scalar output the gradient
        (shaped like the input).  None where it is a full Jacobian (e.g. ``matmul`` with a
        non-scalar output).
    """

    wrt: str
    position: int
    formula: str | None
    value: np.ndarray | None


@dataclass
class Step:
    """One row of the tape: an input or the result of one primitive.

    Attributes
    ----------
    index : int
        1-based position on the tape (``w{index}``).
    name : str
        ``"w1"``, ``"w2"``, ...
    kind : str
        ``"input"`` (an argument of the function), ``"op"`` (a recorded primitive) or
        ``"external"`` (a tensor requiring grad that the function used but did not receive
        as an argument, e.g. a parameter it closes over).
    op : str
        The primitive's name (``"sin"``, ``"multiply"``), ``"input"`` or ``"external"``.
    expr : str
        The right-hand side: ``"sin(w1)"``, ``"w1 * w2"``, ``"2 * w1"``; the input's name
        for an input.
    inputs : tuple of str
        The steps this one reads, by argument position (constants are not steps).
    value : ndarray or None
        The forward value (None only when it could not be observed, e.g. the output of a
        custom :class:`~tapegrad.autograd.Function` consumed only by another one).
    partials : tuple of Partial
        The local partial derivatives, one per input position that is a step.
    adjoint : ndarray or None
        ``w̄ = ∂L/∂w`` (reverse mode; None in forward mode).
    adjoint_expr : str or None
        How the backward pass sums it: ``"w̄3·cos(w1) + w̄4·w2"``; ``"1 (seed)"`` for the
        output.
    tangents : dict of str to ndarray
        Forward mode: ``ẇ`` for each seed direction, keyed by the input's name (empty in
        reverse mode).
    tangent_expr : str or None
        How the tangent is formed: ``"cos(w1)·ẇ1"`` (None in reverse mode).
    """

    index: int
    name: str
    kind: str
    op: str
    expr: str
    inputs: tuple[str, ...]
    value: np.ndarray | None
    partials: tuple[Partial, ...] = ()
    adjoint: np.ndarray | None = None
    adjoint_expr: str | None = None
    tangents: dict[str, np.ndarray] = field(default_factory=dict)
    tangent_expr: str | None = None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The shape of the value (None when the value is unknown)."""
        return None if self.value is None else tuple(self.value.shape)

    @property
    def equation(self) -> str:
        """``"w3 = sin(w1)"``."""
        return f"{self.name} = {self.expr}"
