"""W7: one training epoch on the bundled 8x8 digits, an MLP and a small CNN.

The 1,438 training images of ``tg.data.load_digits("train")`` (pixels scaled to [0, 1],
float32), shuffled once with a fixed seed (the same permutation for both implementations,
applied at setup), then walked in batches of 64: 22 full batches and a last one of 30, 23
Adam steps (lr 1e-3) on the mean cross-entropy.  Each step is the usual loop:
``loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward(); opt.step()``.

Two models (``build`` returns one workload each, rows "W7 mlp" and "W7 cnn"):

* ``mlp``: Linear(64,128)-ReLU-Linear(128,128)-ReLU-Linear(128,10);
* ``cnn``: input (N,1,8,8), Conv2d(1,16,3,padding=1)-ReLU-MaxPool2d(2)-
  Conv2d(16,32,3,padding=1)-ReLU-MaxPool2d(2)-Flatten-Linear(128,10).

tapegrad builds the model with ``tg.nn`` (initialised under ``tg.random.seed``); the
PyTorch model (``torch.nn``, same layers) gets a copy of tapegrad's initial
``state_dict`` (the parameter names and shapes are the same: Linear weights are (out, in),
Conv2d weights (out, in, kh, kw)).  Every timed call is a whole epoch from the same start:
it first loads the initial weights back into the model (an in-place copy) and creates a
fresh Adam optimizer (empty state), both negligible next to the 23 steps.

There is no hand-written NumPy baseline: tapegrad is the reference and PyTorch eager is
checked against it (the 23 batch losses, relative error <= 1e-3, and every parameter
after the epoch, same tolerance: Adam divides by sqrt(v), which amplifies float32
rounding differences of tiny gradients).  The number that matters is tapegrad / PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W7"
BATCH = 64
LR = 1e-3
MODELS = ("mlp", "cnn")
TARGETS = {"mlp": 1.0, "cnn": 2.0}
TITLES = {
    "mlp": "MLP 64-128-128-10 (ReLU)",
    "cnn": "CNN conv3x3(16)-pool-conv3x3(32)-pool-linear(10)",
}

COLUMNS = (
    ("tapegrad", "time", "tapegrad"),
    ("PyTorch eager", "time", "torch"),
    ("tapegrad/PyTorch", "ratio", "tapegrad", "torch"),
    ("target", "target"),
)


def make_data(model: str, n: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The shuffled training set: x (N, 64) or (N, 1, 8, 8) float32, y int64.

    ``n`` keeps only the first n shuffled rows (the smoke test's tiny epoch).
    """
    import tapegrad as tg

    x, y = tg.data.load_digits(split="train", images=(model == "cnn"))
    perm = np.random.default_rng(seed).permutation(len(y))
    if n is not None:
        perm = perm[:n]
    return np.ascontiguousarray(x[perm], dtype=np.float32), np.ascontiguousarray(y[perm])


def batches(n: int, batch: int) -> list[slice]:
    return [slice(i, min(i + batch, n)) for i in range(0, n, batch)]


def tapegrad_model(model: str) -> Any:
    import tapegrad as tg

    nn = tg.nn
    if model == "mlp":
        return nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )
    if model == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 2 * 2, 10),
        )
    raise ValueError(f"W7: model must be one of {MODELS}, got {model!r}")


def torch_model(model: str) -> Any:
    from torch import nn

    if model == "mlp":
        return nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10),
    )


def initial_state(model: str, seed: int = 0) -> dict[str, np.ndarray]:
    """tapegrad's initial parameters for ``model`` (drawn under ``tg.random.seed(seed)``)."""
    import tapegrad as tg

    tg.random.seed(seed)
    return tapegrad_model(model).state_dict()


def tapegrad_impl(
    model: str, state0: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, batch: int
) -> Impl:
    import tapegrad as tg

    net = tapegrad_model(model)
    loss_fn = tg.nn.CrossEntropyLoss()
    # the batches as tensors up front (a DataLoader's work, not the framework's)
    data = [(tg.tensor(x[s]), tg.tensor(y[s])) for s in batches(len(y), batch)]
    params = list(net.parameters())

    def epoch() -> dict[str, Any]:
        net.load_state_dict(state0)
        opt = tg.optim.Adam(params, lr=LR)
        losses = []
        for xb, yb in data:
            loss = loss_fn(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.data)
        return {"losses": np.array(losses), **net.state_dict()}

    return epoch


def torch_impl(
    model: str, state0: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, batch: int
) -> Impl:
    import torch

    net = torch_model(model)
    sd0 = {k: torch.from_numpy(v.copy()) for k, v in state0.items()}
    own = net.state_dict()
    if set(own) != set(sd0) or any(own[k].shape != sd0[k].shape for k in own):
        raise RuntimeError("W7: tapegrad's and torch's state_dict layouts differ")
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
    data = [(xt[s], yt[s]) for s in batches(len(y), batch)]
    params = list(net.parameters())

    def epoch() -> dict[str, Any]:
        net.load_state_dict(sd0)
        opt = torch.optim.Adam(params, lr=LR)
        losses = []
        for xb, yb in data:
            loss = loss_fn(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        out = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
        return {"losses": torch.stack(losses).numpy(), **out}

    return epoch


def build_one(model: str, n: int | None = None, batch: int = BATCH, seed: int = 0) -> Workload:
    x, y = make_data(model, n, seed)
    state0 = initial_state(model, seed)
    impls, skipped = collect_impls(
        {
            "tapegrad": lambda: tapegrad_impl(model, state0, x, y, batch),
            "torch": lambda: torch_impl(model, state0, x, y, batch),
        }
    )
    steps = len(batches(len(y), batch))
    goal = TARGETS[model]
    return Workload(
        name=NAME,
        variant=model,
        title=(
            f"one epoch of {TITLES[model]} on digits ({len(y)} images, batch {batch}, "
            f"{steps} Adam steps), float32, from the same initial weights each call"
        ),
        impls=impls,
        tol=1e-3,
        repeats=15,
        quick_repeats=3,
        warmup=2,
        block_warmup=1,
        columns=COLUMNS,
        target=f"tapegrad ≤ {goal:g}x PyTorch" if goal != 1.0 else "tapegrad ≤ PyTorch",
        target_pair=("tapegrad", "torch", goal),
        reference="tapegrad",
        skipped=skipped,
    )


def build(
    models: tuple[str, ...] = MODELS, n: int | None = None, batch: int = BATCH, seed: int = 0
) -> list[Workload]:
    return [build_one(m, n, batch, seed) for m in models]
