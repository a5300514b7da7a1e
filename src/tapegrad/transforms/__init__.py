"""Functional transforms in the style of JAX and HIPS autograd.

* :mod:`.reverse`: ``grad``, ``value_and_grad``, ``vjp``, ``elementwise_grad``, ``jacrev``;
* :mod:`.forward`: ``jvp``, ``linearize``, ``jacfwd``;
* :mod:`.second_order`: ``jacobian``, ``hessian``, ``hvp``, ``vhp``;
* :mod:`.args`: the argument handling they share (``argnums``, ``has_aux``, pytrees, input
  checks, the nesting depth).

Each takes a function and returns a function (or, for ``vjp``, ``jvp``, ``linearize``,
``hvp`` and ``vhp``, evaluates it); they nest in any order.
"""

from .forward import jacfwd, jvp, linearize
from .reverse import elementwise_grad, grad, jacrev, value_and_grad, vjp
from .second_order import hessian, hvp, jacobian, vhp

__all__ = [
    "grad",
    "value_and_grad",
    "vjp",
    "elementwise_grad",
    "jacrev",
    "jvp",
    "linearize",
    "jacfwd",
    "jacobian",
    "hessian",
    "hvp",
    "vhp",
]
