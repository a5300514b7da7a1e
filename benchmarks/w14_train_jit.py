"""W14: one epoch of ``tapegrad train`` (MLP, digits), eager against ``--jit``.

``build`` returns two workloads:

* "W14": one epoch of the loop ``tapegrad train`` runs by default (:mod:`tapegrad.train`),
  written out here so that each timed call is exactly one epoch: ``build_model("mlp")``
  (Standardize - Linear(64, 128) - ReLU - Linear(128, 10)) initialised under
  ``tg.random.seed(0)``, Adam at the default learning rate, batches of 32 from
  ``DataLoader(TensorDataset(x, y), shuffle=True, seed=0)`` over the 1,438 training digits
  (45 batches, the last of 30), and per batch its step ``logits = model(xb); loss =
  cross_entropy(logits, yb); loss.backward(); opt.step(); opt.zero_grad()``, then the
  running loss (``loss.item()``) and accuracy (``argmax`` of the logits), as its loop does.
  The data loader runs inside the timed epoch, as in ``tapegrad train``.  "tapegrad": that
  loop, eager; "tapegrad jit": the same loop with the step inside ``tg.jit`` (as
  ``--jit`` does), compiled at setup (one signature per batch shape).
* "W14 train.run": ``tapegrad.train.run`` itself (what ``tapegrad train [--jit]`` calls),
  ``EPOCHS`` epochs into a temporary directory; each call is timed by the run's own
  ``epoch_seconds`` (training only, without the evaluation), the median of the epochs
  after the first (the first compiles).

Every timed call of "W14" is one epoch from the same start: the initial weights are copied back in
place, the gradients set to None and Adam's state emptied in place (the compiled step holds
the optimizer's state dicts); the data loader, built anew with the same seed, gives the
same batches.  tapegrad eager is the reference: the compiled epoch must give the same batch
losses, accuracy and final parameters (issue 12 asks for bit-for-bit equality with eager;
the check here is the suite's usual relative tolerance).  ``--quick``: the first 320
samples (the second row: a file of them, 3 epochs).  "W14 train.run" makes a new model
and optimizer at every call (a fresh run; with ``--jit`` its first epoch compiles, so it is
left out), and compares the runs' metrics (every epoch's and the final losses and
accuracies).  Target (issue 12): the jitted epoch at most 0.6x the eager one.
"""

from __future__ import annotations

import os
import shutil
import sys
import weakref
from typing import Any

import numpy as np

from .common import SELF_TIME_KEY, Impl, Workload, collect_impls

NAME = "W14"
BATCH = 32
QUICK_N = 320
EPOCHS = 4
TARGET = 0.6

COLUMNS = (
    ("tapegrad eager", "time", "tapegrad"),
    ("tapegrad jit", "time", "jit"),
    ("jit/eager", "ratio", "jit", "tapegrad"),
    ("target", "target"),
)


def quick_from_argv() -> bool:
    """Whether the benchmark runner was started with ``--quick`` (its worker gets the flag)."""
    return "--quick" in sys.argv[1:]


