"""W2: one SGD training step of a small MLP: small matmuls plus per-op overhead.

Layers 64-128-128-10, tanh hidden activations, softmax cross-entropy with integer labels
(mean over the batch), batch 64, float32.  One step = forward, backward for every weight
and bias, and the update ``p -= 0.1 * grad``.  Weights are stored (in, out) and applied as
``x @ W + b`` by all three implementations.  Every call is a real step, so the parameters
move; the three start from the same values and make the same updates.

The check compares the loss and the gradients of the first step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import Impl, Workload, collect_impls

NAME = "W2"
SIZES = (64, 128, 128, 10)
BATCH = 64
LR = 0.1
GRAD_KEYS = ("dW1", "db1", "dW2", "db2", "dW3", "db3")


def make_problem(
    sizes: tuple[int, ...] = SIZES, batch: int = BATCH, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Initial parameters ``[W1, b1, W2, b2, W3, b3]``, inputs and integer labels."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        params.append((rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32))
        params.append((0.1 * rng.standard_normal(fan_out)).astype(np.float32))
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], batch).astype(np.int64)
    return params, x, labels


def numpy_impl(params0: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> Impl:
    params = [p.copy() for p in params0]
    W1, b1, W2, b2, W3, b3 = params
    n = x.shape[0]
    rows = np.arange(n)

    def step() -> dict[str, Any]:
        # forward
        h1 = np.tanh(x @ W1 + b1)
        h2 = np.tanh(h1 @ W2 + b2)
        logits = h2 @ W3 + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        loss = (np.log(s[:, 0]) - shifted[rows, labels]).mean()
        # backward: d loss / d logits = (softmax - onehot) / n
        dlogits = e / s
        dlogits[rows, labels] -= 1.0
        dlogits /= n
        dW3 = h2.T @ dlogits
        db3 = dlogits.sum(axis=0)
        dz2 = (dlogits @ W3.T) * (1.0 - h2 * h2)
        dW2 = h1.T @ dz2
        db2 = dz2.sum(axis=0)
        dz1 = (dz2 @ W2.T) * (1.0 - h1 * h1)
        dW1 = x.T @ dz1
        db1 = dz1.sum(axis=0)
        # SGD, in place
        grads = (dW1, db1, dW2, db2, dW3, db3)
        for p, g in zip(params, grads, strict=True):
            p -= LR * g
        return {
            "loss": loss,
            "dW1": dW1,
            "db1": db1,
            "dW2": dW2,
            "db2": db2,
            "dW3": dW3,
            "db3": db3,
        }

    return step


def tapegrad_impl(params0: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> Impl:
    import tapegrad as tg

    cross_entropy = tg.nn.functional.cross_entropy
    params = [tg.tensor(p, requires_grad=True) for p in params0]
    W1, b1, W2, b2, W3, b3 = params
    xt = tg.tensor(x)
    yt = tg.tensor(labels)
    tanh, no_grad = tg.tanh, tg.no_grad

    def step() -> dict[str, Any]:
        h1 = tanh(xt @ W1 + b1)
        h2 = tanh(h1 @ W2 + b2)
        loss = cross_entropy(h2 @ W3 + b3, yt)
        loss.backward()
        grads = [p.grad.data for p in params]
        with no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return {"loss": loss.data, **dict(zip(GRAD_KEYS, grads, strict=True))}

    return step


def torch_impl(params0: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> Impl:
    import torch

    cross_entropy = torch.nn.functional.cross_entropy
    params = [torch.tensor(p, requires_grad=True) for p in params0]
    W1, b1, W2, b2, W3, b3 = params
    xt = torch.from_numpy(x.copy())
    yt = torch.from_numpy(labels.copy())
    tanh, no_grad = torch.tanh, torch.no_grad

    def step() -> dict[str, Any]:
        h1 = tanh(xt @ W1 + b1)
        h2 = tanh(h1 @ W2 + b2)
        loss = cross_entropy(h2 @ W3 + b3, yt)
        loss.backward()
        grads = [p.grad.numpy() for p in params]
        with no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return {"loss": loss.detach().numpy(), **dict(zip(GRAD_KEYS, grads, strict=True))}

    return step


def build(sizes: tuple[int, ...] = SIZES, batch: int = BATCH, seed: int = 0) -> Workload:
    if len(sizes) != 4:
        raise ValueError(f"W2 is a 3-layer MLP: sizes needs 4 entries, got {sizes}")
    params0, x, labels = make_problem(sizes, batch, seed)
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(params0, x, labels),
            "tapegrad": lambda: tapegrad_impl(params0, x, labels),
            "torch": lambda: torch_impl(params0, x, labels),
        }
    )
    return Workload(
        name=NAME,
        title=(
            f"MLP {'-'.join(map(str, sizes))} tanh + cross-entropy, batch {batch}, "
            "float32, one SGD step"
        ),
        impls=impls,
        tol=1e-4,
        repeats=201,
        quick_repeats=11,
        warmup=5,
        target="tapegrad <= 1.3x NumPy and <= PyTorch",
        target_ratio=1.3,
        target_not_slower_than_torch=True,
        skipped=skipped,
    )
