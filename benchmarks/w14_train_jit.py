"""W14: one epoch of ``tapegrad train`` (MLP, digits), eager against the step in ``tg.jit``.

What ``tapegrad train`` runs by default (:mod:`tapegrad.train`): ``build_model("mlp")``
(Standardize - Linear(64, 128) - ReLU - Linear(128, 10)) initialised under
``tg.random.seed(0)``, Adam at the default learning rate, batches of 32 from
``DataLoader(TensorDataset(x, y), shuffle=True, seed=0)`` over the 1,438 training digits
(45 batches, the last of 30), and per batch ``logits = model(xb); loss =
cross_entropy(logits, yb); opt.zero_grad(); loss.backward(); opt.step()``, then the
running loss (``loss.item()``) and accuracy (``argmax`` of the logits), as its loop does.
The data loader runs inside the timed epoch, as in ``tapegrad train``.

* "tapegrad": that loop, eager;
* "tapegrad jit": the same loop with the step (model, loss, backward, Adam update) inside
  ``tg.jit``, compiled at setup (three signatures: ``.grad`` None at the first step, set at
  the later ones, and the last batch's smaller shape).

Every timed call is one epoch from the same start: the initial weights are copied back in
place, the gradients set to None and Adam's state emptied in place (the compiled step holds
the optimizer's state dicts); the data loader, built anew with the same seed, gives the
same batches.  tapegrad eager is the reference: the compiled epoch must give the same batch
losses, accuracy and final parameters (issue 12 asks for bit-for-bit equality with eager;
the check here is the suite's usual relative tolerance).  ``--quick``: the first 320
samples.  Target (issue 12): the jitted epoch at most 0.6x the eager one.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W14"
BATCH = 32
QUICK_N = 320
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
        opt.zero_grad()
        loss.backward()
        opt.step()
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


def build(n: int | None = None, quick: bool | None = None) -> Workload:
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
    return Workload(
        name=NAME,
        title=(
            f"one epoch of tapegrad train (MLP 64-128-10, Adam, digits: {len(x)} images, "
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
