"""A small, safe expression language: ``"sin(x) + x*y"`` as a function of its variables.

:func:`compile_expression` parses the text with :mod:`ast` and accepts numbers, variables,
``+ - * / ** @``, unary minus, parentheses, the constant ``pi`` and calls to tapegrad's ops,
and nothing else; a small interpreter walks the checked tree (no ``eval``).  The callable
names are generated from the op registry (:func:`_functions`): every differentiable op whose
public function takes its array operands positionally and everything else by keyword with a
default, as NumPy's functions do.
"""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Callable
from typing import Any

from .. import ops
from ..errors import InvalidStateError, InvalidTypeError, TapegradError
from ..ops.registry import METHODS, REGISTRY, UFUNCS, Primitive

__all__ = ["compile_expression", "ExpressionError", "EXPRESSION_FUNCTIONS"]


class ExpressionError(TapegradError, ValueError):
    """An expression given to :func:`compile_expression` uses something it does not accept."""


def _arity(fn: Any, prim: Primitive) -> int | None:
    """How many operands ``fn`` takes, when it takes them as NumPy's functions do: the array
    operands positionally (as many as the primitive has inputs) and nothing else without a
    default; None otherwise (``reshape(x, shape)``, ``einsum(subscripts, *operands)``)."""
    n = len(prim.vjps)
    if fn is prim:
        return n or None
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    required = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.default is p.empty and p.kind is not p.VAR_KEYWORD:
            if p.kind is p.KEYWORD_ONLY:
                return None
            required += 1
    return required if required == n and n else None


def _functions() -> dict[str, tuple[Callable[..., Any], int]]:
    """The functions an expression may call, by name, with their number of operands.

    Generated from the registry: the public ops of :mod:`tapegrad.ops` and every op exposed
    as a Tensor method or a NumPy ufunc, where the op is a registered primitive (or a
    function of the same name built on one) with a derivative rule and a NumPy-like
    signature (see :func:`_arity`).
    """
    candidates: dict[str, Any] = {n: getattr(ops, n) for n in ops.__all__}
    for fn in (*METHODS.values(), *UFUNCS.values()):
        candidates.setdefault(getattr(fn, "name", None) or fn.__name__, fn)
    table: dict[str, tuple[Callable[..., Any], int]] = {}
    for name, fn in candidates.items():
        prim = fn if isinstance(fn, Primitive) else REGISTRY.get(name)
        if not isinstance(prim, Primitive) or REGISTRY.get(prim.name) is not prim:
            continue
        if not any(prim.vjps) and prim.joint is None:
            continue  # no derivative: comparisons, argmax, floor_divide ...
        n = _arity(fn, prim)
        if n is not None:
            table[name] = (fn, n)
    return table


EXPRESSION_FUNCTIONS: tuple[str, ...] = tuple(sorted(_functions()))
"""The function names an expression may call (those of tapegrad's ops when it was imported;
see :func:`compile_expression`).  Each takes the op's array operands: one for ``sin`` or
``sum``, two for ``maximum``, ``arctan2``, ``power`` or ``matmul``, three for ``where``."""

_CONSTANTS = {"pi": math.pi}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
    ast.MatMult: lambda a, b: a @ b,
}

_DESCRIBE = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscripts ('[...]')",
    ast.Lambda: "lambda",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "conditional expressions ('if ... else')",
    ast.List: "list literals",
    ast.Tuple: "tuples",
    ast.Dict: "dict literals",
    ast.Set: "set literals",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Starred: "starred arguments ('*')",
    ast.NamedExpr: "assignment expressions (':=')",
    ast.JoinedStr: "f-strings",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.Slice: "slices",
}

_MAX_NODES = 500


