"""The tape as a table: see :mod:`tapegrad.explain.table`."""

from .table import (
    EXPRESSION_FUNCTIONS,
    Explanation,
    ExpressionError,
    Partial,
    Step,
    compile_expression,
    explain,
)

__all__ = [
    "explain",
    "Explanation",
    "Step",
    "Partial",
    "compile_expression",
    "ExpressionError",
    "EXPRESSION_FUNCTIONS",
]
