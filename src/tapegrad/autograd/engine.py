"""The reverse-mode engine: the only place that does gradient bookkeeping.

Invariants
----------
* Iterative, never recursive: graphs of any depth (10**6 nodes) are walked with explicit
  stacks.
* Dependency counting: a node runs once, after every consumer inside the walked part of the
  graph has delivered its cotangent, so cotangents are complete when a rule reads them.
* Rules return cotangents in the broadcast output shape; the engine sums them back to the
  input's shape (``unbroadcast``), casts to the input's dtype, skips inputs that need no
  gradient, and accumulates.  Absent cotangents are symbolic zeros (``None``): a node none
  of whose outputs received a cotangent is skipped.
* First-order backward runs the rules on raw NumPy arrays.  With ``create_graph=True`` the
  rules receive tensors instead, so the backward pass is itself recorded.
* Unless ``retain_graph``, a node's saved values are dropped as soon as it has run.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import (
    AnomalyError,
    DtypeMismatchError,
    GraphFreedError,
    InplaceModificationError,
    InvalidArgumentError,
    InvalidStateError,
    InvalidTypeError,
    ShapeMismatchError,
    complex_error,
)
from ..tensor import Tensor
from . import grad_mode
from .injected import OPS
from .node import FREED, MUTATIONS, Meta, Node, version_key

__all__ = ["backward", "grad", "register_hook", "retain_grad", "run_backward", "unbroadcast"]

# Every read-modify-write of a ``.grad`` (accumulation, retain_grad's store) holds this
# lock, so concurrent backward passes into shared tensors lose no update (PyTorch locks
# too).  Hooks run outside it.
_GRAD_LOCK = threading.Lock()


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes that broadcasting added or stretched to reach ``shape``."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    # A loop, not a generator: a generator would make gshape and lead closure cells,
    # allocated on every call (also on the early return above).
    axes = list(range(lead))
    for i, d in enumerate(shape):
        if d == 1 and gshape[i + lead] != 1:
            axes.append(i + lead)
    if axes:
        g = OPS.sum(g, axis=tuple(axes), keepdims=False)  # axes are canonical already
    if g.shape != shape:
        g = OPS.reshape(g, shape)
    return g


def _as_tensor(v: Any) -> Tensor:
    return v if isinstance(v, Tensor) else Tensor._wrap(np.asarray(v))


def _saved_as_tensors(node: Node) -> tuple[list[Any], Any]:
    """Saved values as tensors connected to the graph (for create_graph)."""
    args = list(node.args)
    for i, v in enumerate(args):
        if v is None or isinstance(v, Meta) or not isinstance(v, (np.ndarray, np.generic)):
            continue
        p = node.parents[i]
        if p is None:
            args[i] = Tensor._wrap(v)
        elif isinstance(p, Tensor):
            args[i] = p
        else:
            args[i] = _node_output(p, node.pidx[i] if node.pidx else 0, v)
    ans = node.ans
    if ans is not None:
        if node.prim.nout == 1:
            ans = _node_output(node, 0, ans)
        else:
            ans = tuple(_node_output(node, k, a) for k, a in enumerate(ans))
    fw = node.fw
    if fw is not None:
        # The forward pass carried tangents: give them back to the saved values so that they
        # flow through this backward pass too (forward-over-reverse).
        fw_in, fw_out = fw
        for i, v in enumerate(args):
            # (An empty dict: its levels were closed since; nothing to give back.)
            if isinstance(v, Tensor) and fw_in[i] and v is not node.parents[i]:
                v._fw = fw_in[i]
        if ans is not None:
            for a, f in zip(ans if node.prim.nout > 1 else (ans,), fw_out):
                a._fw = f or None
    return args, ans


def _node_output(node: Node, idx: int, value: Any) -> Tensor:
    t = Tensor._wrap(value)
    t.requires_grad = True
    t.grad_fn = node
    t._idx = idx
    return t


def _check_versions(node: Node) -> None:
    vs = node.versions
    bad = node.dirty
    if vs is not None and not bad:
        for k in range(1, len(vs), 2):
            t = vs[k]
            if version_key(t) != vs[k + 1] and not _unread(node, t):
                bad = True
                break
    if bad:
        raise InplaceModificationError(
            f"a value saved by '{node.prim.name}' for the backward pass was changed by an "
            "in-place operation afterwards. Make a copy (x.copy()) before changing it, or use "
            "an out-of-place operation."
        )


def _unread(node: Node, t: Tensor) -> bool:
    """Whether the saved value of ``t`` is read by no rule that runs: the primitive says
    which rules read it (``save_for``), and none of those inputs needs a gradient."""
    save_for = getattr(node.prim, "save_for", None)
    args = node.args
    if save_for is None or args.__class__ is not list:
        return False
    d = t.data
    for i, v in enumerate(args):
        if v is d:
            readers = save_for.get(i)
            return readers is not None and all(node.parents[j] is None for j in readers)
    return False


def _unsaved(node: Node, args: Any, pending: list[Any]) -> list[Any]:
    """The saved values of a node whose ``args`` is not a list: an error when a backward
    pass freed them, else they are deferred (see :class:`~tapegrad.autograd.node.Node`):
    materialize them now, and settle the deferral when the pass ends."""
    if args is FREED:
        raise _freed_error(node)
    args.materialize(node)
    pending.append(args)
    return node.args


def _settle(pending: list[Any]) -> None:
    """End of a backward pass: the deferred values it materialized go back to waiting."""
    seen: set[int] = set()
    for d in pending:
        if id(d) not in seen:
            seen.add(id(d))
            d.settle()


def _releasers() -> tuple[Any, ...]:
    """The active observers that want to hear of freed nodes."""
    base = grad_mode.Observer.release
    return tuple(o for o in grad_mode._state.observers if type(o).release is not base)


def _freed_error(node: Node) -> GraphFreedError:
    return GraphFreedError(
        f"trying to run backward through '{node.prim.name}' a second time, but its saved "
        "values were freed after the first backward. Pass retain_graph=True to the first "
        "backward (or grad) call if you need to go through the graph again."
    )


def _call_hooks(hooks: list[Callable[..., Any]], g: Any, create_graph: bool) -> Any:
    for h in list(hooks):  # a hook may remove itself
        res = h(_as_tensor(g))
        if res is not None:
            if not isinstance(res, Tensor):
                raise InvalidTypeError(
                    f"backward: hook '{_hook_name(h)}' returned {type(res).__name__}; a hook must "
                    "return a Tensor (the replacement gradient) or None"
                )
            if res.shape != g.shape:
                raise ShapeMismatchError(
                    f"hook '{_hook_name(h)}' changed the size of the gradient from "
                    f"{tuple(g.shape)} to {tuple(res.shape)}; return a gradient of the "
                    "same shape"
                )
            if res.dtype != g.dtype:
                raise DtypeMismatchError(
                    f"hook '{_hook_name(h)}' changed the dtype of the gradient from "
                    f"{g.dtype} to {res.dtype}; cast its result back, e.g. "
                    f"r.astype({str(g.dtype)!r})"
                )
            g = res if create_graph else res.data
    return g


def _hook_name(h: Any) -> str:
    return getattr(h, "__qualname__", None) or repr(h)


def _collect(
    roots: list[Node], needed: set[Node] | None, targets_node: dict[Node, list[int]]
) -> dict[Node, int]:
    """Consumer-edge counts of the nodes that will run (or be captured): every node
    reachable from ``roots``, or with ``needed`` only those (and the captured
    ``targets_node``), not walking past the captured ones."""
    deps: dict[Node, int] = {}
    stack = []
    for r in roots:
        if r not in deps:
            deps[r] = 0
            if needed is None or r in needed:
                stack.append(r)
    if needed is None:
        while stack:
            n = stack.pop()
            for p in n.parents:
                if p.__class__ is Node:
                    c = deps.get(p)
                    if c is None:
                        deps[p] = 1
                        stack.append(p)
                    else:
                        deps[p] = c + 1
        return deps
    while stack:
        n = stack.pop()
        for p in n.parents:
            if p.__class__ is Node and (p in needed or p in targets_node):
                c = deps.get(p)
                if c is None:
                    deps[p] = 1
                    if p in needed:
                        stack.append(p)
                else:
                    deps[p] = c + 1
    return deps


def _prune(
    roots: list[Node],
    targets_leaf: set[int],
    targets_node: set[Node],
    stop: frozenset[Node] | set[Node] = frozenset(),
) -> set[Node]:
    """Nodes whose rules must run to reach the targets (inputs of ``grad``); the walk
    does not go past the nodes in ``stop``."""
    needed: dict[Node, bool] = {}
    # Iterative post-order DFS.
    for r in roots:
        if r in needed:
            continue
        stack: list[tuple[Node, int]] = [(r, 0)]
        needed[r] = False
        if r in stop:
            continue
        while stack:
            n, k = stack.pop()
            parents = n.parents
            if k < len(parents):
                stack.append((n, k + 1))
                p = parents[k]
                if p.__class__ is Node and p not in needed:
                    needed[p] = False
                    if p not in stop:
                        stack.append((p, 0))
                continue
            flag = False
            for p in parents:
                if p is None:
                    continue
                if p.__class__ is Node:
                    if needed[p] or p in targets_node:
                        flag = True
                        break
                elif id(p) in targets_leaf:
                    flag = True
                    break
            needed[n] = flag
    return {n for n, f in needed.items() if f}


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Any],
    *,
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
    accumulate: bool = True,
    tensors: bool = False,
) -> list[Any] | None:
    """Propagate ``root_grads`` from ``roots`` through the tape.

    With ``accumulate=True`` the gradients of leaves (only of ``inputs`` when given) are
    added to their ``.grad``.  With ``accumulate=False`` the gradients w.r.t. ``inputs``
    are returned (``None`` where no gradient flowed) and no ``.grad`` is touched.
    ``tensors=True`` runs the rules on tensors without recording them: forward-mode
    tangents then flow through the sweep (``create_graph`` implies it).
    """
    pending: list[Any] = []
    if grad_mode._state.tracer is not None:
        # Traced (tg.jit): the rules run on tensors, so that the tracer sees every op of
        # the backward pass and the compiled function repeats it.
        tensors = True
    try:
        return _run_backward(
            roots, root_grads, retain_graph, create_graph, inputs, accumulate, tensors, pending
        )
    finally:
        if pending:
            _settle(pending)
        for o in grad_mode._state.observers:
            o.backward_done()


def _run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None,
    accumulate: bool,
    tensors: bool,
    pending: list[Any],
) -> list[Any] | None:
    as_tensors = create_graph or tensors
    leaf_grads, buf, root_nodes = _seed(roots, root_grads, as_tensors)

    capture: dict[tuple[int, int], Any] | None = None
    targets_leaf: set[int] = set()
    targets_node: dict[Node, list[int]] = {}
    needed: set[Node] | None = None
    if inputs is not None:
        for t in inputs:
            if t.grad_fn is None:
                targets_leaf.add(id(t))
            else:
                targets_node.setdefault(t.grad_fn, []).append(t._idx)
        capture = {}
        if as_tensors or targets_node:
            needed = _prune(root_nodes, targets_leaf, set(targets_node))
        # First order w.r.t. leaves only: the fast sweep runs every reachable node (also
        # branches that reach no input; their cotangents are simply not kept).

    st = grad_mode._state
    _sweep(
        root_nodes,
        buf,
        leaf_grads,
        retain_graph,
        as_tensors,
        create_graph,
        needed,
        targets_leaf,
        targets_node,
        capture,
        st.anomaly,
        st.strong_zeros,
        pending,
    )

    if not accumulate:
        assert inputs is not None and capture is not None
        out: list[Any] = []
        for t in inputs:
            if t.grad_fn is None:
                entry = leaf_grads.get(id(t))
                g = None if entry is None else entry[1]
                if g is not None and t._hooks:
                    g = _call_hooks(t._hooks, g, as_tensors)
            else:
                g = capture.get((id(t.grad_fn), t._idx))
            out.append(g)
        return out

    prev_mode = grad_mode._state.enabled
    grad_mode._state.enabled = grad_mode.recording(create_graph)
    try:
        # A cotangent array can be shared (add passes one array to both inputs) or be the
        # caller's own ``gradient``: .grad gets a copy then, so changing .grad in place can
        # never change another tensor's gradient or the caller's array.
        seen = {id(g) for g in root_grads}
        for t, g in leaf_grads.values():
            if inputs is not None and id(t) not in targets_leaf:
                continue
            owned = (
                g.__class__ is np.ndarray
                and g.base is None
                and g.flags.writeable
                and id(g) not in seen
            )
            seen.add(id(g))
            _accumulate(t, g, create_graph, owned=owned)
        if inputs is not None and targets_node:
            for t in inputs:
                if t.grad_fn is not None:
                    g = capture.get((id(t.grad_fn), t._idx)) if capture is not None else None
                    if g is not None:
                        _accumulate(t, g, create_graph, run_hooks=False)
    finally:
        grad_mode._state.enabled = prev_mode
    return None


def _seed(
    roots: Sequence[Tensor], root_grads: Sequence[Any], as_tensors: bool
) -> tuple[dict[int, list[Any]], dict[Node, Any], list[Node]]:
    """The sweep's starting point: the roots' cotangents, by leaf or by producing node."""
    leaf_grads: dict[int, list[Any]] = {}
    buf: dict[Node, Any] = {}
    root_nodes: list[Node] = []
    for t, g in zip(roots, root_grads):
        if as_tensors:
            g = _as_tensor(g)
        node = t.grad_fn
        if node is None:
            _add_leaf(leaf_grads, t, g)
        else:
            _add_node(buf, node, t._idx, g)
            root_nodes.append(node)
    return leaf_grads, buf, root_nodes


def grads_to(
    roots: Sequence[Tensor],
    root_grads: Sequence[Any],
    leaves: Sequence[Tensor],
    cut: Sequence[tuple[Node, int]],
) -> tuple[list[Any], dict[tuple[int, int], Any]]:
    """First-order cotangents (raw arrays) of ``leaves`` and of the node outputs ``cut``.

    The sweep does not go past the ``cut`` nodes: what reaches them is returned (keyed by
    ``(id(node), output index)``) instead of being propagated, and their rules do not
    run.  For code that differentiates a piece of a larger graph on its own (the steps
    of ``checkpoint_chain``); the piece's graph is freed as the sweep goes.
    """
    leaf_grads, buf, root_nodes = _seed(roots, root_grads, False)
    targets_leaf = {id(t) for t in leaves}
    targets_node: dict[Node, list[int]] = {}
    for node, idx in cut:
        targets_node.setdefault(node, []).append(idx)
    needed = _prune(root_nodes, targets_leaf, set(targets_node), set(targets_node))
    capture: dict[tuple[int, int], Any] = {}
    pending: list[Any] = []
    try:
        _sweep(
            root_nodes,
            buf,
            leaf_grads,
            False,
            False,
            False,
            needed,
            targets_leaf,
            targets_node,
            capture,
            False,
            False,
            pending,
        )
    finally:
        if pending:
            _settle(pending)
    out = []
    for t in leaves:
        entry = leaf_grads.get(id(t))
        out.append(None if entry is None else entry[1])
    return out, capture


def _sweep(
    root_nodes: list[Node],
    buf: dict[Node, Any],
    leaf_grads: dict[int, list[Any]],
    retain_graph: bool,
    create_graph: bool,
    record: bool,
    needed: set[Node] | None,
    targets_leaf: set[int],
    targets_node: dict[Node, list[int]],
    capture: dict[tuple[int, int], Any] | None,
    anomaly: bool,
    strong: bool,
    pending: list[Any],
) -> None:
    """The backward sweep: each node runs once its consumers have delivered (dependency
    counting, iterative).  ``create_graph``: the rules run on tensors; ``record``: they
    are also recorded.  ``needed`` (with ``inputs=``): only the nodes that lead to an
    input run, and the cotangents of the non-leaf inputs ``targets_node`` are kept in
    ``capture``.  ``anomaly``: each rule's result is checked for NaN and errors carry the
    stack of the node's forward call; ``strong``: strong zeros (see
    :class:`~tapegrad.autograd.grad_mode.strong_zeros`).  Deferred saved values that it
    materializes go to ``pending``."""
    st = grad_mode._state
    check_nan = anomaly and st.anomaly_check_nan
    check_inf = anomaly and st.anomaly_check_inf
    check = check_nan or check_inf
    deps = _collect(root_nodes, needed, targets_node)
    ready = [n for n in dict.fromkeys(root_nodes) if deps[n] == 0]
    releasers = _releasers()
    pop = ready.pop
    push = ready.append
    bpop = buf.pop
    bget = buf.get
    dget = deps.get
    mutations = MUTATIONS
    prev_mode = st.enabled
    st.enabled = grad_mode.recording(record)
    tracer = st.tracer
    node = None
    try:
        while ready:
            node = pop()
            g = bpop(node, None)
            if g is not None and node.hooks is not None:
                g = _run_node_hooks(node, g, create_graph)
            if capture is not None and node in targets_node:
                for k in targets_node[node]:
                    gk = g if node.prim.nout == 1 else (None if g is None else g[k])
                    capture[(id(node), k)] = gk
            if needed is not None and node not in needed:
                continue
            parents = node.parents
            prim = node.prim
            if g is None:  # no cotangent reached this node: release its inputs all the same
                for p in parents:
                    if p.__class__ is Node:
                        c = dget(p)
                        if c is not None:
                            if c == 1:
                                push(p)
                            deps[p] = c - 1
            else:
                args = node.args
                if args.__class__ is not list:  # freed, or deferred
                    args = _unsaved(node, args, pending)
                    prim = node.prim
                vs = node.versions
                if vs is not None and vs[0] != mutations[0]:
                    _check_versions(node)
                ans = node.ans
                zmask = None
                zero = False
                if strong:
                    zero, zmask = _strong_zero_mask(g, prim)
                    if zero:
                        metas = args
                if create_graph:
                    args, ans = _saved_as_tensors(node)
                if prim.nout != 1:
                    # (traced at first order: raw zeros, which the rules skip as in eager
                    # mode, instead of tensors of zeros they would have to multiply)
                    g = _fill_zeros(g, node.out_meta, create_graph and (record or tracer is None))
                vjps = prim.vjps
                params = node.params
                joint = prim.joint
                if joint is not None and not zero:
                    joint_out = joint(g, create_graph, node)
                i = -1
                for p in parents:
                    i += 1
                    if p is None:
                        continue
                    if p.__class__ is Node:
                        is_node = True
                        c = dget(p)
                        if c is not None:
                            if c == 1:
                                push(p)
                            deps[p] = c - 1
                        if needed is not None and p not in needed and p not in targets_node:
                            continue
                    else:
                        is_node = False
                        if needed is not None and id(p) not in targets_leaf:
                            continue
                    if zero:  # strong zeros: an all-zero cotangent gives exact zeros
                        r = _zeros_like_input(metas[i], g, create_graph)
                    elif zmask is not None:  # strong zeros, some cotangent entries zero
                        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                            r = vjps[i](g, ans, *args, **params) if joint is None else joint_out[i]
                        if r is not None:
                            r = _strong_mask(r, zmask, create_graph)
                    elif tracer is not None and prim.opaque_rules:
                        # A rule whose code branches on values: one call of it (on the raw
                        # arrays) in the compiled program, as eager mode runs it.
                        r = tracer.opaque_rule(prim, vjps[i], (g, ans, *args), params, record)
                    else:
                        r = vjps[i](g, ans, *args, **params) if joint is None else joint_out[i]
                    if r is None:
                        continue
                    meta = args[i]
                    if meta is not None:  # None: shaped and typed like the output
                        if r.shape != meta.shape:
                            r = unbroadcast(r, meta.shape)
                        dt = meta.dtype
                        if r.dtype is not dt and r.dtype != dt:
                            r = r.astype(dt)
                    if check:
                        _check_nan(node, i, r, check_nan, check_inf)
                    if not is_node:
                        _add_leaf(leaf_grads, p, r)
                    elif p.prim.nout == 1:
                        prev = bget(p)
                        buf[p] = r if prev is None else prev + r
                    else:
                        _add_node(buf, p, node.pidx[i] if node.pidx else 0, r)
            if not retain_graph:
                node.args = FREED
                node.ans = None
                node.versions = None
                if prim.joint is not None:
                    prim.free()
                for o in releasers:
                    o.release(node)
    except Exception as e:
        if anomaly and node is not None and not isinstance(e, AnomalyError):
            trace = grad_mode.forward_stack(node)
            if trace and hasattr(e, "add_note"):
                e.add_note(
                    f"Error detected in the backward rule of '{node.prim.name}'. Traceback "
                    "of the forward call that recorded it:\n" + trace
                )
        raise
    finally:
        st.enabled = prev_mode


def _check_nan(node: Node, i: int, r: Any, nan: bool = True, inf: bool = False) -> None:
    """Anomaly detection: raise if the ``i``-th result of ``node``'s rule holds NaN (with
    ``nan``) or ±inf (with ``inf``)."""
    v = r.data if isinstance(r, Tensor) else r
    what = None
    if nan and np.isnan(v).any():
        what = "nan"
    elif inf and np.isinf(v).any():
        what = "inf"
    if what is None:
        return
    name = node.prim.name
    trace = grad_mode.forward_stack(node)
    where = (
        f"Traceback of the forward call that recorded '{name}' (most recent call last):\n" + trace
        if trace
        else f"The call that recorded '{name}' ran with anomaly detection off, so its "
        "traceback is unknown; run the forward pass inside tg.autograd.detect_anomaly() too."
    )
    raise AnomalyError(
        f"Function '{name}' returned {what} values in its {i}th output.\n\n{where}",
        node=node,
        forward_stack=trace,
    )


def _strong_zero_mask(g: Any, prim: Any) -> tuple[bool, Any]:
    """Strong zeros: (every incoming cotangent is zero, the mask of zero entries for an
    elementwise rule or None)."""
    if prim.nout != 1:
        return all(x is None or not _raw(x).any() for x in g), None
    v = _raw(g)
    if prim.elementwise:
        m = v == 0
        if not m.any():
            return False, None
        if m.all():
            return True, None
        return False, m
    return not v.any(), None


def _raw(g: Any) -> Any:
    return g.data if isinstance(g, Tensor) else g


def _strong_mask(r: Any, zmask: Any, create_graph: bool) -> Any:
    """Zero the entries of an elementwise rule's result whose cotangent is zero."""
    if create_graph:
        rt = _as_tensor(r)
        return OPS.where(Tensor._wrap(zmask), Tensor._wrap(np.zeros((), rt.dtype)), rt)
    r = np.asarray(r)
    return np.where(zmask, np.zeros((), r.dtype), r)


