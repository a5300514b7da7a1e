"""The seed example as a library function (used by ``tapegrad demo``)."""

from __future__ import annotations

from .autograd.grad_mode import no_grad
from .creation import tensor
from .ops import sin


def run(steps: int = 1000, lr: float = 1e-2, verbose: bool = True) -> tuple[float, float, float]:
    """Minimise L(x, y) = sin(x) + x*y from (1, 2) by gradient descent; return (L, x, y).

    Each step takes both gradients from one backward pass, then updates x and y together.
    """
    x = tensor(1.0, requires_grad=True)
    y = tensor(2.0, requires_grad=True)
    loss = sin(x) + x * y
    loss.backward()
    assert x.grad is not None and y.grad is not None
    if verbose:
        print(f"L(1, 2) = {loss.item()!r}")
        print(f"dL/dx = cos(1) + y = {x.grad.item()!r}")
        print(f"dL/dy = x          = {y.grad.item()!r}")
    for _ in range(steps):
        x.grad = y.grad = None
        loss = sin(x) + x * y
        loss.backward()
        with no_grad():
            x -= lr * x.grad  # type: ignore[operator]
            y -= lr * y.grad  # type: ignore[operator]
    final = (sin(x) + x * y).item()
    if verbose:
        print(f"after {steps} steps of gradient descent (lr={lr}):")
        print(f"  loss = {final!r}")
        print(f"  x    = {x.item()!r}")
        print(f"  y    = {y.item()!r}")
    return final, x.item(), y.item()
