"""``tg.nn.Module``, ``tg.nn.Parameter`` and the containers (PyTorch's API).

A :class:`Module` owns :class:`Parameter` objects (trainable tensors), buffers (tensors that
are part of the state but not trained, such as BatchNorm's running mean) and child modules,
all assigned as attributes.  ``state_dict()`` / ``load_state_dict()`` save and restore them as
NumPy arrays.
"""

from __future__ import annotations

import copy
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._dtype import get_default_dtype
from ..autograd.grad_mode import (
    Observer,
    active_observers,
    current_scope,
    observe_everywhere,
    scope,
)
from ..errors import (
    AbstractMethodError,
    IndexingError,
    InvalidAttributeError,
    InvalidKeyError,
    InvalidStateError,
    InvalidTypeError,
    NotDifferentiableError,
    ShapeMismatchError,
    TapegradError,
    complex_error,
)
from ..tensor import Tensor, new_tensor

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "ModuleDict"]


# Module calls, for ``tg.viz`` to draw module boundaries: ``id(output Node) -> (weakref to
# that Node, [(weakref to the module, ids of the inputs' Nodes or leaf Tensors, class), ...])``,
# innermost call first.  Kept by :class:`ModuleCallLog`, an observer of the ``"module"``
# scopes that every ``Module.__call__`` announces, active in every thread.  Nothing here
# keeps a graph alive: Nodes and modules are held weakly, entries whose Node died are swept
# out once the table doubles.  The inputs are kept as ids: an id can only be reused by an
# object created later, and such an object can never be an ancestor of the (older) output
# Node.  ``MODULE_CALLS_ENABLED[0] = False`` turns this off.
MODULE_CALLS: dict[int, tuple[Any, list[tuple[Any, tuple[int, ...], type]]]] = {}
MODULE_CALLS_ENABLED = [True]
_SWEEP_AT = [4096]


class ModuleCallLog(Observer):
    """Observes ``"module"`` scopes and logs each call under its output nodes, for
    ``tg.viz``'s frames (see :data:`MODULE_CALLS`)."""

    __slots__ = ()

    def scope_exit(self, kind: str, obj: Any, outputs: Any) -> None:
        if kind != "module" or not MODULE_CALLS_ENABLED[0]:
            return
        if isinstance(outputs, Tensor):
            if outputs.grad_fn is None:
                return
        elif not isinstance(outputs, (tuple, list)):
            return
        sc = current_scope()
        args, kwargs = sc.inputs if sc is not None and sc.obj is obj else ((), {})
        _record_call(obj, outputs, args, kwargs)

    @staticmethod
    def calls(node: Any) -> list[tuple[Any, tuple[int, ...], type]]:
        """The module calls that produced ``node`` (innermost first), as logged."""
        rec = MODULE_CALLS.get(id(node))
        if rec is None or rec[0]() is not node:
            return []
        return rec[1]


MODULE_LOG = ModuleCallLog()
observe_everywhere(MODULE_LOG)


def _sweep_module_calls() -> None:
    for k, (ref, _) in list(MODULE_CALLS.items()):
        if ref() is None:
            MODULE_CALLS.pop(k, None)
    _SWEEP_AT[0] = max(4096, 2 * len(MODULE_CALLS))


