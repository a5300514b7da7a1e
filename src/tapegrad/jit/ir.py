"""The compiler's intermediate representation: straight-line equations over variables.

A :class:`Graph` is what a trace produced: its inputs (the flattened arguments), the captured
tensors it reads at call time (:class:`Ref`), the equations in program order, the outputs and
the write-backs of ``.grad``.  An :class:`Eqn` is one primitive call (``kind="prim"``: the
registry's ``prim.impl`` on the values), one call of a derivative rule that branches on
the values (``"call"``: the rule on the raw arrays, as eager mode runs it), one in-place
effect (``"effect"``: ``fn(*args)``
changes the array of its first argument) or one fresh source of values (``"source"``: a
random draw).  Arguments are kept in their Python structure (tuples, lists, slices, dicts)
with :class:`Var`, :class:`Lit` and :class:`Const` leaves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["Var", "Lit", "Const", "Ref", "Eqn", "Graph", "leaves", "map_leaves"]


class Var:
    """A value of the program: an array of ``shape`` and ``dtype``."""

    __slots__ = ("n", "shape", "dtype", "name")

    def __init__(self, n: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.n = n
        self.shape = shape
        self.dtype = dtype
        self.name = f"v{n}"

    def __repr__(self) -> str:
        return self.name

    @property
    def aval(self) -> str:
        """``f64[3,4]``: the dtype and shape, as the printed IR shows them."""
        return f"{_short(self.dtype)}[{','.join(map(str, self.shape))}]"


def _short(dt: np.dtype) -> str:
    k = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}.get(dt.kind, dt.kind)
    return k if k == "bool" else f"{k}{dt.itemsize * 8}"


class Lit:
    """A constant written into the generated code as a literal (a Python number, string,
    None, ...: anything whose ``repr`` reads back as the same value and type)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


class Const:
    """A constant object the generated code refers to by name (an array, a generator, a
    dict of optimizer state, a function)."""

    __slots__ = ("value", "name")

    def __init__(self, value: Any, name: str) -> None:
        self.value = value
        self.name = name

    def __repr__(self) -> str:
        v = self.value
        if isinstance(v, np.ndarray):
            if v.size <= 4:
                return repr(v.tolist()) if v.ndim else repr(v.item())
            return f"{self.name}:{_short(v.dtype)}[{','.join(map(str, v.shape))}]"
        return self.name


class Ref:
    """A tensor (or array) from outside the function, read when the compiled function is
    called: ``var`` is its value inside the program.  ``grad=True``: the ``.grad`` of
    ``obj`` (as it was when the call began)."""

    __slots__ = ("obj", "var", "grad", "external", "snapshot", "is_tensor")

    def __init__(self, obj: Any, var: Var, grad: bool = False) -> None:
        self.obj = obj
        self.var = var
        self.grad = grad
        self.external = True
        self.snapshot: Any = None
        self.is_tensor = not isinstance(obj, np.ndarray)


class Eqn:
    """One step of the program (see the module docstring)."""

    __slots__ = ("kind", "fn", "args", "params", "outs", "name")

    def __init__(
        self, kind: str, fn: Any, args: tuple[Any, ...], params: dict, outs: tuple[Var, ...]
    ) -> None:
        self.kind = kind
        self.fn = fn
        self.args = args
        self.params = params
        self.outs = outs
        self.name = getattr(fn, "name", None) or getattr(fn, "__name__", "fn")

    def invars(self) -> list[Var]:
        """The variables read, in order (repeats kept)."""
        return [v for v in leaves((self.args, self.params)) if isinstance(v, Var)]

    @property
    def written(self) -> Var | None:
        """The variable an effect writes (its first argument), else None."""
        if self.kind == "effect" and self.args and isinstance(self.args[0], Var):
            return self.args[0]
        return None

    def __repr__(self) -> str:
        lhs = ", ".join(f"{v}:{v.aval}" for v in self.outs)
        args = ", ".join(_fmt(a) for a in self.args)
        ps = "".join(f", {k}={_fmt(v)}" for k, v in self.params.items())
        head = {"prim": "", "call": "call ", "effect": "effect ", "source": "source "}[self.kind]
        call = f"{head}{self.name}({args}{ps})"
        return f"{lhs} = {call}" if lhs else call


