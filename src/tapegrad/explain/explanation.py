"""The :class:`Explanation` object: the explained tape of one function at one point."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidKeyError
from . import render
from .notation import _fmt, _pyval
from .picture import _Picture, draw
from .steps import Step

if TYPE_CHECKING:
    from ..viz import Graph

__all__ = ["Explanation"]


class Explanation:
    """The explained tape of one function at one point (what :func:`explain` returns).

    Attributes
    ----------
    rows : list of Step
        The steps ``w1 .. wn`` in tape order (inputs first).
    mode : str
        ``"reverse"``, ``"forward"`` or ``"both"``.
    inputs : tuple of str
        The inputs' names, in order (steps ``w1 .. wk``).
    output : str
        The output's step name.
    label : str
        The output's name in derivatives (``∂L/∂x``).
    title : str
        The table's heading.

    The tape's structure is kept as well (a small copy: which step reads which, no saved
    values), so that :meth:`graph` can draw it.
    """

    def __init__(
        self,
        rows: list[Step],
        mode: str,
        inputs: tuple[str, ...],
        output: str,
        label: str,
        title: str,
        *,
        picture: _Picture | None = None,
    ) -> None:
        self.rows = rows
        self.mode = mode
        self.inputs = inputs
        self.output = output
        self.label = label
        self.title = title
        self._picture = picture

    # -- data -------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Step:
        """The step named ``name`` (``"w3"``) or the input named ``name`` (``"x"``)."""
        for s in self.rows:
            if s.name == name or (s.kind == "input" and s.expr == name):
                return s
        raise InvalidKeyError(
            f"Explanation: no step named {name!r}; steps are w1..w{len(self.rows)}"
        )

    @property
    def input_steps(self) -> list[Step]:
        return self.rows[: len(self.inputs)]

    @property
    def backward_order(self) -> list[Step]:
        """The steps in the order the backward pass completes their adjoints: the output
        (seed) first, then back along the tape to ``w1``."""
        out = self[self.output]
        return [out] + [s for s in reversed(self.rows) if s is not out]

    @property
    def value(self) -> Any:
        """The function's value (a float for a scalar)."""
        return _pyval(self[self.output].value)

    @property
    def gradient(self) -> tuple[Any, ...]:
        """One entry per input: ``∂L/∂input`` (reverse or both modes), or in forward mode the
        output's tangent for that input's seed (the same number for scalar inputs; for an
        array input seeded with ones, the gradient's sum)."""
        if self.mode in ("reverse", "both"):
            return tuple(_pyval(s.adjoint) for s in self.input_steps)
        out = self[self.output]
        return tuple(_pyval(out.tangents.get(n)) for n in self.inputs)

    # -- picture ----------------------------------------------------------------------

    def graph(
        self,
        show_adjoints: bool = True,
        show_partials: bool = True,
        *,
        precision: int = 6,
        rankdir: str = "TB",
        max_nodes: int | None = 200,
    ) -> Graph:
        """The explained tape as a picture that tells the table's story.

        One vertex per step, labelled with its equation (``w3 = sin(w1)``), its forward
        value (``= 0.841471``) and, in reverse mode, its adjoint (``w̄3 = 1``), in forward
        mode its tangents (``ẇ3 = 0.540302 (seed x)``, one line per input), in ``"both"``
        mode both.  The inputs are ellipses under their names (``w1 = x``), a constant
        operand a small dashed box, the output is filled orange; arrows go from each step to
        the steps that read it.  Inputs the output does not depend on are not drawn.

        Each arrow carries the local partial derivative of the step it enters with respect
        to the step it leaves, as in the table's ``local partials`` column, on two lines to
        keep it narrow: ``∂w3/∂w1`` over ``= cos(w1) = 0.540302`` (``= 1`` alone where the
        formula is the number).
        In reverse mode an input's adjoint is the sum over its outgoing arrows of the
        consumer's adjoint times the arrow's partial (``w̄1 = w̄3·cos(w1) + w̄4·w2``); in
        forward mode the same partials multiply the tangents flowing along the arrows.  A
        step read twice by one op (``x * x``) has one arrow per argument, each with its own
        partial.

        Parameters
        ----------
        show_adjoints : bool
            Draw the derivative lines: adjoints (reverse mode) and tangents (forward mode).
            False draws the forward pass alone: equations and values.
        show_partials : bool
            Label the arrows with the local partial derivatives (default True).
        precision : int
            Significant digits of the numbers (as in :meth:`to_text`).
        rankdir : {"TB", "BT", "LR", "RL"}
            The direction of the arrows (top to bottom by default).
        max_nodes : int or None
            The most vertices to draw (see :func:`tapegrad.viz.graph`).

        Returns
        -------
        tapegrad.viz.Graph
            ``str(g)`` is the DOT text; ``g.render("tape.svg")`` (or ``.png``, ``.pdf``)
            and the inline picture in Jupyter need Graphviz's ``dot``.

        Raises
        ------
        ValueError
            When the Explanation was made by hand, without a recorded tape (use
            :func:`explain`).

        Examples
        --------
        >>> import tapegrad as tg
        >>> g = tg.explain(lambda x, y: tg.sin(x) + x * y, 1.0, 2.0).graph()
        >>> g
        <tapegrad.viz.Graph: 5 nodes, 5 edges>
        >>> for line in g.source.splitlines():
        ...     if "label" in line and "->" not in line:
        ...         print(line.strip().split('"')[1])
        w3 = sin(w1)\\n= 0.841471\\nw̄3 = 1
        w4 = w1 * w2\\n= 2\\nw̄4 = 1
        w5 = w3 + w4\\n= 2.84147\\nw̄5 = 1
        w1 = x\\n= 1\\nw̄1 = 2.5403
        w2 = y\\n= 2\\nw̄2 = 1
        >>> for line in g.source.splitlines():
        ...     if "->" in line:
        ...         print(line.strip())
        leaf0 -> op0 [label="∂w3/∂w1\\n= cos(w1) = 0.540302"];
        leaf0 -> op1 [label="∂w4/∂w1\\n= w2 = 2"];
        leaf1 -> op1 [label="∂w4/∂w2\\n= w1 = 1"];
        op0 -> op2 [label="∂w5/∂w3\\n= 1"];
        op1 -> op2 [label="∂w5/∂w4\\n= 1"];
        """
        return draw(
            self, self._picture, show_adjoints, show_partials, precision, rankdir, max_nodes
        )

    # -- tables -----------------------------------------------------------------------

    def to_text(self, *, ascii: bool = False, precision: int = 6) -> str:
        """The table as aligned plain text.

        Parameters
        ----------
        ascii : bool
            Spell ``w̄3``, ``ẇ3``, ``∂`` and ``·`` as ``wbar3``, ``wdot3``, ``d`` and ``*``
            (for terminals without the accents).
        precision : int
            Significant digits of the numbers.
        """
        return render.to_text(self, ascii, precision)

    def to_markdown(self, *, precision: int = 6) -> str:
        """The table as Markdown (pipe tables, formulas in code spans)."""
        return render.to_markdown(self, precision)

    def _repr_html_(self, precision: int = 6) -> str:
        """A rich HTML table (Jupyter displays it)."""
        return render.to_html(self, precision)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        grad = ", ".join(_fmt(g) for g in self.gradient)
        return (
            f"<Explanation {self.title!r}: {len(self.rows)} steps, mode={self.mode!r}, "
            f"value={_fmt(self.value)}, gradient=({grad})>"
        )
