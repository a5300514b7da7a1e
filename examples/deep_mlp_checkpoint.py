"""Train a 200-layer MLP on the bundled digits, with and without checkpointing.

The network: Linear(64, 64), then 200 residual blocks ``h + tanh(h W + b) / sqrt(200)``
(the scaled residual keeps the signal and the gradient of so deep a network in range),
then Linear(64, 10); softmax cross-entropy, Adam.  It is trained twice from the same seed:

* plainly: ``loss = loss_fn(model(x), y)``, the tape keeps every layer's values;
* checkpointed: ``loss = loss_fn(tg.checkpoint_sequential(model, None, x), y)``, round(sqrt(n))
  segments (14 for the 202 modules): the tape keeps the segment boundaries and one
  segment's values, and each segment runs a second time during the backward pass.

For each run it prints the final training loss, the test accuracy, the peak bytes the tape
held during one training step (``tg.autograd.peak_saved_bytes``; the parameters are not
counted) and the time per epoch; then it checks that the two runs computed the same
numbers (every batch loss and every final weight, bit for bit): checkpointing trades time
for memory and must not change the results.

Run:  python examples/deep_mlp_checkpoint.py            (about 20 s)
      python examples/deep_mlp_checkpoint.py --quick    (a few seconds: 24 layers, 1 epoch)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad import nn


class ResidualTanh(nn.Module):
    """``h + scale * tanh(h W + b)``: one block of the deep network."""

    def __init__(self, width: int, scale: float) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.scale = scale

    def forward(self, h: Any) -> Any:
        return h + self.scale * tg.tanh(self.linear(h))


def build_model(n_layers: int, width: int, n_in: int = 64, n_out: int = 10) -> nn.Sequential:
    """Linear(n_in, width), ``n_layers`` residual tanh blocks, Linear(width, n_out)."""
    scale = 1.0 / math.sqrt(n_layers)
    blocks = [ResidualTanh(width, scale) for _ in range(n_layers)]
    return nn.Sequential(nn.Linear(n_in, width), *blocks, nn.Linear(width, n_out))


@dataclass
class RunResult:
    """What one training run measured."""

    checkpointed: bool
    losses: np.ndarray  # every batch loss, in order
    final_loss: float  # mean loss of the last epoch
    accuracy: float  # on the test set
    peak_bytes: int  # peak saved bytes of one training step
    epoch_s: float  # mean wall time of one epoch
    state: dict[str, np.ndarray] = field(repr=False)


def train(
    checkpointed: bool,
    n_layers: int = 200,
    width: int = 64,
    epochs: int = 8,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    n_train: int | None = None,
) -> RunResult:
    """Train the deep MLP on the digits; ``checkpointed`` runs it through
    ``checkpoint_sequential`` with sqrt(n) segments.  ``n_train`` keeps the first training
    images only (for a quick run)."""
    x_train, y_train = tg.data.load_digits("train")
    x_test, y_test = tg.data.load_digits("test")
    if n_train is not None:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    tg.random.seed(seed)
    model = build_model(n_layers, width)
    loss_fn = nn.CrossEntropyLoss()
    opt = tg.optim.Adam(model.parameters(), lr=lr)

    def forward(x: Any) -> Any:
        return tg.checkpoint_sequential(model, None, x) if checkpointed else model(x)

    # One step's peak tape memory, measured apart from the timed epochs (the account
    # adds work to every recorded operation); it leaves the parameters as they are.
    xb, yb = tg.tensor(x_train[:batch]), tg.tensor(y_train[:batch])
    with tg.autograd.peak_saved_bytes() as mem:
        loss_fn(forward(xb), yb).backward()
    opt.zero_grad()

    order = np.random.default_rng(seed)
    losses: list[float] = []
    times: list[float] = []
    for _ in range(epochs):
        perm = order.permutation(len(y_train))
        t0 = time.perf_counter()
        for i in range(0, len(perm), batch):
            idx = perm[i : i + batch]
            loss = loss_fn(forward(tg.tensor(x_train[idx])), tg.tensor(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        times.append(time.perf_counter() - t0)
    steps = -(-len(y_train) // batch)
    with tg.no_grad():
        pred = model(tg.tensor(x_test)).numpy().argmax(axis=1)
    return RunResult(
        checkpointed=checkpointed,
        losses=np.array(losses),
        final_loss=float(np.mean(losses[-steps:])),
        accuracy=float(np.mean(pred == y_test)),
        peak_bytes=mem.peak - mem.start,
        epoch_s=float(np.mean(times)),
        state=model.state_dict(),
    )


def same_results(a: RunResult, b: RunResult) -> bool:
    """Whether two runs computed bit-for-bit the same losses and final weights."""
    return np.array_equal(a.losses, b.losses) and all(
        np.array_equal(a.state[k], b.state[k]) for k in a.state
    )


def main(argv: list[str] | None = None, verbose: bool = True) -> tuple[RunResult, RunResult]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="24 layers, one epoch on 320 images")
    p.add_argument("--layers", type=int, default=None, help="residual blocks (default 200)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 8)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    settings: dict[str, Any] = {"n_layers": 200, "epochs": 8, "seed": args.seed}
    if args.quick:
        settings.update(n_layers=24, epochs=1, n_train=320, batch=32)
    if args.layers is not None:
        settings["n_layers"] = args.layers
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    plain = train(False, **settings)
    ckpt = train(True, **settings)
    if verbose:
        n = settings["n_layers"]
        print(
            f"{n} residual tanh blocks of width 64 on the digits, {settings['epochs']} "
            f"epoch(s) of Adam, seed {settings['seed']}"
        )
        print(f"{'run':<33}{'final loss':>11}{'test acc':>10}{'peak saved':>13}{'s/epoch':>9}")
        for r in (plain, ckpt):
            name = "checkpoint_sequential" if r.checkpointed else "plain"
            if r.checkpointed:
                name += f" ({max(1, round(math.sqrt(n + 2)))} seg.)"
            print(
                f"{name:<33}{r.final_loss:>11.4f}{r.accuracy:>10.3f}"
                f"{r.peak_bytes / 2**20:>9.2f} MiB{r.epoch_s:>9.3f}"
            )
        print(
            f"peak memory ratio {ckpt.peak_bytes / plain.peak_bytes:.3f}, "
            f"time ratio {ckpt.epoch_s / plain.epoch_s:.2f}"
        )
        if same_results(plain, ckpt):
            print(f"identical results: all {len(plain.losses)} batch losses and every weight")
        else:
            diff = float(np.max(np.abs(plain.losses - ckpt.losses)))
            print(f"RESULTS DIFFER: largest batch-loss difference {diff:.3g}")
    return plain, ckpt


if __name__ == "__main__":
    plain_run, ckpt_run = main()
    sys.exit(0 if same_results(plain_run, ckpt_run) else 1)
