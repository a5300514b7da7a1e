"""Command line: ``tapegrad <command>`` or ``python -m tapegrad <command>``.

Commands
--------
demo
    Reverse mode on the classic example L(x, y) = sin(x) + x*y: the gradient at (1, 2) and
    1000 steps of gradient descent.
train
    Train an MLP or a CNN on the bundled 8x8 digits (or ``--data FILE``); writes the model,
    a metrics JSON and a plot into ``--out DIR``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    demo.run(steps=args.steps, lr=args.lr)
    return 0


def _train(args: argparse.Namespace) -> int:
    from . import train

    return train.main(args)


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
    args = parser.parse_args(argv)
    if args.command == "demo" and args.steps < 0:
        parser.error("--steps must be >= 0")
    if args.command == "train":
        if args.epochs < 0:
            train.error("--epochs must be >= 0")
        if args.batch_size < 1:
            train.error("--batch-size must be >= 1")
        if args.lr is not None and not args.lr > 0:
            train.error("--lr must be > 0")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