def _zeros_like_input(meta: Any, g: Any, create_graph: bool) -> Any:
    """Exact zeros for an input (its saved value, its :class:`Meta`, or None: like the
    output)."""
    if meta is None:
        like = _raw(g)
        z = np.zeros(like.shape, like.dtype)
    else:
        z = np.zeros(meta.shape, meta.dtype)
    return Tensor._wrap(z) if create_graph else z


def _add_node(buf: dict[Node, Any], node: Node, idx: int, g: Any) -> None:
    if node.prim.nout == 1:
        prev = buf.get(node)
        buf[node] = g if prev is None else prev + g
        return
    slots = buf.get(node)
    if slots is None:
        slots = buf[node] = [None] * node.prim.nout
    prev = slots[idx]
    slots[idx] = g if prev is None else prev + g


def _add_leaf(leaf_grads: dict[int, list[Any]], t: Tensor, g: Any) -> None:
    entry = leaf_grads.get(id(t))
    if entry is None:
        leaf_grads[id(t)] = [t, g]
    else:
        entry[1] = entry[1] + g


def _fill_zeros(gs: list[Any], metas: tuple[Meta, ...], create_graph: bool) -> tuple[Any, ...]:
    out = []
    for g, m in zip(gs, metas):
        if g is None:
            z = np.zeros(m.shape, m.dtype)
            g = Tensor._wrap(z) if create_graph else z
        out.append(g)
    return tuple(out)


