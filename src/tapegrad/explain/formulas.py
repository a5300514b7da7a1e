"""The formulas beside the numbers, read from each op's declaration.

An op says how :func:`~tapegrad.explain.explain` writes it with ``explain=`` (see
:func:`tapegrad.ops.registry.expose`): the local partial derivative with respect to each
operand, and optionally the step's right-hand side (``"{0} + {1}"``) and the terms it adds
to the adjoints (``"{g} @ {1}ᵀ"``) and to the tangent (``"sum({t})"``).  A callable
declaration receives an :class:`OpCall` (the operands' texts and values, the parameters)
and returns the same.  This module turns a declaration into the texts of one step, and
simplifies the products and sums the tables show (``w̄5·1`` is ``w̄5``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .notation import _const_text, _fmt_key


class OpCall:
    """One primitive call, as an op's ``explain=`` callable sees it.

    Attributes
    ----------
    ops : tuple of str
        Each operand's text: a step name (``"w1"``) or a constant (``"2"``, ``"(-1)"``).
    args : tuple
        The operands' values (arrays, or the constants as given).
    const : tuple of bool
        True where an operand is a constant rather than a step.
    params : dict
        The call's keyword parameters.
    value : ndarray or None
        The value of the step's output (None when it could not be observed).
    """

    __slots__ = ("ops", "args", "const", "params", "value")

    def __init__(
        self,
        ops: tuple[str, ...],
        args: tuple[Any, ...],
        const: tuple[bool, ...],
        params: dict[str, Any],
        value: np.ndarray | None,
    ) -> None:
        self.ops = ops
        self.args = args
        self.const = const
        self.params = params
        self.value = value

    @staticmethod
    def number(v: Any) -> str:
        """A number written as the tables write a constant operand (``3``, ``(-1.5)``)."""
        return _const_text(v)

    @staticmethod
    def index_text(key: Any) -> str:
        """An index key written as a subscript: ``[0, 1:]`` (a trailing ``...`` dropped)."""
        key = key if isinstance(key, tuple) else (key,)
        while key and key[-1] is Ellipsis:
            key = key[:-1]
        return "[" + ", ".join(_fmt_key(k) for k in key) + "]"


class Declared:
    """What an op's declaration says about one call: each entry is a text in the operands'
    names, or None where the op declares nothing (the tables then fall back to the generic
    forms)."""

    __slots__ = ("text", "partials", "adjoint", "tangent")

    def __init__(
        self,
        text: str | None = None,
        partials: tuple[str | None, ...] = (),
        adjoint: tuple[str | None, ...] = (),
        tangent: tuple[str | None, ...] = (),
    ) -> None:
        self.text = text
        self.partials = partials
        self.adjoint = adjoint
        self.tangent = tangent

    def partial(self, pos: int) -> str | None:
        return self.partials[pos] if pos < len(self.partials) else None

    def adjoint_term(self, pos: int, g: str) -> str | None:
        t = self.adjoint[pos] if pos < len(self.adjoint) else None
        return None if t is None else t.replace("{g}", g)

    def tangent_term(self, pos: int, t: str) -> str | None:
        s = self.tangent[pos] if pos < len(self.tangent) else None
        return None if s is None else s.replace("{t}", t)


NOTHING = Declared()


def _texts(seq: Any, ops: tuple[str, ...], keep: str | None = None) -> tuple[str | None, ...]:
    """Fill the operand placeholders of each template (``keep`` stays as written)."""
    if seq is None:
        return ()
    out: list[str | None] = []
    for tmpl in seq:
        if tmpl is None:
            out.append(None)
        elif keep is None:
            out.append(tmpl.format(*ops))
        else:
            mark = "\0"
            out.append(tmpl.replace(keep, mark).format(*ops).replace(mark, keep))
    return tuple(out)


def declared(prim: Any, call: OpCall) -> Declared:
    """Read ``prim``'s ``explain=`` declaration for one call.

    A sequence gives the partials alone; a mapping may add ``text`` (used when the call has
    no keyword parameters, which it could not show), ``adjoint`` and ``tangent``; a callable
    returns either, for this call (its ``text`` is always used).
    """
    spec: Any = getattr(prim, "explain", None)
    from_call = callable(spec)
    if from_call:
        spec = spec(call)
    if spec is None:
        return NOTHING
    ops = call.ops
    if not isinstance(spec, Mapping):
        return Declared(partials=_texts(spec, ops))
    text = spec.get("text")
    if text is not None and (from_call or not call.params):
        text = text.format(*ops)
    else:
        text = None
    return Declared(
        text=text,
        partials=_texts(spec.get("partials"), ops),
        adjoint=_texts(spec.get("adjoint"), ops, keep="{g}"),
        tangent=_texts(spec.get("tangent"), ops, keep="{t}"),
    )


# ----------------------------------------------------------------------------- products


def _top_level_sum(s: str) -> bool:
    """True when ``s`` has a ``+``/``-`` (with spaces around) outside parentheses."""
    depth = 0
    for i, c in enumerate(s):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif depth == 0 and c in "+-" and 0 < i < len(s) - 1 and s[i - 1] == " ":
            return True
    return False


def _times(left: str, formula: str) -> str:
    """``left·formula``, simplified: ``w̄5·1`` is ``w̄5``, ``w̄3·1/w2`` is ``w̄3/w2``."""
    if formula == "1":
        return left
    if formula == "-1":
        return "-" + left
    if formula == "0":
        return "0"
    if formula.startswith("1/"):
        return left + formula[1:]
    if formula.startswith("-1/"):
        return "-" + left + formula[2:]
    if formula.startswith("-") and not _top_level_sum(formula):
        return "-" + left + "·" + formula[1:]
    if _top_level_sum(formula):
        return f"{left}·({formula})"
    return f"{left}·{formula}"


def _times_right(formula: str, right: str) -> str:
    """``formula·right``, simplified like :func:`_times`."""
    if formula in ("1", "-1", "0") or formula.startswith(("1/", "-1/")):
        return _times(right, formula)
    if _top_level_sum(formula):
        return f"({formula})·{right}"
    return f"{formula}·{right}"


def _sum_terms(terms: list[str]) -> str:
    terms = [t for t in terms if t != "0"]
    if not terms:
        return "0"
    out = terms[0]
    for t in terms[1:]:
        out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return out
