"""Gradient descent on L(x, y) = sin(x) + x*y, the classic worked example of reverse mode.

Start at x = 1, y = 2, learning rate 0.01, 1000 simultaneous updates
x <- x - lr * dL/dx,  y <- y - lr * dL/dy, with the gradients from tapegrad's tape.

Run:  python examples/seed_gradient_descent.py
"""

from __future__ import annotations

import tapegrad as tg


def main(steps: int = 1000, lr: float = 1e-2) -> tuple[float, float, float]:
    x = tg.tensor(1.0, requires_grad=True)
    y = tg.tensor(2.0, requires_grad=True)
    loss = tg.sin(x) + x * y
    print(f"initial loss: {loss.item()!r}")
    loss.backward()
    print(f"gradient at (1, 2): dL/dx = {x.grad.item()!r} (cos(1) + 2), dL/dy = {y.grad.item()!r}")
    for _ in range(steps):
        x.grad = y.grad = None
        loss = tg.sin(x) + x * y
        loss.backward()
        with tg.no_grad():
            x -= lr * x.grad
            y -= lr * y.grad
    final = (tg.sin(x) + x * y).item()
    print(f"final loss: {final!r}")
    print(f"x: {x.item()!r}")
    print(f"y: {y.item()!r}")
    return final, x.item(), y.item()


if __name__ == "__main__":
    main()
