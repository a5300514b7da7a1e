"""The installer: attaches the op library to the layers below it.

The tensor and autograd never import the op library.  Once every op is declared,
:func:`install` (run at the end of ``tapegrad.ops``' import) gives them what they use:

* Tensor's operators and hand-written methods (:class:`~tapegrad.ops.methods.TensorMethods`);
* one Tensor method per op declared with ``method=`` (:data:`~tapegrad.ops.registry.METHODS`),
  also for ops declared later (the registry tells the installer of each new declaration);
* :data:`tapegrad.autograd.injected.OPS`, the few ops autograd and the in-place machinery call.

``np.<ufunc>(tensor)`` dispatch reads :data:`~tapegrad.ops.registry.UFUNCS` at call time,
so it follows later declarations by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.injected import OPS
from ..errors import InvalidArgumentError
from ..tensor import Tensor
from . import registry
from .elementwise import astype, identity, where
from .indexing import rewrite_base, view_index_map
from .methods import TensorMethods, _write_out
from .reduce import _sum
from .shape import broadcast_to, reshape

__all__ = ["install"]

# What a class body defines besides its members.
_NOT_MEMBERS = frozenset(
    ("__module__", "__doc__", "__slots__", "__qualname__", "__annotations__", "__dict__")
)

# The Tensor methods generated from declarations: name -> op.
_generated: dict[str, Any] = {}


def install() -> None:
    """Attach Tensor's operators and methods and fill autograd's op slots (idempotent)."""
    for name, fn in registry.METHODS.items():
        _add_method(name, fn)
    # Hand-written methods win over generated ones of the same name: they spell an op's full
    # PyTorch/NumPy signature (``round(decimals)`` over the ``round`` primitive).
    for name, value in vars(TensorMethods).items():
        if name in _NOT_MEMBERS:
            continue
        if callable(value) and value.__qualname__.startswith("TensorMethods."):
            value.__qualname__ = "Tensor." + value.__qualname__[len("TensorMethods.") :]
        setattr(Tensor, name, value)
        _generated.pop(name, None)
    OPS.sum = _sum
    OPS.reshape = reshape
    OPS.broadcast_to = broadcast_to
    OPS.astype = astype
    OPS.where = where
    OPS.identity = identity
    OPS.view_index_map = view_index_map
    OPS.rewrite_base = rewrite_base
    registry.set_method_hook(_declared)


def _declared(name: str, fn: Any) -> None:
    """The registry's hook: a Tensor method was declared (``fn``) or withdrawn (None)."""
    if fn is None:
        if _generated.pop(name, None) is not None:
            delattr(Tensor, name)
        return
    if hasattr(Tensor, name) and name not in _generated:
        raise InvalidArgumentError(
            f"Tensor already has an attribute {name!r}; declare {_label(fn)} with "
            "method=False or another method name (method='...')"
        )
    _add_method(name, fn)


def _add_method(name: str, fn: Any) -> None:
    setattr(Tensor, name, _method(name, fn))
    _generated[name] = fn


def _method(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``t.<name>(*args, out=None, **kwargs)``: ``fn(t, *args, **kwargs)``, written into
    ``out`` when given (PyTorch's ``out=``)."""

    def method(self: Tensor, *args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(self, *args, **kwargs)
        return _write_out(name, out, fn(self, *args, **kwargs))

    method.__name__ = name
    method.__qualname__ = "Tensor." + name
    method.__doc__ = fn.__doc__
    return method


def _label(fn: Any) -> str:
    return str(getattr(fn, "name", None) or getattr(fn, "__name__", None) or fn)