def make_data(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The training digits as ``tapegrad train --model mlp`` loads them (first ``n``)."""
    from tapegrad.train import load_dataset

    x, y, _, _, _ = load_dataset(None, "mlp", 0)
    return (x, y) if n is None else (x[:n], y[:n])


def epoch_impl(x: np.ndarray, y: np.ndarray, jit: bool) -> Impl:
    import tapegrad as tg
    from tapegrad.data import DataLoader, TensorDataset
    from tapegrad.nn.functional import cross_entropy
    from tapegrad.train import DEFAULT_LR, build_model

    saved = tg.random.get_state()
    tg.random.seed(0)
    try:
        model = build_model("mlp", x.shape[1:], 10, x_train=x)
    finally:
        tg.random.set_state(saved)
    opt = tg.optim.Adam(model.parameters(), lr=DEFAULT_LR["mlp", "adam"])
    init = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    model.train()

    def step(xb: Any, yb: Any) -> Any:
        logits = model(xb)
        loss = cross_entropy(logits, yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss, logits

    fn = tg.jit(step) if jit else step

    def run() -> dict[str, Any]:
        model.load_state_dict(init)
        for p in model.parameters():
            p.grad = None
        for s in opt.state.values():
            s.clear()
        losses = []
        seen, loss_sum, correct = 0, 0.0, 0
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, seed=0):
            loss, logits = fn(xb, yb)
            nb = len(yb.data)
            seen += nb
            value = float(loss.item())
            losses.append(value)
            loss_sum += value * nb
            correct += int((np.argmax(logits.data, axis=1) == yb.data).sum())
        out = {"losses": np.array(losses), "accuracy": np.array(correct / seen)}
        for k, p in model.named_parameters():
            out[k] = p.data.copy()
        return out

    if jit:
        run()  # compiles
    return run


def run_impl(data: str | None, epochs: int, jit: bool) -> Impl:
    """``tapegrad.train.run`` (``tapegrad train [--jit]``), self-timed by its epochs."""
    import statistics

    from tapegrad.train import TrainConfig, run

    out = _scratch_dir()

    def call() -> dict[str, Any]:
        cfg = TrainConfig(epochs=epochs, jit=jit, out=out, progress=False, data=data)
        m = run(cfg, log=lambda msg: None)
        res: dict[str, Any] = {
            SELF_TIME_KEY: statistics.median(m["timing"]["epoch_seconds"][1:]),
            **{k: np.array(v) for k, v in m["final"].items()},
        }
        for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
            res[f"history_{key}"] = np.array([h[key] for h in m["history"]])
        return res

    weakref.finalize(call, shutil.rmtree, out, ignore_errors=True)
    return call


def _scratch_dir() -> str:
    """A temporary directory (the caller removes it when done)."""
    import tempfile

    return tempfile.mkdtemp(prefix="tapegrad-w14-")


def build(n: int | None = None, quick: bool | None = None) -> list[Workload]:
    """Rows "W14" (one epoch, written out) and "W14 train.run" (``tapegrad.train.run``);
    ``n`` keeps the first n training digits (the second row then trains on a file of
    them, split 80/20 as ``--data`` files are)."""
    if quick is None:
        quick = quick_from_argv()
    if n is None and quick:
        n = QUICK_N
    x, y = make_data(n)
    impls, skipped = collect_impls(
        {
            "tapegrad": lambda: epoch_impl(x, y, jit=False),
            "jit": lambda: epoch_impl(x, y, jit=True),
        }
    )
    steps = -(-len(x) // BATCH)
    return [_loop_workload(impls, skipped, len(x), steps), _run_workload(n, x, y, quick)]


def _run_workload(n: int | None, x: np.ndarray, y: np.ndarray, quick: bool) -> Workload:
    data = None
    if n is not None:
        folder = _scratch_dir()
        data = os.path.join(folder, "digits.npz")
        np.savez(data, x=x, y=y)
    epochs = 3 if quick else EPOCHS
    impls, skipped = collect_impls(
        {
            "tapegrad": lambda: run_impl(data, epochs, jit=False),
            "jit": lambda: run_impl(data, epochs, jit=True),
        }
    )
    what = "bundled digits" if data is None else f"{len(x)} digits from a file"
    wl = Workload(
        name=NAME,
        variant="train.run",
        title=(
            f"tapegrad.train.run (tapegrad train [--jit], MLP, Adam, batch {BATCH}, {what}), "
            f"{epochs} epochs per call, the median epoch after the first"
        ),
        impls=impls,
        tol=1e-5,
        repeats=5,
        quick_repeats=1,
        warmup=1,
        rounds=1,
        block_warmup=0,
        columns=COLUMNS,
        reference="tapegrad",
        target=f"jit ≤ {TARGET:g}x eager",
        targets=(("ratio", "jit", "tapegrad", TARGET, f"jit ≤ {TARGET:g}x eager"),),
        self_timed=True,
        skipped=skipped,
    )
    if data is not None:
        weakref.finalize(wl, shutil.rmtree, folder, ignore_errors=True)
    return wl


def _loop_workload(impls: dict, skipped: dict, n: int, steps: int) -> Workload:
    return Workload(
        name=NAME,
        title=(
            f"one epoch of tapegrad train (MLP 64-128-10, Adam, digits: {n} images, "
            f"batch {BATCH}, {steps} steps), eager vs the step in tg.jit"
        ),
        impls=impls,
        tol=1e-5,
        repeats=15,
        quick_repeats=3,
        columns=COLUMNS,
        reference="tapegrad",
        target=f"jit ≤ {TARGET:g}x eager",
        targets=(("ratio", "jit", "tapegrad", TARGET, f"jit ≤ {TARGET:g}x eager"),),
        skipped=skipped,
    )