def _run_node_hooks(node: Node, g: Any, create_graph: bool) -> Any:
    hooks = node.hooks
    assert hooks is not None
    if node.prim.nout == 1:
        return _call_hooks(hooks.get(0, ()), g, create_graph) if 0 in hooks else g
    g = list(g)
    for k, hs in hooks.items():
        if g[k] is not None:
            g[k] = _call_hooks(hs, g[k], create_graph)
    return g


def _accumulate(
    t: Tensor, g: Any, create_graph: bool, run_hooks: bool = True, owned: bool = False
) -> None:
    if run_hooks and t._hooks:
        g = _call_hooks(t._hooks, g, create_graph)
        owned = False  # a hook may return an array its caller keeps
    tr = grad_mode._state.tracer
    if create_graph or tr is not None:
        g = _as_tensor(g)
        if tr is not None:
            tr.grad_read(t)
        with _GRAD_LOCK:
            prev = t._grad
            t._grad = g if prev is None else prev + g
        if tr is not None:
            tr.grad_write(t)
        return
    if isinstance(g, Tensor):
        g = g.data
        owned = False
    with _GRAD_LOCK:
        prev = t._grad
        if prev is None:
            dt = t.data.dtype
            if owned and g.dtype == dt and g.shape == t.data.shape:
                t._grad = Tensor._wrap(g)
            else:
                t._grad = Tensor._wrap(np.array(g, dtype=dt, copy=True))
        else:
            t._grad = Tensor._wrap(prev.data + g)


