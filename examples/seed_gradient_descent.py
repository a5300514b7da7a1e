"""Gradient descent on L(x, y) = sin(x) + x*y, the classic worked example of reverse mode.

Start at x = 1, y = 2, learning rate 0.01, 1000 simultaneous updates
x <- x - lr * dL/dx,  y <- y - lr * dL/dy, with the gradients from tapegrad's tape.
Prints loss -193992792.6350034, x -13928.111031430128, y 13928.148130601208.

Run:  python examples/seed_gradient_descent.py   (or: tapegrad demo)
"""

from tapegrad.demo import run

if __name__ == "__main__":
    run()
