"""Command line: ``tapegrad <command>`` or ``python -m tapegrad <command>``.

Commands
--------
demo
    Reverse mode on the classic example L(x, y) = sin(x) + x*y: the gradient at (1, 2) and
    1000 steps of gradient descent.
explain
    The tape of an expression as a table: ``tapegrad explain "sin(x) + x*y" x=1 y=2`` lists
    the steps w1..wn with their forward values and local partial derivatives, then the
    adjoints w̄i = ∂L/∂wi in the order the backward pass fills them in, then the gradient.
    ``--mode forward`` shows the tangent sweep instead (one column per input), ``--mode
    both`` the two side by side; ``--format markdown|html`` for other output, ``--ascii``
    for terminals without accents, ``--graph out.svg`` (or ``.png``, ``.dot``) to draw the
    same steps as a picture (each vertex ``w3 = sin(w1)`` with its value and its adjoint or
    tangents).  Values are numbers (``x=1.5``) or small lists (``x=[1,2,3]``; reverse
    mode then needs a scalar, e.g. ``sum(x*y)``).  The expression is parsed, never
    evaluated as Python: numbers, the variables, ``+ - * / ** @``, unary minus,
    parentheses and calls to tapegrad functions by name (``sin``, ``exp``, ``maximum``,
    ...) are all it may contain.  An expression that starts with ``-`` goes after ``--``:
    ``tapegrad explain -- "-x*y" x=1 y=2``.
train
    Train an MLP or a CNN on the bundled 8x8 digits (or ``--data FILE``); writes the model,
    a metrics JSON and a plot into ``--out DIR``; ``--jit`` compiles the training step with
    ``tg.jit`` (the same run, bit for bit).
"""

from __future__ import annotations

import argparse
import math
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

from .errors import InvalidArgumentError


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    demo.run(steps=args.steps, lr=args.lr)
    return 0


def _train(args: argparse.Namespace) -> int:
    from . import train

    return train.main(args)