def _record_call(module: Module, out: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Remember that ``module`` produced ``out`` from ``args`` (for ``tg.viz`` clusters)."""
    if len(args) == 1 and not kwargs and isinstance(args[0], Tensor):  # the common case
        a = args[0]
        ids: tuple[int, ...] = (id(a.grad_fn or a),) if a.requires_grad else ()
    else:
        found = []
        for a in (*args, *kwargs.values()):
            for b in a if isinstance(a, (tuple, list)) else (a,):
                if isinstance(b, Tensor) and b.requires_grad:
                    found.append(id(b.grad_fn or b))
        ids = tuple(found)
    d = module.__dict__
    mref = d.get("_module_ref")
    if mref is None or mref() is not module:  # first call, or a copy of another module
        mref = d["_module_ref"] = weakref.ref(module)
    entry = (mref, ids, type(module))
    if isinstance(out, Tensor):
        _record_one(out.grad_fn, entry)
    else:  # several outputs: one entry under each of their Nodes
        for o in out:
            if isinstance(o, Tensor) and o.grad_fn is not None:
                _record_one(o.grad_fn, entry)


def _record_one(fn: Any, entry: tuple[Any, tuple[int, ...], type]) -> None:
    k = id(fn)
    if k in entry[1]:  # the module handed an input back: nothing of its own to draw
        return
    rec = MODULE_CALLS.get(k)
    if rec is not None and rec[0]() is fn:
        rec[1].append(entry)
    else:
        MODULE_CALLS[k] = (weakref.ref(fn), [entry])
        if len(MODULE_CALLS) > _SWEEP_AT[0]:
            _sweep_module_calls()


class StateDictError(TapegradError, RuntimeError):
    """``load_state_dict`` got missing or unexpected keys (raised with ``strict=True``)."""


class Parameter(Tensor):
    """A tensor that is a trainable parameter of a :class:`Module`.

    Assigning a ``Parameter`` as an attribute of a module registers it, so that
    :meth:`Module.parameters` returns it.  It is always a leaf and, by default, requires grad.

    Parameters
    ----------
    data : array_like or Tensor, optional
        The initial values (floating point).  A :class:`Tensor` shares its memory with the
        parameter (like PyTorch); anything else is copied.  None gives an empty array of
        ``tg.get_default_dtype()``.
    requires_grad : bool
        Whether the parameter is trained (default True).

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.nn.Parameter(tg.zeros(2))
    >>> w.requires_grad, w.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            arr = np.empty(0, dtype=get_default_dtype())
        elif isinstance(data, Tensor):
            arr = data.data
        else:
            arr = np.array(data, copy=True)
        if not isinstance(arr, np.ndarray):  # pragma: no cover - defensive
            arr = np.asarray(arr)
        if requires_grad and arr.dtype.kind == "c":
            raise complex_error("Parameter")
        if requires_grad and arr.dtype.kind != "f":
            raise NotDifferentiableError(
                f"a Parameter that requires grad must hold floating-point data, got dtype "
                f"{arr.dtype}; convert first, e.g. Parameter(x.astype('float32')), or pass "
                "requires_grad=False"
            )
        new_tensor(arr, bool(requires_grad), None, 0, self)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self.data, self.requires_grad, self.grad))

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        p = Parameter(self.data.copy(), self.requires_grad)
        if self.grad is not None:
            p.grad = copy.deepcopy(self.grad, memo)
        memo[id(self)] = p
        return p


