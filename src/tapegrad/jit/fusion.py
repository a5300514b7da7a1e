"""Fusion of elementwise chains on large arrays.

NumPy makes one pass over memory per operation and allocates every intermediate.  A fused
chain is computed block by block: each block of a few ten thousand elements goes through
the whole chain in cache, in scratch buffers reused from block to block, and only the
chain's inputs and its result touch main memory.  Two backends:

* ``"numpy"`` (the default): the same NumPy ufuncs, called with ``out=`` on the blocks --
  bit for bit the unfused result (an elementwise ufunc doesn't care how its array is cut);
* ``"numexpr"`` (the optional extra ``pip install 'tapegrad[jit]'``): the chain as one
  compiled ``numexpr`` expression; its transcendental functions differ from NumPy's by a
  few ulps.

A chain is fused when every operation in it is an elementwise NumPy ufunc, on float64 or
float32 arrays of one shape and dtype (0-d values and Python numbers broadcast) with at
least ``threshold()`` elements, and every intermediate is read only by the next operation
of the chain (an intermediate used twice, or by anything else, ends its own chain).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from .ir import Eqn, Graph, Lit, Var

__all__ = ["available", "threshold", "plan_fusion", "FusionPlan", "Group", "THRESHOLD"]

# From this many elements a fused chain beats one NumPy call per op, one thread: measured
# by benchmarks/fusion_threshold.py (BENCHMARKS.md, "The fusion threshold") against the
# unfused program, which reuses dying buffers from 4,096 elements on: blocked 1.10x at
# 1e6 elements, 0.72x at 3.2e6, 0.58x at 1e7 (the arrays leave the last-level cache).
THRESHOLD = 2_000_000
# Elements per block of the NumPy backend: a few scratch buffers of this size stay in L2.
BLOCK = 16384

_INFIX = {
    np.add: "+",
    np.subtract: "-",
    np.multiply: "*",
    np.true_divide: "/",
    np.power: "**",
    np.less: "<",
    np.less_equal: "<=",
    np.greater: ">",
    np.greater_equal: ">=",
    np.equal: "==",
    np.not_equal: "!=",
}
_FUNCS: dict[Any, str] = {
    u: u.__name__
    for u in (
        np.sin,
        np.cos,
        np.tan,
        np.arcsin,
        np.arccos,
        np.arctan,
        np.sinh,
        np.cosh,
        np.tanh,
        np.arcsinh,
        np.arccosh,
        np.arctanh,
        np.exp,
        np.expm1,
        np.log,
        np.log1p,
        np.log10,
        np.log2,
        np.sqrt,
        np.arctan2,
        np.maximum,
        np.minimum,
        np.floor,
        np.ceil,
    )
}
_FUNCS[np.absolute] = "abs"
_FUNCS[np.negative] = "-"

_ne: Any = None


def available() -> bool:
    """Whether numexpr can be imported."""
    return importlib.util.find_spec("numexpr") is not None


def threshold() -> int:
    """The number of elements from which ``fuse="auto"`` fuses a chain."""
    return THRESHOLD


def _numexpr() -> Any:
    global _ne
    if _ne is None:
        import numexpr

        _ne = numexpr
    return _ne


class Group:
    """One fused chain computing ``out`` from ``inputs``: ``ops`` lists ``(ufunc, args,
    target)`` in order, each arg an input index ``("i", k)``, a scratch index ``("t", k)``
    or a Python number ``("l", value)``, each target a scratch index (the last op writes
    the result).  ``expr`` is the chain as one expression (for numexpr and for reading)."""

    def __init__(
        self, out: Var, expr: str, inputs: list[Var], ops: list, nscratch: int, members: list[int]
    ) -> None:
        self.out = out
        self.expr = expr
        self.inputs = inputs
        self.ops = ops
        self.nscratch = nscratch
        self.members = members  # the indices of the equations it computes

    def emit(self, ref: Any, backend: str = "numpy") -> str:
        args = ", ".join(v.name for v in self.inputs)
        if backend == "numexpr":
            sig = [(v.name, v.dtype.type) for v in self.inputs]
            fn = _numexpr().NumExpr(self.expr, signature=sig)
            return f"{self.out} = {ref(fn, 'x')}({args})  # fused: {self.expr}"
        fn = _blocked(self)
        return f"{self.out} = {ref(fn, 'x')}({args})  # fused: {self.expr}"


def _blocked(grp: Group) -> Any:
    """The NumPy backend's function for ``grp`` (Python source, compiled once)."""
    ns: dict[str, Any] = {"_np": np, "_empty": np.empty, "_B": BLOCK}
    names = [f"i{k}" for k in range(len(grp.inputs))]
    full = [v.shape != () for v in grp.inputs]
    body = []
    for n, (uf, args, target) in enumerate(grp.ops):
        un = f"_u{n}"
        ns[un] = uf
        parts = []
        for kind, val in args:
            if kind == "i":
                parts.append(f"b{val}" if full[val] else names[val])
            elif kind == "t":
                parts.append(f"t{val}")
            else:
                parts.append(repr(val))
        dst = "o" if n == len(grp.ops) - 1 else f"t{target}"
        body.append(f"{un}({', '.join(parts)}, out={dst})")
    shape = grp.out.shape
    dt = grp.out.dtype
    ns["_dt"] = dt
    lines = [f"def fused({', '.join(names)}):"]
    first = next(k for k, f in enumerate(full) if f)
    for k, f in enumerate(full):
        if f:
            lines.append(f"    {names[k]} = {names[k]}.reshape(-1)")
    lines.append(f"    n = {names[first]}.shape[0]")
    lines.append(f"    out = _empty({shape!r}, _dt)")
    lines.append("    flat = out.reshape(-1)")
    for k in range(grp.nscratch):
        lines.append(f"    s{k} = _empty(_B, _dt)")
    lines.append("    for a in range(0, n, _B):")
    lines.append("        e = a + _B")
    lines.append("        if e > n:")
    lines.append("            e = n")
    for k in range(grp.nscratch):
        lines.append(f"            s{k} = s{k}[: n - a]")
    for k in range(grp.nscratch):
        lines.append(f"        t{k} = s{k}")
    for k, f in enumerate(full):
        if f:
            lines.append(f"        b{k} = {names[k]}[a:e]")
    lines.append("        o = flat[a:e]")
    lines.extend("        " + b for b in body)
    lines.append("    return out")
    src = "\n".join(lines) + "\n"
    exec(compile(src, "<tg.jit fused chain>", "exec"), ns)
    fn = ns["fused"]
    fn.source = src
    return fn