def _check(
    tree: ast.Expression,
    source: str,
    funcs: dict[str, tuple[Callable[..., Any], int]] | None = None,
) -> list[str]:
    """Validate ``tree``; return the variable names in order of first use."""
    if funcs is None:
        funcs = _functions()
    names: list[str] = []
    count = 0

    def bad(node: ast.AST, what: str) -> ExpressionError:
        col = getattr(node, "col_offset", None)
        where = f" at column {col + 1}" if col is not None else ""
        return ExpressionError(f"not allowed in an expression: {what}{where} in {source!r}")

    def visit(node: ast.AST, *, callee: bool = False) -> None:
        nonlocal count
        count += 1
        if count > _MAX_NODES:
            raise ExpressionError(
                f"the expression is too long (more than {_MAX_NODES} parts); split it up"
            )
        if isinstance(node, ast.Expression):
            visit(node.body)
        elif isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad(node, f"the constant {v!r} (only numbers are)")
        elif isinstance(node, ast.Name):
            n = node.id
            if n.startswith("_"):
                raise bad(node, f"the name {n!r} (names starting with '_')")
            if callee:
                return
            if n in funcs:
                raise bad(node, f"the function {n!r} without a call (write {n}(...))")
            if n not in _CONSTANTS and n not in names:
                names.append(n)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                sym = type(node.op).__name__
                raise bad(node, f"the operator {sym} (only + - * / ** @ are allowed)")
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise bad(node, f"the operator {type(node.op).__name__} (only unary - and +)")
            visit(node.operand)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                what = _DESCRIBE.get(type(node.func), type(node.func).__name__)
                raise bad(node.func, f"calling the result of {what}")
            fname = node.func.id
            visit(node.func, callee=True)
            if fname not in funcs:
                raise bad(
                    node.func,
                    f"the unknown function {fname!r} (known: {', '.join(sorted(funcs))})",
                )
            if node.keywords:
                raise bad(node, f"keyword arguments (in the call to {fname})")
            arity = funcs[fname][1]
            for a in node.args:
                if isinstance(a, ast.Starred):
                    raise bad(a, "starred arguments ('*')")
            if len(node.args) != arity:
                raise ExpressionError(
                    f"{fname}() takes {arity} argument{'s' if arity > 1 else ''}, got "
                    f"{len(node.args)}: {source!r}"
                )
            for a in node.args:
                visit(a)
        else:
            raise bad(node, _DESCRIBE.get(type(node), type(node).__name__))

    visit(tree)
    return names


def compile_expression(source: str) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """Turn ``"sin(x) + x*y"`` into a function of its variables, without ``eval``.

    The expression may use numbers, variables, ``+ - * / ** @``, unary ``-`` and ``+``,
    parentheses, the constant ``pi`` and calls to tapegrad's ops by name, each with its array
    operands (:data:`EXPRESSION_FUNCTIONS`; an op declared later counts too: the names are
    read from the registry at each call).  Anything else (attribute access,
    subscripts, lambdas, keyword arguments, unknown names, strings) raises
    :class:`ExpressionError` naming it.  The tree is checked first, then walked by a small
    interpreter that only knows these constructs.

    Parameters
    ----------
    source : str
        The expression.

    Returns
    -------
    (function, names)
        ``function(*values)`` takes one value per variable, in the order of ``names`` (the
        variables in order of first appearance).

    Examples
    --------
    >>> from tapegrad.explain import compile_expression
    >>> f, names = compile_expression("sin(x) + x*y")
    >>> names
    ('x', 'y')
    >>> round(float(f(1.0, 2.0)), 6)
    2.841471
    >>> from tapegrad.explain import ExpressionError
    >>> try:
    ...     compile_expression("x.__class__")
    ... except ExpressionError as e:
    ...     print(e)
    not allowed in an expression: attribute access ('.') at column 1 in 'x.__class__'
    """
    if not isinstance(source, str):
        raise InvalidTypeError(
            f"compile_expression: the expression must be a string, got {type(source).__name__}"
        )
    if len(source) > 10_000:
        raise ExpressionError("the expression is too long (over 10000 characters)")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"not a valid expression: {source!r} ({e.msg})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply") from None
    funcs = _functions()
    names = tuple(_check(tree, source, funcs))

    def run(node: ast.AST, env: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return float(node.value)  # type: ignore[arg-type]  # numbers only, see _check
        if isinstance(node, ast.Name):
            return env[node.id] if node.id in env else _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](run(node.left, env), run(node.right, env))
        if isinstance(node, ast.UnaryOp):
            v = run(node.operand, env)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            fn = funcs[node.func.id][0]
            return fn(*[run(a, env) for a in node.args])
        raise InvalidStateError(  # pragma: no cover
            f"compile_expression: unchecked node {type(node).__name__}"
        )

    body = tree.body

    def function(*values: Any) -> Any:
        if len(values) != len(names):
            raise InvalidTypeError(
                f"compile_expression: the expression has {len(names)} variables "
                f"({', '.join(names)}), got {len(values)} values"
            )
        return run(body, dict(zip(names, values)))

    function.__name__ = "L"
    function.__qualname__ = "L"
    function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    )
    return function, names
