"""Command line: ``tapegrad <command>`` or ``python -m tapegrad <command>``.

Commands
--------
demo
    Reverse mode on the classic example L(x, y) = sin(x) + x*y: the gradient at (1, 2) and
    1000 steps of gradient descent.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    demo.run(steps=args.steps, lr=args.lr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tapegrad", description="Automatic differentiation on NumPy: a tape you can see."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="gradient descent on sin(x) + x*y, step by step")
    demo.add_argument("--steps", type=int, default=1000, help="gradient descent steps")
    demo.add_argument("--lr", type=float, default=1e-2, help="learning rate")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    if args.command == "demo" and args.steps < 0:
        parser.error("--steps must be >= 0")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
