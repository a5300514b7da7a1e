"""tapegrad: reverse- and forward-mode automatic differentiation on NumPy.

>>> import tapegrad as tg
>>> x = tg.tensor(1.0, requires_grad=True)
>>> y = tg.tensor(2.0, requires_grad=True)
>>> L = tg.sin(x) + x * y
>>> L.backward()
>>> print(f"{x.grad.item():.6f} {y.grad.item()}")
2.540302 1.0

``import tapegrad`` loads the core (tensors, ops, autograd, transforms); ``tg.nn``,
``tg.optim``, ``tg.data``, ``tg.viz``, ``tg.testing``, ``tg.optimize``, ``tg.explain`` and
the checkpointing functions load on first use.
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
from types import ModuleType as _ModuleType
from typing import Any as _Any

from . import autograd, linalg, random, return_types
from ._dtype import get_default_dtype, set_default_dtype

# The engine imports the module ``tapegrad.tensor``: load it before ``tensor`` (below, from
# creation) names the function.
from .autograd import engine as _engine
from .autograd import forward_ad
from .autograd.function import Function, custom_jvp, custom_vjp
from .autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import *  # noqa: F403
from .errors import *  # noqa: F403
from .errors import InvalidAttributeError as _InvalidAttributeError
from .ops import *  # noqa: F403
from .tensor import Tensor
from .transforms import (
    elementwise_grad,
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    linearize,
    value_and_grad,
    vhp,
    vjp,
)

__version__ = "0.1.0"

# Loaded on first use: public name -> (submodule, attribute of it; None for the module).
_LAZY: dict[str, tuple[str, str | None]] = {
    "nn": ("nn", None),
    "optim": ("optim", None),
    "data": ("data", None),
    "viz": ("viz", None),
    "testing": ("testing", None),
    "optimize": ("optimize", None),
    "explain": ("explain", "explain"),
    "checkpoint": ("checkpoint", "checkpoint"),
    "checkpoint_chain": ("checkpoint", "checkpoint_chain"),
    "checkpoint_sequential": ("checkpoint", "checkpoint_sequential"),
    "jit": ("jit", "jit"),
}

# Public functions named like the submodule that defines them: ``tg.checkpoint`` and
# ``tg.explain`` are functions, ``tapegrad.checkpoint`` and ``tapegrad.explain`` modules.
_FUNCTION_NAMES = frozenset(name for name, (mod, attr) in _LAZY.items() if name == mod == attr)


def __getattr__(name: str) -> _Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise _InvalidAttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    mod = _importlib.import_module(f"{__name__}.{module}")
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Namespace(_ModuleType):
    """The type of the ``tapegrad`` module: importing ``tapegrad.checkpoint`` (or
    ``tapegrad.explain``) makes the import system bind the submodule as ``tapegrad``'s
    attribute of that name; the function of that name is bound instead."""

    def __setattr__(self, name: str, value: _Any) -> None:
        if (
            name in _FUNCTION_NAMES
            and isinstance(value, _ModuleType)
            and value.__name__ == f"{__name__}.{name}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Namespace
