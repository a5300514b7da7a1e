"""W2: one SGD training step of a small MLP: small matmuls plus per-op overhead.

Layers 64-128-128-10, tanh hidden activations, softmax cross-entropy with integer labels
(mean over the batch), batch 64, float32.  One step = forward, backward for every weight
and bias, and the update ``p -= 0.1 * grad``.  Weights are stored (in, out) and applied as
``x @ W + b`` by all three implementations.  Every call is a real step, so the parameters
move; the three start from the same values and make the same updates.

The check compares the loss and the gradients of the first step.

``build`` returns two workloads (rows "W2" and "W2 module"), both against the same
hand-written NumPy step:

* "W2": tapegrad eager on tensors (``loss.backward()``, ``p -= lr * p.grad`` under
  ``no_grad``), PyTorch the same way; compiled in the functional form, ``tg.jit`` and
  ``jax.jit`` of ``step(params, x, y)`` = ``value_and_grad`` over the list of arrays,
  returning the loss, ``[p - lr * g ...]`` and the gradients (each call feeds the new list
  back in);
* "W2 module": the same network as ``nn.Sequential(Linear, Tanh, Linear, Tanh, Linear)``
  with ``SGD(lr)``, the step ``opt.zero_grad(); loss = ...; loss.backward(); opt.step()``,
  eager (tapegrad, PyTorch) and inside ``tg.jit`` (parameters and ``.grad`` changed in
  place, as eager does).

The compiled steps are traced and compiled at setup; the timed call is the compiled call.
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


def tapegrad_loss(params: list[Any], x: Any, labels: Any) -> Any:
    """The mean cross-entropy of the MLP, functional form (tapegrad)."""
    import tapegrad as tg

    W1, b1, W2, b2, W3, b3 = params
    h1 = tg.tanh(x @ W1 + b1)
    h2 = tg.tanh(h1 @ W2 + b2)
    return tg.nn.functional.cross_entropy(h2 @ W3 + b3, labels)


def jax_loss(params: list[Any], x: Any, labels: Any) -> Any:
    """The same loss in jax.numpy (log-softmax, the labels' entries, mean)."""
    import jax
    import jax.numpy as jnp

    W1, b1, W2, b2, W3, b3 = params
    h1 = jnp.tanh(x @ W1 + b1)
    h2 = jnp.tanh(h1 @ W2 + b2)
    logp = jax.nn.log_softmax(h2 @ W3 + b3, axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))


def functional_step(value_and_grad: Any, loss: Any) -> Any:
    """``step(params, x, y) -> (loss, [p - lr * g ...], grads)`` from a ``value_and_grad``."""
    vg = value_and_grad(loss)

    def step(params: list[Any], x: Any, labels: Any) -> Any:
        value, grads = vg(params, x, labels)
        return value, [p - LR * g for p, g in zip(params, grads, strict=True)], grads

    return step