def _root_grad(t: Tensor, gradient: Any) -> Any:
    if gradient is None:
        if t.data.size != 1:
            raise ShapeMismatchError(
                f"backward() of a tensor with shape {t.shape} needs an explicit gradient "
                "(the cotangent, same shape as the tensor); only a one-element output gets "
                "the implicit gradient 1"
            )
        return np.ones(t.shape, t.dtype)
    if t.dtype.kind == "c" or np.iscomplexobj(gradient):
        raise complex_error("backward")
    g: Any = gradient if isinstance(gradient, Tensor) else np.asarray(gradient, dtype=t.dtype)
    shape = g.shape
    if shape != t.shape:
        raise ShapeMismatchError(
            f"gradient has shape {shape} but the tensor has shape {t.shape}; they must match"
        )
    return g


def _need_grad(t: Any, what: str) -> None:
    if not isinstance(t, Tensor):
        raise InvalidTypeError(f"{what} must be a Tensor, got {type(t).__name__}")
    if not t.requires_grad:
        raise InvalidStateError(
            f"{what} does not require grad and has no grad_fn: nothing was recorded. Create "
            "the inputs with requires_grad=True (and compute outside tg.no_grad())"
        )


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Compute the gradient of ``tensors`` w.r.t. graph leaves and accumulate it in ``.grad``.

    Same semantics as ``torch.autograd.backward``; see :meth:`Tensor.backward`.
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, (Tensor, np.ndarray, float, int)):
        grad_tensors = (
            [grad_tensors] * len(tensors)
            if len(tensors) == 1
            else ([None] * len(tensors) if grad_tensors is None else [grad_tensors])
        )
    grad_tensors = list(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise InvalidArgumentError(
            f"got {len(tensors)} tensors but {len(grad_tensors)} gradients; pass one each"
        )
    for t in tensors:
        _need_grad(t, "the tensor passed to backward()")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise InvalidArgumentError(
                "inputs= was given but empty; pass at least one tensor or None"
            )
        for t in inputs:
            _need_grad(t, "each tensor in inputs=")
    grads = [_root_grad(t, g) for t, g in zip(tensors, grad_tensors)]
    run_backward(
        tensors, grads, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs
    )


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned instead of accumulated.

    Same semantics as ``torch.autograd.grad``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor(2.0, requires_grad=True)
    >>> (gx,) = tg.autograd.grad(x ** 3, x, create_graph=True)
    >>> gx
    tensor(12., grad_fn=<whereBackward>)
    >>> tg.autograd.grad(gx, x)
    (tensor(12.),)
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise InvalidArgumentError(
            f"got {len(outputs)} outputs but {len(grad_outputs)} grad_outputs; pass one each"
        )
    for t in outputs:
        _need_grad(t, "each output")
    for t in inputs:
        _need_grad(t, "each input")
    if retain_graph is None:
        retain_graph = create_graph
    grads = [_root_grad(t, g) for t, g in zip(outputs, grad_outputs)]
    res = run_backward(
        outputs,
        grads,
        retain_graph=retain_graph,
        create_graph=create_graph,
        inputs=inputs,
        accumulate=False,
    )
    assert res is not None
    out: list[Tensor | None] = []
    for i, (t, g) in enumerate(zip(inputs, res)):
        if g is None:
            if not allow_unused:
                raise InvalidArgumentError(
                    f"input {i} (shape {t.shape}) was not used to compute the outputs, so it "
                    "has no gradient; pass allow_unused=True to get None for it"
                )
            out.append(None)
        else:
            out.append(g if isinstance(g, Tensor) else Tensor._wrap(g))
    return tuple(out)


def register_hook(t: Tensor, hook: Callable[[Tensor], Any]) -> Callable[[], None]:
    if not t.requires_grad:
        raise InvalidStateError(
            "can't register a hook on a tensor that doesn't require grad; set requires_grad"
        )
    if t.grad_fn is None:
        if t._hooks is None:
            t._hooks = []
        hooks = t._hooks
    else:
        node = t.grad_fn
        if node.hooks is None:
            node.hooks = {}
        hooks = node.hooks.setdefault(t._idx, [])
    if hooks and getattr(hooks[-1], "_retains_grad", False):
        hooks.insert(len(hooks) - 1, hook)  # retain_grad's store runs last (PyTorch)
    else:
        hooks.append(hook)

    def remove() -> None:
        if hook in hooks:
            hooks.remove(hook)

    return remove


def retain_grad(t: Tensor) -> None:
    if not t.requires_grad:
        raise InvalidStateError("can't retain_grad on a tensor that doesn't require grad")
    if t.grad_fn is None:
        return
    hooks = (t.grad_fn.hooks or {}).get(t._idx, ())
    if hooks and getattr(hooks[-1], "_retains_grad", False):
        return  # already retained (calling twice changes nothing, as in PyTorch)
    ref = weakref.ref(t)

    def _store(g: Tensor) -> None:
        target = ref()
        if target is not None:
            gd = Tensor._wrap(g.data.copy()) if not grad_mode._state.enabled else g
            with _GRAD_LOCK:
                prev = target._grad
                target._grad = gd if prev is None else prev + gd

    _store._retains_grad = True  # type: ignore[attr-defined]
    register_hook(t, _store)