def _fmt(a: Any) -> str:
    if isinstance(a, tuple):
        inner = ", ".join(_fmt(x) for x in a)
        return f"({inner},)" if len(a) == 1 else f"({inner})"
    if isinstance(a, list):
        return "[" + ", ".join(_fmt(x) for x in a) + "]"
    if isinstance(a, dict):
        return "{" + ", ".join(f"{k!r}: {_fmt(v)}" for k, v in a.items()) + "}"
    if isinstance(a, slice):
        return f"slice({_fmt(a.start)}, {_fmt(a.stop)}, {_fmt(a.step)})"
    return repr(a)


def leaves(tree: Any) -> Iterator[Any]:
    """The leaves of an argument structure (tuples, lists, dicts, slices)."""
    if isinstance(tree, (tuple, list)):
        for x in tree:
            yield from leaves(x)
    elif isinstance(tree, dict):
        for x in tree.values():
            yield from leaves(x)
    elif isinstance(tree, slice):
        yield from leaves((tree.start, tree.stop, tree.step))
    else:
        yield tree


def map_leaves(fn: Any, tree: Any) -> Any:
    """The argument structure with every leaf replaced by ``fn(leaf)``."""
    if isinstance(tree, tuple):
        return tuple(map_leaves(fn, x) for x in tree)
    if isinstance(tree, list):
        return [map_leaves(fn, x) for x in tree]
    if isinstance(tree, dict):
        return {k: map_leaves(fn, x) for k, x in tree.items()}
    if isinstance(tree, slice):
        return slice(*(map_leaves(fn, x) for x in (tree.start, tree.stop, tree.step)))
    return fn(tree)


class Graph:
    """A traced program (see the module docstring).

    ``inputs``: the variables of the traced arguments, in flattened order (None where an
    argument is static).  ``refs``: the captured tensors and gradients.  ``outs``: the
    flattened outputs (Var, Lit or Const).  ``grad_writes``: ``(tensor, value)`` pairs, the
    ``.grad`` each touched tensor has at the end (a Var, or None)."""

    def __init__(self) -> None:
        self.inputs: list[Var | None] = []
        self.refs: list[Ref] = []
        self.eqns: list[Eqn] = []
        self.outs: list[Any] = []
        self.grad_writes: list[tuple[Any, Any]] = []
        self.bumps: list[Ref] = []  # captured tensors an effect changed: versions to bump

    @property
    def has_effects(self) -> bool:
        """Whether running it changes anything besides returning values."""
        return bool(self.grad_writes) or any(e.kind == "effect" for e in self.eqns)

    @property
    def random(self) -> bool:
        return any(e.kind == "source" for e in self.eqns)

    def __str__(self) -> str:
        ins = ", ".join(f"{v}:{v.aval}" for v in self.inputs if v is not None)
        lines = [f"{{ lambda {ins} ."]
        for r in self.refs:
            what = "grad of " if r.grad else ""
            kind = "captured" if r.external else "constant"
            lines.append(f"    {r.var}:{r.var.aval} = {kind} {what}{_label(r.obj)}")
        for e in self.eqns:
            lines.append(f"    {e!r}")
        for t, v in self.grad_writes:
            lines.append(f"    {_label(t)}.grad <- {v!r}")
        outs = ", ".join(repr(o) for o in self.outs)
        lines.append(f"  in ({outs}) }}")
        return "\n".join(lines)


def _label(obj: Any) -> str:
    shape = getattr(obj, "shape", None)
    dt = getattr(obj, "dtype", None)
    kind = "tensor" if not isinstance(obj, np.ndarray) else "array"
    if shape is None or dt is None:
        return type(obj).__name__
    return f"{kind} {_short(np.dtype(dt))}[{','.join(map(str, shape))}]"