def _rebuild_parameter(data: np.ndarray, requires_grad: bool, grad: Any) -> Parameter:
    p = Parameter(data, requires_grad)
    p.grad = grad
    return p


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods: ``handle.remove()`` removes the hook.

    Also a context manager that removes the hook on exit.
    """

    _next_id = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        """Remove the hook (a no-op if it was removed already)."""
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    return np.asarray(value)


class Module:
    """Base class of every layer and model.

    Subclass it, call ``super().__init__()`` first, assign :class:`Parameter` objects,
    sub-modules and buffers (:meth:`register_buffer`) as attributes, and define
    :meth:`forward`.  Calling the module runs its forward pre-hooks, ``forward`` and its
    forward hooks.

    Attributes
    ----------
    training : bool
        True in training mode (the default), False after :meth:`eval`.

    Examples
    --------
    >>> import tapegrad as tg
    >>> class Affine(tg.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = tg.nn.Parameter(tg.ones(3))
    ...         self.b = tg.nn.Parameter(tg.zeros(3))
    ...     def forward(self, x):
    ...         return x * self.w + self.b
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()]
    ['w', 'b']
    >>> m(tg.tensor([1.0, 2.0, 3.0]))
    tensor([1., 2., 3.], grad_fn=<addBackward>)
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent"] = set()
        d["_modules"] = {}
        d["_forward_hooks"] = {}
        d["_forward_pre_hooks"] = {}

    # ------------------------------------------------------------------ forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass must define it."""
        raise AbstractMethodError(
            f"{type(self).__name__} has no forward(): define `def forward(self, ...)` in the "
            "subclass"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if "_forward_pre_hooks" not in d:
            raise InvalidStateError(
                f"{type(self).__name__}.__init__ did not call super().__init__(); add it as the "
                "first line of __init__"
            )
        for hook in list(d["_forward_pre_hooks"].values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        if not active_observers():
            return self._call_forward(d, args, kwargs)
        # The call is a "module" scope for the observers (tg.viz's frames among them).
        with scope("module", self, (args, kwargs)) as sc:
            sc.outputs = self._call_forward(d, args, kwargs)
        return sc.outputs

    def _call_forward(
        self, d: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        out = self.forward(*args, **kwargs)
        for hook in list(d["_forward_hooks"].values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    def register_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward.

        A non-None return value replaces the output.  Returns a handle whose ``remove()``
        removes the hook.

        Examples
        --------
        >>> import tapegrad as tg
        >>> m = tg.nn.Identity()
        >>> h = m.register_forward_hook(lambda mod, args, out: out * 2)
        >>> m(tg.tensor(1.0))
        tensor(2.)
        >>> h.remove()
        """
        handle = RemovableHandle(self.__dict__["_forward_hooks"])
        self.__dict__["_forward_hooks"][handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward.

        A non-None return value replaces the positional arguments (a tuple, or a single value
        that becomes a one-element tuple).  Returns a handle whose ``remove()`` removes it.
        """
        handle = RemovableHandle(self.__dict__["_forward_pre_hooks"])
        self.__dict__["_forward_pre_hooks"][handle.id] = hook
        return handle

    # ------------------------------------------------------------------ registration
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise InvalidAttributeError(
                f"{type(self).__name__}: cannot assign {what} before Module.__init__() is called; "
                "call super().__init__() first in the subclass's __init__"
            )

    def _check_name(self, name: Any, kind: str) -> None:
        if not isinstance(name, str):
            raise InvalidTypeError(
                f"{type(self).__name__}: {kind} name must be a string, got {type(name).__name__}"
            )
        if name == "" or "." in name:
            raise InvalidKeyError(
                f"{type(self).__name__}: {kind} name can't be empty or contain '.', got {name!r}"
            )

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a :class:`Parameter`, or None for an absent one) as ``name``."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise InvalidTypeError(
                f"{type(self).__name__}: cannot assign a {type(param).__name__} as parameter "
                f"{name!r}: wrap it as tg.nn.Parameter(value), or use register_buffer for state "
                "that is not trained"
            )
        if hasattr(type(self), name) or (name in self.__dict__ and name != "training"):
            if name not in self._parameters:
                raise InvalidKeyError(
                    f"{type(self).__name__}: attribute {name!r} already exists; choose another name"
                )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register a buffer: state saved in ``state_dict`` but not trained.

        Parameters
        ----------
        name : str
            The attribute name.
        tensor : Tensor, array_like or None
            The value (array-likes are wrapped in a Tensor without copying).
        persistent : bool
            False keeps the buffer out of :meth:`state_dict`.

        Examples
        --------
        >>> import tapegrad as tg
        >>> m = tg.nn.Module()
        >>> m.register_buffer("count", tg.zeros(()))
        >>> list(m.state_dict())
        ['count']
        """
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if name in self.__dict__ or name in self._parameters or name in self._modules:
            raise InvalidKeyError(
                f"{type(self).__name__}: attribute {name!r} already exists; choose another name"
            )
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor._wrap(np.asarray(tensor))
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as the child ``name`` (same as assigning the attribute)."""
        self._check_init("child modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise InvalidTypeError(
                f"{type(self).__name__}: {type(module).__name__} is not a Module subclass"
            )
        if name in self.__dict__ or name in self._parameters or name in self._buffers:
            raise InvalidKeyError(
                f"{type(self).__name__}: attribute {name!r} already exists; choose another name"
            )
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._remove_from(name, d, "_buffers", "_modules")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise InvalidTypeError(
                    f"{type(self).__name__}: cannot assign a {type(value).__name__} as parameter "
                    f"{name!r}: use tg.nn.Parameter(value) (or None)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("child modules")
            self._remove_from(name, d, "_parameters", "_buffers")
            d["_modules"][name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise InvalidTypeError(
                    f"{type(self).__name__}: cannot assign a {type(value).__name__} as child "
                    f"module {name!r}: expected a Module (or None)"
                )
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise InvalidTypeError(
                    f"{type(self).__name__}: cannot assign a {type(value).__name__} as buffer "
                    f"{name!r}: expected a Tensor (or None)"
                )
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_from(self, name: str, d: dict[str, Any], *stores: str) -> None:
        d.pop(name, None)
        for store in stores:
            s = d.get(store)
            if s is not None:
                s.pop(name, None)
                if store == "_buffers":
                    d["_non_persistent"].discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise InvalidAttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                del s[name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = set(super().__dir__())
        keys.update(self._parameters, self._buffers, self._modules)
        return sorted(keys)

    # ------------------------------------------------------------------ traversal
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for this module and every descendant, depth first.

        The module itself comes first with the name ``prefix`` (``""`` by default).
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """Yield this module and every descendant (each once)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for the direct children (each once)."""
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """Yield the direct children (each once)."""
        for _, m in self.named_children():
            yield m

    def _named_members(
        self, store: str, prefix: str, recurse: bool, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else iter([(prefix, self)])
        )
        for mod_prefix, mod in mods:
            for name, t in mod.__dict__[store].items():
                if t is None:
                    continue
                if remove_duplicate:
                    if id(t) in seen:
                        continue
                    seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted_name, parameter)`` in registration order, children after their parent.

        A parameter shared by two modules is yielded once (under its first name) unless
        ``remove_duplicate=False``.

        Examples
        --------
        >>> import tapegrad as tg
        >>> net = tg.nn.Sequential(tg.nn.Linear(2, 3), tg.nn.ReLU(), tg.nn.Linear(3, 1))
        >>> [n for n, _ in net.named_parameters()]
        ['0.weight', '0.bias', '2.weight', '2.bias']
        """
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yield every parameter (each once), in the order of :meth:`named_parameters`."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted_name, buffer)`` for every buffer (each once)."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yield every buffer (each once)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The descendant at the dotted path ``target`` (``""`` is the module itself)."""
        mod: Module = self
        if target == "":
            return mod
        for part in target.split("."):
            child = mod._modules.get(part)
            if child is None:
                raise InvalidAttributeError(
                    f"{type(mod).__name__} has no submodule {part!r} (looking up {target!r}); "
                    f"its children are {list(mod._modules)}"
                )
            mod = child
        return mod

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn(m)`` on every child (recursively) and then on this module; returns self.

        Examples
        --------
        >>> import tapegrad as tg
        >>> def init(m):
        ...     if isinstance(m, tg.nn.Linear):
        ...         tg.nn.init.zeros_(m.bias)
        >>> net = tg.nn.Sequential(tg.nn.Linear(2, 2)).apply(init)
        >>> net[0].bias
        Parameter containing:
        tensor([0., 0.], dtype=float32, requires_grad=True)
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode on this module and all
        descendants; returns self."""
        if not isinstance(mode, bool):
            raise InvalidTypeError(
                f"{type(self).__name__}: train(mode) takes a bool, got {type(mode).__name__}"
            )
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode (Dropout off, BatchNorm uses running statistics); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (freeze with False); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter.

        Parameters
        ----------
        set_to_none : bool
            True (default) sets ``.grad`` to None; False fills the existing gradients with
            zeros.
        """
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                if g.grad_fn is not None or g.requires_grad:
                    g = g.detach()
                    p.grad = g
                g.data = np.zeros_like(g.data)

    # ------------------------------------------------------------------ dtype
    def astype(self, dtype: Any) -> Module:
        """Cast every floating-point parameter and buffer to ``dtype`` in place; returns self.

        Parameter objects keep their identity (an optimizer built before still holds them);
        their gradients are cast too.
        """
        dt = np.dtype(dtype)
        if dt.kind not in "fc":
            raise InvalidTypeError(
                f"{type(self).__name__}: astype needs a floating-point dtype, got {dt}"
            )
        for m in self.modules():
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is None or t.data.dtype.kind not in "fc" or t.data.dtype == dt:
                    continue
                t.data = t.data.astype(dt)
                t._bump()
                if t.grad is not None:
                    t.grad = Tensor._wrap(t.grad.data.astype(dt))
        return self

    def to(self, dtype: Any) -> Module:
        """Same as :meth:`astype` (only dtypes are accepted: there is one device)."""
        return self.astype(dtype)

    def float(self) -> Module:
        """Cast floating-point parameters and buffers to float32; returns self."""
        return self.astype(np.float32)

    def double(self) -> Module:
        """Cast floating-point parameters and buffers to float64; returns self."""
        return self.astype(np.float64)

    # ------------------------------------------------------------------ state
    def state_dict(
        self, destination: dict[str, np.ndarray] | None = None, prefix: str = ""
    ) -> dict[str, np.ndarray]:
        """Every parameter and persistent buffer as ``dotted_name -> NumPy array`` (copies).

        The order is PyTorch's: a module's own parameters, then its buffers, then each child's.

        Examples
        --------
        >>> import tapegrad as tg
        >>> sd = tg.nn.Linear(3, 2).state_dict()
        >>> {k: v.shape for k, v in sd.items()}
        {'weight': (2, 3), 'bias': (2,)}
        """
        out: dict[str, np.ndarray] = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p.data.copy()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b.data.copy()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(out, prefix + name + ".")
        return out

    def _state_tensors(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for prefix, mod in self.named_modules(remove_duplicate=False):
            pre = prefix + "." if prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out.setdefault(pre + name, p)
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out.setdefault(pre + name, b)
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """Copy values from ``state_dict`` into the parameters and buffers, in place.

        Parameters
        ----------
        state_dict : mapping of str to array_like or Tensor
            As returned by :meth:`state_dict` (or loaded from an ``.npz`` file).
        strict : bool
            If True (default), missing or unexpected keys raise an error.

        Returns
        -------
        NamedTuple
            ``missing_keys`` and ``unexpected_keys`` (lists of names).

        Raises
        ------
        RuntimeError
            With ``strict=True``, when keys are missing or unexpected (the message lists them).
        ShapeMismatchError
            When a value's shape differs from the parameter's (always checked); nothing is
            changed in that case.

        Examples
        --------
        >>> import tapegrad as tg
        >>> a, b = tg.nn.Linear(2, 2), tg.nn.Linear(2, 2)
        >>> b.load_state_dict(a.state_dict())
        <All keys matched successfully>
        """
        if not isinstance(state_dict, Mapping):
            if hasattr(state_dict, "files") and hasattr(state_dict, "__getitem__"):  # np.load
                state_dict = {k: state_dict[k] for k in state_dict.files}
            else:
                raise InvalidTypeError(
                    f"{type(self).__name__}: load_state_dict expects a mapping of names to "
                    f"arrays, got {type(state_dict).__name__}"
                )
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        name = type(self).__name__
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing key(s): {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected key(s): {', '.join(unexpected)}")
            raise StateDictError(
                f"error(s) in loading state_dict for {name}: {'; '.join(parts)}. Load a "
                "state_dict saved from the same architecture, or pass strict=False to load the "
                "matching keys only"
            )
        pending: list[tuple[Tensor, np.ndarray]] = []
        bad: list[str] = []
        for key, t in own.items():
            if key not in state_dict:
                continue
            arr = _as_array(state_dict[key])
            if arr.shape != t.data.shape:
                bad.append(f"{key}: the checkpoint has shape {arr.shape}, the model {t.data.shape}")
                continue
            if arr.dtype.kind not in "biufc":
                bad.append(f"{key}: non-numeric dtype {arr.dtype}")
                continue
            pending.append((t, arr))
        if bad:
            raise ShapeMismatchError(
                f"error(s) in loading state_dict for {name}: size mismatch for "
                + "; ".join(bad)
                + ". Build the model with the same sizes as the one that was saved"
            )
        for t, arr in pending:
            np.copyto(t.data, arr, casting="unsafe")
            t._bump()
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(child), 2))
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_module_ref", None)  # a weakref kept for tg.viz; it does not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class Sequential(Module):
    """Modules applied one after another; ``forward(x)`` feeds each output to the next.

    Indexable (an int gives the module, a slice a new ``Sequential``), has ``len`` and
    iterates over its modules.  Also accepts one ``OrderedDict`` of named modules.

    Examples
    --------
    >>> import tapegrad as tg
    >>> net = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.ReLU(), tg.nn.Linear(8, 2))
    >>> len(net), type(net[1]).__name__
    (3, 'ReLU')
    >>> net(tg.zeros((5, 4), dtype="float32")).shape
    (5, 2)
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, m in args[0].items():
                self.add_module(str(name), _module_arg(m, "Sequential"))
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), _module_arg(m, "Sequential"))

    def _index(self, idx: int) -> int:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexingError(
                f"index {idx} is out of range for {type(self).__name__} of length {n}"
            )
        return idx % n

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[self._index(idx)]
        self._modules[key] = _module_arg(module, type(self).__name__)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        targets = keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]
        for k in targets:
            del self._modules[k]
        if all(k.isdigit() for k in self._modules):
            mods = list(self._modules.values())
            self._modules.clear()
            for i, m in enumerate(mods):
                self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self._modules)), _module_arg(module, "Sequential"))
        return self

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x


def _module_arg(m: Any, where: str) -> Module:
    if not isinstance(m, Module):
        raise InvalidTypeError(f"{where} takes Module objects, got {type(m).__name__}")
    return m


class ModuleList(Module):
    """A list of modules, registered so that their parameters belong to the parent.

    Examples
    --------
    >>> import tapegrad as tg
    >>> layers = tg.nn.ModuleList([tg.nn.Linear(2, 2) for _ in range(3)])
    >>> len(layers), len(list(layers.parameters()))
    (3, 6)
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, idx: int) -> int:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexingError(f"index {idx} is out of range for ModuleList of length {n}")
        return idx % n

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(self._index(idx))]

    def __setitem__(self, idx: int, module: Module) -> None:
        self._modules[str(self._index(idx))] = _module_arg(module, "ModuleList")

    def __delitem__(self, idx: int | slice) -> None:
        mods = list(self._modules.values())
        del mods[idx]
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        self._modules[str(len(self._modules))] = _module_arg(module, "ModuleList")
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add each of ``modules`` at the end; returns self."""
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise InvalidTypeError("ModuleList.extend takes an iterable of modules, got one Module")
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        mods = list(self._modules.values())
        mods.insert(index, _module_arg(module, "ModuleList"))
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m


class ModuleDict(Module):
    """A dict of named modules, registered so that their parameters belong to the parent.

    Keeps insertion order.

    Examples
    --------
    >>> import tapegrad as tg
    >>> heads = tg.nn.ModuleDict({"cls": tg.nn.Linear(4, 3), "reg": tg.nn.Linear(4, 1)})
    >>> list(heads.keys()), "cls" in heads
    (['cls', 'reg'], True)
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise InvalidKeyError(
                f"ModuleDict has no key {key!r}; its keys are {list(self._modules)}"
            ) from None

    def __setitem__(self, key: str, module: Module) -> None:
        self._check_name(key, "module")
        self._modules[key] = _module_arg(module, "ModuleDict")

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        """The names, in insertion order."""
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        """``(name, module)`` pairs, in insertion order."""
        return self._modules.items()

    def pop(self, key: str) -> Module:
        """Remove ``key`` and return its module."""
        m = self[key]
        del self._modules[key]
        return m

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from ``(name, module)`` pairs."""
        items = modules.items() if isinstance(modules, Mapping) else modules
        for key, m in items:
            self[key] = m