def _parse_value(name: str, text: str) -> Any:
    """``1.5``, ``-2``, ``nan`` or a (nested) list of numbers such as ``[1, 2, 3]``."""
    import ast

    import numpy as np

    try:
        return float(text)
    except ValueError:
        pass
    try:
        v = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InvalidArgumentError(
            f"{name}={text}: the value must be a number (x=1.5) or a list of numbers (x=[1,2,3])"
        ) from None
    try:
        arr = np.array(v, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or isinstance(v, (str, bytes, bool, dict, set)):
        raise InvalidArgumentError(
            f"{name}={text}: the value must be a number (x=1.5) or a list of numbers (x=[1,2,3])"
        )
    return arr


def _explain(args: argparse.Namespace) -> int:
    from .explain import ExpressionError, compile_expression, explain
    from .explain.notation import _fmt

    p = args.parser
    try:
        fn, used = compile_expression(args.expression)
    except ExpressionError as err:
        p.error(str(err))
    values: dict[str, Any] = {}
    for a in args.values:
        name, sep, text = a.partition("=")
        # NFKC, as Python's parser normalises the names in the expression (ｘ is x)
        raw, name = name.strip(), unicodedata.normalize("NFKC", name.strip())
        if not sep or not name.isidentifier():
            p.error(f"expected NAME=VALUE (e.g. x=1.5), got {a!r}")
        if name in values:
            same = f" ({raw} is {name}, as in Python)" if raw != name else ""
            p.error(f"{name} is given twice{same}")
        try:
            values[name] = _parse_value(name, text)
        except ValueError as err:
            p.error(str(err))
    missing = [n for n in used if n not in values]
    if missing:
        p.error(
            f"no value given for {', '.join(missing)}; add " + " ".join(f"{n}=..." for n in missing)
        )
    extra = [n for n in values if n not in used]
    if extra:
        p.error(f"{', '.join(extra)} given but not used by the expression {args.expression!r}")
    if args.graph and "." not in args.graph.replace("\\", "/").rsplit("/", 1)[-1]:
        p.error(f"--graph {args.graph}: give the file a suffix (.svg, .png, .pdf or .dot)")
    names = list(values)  # the command line's order: x=1 y=2 makes x w1 and y w2

    def L(*xs: Any) -> Any:
        bound = dict(zip(names, xs))
        return fn(*[bound[n] for n in used])

    at = ", ".join(f"{n} = {_fmt(v)}" for n, v in values.items())
    title = f"L = {args.expression.strip()} at {at}"
    try:
        table = explain(L, *values.values(), mode=args.mode, names=names, label="L", title=title)
    except (ValueError, TypeError) as err:
        p.error(str(err))
    except ArithmeticError as err:  # e.g. 9**9**99 overflows while evaluating constants
        p.error(f"the expression could not be evaluated: {type(err).__name__}: {err}")
    if args.format == "markdown":
        print(table.to_markdown(precision=args.precision), end="")
    elif args.format == "html":
        print(table._repr_html_(precision=args.precision))
    else:
        print(table.to_text(ascii=args.ascii, precision=args.precision))
    if args.graph:
        from .errors import TapegradError

        try:
            path = table.graph(precision=args.precision).render(args.graph)
        except (TapegradError, ValueError, OSError) as err:
            p.error(f"--graph {args.graph}: {err}")
        print(f"graph written to {path}", file=sys.stderr)
    return 0


def _add_explain(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "explain",
        help="the tape of an expression as a table: values, partials, adjoints",
        description="Show the tape of EXPRESSION at the given values: each step w1..wn with "
        "its forward value and local partial derivatives, the adjoints in the order the "
        "backward pass fills them in (or the forward-mode tangents), and the gradient. "
        'Example: tapegrad explain "sin(x) + x*y" x=1 y=2',
    )
    p.add_argument(
        "expression",
        help="e.g. 'sin(x) + x*y': numbers, variables, + - * / ** @, unary minus, "
        "parentheses and tapegrad functions (sin, exp, log, tanh, maximum, sum, ...)",
    )
    p.add_argument(
        "values", nargs="*", metavar="NAME=VALUE", help="x=1.5 or x=[1,2,3], one per variable"
    )
    p.add_argument(
        "--mode",
        choices=("reverse", "forward", "both"),
        default="reverse",
        help="adjoints (reverse), tangents (forward) or both side by side (reverse)",
    )
    p.add_argument("--format", choices=("text", "markdown", "html"), default="text", help="(text)")
    p.add_argument("--ascii", action="store_true", help="wbar3/wdot3 instead of accents")
    p.add_argument("--precision", type=int, default=6, help="significant digits (6)")
    p.add_argument(
        "--graph",
        metavar="FILE",
        default=None,
        help="also draw the steps as a picture, with their values and adjoints or tangents "
        "(.svg, .png or .pdf need Graphviz's dot; .dot writes the DOT text)",
    )
    p.set_defaults(func=_explain, parser=p)
    return p


def _add_train(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a classifier on the bundled digits (or --data FILE)",
        description="Train an MLP or a CNN on the bundled 8x8 handwritten digits (or your own "
        "data), print the test accuracy, and write model.npz, metrics.json and curves.png "
        "into --out.",
    )
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp", help="network (mlp)")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training set (20)")
    p.add_argument(
        "--lr", type=float, default=None, help="learning rate (adam: 5e-3 mlp, 2e-3 cnn; sgd: 0.05)"
    )
    p.add_argument("--batch-size", type=int, default=32, help="samples per step (32)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="adam", help="(adam)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same run (0)")
    p.add_argument("--out", default="tapegrad_run", help="output folder (tapegrad_run)")
    p.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help="train on FILE.npz (arrays x, y) or FILE.csv (label in the last column) "
        "instead of the digits; 20%% is held out for testing",
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress output")
    p.add_argument(
        "--jit",
        action="store_true",
        help="compile the training step and the evaluation with tg.jit (the same results, "
        "bit for bit; less overhead per step)",
    )
    p.set_defaults(func=_train)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tapegrad", description="Automatic differentiation on NumPy: a tape you can see."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="gradient descent on sin(x) + x*y, step by step")
    demo.add_argument("--steps", type=int, default=1000, help="gradient descent steps")
    demo.add_argument("--lr", type=float, default=1e-2, help="learning rate")
    demo.set_defaults(func=_demo)
    train = _add_train(sub)
    explain = _add_explain(sub)
    args = parser.parse_args(argv)
    if args.command == "explain" and not 1 <= args.precision <= 17:
        explain.error("--precision must be between 1 and 17")
    if args.command == "demo" and args.steps < 0:
        parser.error("--steps must be >= 0")
    if args.command == "train":
        if args.epochs < 1:
            train.error(f"--epochs must be >= 1, got {args.epochs}")
        if args.batch_size < 1:
            train.error(f"--batch-size must be >= 1, got {args.batch_size}")
        if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
            train.error(f"--lr must be a finite number > 0, got {args.lr}")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
