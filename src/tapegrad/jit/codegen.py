"""Python source from a :class:`~tapegrad.jit.ir.Graph`: one NumPy call per equation.

The generated function takes the traced arguments' raw values (arrays, NumPy scalars) and
returns the flattened outputs.  It calls each primitive's ``impl`` directly (the same NumPy
code eager mode runs, so results are bit for bit eager's), with the arithmetic ufuncs as
operators and zero-dimensional floating-point values kept as NumPy scalars where every
consumer is a ufunc (NumPy's scalar arithmetic is several times faster than a ufunc call on
a 0-d array, and rounds the same).  It also decides:

* buffer reuse: a ufunc writes into an input array that dies there (``out=``), when that
  array was made by a ufunc in the program and only ufuncs read it (so nothing else can
  hold it or a view of it);
* fusion: a chain of elementwise ufuncs on arrays of at least ``fuse_min`` elements is
  computed block by block in cache (or as one numexpr expression; see
  :mod:`tapegrad.jit.fusion`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import MUTATIONS
from ..ops.registry import Primitive
from ..tensor import Tensor
from .ir import Const, Eqn, Graph, Lit, Var
from .passes import writes_computed, written_vars

__all__ = ["generate"]

# From this many elements a ufunc writes into a dying buffer (``out=``); below, the keyword
# costs more than the allocation it saves (measured: 16 elements, ``a * b`` 330 ns,
# ``np.multiply(a, b, out=a)`` 400 ns; 100,000 elements, 25.7 us vs 20.2 us).
REUSE_MIN = 4096

# Ufuncs written as operators (identical results, less call overhead).
_BINOPS = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/"}
_UNOPS = {np.negative: "-"}


def _ufunc(e: Eqn) -> Any:
    """The NumPy ufunc an equation calls with positional arguments only, or None."""
    if e.kind != "prim" or e.params or len(e.outs) != 1:
        return None
    impl = e.fn.impl
    return impl if isinstance(impl, np.ufunc) else None


def generate(
    g: Graph,
    name: str = "compiled",
    fuse_min: int | None = None,
    donated: Any = (),
    backend: str = "numpy",
    out_tree: Any = None,
    tensors: bool = False,
) -> tuple[str, str, dict]:
    """The sources of the compiled function and the namespace they run in.  ``donated``:
    the input variables whose buffers the program may overwrite (``donate_argnums``).

    Two functions with one body: ``name + "_raw"`` returns the flat tuple of raw outputs
    (for the tape's node), ``name`` what the user gets: Tensors (``tensors``) or NumPy
    values (0-d as scalars) in the structure ``out_tree`` (a :class:`~tapegrad._tree.
    TreeDef`)."""
    ns: dict[str, Any] = {"_asarray": np.asarray, "_s": _scalar, "_t": _tensor}
    names: dict[int, str] = {}  # id(obj) -> namespace name

    def ref(obj: Any, prefix: str) -> str:
        k = id(obj)
        n = names.get(k)
        if n is None:
            n = f"_{prefix}{len(names)}"
            names[k] = n
            ns[n] = obj
        return n

    uses: dict[int, list[Eqn]] = {}
    for e in g.eqns:
        for v in e.invars():
            uses.setdefault(id(v), []).append(e)
    out_ids = {id(o) for o in g.outs if isinstance(o, Var)}
    grad_ids = {id(v) for _, v in g.grad_writes if isinstance(v, Var)}
    written = written_vars(g)
    pinned = out_ids | grad_ids | written  # (arrays that must exist as themselves)
    aliased = writes_computed(g, written)

    def scalar_ok(v: Var) -> bool:
        # May this 0-d value be a NumPy scalar instead of a 0-d array?
        if v.shape != () or v.dtype.kind not in "fc":
            return False
        if id(v) in grad_ids or id(v) in written:
            return False
        return all(_ufunc(c) is not None for c in uses.get(id(v), ()))

    lines: list[str] = []
    inputs = [v for v in g.inputs if v is not None]
    params = ", ".join(f"a{i}" for i in range(len(inputs)))
    lines.append(f"def {name}({params}):")
    body: list[str] = []
    for i, v in enumerate(inputs):
        if v.shape == () and scalar_ok(v):
            body.append(f"{v} = {ref(v.dtype.type, 't')}(a{i})")
        elif v.shape == ():
            body.append(f"{v} = _asarray(a{i}, {ref(v.dtype, 'd')})")
        else:
            body.append(f"{v} = a{i}")
    for r in g.refs:
        if r.grad:
            body.append(f"{r.var} = {ref(r.obj, 'r')}._grad.data")
        elif r.external:
            n = ref(r.obj, "r")
            body.append(f"{r.var} = {n}.data" if r.is_tensor else f"{r.var} = {n}")
        else:
            n = ref(r.obj, "k")
            copy = id(r.var) in written or aliased
            body.append(f"{r.var} = {n}.copy()" if copy else f"{r.var} = {n}")

    def expr(a: Any) -> str:
        if isinstance(a, Var):
            return a.name
        if isinstance(a, Lit):
            return repr(a.value)
        if isinstance(a, Const):
            return ref(a.value, "c")
        if isinstance(a, tuple):
            inner = ", ".join(expr(x) for x in a)
            return f"({inner},)" if len(a) == 1 else f"({inner})"
        if isinstance(a, list):
            return "[" + ", ".join(expr(x) for x in a) + "]"
        if isinstance(a, dict):
            return "{" + ", ".join(f"{k!r}: {expr(x)}" for k, x in a.items()) + "}"
        if isinstance(a, slice):
            return f"slice({expr(a.start)}, {expr(a.stop)}, {expr(a.step)})"
        return ref(a, "o")

    # Buffer reuse: arrays made by a ufunc (or donated), read only by ufuncs, not an output.
    def reusable(v: Var) -> bool:
        return (
            v.shape != ()
            and id(v) not in pinned
            and all(_ufunc(c) is not None for c in uses.get(id(v), ()))
        )

    donated_ids = {id(v) for v in donated}
    fresh = {id(v) for v in donated if reusable(v)}
    fresh |= {id(e.outs[0]) for e in g.eqns if _ufunc(e) is not None and reusable(e.outs[0])}
    remaining = {k: len(es) for k, es in uses.items()}

    fusion = None
    if fuse_min is not None:
        from .fusion import plan_fusion

        fusion = plan_fusion(g, uses, pinned, fuse_min)

    for idx, e in enumerate(g.eqns):
        if fusion is not None and idx in fusion.skip:
            continue  # (computed, and its inputs read, where its chain ends)
        if fusion is not None and idx in fusion.groups:
            grp = fusion.groups[idx]
            body.append(grp.emit(ref, backend))
            for k in grp.members:
                for v in g.eqns[k].invars():
                    remaining[id(v)] -= 1
            continue
        args = ", ".join(expr(a) for a in e.args)
        kw = "".join(f", {k}={expr(v)}" for k, v in e.params.items())
        if e.params and not e.args:
            kw = kw[2:]
        if e.kind == "effect":
            body.append(f"{ref(e.fn, 'e')}({args}{kw})")
            continue
        lhs = ", ".join(v.name for v in e.outs)
        uf = _ufunc(e)
        if e.kind == "source":
            call = f"{ref(e.fn, 's')}({args}{kw})"
        elif uf is not None:
            call = _ufunc_call(e, uf, fresh, remaining, expr, ref, donated_ids)
        else:
            fn = e.fn.impl if isinstance(e.fn, Primitive) else e.fn
            call = f"{ref(fn, 'f')}({args}{kw})"
        for v in e.invars():
            remaining[id(v)] -= 1
        if len(e.outs) == 1:
            v = e.outs[0]
            if v.shape == () and e.kind != "source" and not scalar_ok(v):
                call = f"_asarray({call})"
            body.append(f"{lhs} = {call}")
        else:
            body.append(f"{lhs}, = {call}" if len(e.outs) == 1 else f"{lhs} = {call}")
            zeros = [v for v in e.outs if v.shape == ()]
            for v in zeros:
                body.append(f"{v} = _asarray({v})")

    # .grad write-backs, and the version counters of the captured tensors changed in place.
    handed: set[int] = {id(v) for v in g.inputs if v is not None}
    handed |= {id(r.var) for r in g.refs}
    for t, v in g.grad_writes:
        tn = ref(t, "r")
        if v is None:
            body.append(f"{tn}._grad = None")
        else:
            val = f"{v}.copy()" if id(v) in handed else v.name
            handed.add(id(v))
            body.append(f"{tn}._grad = _t({val})")
    for r in g.bumps:
        t = r.obj
        if t._base is None and t.grad_fn is None and not getattr(t, "_views", None):
            # A leaf that no view shares: its version counter and the global count of
            # changes are all that _bump would touch.
            ns["_M"] = MUTATIONS
            body.append(f"{ref(t, 'r')}._version += 1")
            body.append("_M[0] += 1")
        else:
            body.append(f"{ref(t, 'r')}._bump()")
    outs = []
    user = []
    for o in g.outs:
        arr = False
        if isinstance(o, Var):
            outs.append(f"{o}.copy()" if id(o) in handed and _is_computed_copy(o, g) else o.name)
            arr = True
            zero = o.shape == ()
        elif isinstance(o, Const) and isinstance(o.value, np.ndarray):
            outs.append(f"{ref(o.value, 'c')}.copy()")
            arr = True
            zero = o.value.ndim == 0
        else:
            outs.append(expr(o))
        if not arr:
            user.append(outs[-1])
        elif tensors:
            user.append(f"_t({outs[-1]})")
        else:
            user.append(f"_s({outs[-1]})" if zero else outs[-1])
    raw_ret = "return (" + "".join(f"{s}, " for s in outs) + ")"
    head_raw = lines[0].replace(f"def {name}(", f"def {name}_raw(", 1)
    src = "\n".join([head_raw] + ["    " + b for b in body + [raw_ret]]) + "\n"
    built = _structure(out_tree, iter(user)) if out_tree is not None else None
    if built is not None:
        ret = f"return {built}"
    else:
        ns["_unflatten"] = _unflatten
        ns["_tree"] = out_tree
        ret = "return _unflatten(_tree, [" + ", ".join(user) + "])"
    src_user = "\n".join([lines[0]] + ["    " + b for b in body + [ret]]) + "\n"
    return src, src_user, ns


def _structure(tree: Any, items: Any) -> str | None:
    """The expression building the output structure ``tree`` (tuples, lists, dicts with
    string keys, None) from the expressions ``items``; None if it has other parts."""
    kind = tree.kind
    if kind == "leaf":
        return str(next(items))
    if kind == "none":
        return "None"
    parts = [_structure(c, items) for c in tree.children]
    if any(p is None for p in parts):
        return None
    if kind == "tuple":
        return "(" + "".join(f"{p}, " for p in parts) + ")"
    if kind == "list":
        return "[" + ", ".join(str(p) for p in parts) + "]"
    if kind == "dict" and all(isinstance(k, str) for k in tree.meta):
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(tree.meta, parts)) + "}"
    return None


def _scalar(v: Any) -> Any:
    """A 0-d result as NumPy returns it: a scalar."""
    return v[()] if v.__class__ is np.ndarray else v


def _tensor(v: Any) -> Tensor:
    return Tensor._wrap(v if v.__class__ is np.ndarray else np.asarray(v))


def _unflatten(tree: Any, leaves: list[Any]) -> Any:
    from .._tree import tree_unflatten

    return tree_unflatten(tree, leaves)


def _is_computed_copy(v: Var, g: Graph) -> bool:
    """Whether output ``v`` must be copied: it is a constant of the program (made inside
    the traced function), which every call would otherwise hand out again."""
    for r in g.refs:
        if r.var is v:
            return not r.external and not r.grad
    return False


def _ufunc_call(
    e: Eqn, uf: Any, fresh: set[int], remaining: dict, expr: Any, ref: Any, donated: set[int]
) -> str:
    args = [expr(a) for a in e.args]
    out = e.outs[0]
    # Reuse a dying input's buffer: same shape and dtype as the result (small arrays only
    # when the buffer was donated: the caller asked for its memory to be reused).
    if out.shape != ():
        big = int(np.prod(out.shape)) >= REUSE_MIN
        for a in e.args:
            if (
                isinstance(a, Var)
                and id(a) in fresh
                and (big or id(a) in donated)
                and remaining.get(id(a)) == 1
                and a.shape == out.shape
                and a.dtype == out.dtype
                and sum(1 for b in e.args if b is a) == 1
            ):
                fresh.discard(id(a))
                if id(a) in donated:
                    donated.add(id(out))
                return f"{ref(uf, 'u')}({', '.join(args)}, out={a.name})"
    if uf in _BINOPS and len(args) == 2:
        return f"{args[0]} {_BINOPS[uf]} {args[1]}"
    if uf in _UNOPS and len(args) == 1:
        return f"{_UNOPS[uf]}{args[0]}"
    return f"{ref(uf, 'u')}({', '.join(args)})"
