"""tapegrad: reverse- and forward-mode automatic differentiation on NumPy.

>>> import tapegrad as tg
>>> x = tg.tensor(1.0, requires_grad=True)
>>> y = tg.tensor(2.0, requires_grad=True)
>>> L = tg.sin(x) + x * y
>>> L.backward()
>>> print(f"{x.grad.item():.6f} {y.grad.item()}")
2.540302 1.0
"""

from __future__ import annotations

from . import autograd, data, linalg, nn, optim, optimize, random, return_types, testing, viz
from ._dtype import get_default_dtype, set_default_dtype
from .autograd import forward_ad
from .autograd.function import Function, custom_jvp, custom_vjp
from .autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .checkpoint import checkpoint, checkpoint_chain, checkpoint_sequential
from .creation import *  # noqa: F403
from .errors import *  # noqa: F403
from .explain import explain
from .forward_transforms import hessian, hvp, jacfwd, jacobian, jacrev, jvp, linearize, vhp
from .ops import *  # noqa: F403
from .tensor import Tensor
from .transforms import elementwise_grad, grad, value_and_grad, vjp

__version__ = "0.1.0"
