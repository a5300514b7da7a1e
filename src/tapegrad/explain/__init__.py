"""The tape as a table: forward values, local partials, adjoints and tangents, step by step.

:func:`explain` runs a function on its inputs, records the tape, and lays it out the way a
worked example of reverse-mode differentiation does: the inputs and every primitive step
named ``w1, w2, ...`` in the order they were computed, each step's forward value and its
local partial derivatives, then the adjoints ``w̄i = ∂L/∂wi`` in the order the backward pass
completes them (from ``w̄n = 1`` back to the inputs), and the gradient.  With
``mode="forward"`` it shows the tangent sweep ``ẇi`` instead (one column per input
direction); ``mode="both"`` shows the two side by side, so the gradient is read off in
both modes.

Every number comes from tapegrad itself: the forward values are the recorded ones, the
adjoints are computed by the engine (:func:`tapegrad.autograd.grad` w.r.t. every step,
which sums the contributions of a value used several times), the local partials and the
tangents by each op's own rules (:func:`tapegrad.grad`, :func:`tapegrad.jvp`).  The
symbolic formulas shown beside them (``cos(w1)``, ``w̄3·cos(w1) + w̄4·w2``) are assembled
from what each op declares (``explain=``, see :func:`tapegrad.ops.registry.expose`).

:func:`compile_expression` turns a text such as ``"sin(x) + x*y"`` into a function of its
variables without ``eval``: it accepts numbers, variables, ``+ - * / ** @``, unary minus,
parentheses and calls to tapegrad's ops (the names are generated from the op registry), and
nothing else (this is what ``tapegrad explain`` on the command line uses).

:meth:`Explanation.graph` draws the same story as a picture: the explained tape with each
vertex labelled by its step (``w3 = sin(w1)``), its forward value and its adjoint ``w̄3`` (or
its tangents in forward mode), the inputs under their names.

The modules: :mod:`.record` (the run's tape and what each call saw), :mod:`.table` (the
steps, partials, adjoints and tangents), :mod:`.formulas` (the ops' declarations read into
texts), :mod:`.notation` (numbers and step names), :mod:`.render` (text, Markdown, HTML),
:mod:`.picture` (the graph), :mod:`.explanation` and :mod:`.expression`.
"""

from .explanation import Explanation
from .expression import EXPRESSION_FUNCTIONS, ExpressionError, compile_expression
from .steps import Partial, Step
from .table import explain

__all__ = [
    "explain",
    "Explanation",
    "Step",
    "Partial",
    "compile_expression",
    "ExpressionError",
    "EXPRESSION_FUNCTIONS",
]
