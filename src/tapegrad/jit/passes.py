"""Optimisations of a traced :class:`~tapegrad.jit.ir.Graph`, each a function of the graph.

* :func:`fold_constants`: a primitive whose inputs are all constants runs once, now.
* :func:`simplify`: ``identity`` and multiplications by an exact one disappear.
* :func:`cse`: a primitive applied twice to the same inputs is computed once.
* :func:`dce`: an equation whose results nothing needs is dropped (effects and random
  draws are kept: they change memory or a generator's state).

Buffer reuse and fusion are decided by the code generator (:mod:`tapegrad.jit.codegen`),
which knows the last use of every variable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ir import Const, Eqn, Graph, Lit, Ref, Var, leaves, map_leaves

__all__ = [
    "optimize",
    "dce",
    "cse",
    "fold_constants",
    "simplify",
    "written_vars",
    "writes_computed",
]


def written_vars(g: Graph) -> set[int]:
    """The ids of the variables some effect writes."""
    return {id(e.written) for e in g.eqns if e.written is not None}


def writes_computed(g: Graph, written: set[int]) -> bool:
    """Whether an effect writes a value the program computed (not a captured one): then
    views may alias it, and no pass may merge or forward values."""
    return any(id(v) in written for e in g.eqns if e.kind != "effect" for v in e.outs)


def _ref_map(g: Graph) -> dict[int, Ref]:
    return {id(r.var): r for r in g.refs}


def fold_constants(g: Graph) -> None:
    """Evaluate, at compile time, every primitive whose inputs are all constants (the
    literal arguments and the arrays made inside the traced function that nothing writes).
    Its results become constants of the program."""
    refs = _ref_map(g)
    written = written_vars(g)
    if any(e.kind == "effect" and e.written is None for e in g.eqns):
        return  # an effect that may write what it was given: fold nothing
    kept: list[Eqn] = []
    for e in g.eqns:
        if e.kind == "prim" and _foldable(e, refs, written):
            try:
                vals = _evaluate(e, refs)
            except Exception:  # (left for run time, which raises the op's error)
                kept.append(e)
                continue
            for v, val in zip(e.outs, vals):
                r = Ref(val, v)
                r.external = False
                r.is_tensor = False
                r.snapshot = val
                g.refs.append(r)
                refs[id(v)] = r
            continue
        kept.append(e)
    g.eqns = kept


def _foldable(e: Eqn, refs: dict[int, Ref], written: set[int]) -> bool:
    for a in leaves((e.args, e.params)):
        if isinstance(a, Var):
            r = refs.get(id(a))
            if r is None or r.external or r.grad or id(a) in written:
                return False
    return not any(id(v) in written for v in e.outs)


def _evaluate(e: Eqn, refs: dict[int, Ref]) -> list[Any]:
    def val(a: Any) -> Any:
        if isinstance(a, Var):
            return refs[id(a)].obj
        if isinstance(a, (Lit, Const)):
            return a.value
        return a

    args = map_leaves(val, e.args)
    params = map_leaves(val, e.params)
    out = e.fn.impl(*args, **params)
    outs = out if len(e.outs) > 1 else (out,)
    return [o if isinstance(o, np.ndarray) else np.asarray(o) for o in outs]


def _key(a: Any) -> Any:
    if isinstance(a, Var):
        return ("v", a.n)
    if isinstance(a, Lit):
        return ("l", type(a.value), a.value)
    if isinstance(a, Const):
        return ("c", id(a.value))
    if isinstance(a, tuple):
        return ("t",) + tuple(_key(x) for x in a)
    if isinstance(a, list):
        return ("L",) + tuple(_key(x) for x in a)
    if isinstance(a, dict):
        return ("d",) + tuple((k, _key(x)) for k, x in a.items())
    if isinstance(a, slice):
        return ("s", _key(a.start), _key(a.stop), _key(a.step))
    return ("o", id(a))


def cse(g: Graph) -> None:
    """Merge repeated primitive calls on the same inputs.  An effect ends what is known
    (memory may have changed); a call whose result is later written in place is never
    merged."""
    written = written_vars(g)
    if writes_computed(g, written):
        return  # in-place writes into computed values: aliasing makes merging unsafe
    seen: dict[Any, tuple[Var, ...]] = {}
    rename: dict[int, Var] = {}

    def ren(a: Any) -> Any:
        return rename.get(id(a), a) if isinstance(a, Var) else a

    kept: list[Eqn] = []
    for e in g.eqns:
        if rename:
            e.args = map_leaves(ren, e.args)
            e.params = map_leaves(ren, e.params)
        if e.kind != "prim":
            if e.kind == "effect":
                seen.clear()
            kept.append(e)
            continue
        try:
            k = (id(e.fn), _key(e.args), _key(e.params))
            hash(k)
        except TypeError:
            kept.append(e)
            continue
        prev = seen.get(k)
        if prev is not None:
            for old, new in zip(e.outs, prev):
                rename[id(old)] = new
            continue
        seen[k] = e.outs
        kept.append(e)
    g.eqns = kept
    if rename:
        g.outs = [ren(o) for o in g.outs]
        g.grad_writes = [(t, ren(v)) for t, v in g.grad_writes]


def dce(g: Graph) -> None:
    """Drop the equations whose results are not needed by the outputs, the ``.grad``
    write-backs or an effect."""
    live: set[int] = set()
    for o in g.outs:
        if isinstance(o, Var):
            live.add(id(o))
    for _, v in g.grad_writes:
        if isinstance(v, Var):
            live.add(id(v))
    kept: list[Eqn] = []
    for e in reversed(g.eqns):
        if e.kind in ("prim", "call") and not any(id(v) in live for v in e.outs):
            # A view feeding an effect is live through it (the effect reads it).
            continue
        kept.append(e)
        for v in e.invars():
            live.add(id(v))
    kept.reverse()
    g.eqns = kept
    g.refs = [r for r in g.refs if id(r.var) in live or r in g.bumps]


def simplify(g: Graph) -> None:
    """Remove operations that give back their input unchanged, bit for bit: ``identity``
    (the same array), a multiplication by a constant that is exactly one with the other
    operand's shape and dtype (IEEE multiplication by 1.0 is exact, -0.0 and NaN
    included), ``x ** 1`` and ``where`` with a constant condition.  Not applied where the
    result is an output, a ``.grad`` or written in place (the program would hand out or
    change its input's buffer where eager makes a copy)."""
    refs = _ref_map(g)
    written = written_vars(g)
    if writes_computed(g, written):
        return  # in-place writes through views: an alias may be written
    pinned = {id(o) for o in g.outs if isinstance(o, Var)}
    pinned |= {id(v) for _, v in g.grad_writes if isinstance(v, Var)}
    rename: dict[int, Var] = {}

    def ren(a: Any) -> Any:
        return rename.get(id(a), a) if isinstance(a, Var) else a

    def one(a: Any) -> bool:
        if isinstance(a, Lit):
            return type(a.value) in (float, int) and a.value == 1
        r = refs.get(id(a)) if isinstance(a, Var) else None
        if r is None or r.external or r.grad or id(a) in written:
            return False
        v = r.obj
        return isinstance(v, np.ndarray) and v.dtype.kind == "f" and bool(np.all(v == 1.0))

    kept: list[Eqn] = []
    for e in g.eqns:
        if rename:
            e.args = map_leaves(ren, e.args)
            e.params = map_leaves(ren, e.params)
        out = e.outs[0] if len(e.outs) == 1 else None
        if e.kind == "prim" and out is not None and id(out) not in pinned | written:
            keep_as: Any = None
            impl = getattr(e.fn, "impl", None)
            if e.name == "identity" and len(e.args) == 1 and isinstance(e.args[0], Var):
                keep_as = e.args[0]
            elif impl is np.power and len(e.args) == 2 and not e.params:
                # x ** 1 is x and x ** 0 is 1 exactly (IEEE pow, NaN and inf included),
                # for a float x of the result's type
                x, p = e.args
                if isinstance(x, Var) and isinstance(p, Lit) and type(p.value) is int:
                    if x.dtype.kind == "f" and x.shape == out.shape and x.dtype == out.dtype:
                        if p.value == 1:
                            keep_as = x
                        elif p.value == 0:
                            ones = Ref(np.ones(out.shape, out.dtype), out)
                            ones.external = False
                            ones.is_tensor = False
                            ones.snapshot = ones.obj
                            g.refs.append(ones)
                            refs[id(out)] = ones
                            continue
            elif e.name == "where" and len(e.args) == 3 and not e.params:
                # where(False, a, b) is b, where(True, a, b) is a (a copy of the same values)
                c, a, b = e.args
                if isinstance(c, Lit) and type(c.value) is bool:
                    pick = a if c.value else b
                    if isinstance(pick, Var) and pick.shape == out.shape:
                        keep_as = pick
            elif impl is np.multiply and len(e.args) == 2 and not e.params:
                a, b = e.args
                for x, y in ((a, b), (b, a)):
                    if (
                        isinstance(y, Var)
                        and one(x)
                        and y.shape == out.shape
                        and y.dtype == out.dtype
                        and (isinstance(x, Lit) and y.dtype.kind == "f" or isinstance(x, Var))
                    ):
                        keep_as = y
                        break
            if keep_as is not None and keep_as.dtype == out.dtype:
                rename[id(out)] = keep_as
                continue
        kept.append(e)
    g.eqns = kept


def optimize(g: Graph) -> None:
    """The passes, in order: fold constants, simplify, merge common subexpressions, drop
    dead code."""
    fold_constants(g)
    simplify(g)
    fold_constants(g)  # (what simplify turned into constants, and what they feed)
    simplify(g)
    cse(g)
    dce(g)