def jit_impl(params0: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> Impl:
    """``tg.jit`` of the functional step, compiled here."""
    import tapegrad as tg

    step = tg.jit(functional_step(tg.value_and_grad, tapegrad_loss))
    step([p.copy() for p in params0], x, labels)
    state = [[p.copy() for p in params0]]

    def run() -> dict[str, Any]:
        loss, state[0], grads = step(state[0], x, labels)
        return {"loss": loss, **dict(zip(GRAD_KEYS, grads, strict=True))}

    return run


def jax_impl(params0: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> Impl:
    """``jax.jit`` of the functional step on device arrays, compiled here."""
    from .common import jax_or_none

    jax = jax_or_none()
    step = jax.jit(functional_step(jax.value_and_grad, jax_loss))
    put = jax.device_put
    xj, yj = put(x), put(labels)
    jax.block_until_ready(step([put(p) for p in params0], xj, yj))
    state = [[put(p) for p in params0]]
    block = jax.block_until_ready

    def run() -> dict[str, Any]:
        loss, state[0], grads = block(step(state[0], xj, yj))
        return {"loss": loss, **dict(zip(GRAD_KEYS, grads, strict=True))}

    return run


def make_module(params0: list[np.ndarray]) -> Any:
    """``nn.Sequential(Linear, Tanh, Linear, Tanh, Linear)`` holding ``params0`` (weights
    transposed: Linear stores (out, in))."""
    import tapegrad as tg

    nn = tg.nn
    layers: list[Any] = []
    for i in range(0, len(params0), 2):
        W, b = params0[i], params0[i + 1]
        lin = nn.Linear(W.shape[0], W.shape[1])
        lin.weight.data[...] = W.T
        lin.bias.data[...] = b
        layers += [lin, nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def _module_grads(linears: list[Any]) -> dict[str, Any]:
    out = {}
    for i, lin in enumerate(linears):
        out[GRAD_KEYS[2 * i]] = lin.weight.grad.data.T
        out[GRAD_KEYS[2 * i + 1]] = lin.bias.grad.data
    return out


def module_step(params0: list[np.ndarray]) -> tuple[Any, list[Any]]:
    """The Module + SGD step (tapegrad) and the model's Linear layers."""
    import tapegrad as tg

    model = make_module(params0)
    opt = tg.optim.SGD(model.parameters(), lr=LR)
    cross_entropy = tg.nn.functional.cross_entropy

    def step(x: Any, labels: Any) -> Any:
        opt.zero_grad()
        loss = cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        return loss

    return step, [m for m in model if isinstance(m, tg.nn.Linear)]


def module_impl(
    params0: list[np.ndarray], x: np.ndarray, labels: np.ndarray, jit: bool = False
) -> Impl:
    """The Module + SGD step, eager or inside ``tg.jit`` (compiled here: two traces, with
    ``.grad`` still None at the first step and set at the later ones)."""
    import tapegrad as tg

    step, linears = module_step(params0)
    xt, yt = tg.tensor(x), tg.tensor(labels)
    if jit:
        step = tg.jit(step)
        # the first two steps compile; then the parameters start again from params0
        step(xt, yt)
        step(xt, yt)
        for lin, i in zip(linears, range(0, len(params0), 2), strict=True):
            lin.weight.data[...] = params0[i].T
            lin.bias.data[...] = params0[i + 1]

    def run() -> dict[str, Any]:
        loss = step(xt, yt)
        return {"loss": loss.data, **_module_grads(linears)}

    return run


def torch_module_impl(params0: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> Impl:
    import torch

    layers: list[Any] = []
    for i in range(0, len(params0), 2):
        W, b = params0[i], params0[i + 1]
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
        layers += [lin, torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1])
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    cross_entropy = torch.nn.functional.cross_entropy
    xt = torch.from_numpy(x.copy())
    yt = torch.from_numpy(labels.copy())

    def run() -> dict[str, Any]:
        opt.zero_grad()
        loss = cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        out = {"loss": loss.detach().numpy()}
        for i, lin in enumerate(linears):
            out[GRAD_KEYS[2 * i]] = lin.weight.grad.numpy().T
            out[GRAD_KEYS[2 * i + 1]] = lin.bias.grad.numpy()
        return out

    return run


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


def build(sizes: tuple[int, ...] = SIZES, batch: int = BATCH, seed: int = 0) -> list[Workload]:
    """Rows "W2" (tensors; compiled: the functional step) and "W2 module" (Module + SGD)."""
    if len(sizes) != 4:
        raise ValueError(f"W2 is a 3-layer MLP: sizes needs 4 entries, got {sizes}")
    params0, x, labels = make_problem(sizes, batch, seed)
    what = f"MLP {'-'.join(map(str, sizes))} tanh + cross-entropy, batch {batch}, float32"
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(params0, x, labels),
            "tapegrad": lambda: tapegrad_impl(params0, x, labels),
            "jit": lambda: jit_impl(params0, x, labels),
            "torch": lambda: torch_impl(params0, x, labels),
            "jax": lambda: jax_impl(params0, x, labels),
        }
    )
    functional = Workload(
        name=NAME,
        title=(
            f"{what}, one SGD step (jit, jax.jit: value_and_grad over the list of arrays, "
            "returning [p - lr * g ...])"
        ),
        impls=impls,
        tol=1e-4,
        repeats=201,
        quick_repeats=11,
        warmup=5,
        target="tapegrad <= 1.3x NumPy and <= PyTorch",
        target_ratio=1.3,
        target_not_slower_than_torch=True,
        targets=(("ratio", "jit", "numpy", 1.0, "jit ≤ 1x NumPy"),),
        skipped=skipped,
    )
    impls, skipped = collect_impls(
        {
            "numpy": lambda: numpy_impl(params0, x, labels),
            "tapegrad": lambda: module_impl(params0, x, labels),
            "jit": lambda: module_impl(params0, x, labels, jit=True),
            "torch": lambda: torch_module_impl(params0, x, labels),
        }
    )
    module = Workload(
        name=NAME,
        variant="module",
        title=(
            f"{what}, one step of nn.Sequential + optim.SGD: opt.zero_grad(); loss = ...; "
            "loss.backward(); opt.step()"
        ),
        impls=impls,
        tol=1e-4,
        repeats=201,
        quick_repeats=11,
        warmup=5,
        target="jit ≤ 1x NumPy",
        targets=(("ratio", "jit", "numpy", 1.0, "jit ≤ 1x NumPy"),),
        skipped=skipped,
    )
    return [functional, module]