class FusionPlan:
    """Which equations are fused: ``groups`` maps the index of a chain's last equation to
    its :class:`Group`; ``skip`` holds the other equations of every chain."""

    def __init__(self) -> None:
        self.groups: dict[int, Group] = {}
        self.skip: set[int] = set()


def _fusable(e: Eqn, fuse_min: int) -> bool:
    if e.kind != "prim" or e.params or len(e.outs) != 1:
        return False
    uf = e.fn.impl
    if not isinstance(uf, np.ufunc) or (uf not in _INFIX and uf not in _FUNCS):
        return False
    out = e.outs[0]
    if out.shape == () or int(np.prod(out.shape)) < fuse_min:
        return False
    fdt = None
    for a in e.args:
        if isinstance(a, Var):
            if a.dtype.kind != "f" or (a.shape != out.shape and a.shape != ()):
                return False
            if fdt is None:
                fdt = a.dtype
            elif a.dtype != fdt:
                return False
        elif isinstance(a, Lit):
            if type(a.value) not in (int, float):
                return False
        else:
            return False
    if fdt is None:
        return False
    return out.dtype == fdt


def _term(uf: Any, parts: list[str]) -> str:
    if uf in _INFIX:
        return f"({parts[0]} {_INFIX[uf]} {parts[1]})"
    name = _FUNCS[uf]
    if name == "-":
        return f"(-{parts[0]})"
    return f"{name}({', '.join(parts)})"


def _group(out: Var, tree: Any) -> Group:
    """Linearise a chain's tree: children first, each result in a scratch buffer, freed
    when its consumer ran (which may write its result into a freed one)."""
    inputs: list[Var] = []
    ops: list[Any] = []
    members: list[int] = []
    free: list[int] = []
    count = [0]

    def visit(node: Any) -> tuple[Any, str]:
        kind = node[0]
        if kind == "l":
            return ("l", node[1]), repr(node[1])
        if kind == "v":
            v = node[1]
            for k, x in enumerate(inputs):
                if x is v:
                    return ("i", k), v.name
            inputs.append(v)
            return ("i", len(inputs) - 1), v.name
        uf, kids, idx = node
        members.append(idx)
        args, parts = [], []
        for c in kids:
            a, p = visit(c)
            args.append(a)
            parts.append(p)
        for kind_, val in args:
            if kind_ == "t":
                free.append(val)
        if free:
            target = free.pop()
        else:
            target = count[0]
            count[0] += 1
        ops.append((uf, args, target))
        return ("t", target), _term(uf, parts)

    _, expr = visit(tree)
    return Group(out, expr, inputs, ops, count[0], members)


def plan_fusion(
    g: Graph, uses: dict[int, list[Eqn]], pinned: set[int], fuse_min: int
) -> FusionPlan:
    """Group the fusable equations of ``g`` into chains (see the module docstring).
    ``uses``: the equations reading each variable; ``pinned``: the ids of variables that
    must exist as arrays (outputs, ``.grad`` values, arrays written in place)."""
    plan = FusionPlan()
    eqns = g.eqns
    fusable = [_fusable(e, fuse_min) for e in eqns]
    producer: dict[int, int] = {}
    for i, e in enumerate(eqns):
        if fusable[i]:
            producer[id(e.outs[0])] = i
    last_effect = -1
    effect_before: list[int] = []
    for e in eqns:
        if e.kind in ("effect", "source", "call"):
            last_effect += 1
        effect_before.append(last_effect)
    pos = {id(e): i for i, e in enumerate(eqns)}
    inlined: set[int] = set()
    for i, e in enumerate(eqns):
        if not fusable[i]:
            continue
        v = e.outs[0]
        readers = uses.get(id(v), [])
        if (
            id(v) not in pinned
            and len(readers) == 1
            and (j := pos[id(readers[0])]) > i
            and fusable[j]
            and effect_before[j] == effect_before[i]
            and readers[0].outs[0].shape == v.shape
            and readers[0].outs[0].dtype.kind != "b"
            and v.dtype.kind != "b"
        ):
            inlined.add(i)
    trees: dict[int, Any] = {}  # eqn index -> (ufunc, children): a chain being built
    for i, e in enumerate(eqns):
        if not fusable[i]:
            continue
        kids: list[Any] = []
        for a in e.args:
            if isinstance(a, Lit):
                kids.append(("l", a.value))
                continue
            k = producer.get(id(a))
            if k is not None and k in inlined:
                kids.append(trees.pop(k))
            else:
                kids.append(("v", a))
        trees[i] = (e.fn.impl, kids, i)
        if i not in inlined:
            tree = trees.pop(i)
            if any(isinstance(c[0], np.ufunc) for c in kids):  # (one op alone: NumPy call)
                plan.groups[i] = _group(e.outs[0], tree)
    # Every inlined equation is computed by the chain that absorbed it.
    plan.skip.update(inlined)
    return plan
