"""One entry of the tape.

A :class:`Node` is created by a primitive call that has at least one input requiring grad.
It holds only what the primitive's rules read (its ``save=`` declaration), the shapes and
dtypes of the differentiable inputs (for the engine's unbroadcast and cast), and edges to
the inputs' producers.  It never references its own output tensors, so a graph is a DAG of
plain references with no cycles: dropping the last output frees it at once, even with
``gc.disable()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import grad_mode

_ndarray = np.ndarray
_may_share_memory = np.may_share_memory

__all__ = ["Node", "Meta", "FREED", "version_key"]


class Meta:
    """Shape and dtype of an input whose value the tape does not keep."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"Meta(shape={self.shape}, dtype={self.dtype})"


class _Freed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<freed>"


FREED: Any = _Freed()

# Count of in-place changes to tensor data, process-wide.  A node records the count when
# it saves tensors; backward checks each saved tensor's version only if the count moved.
MUTATIONS = [0]


def version_key(t: Any) -> Any:
    """What identifies the state of a tensor's memory: its version, and its base's for views."""
    b = t._base
    return t._version if b is None else (t._version, b._version)


class Node:
    """A recorded primitive application.

    Attributes
    ----------
    prim : the primitive (or a custom Function adapter) whose rules run in backward.
    parents : per positional input: ``None`` (no gradient flows there), the leaf
        ``Tensor`` itself, or the producing ``Node``.
    pidx : ``None`` when every parent's output index is 0, else a tuple of indices.
    args : per input, the saved raw value, a :class:`Meta`, or None; ``FREED`` once freed;
        or the object that stands in for them while they are deferred (see :meth:`defer`).
    ans : the saved output (a tuple for multi-output primitives) or None.
    params : the primitive's keyword parameters.
    versions : ``None`` or ``[mutation_count, tensor, version_key, ...]``: the process-wide
        in-place count when the node was made, then the saved input tensors with their
        versions; checked in backward (only when the count has moved) to detect in-place
        changes.
    dirty : the saved output was changed in place (set by the output tensor itself).
    fw : ``None`` or ``(input_tangent_dicts, output_tangent_dict)`` when the inputs carried
        forward-mode tangents: a create_graph backward re-attaches them to the saved values
        so that tangents flow through the backward pass (forward-over-reverse).
    hooks : ``None`` or ``{output_index: [hook, ...]}`` from ``register_hook``/``retain_grad``.
    """

    __slots__ = (
        "prim",
        "parents",
        "pidx",
        "args",
        "ans",
        "params",
        "versions",
        "hooks",
        "out_meta",
        "dirty",
        "fw",
        "__weakref__",
    )

    prim: Any
    parents: Any
    pidx: Any
    args: Any
    ans: Any
    params: Any
    versions: Any
    hooks: Any
    out_meta: Any
    dirty: bool
    fw: Any

    def __init__(
        self,
        prim: Any,
        parents: Any,
        pidx: Any,
        args: Any,
        ans: Any,
        params: Any,
        versions: Any,
        out_meta: Any,
    ) -> None:
        self.prim = prim
        self.parents = parents
        self.pidx = pidx
        self.args = args
        self.ans = ans
        self.params = params
        self.versions = versions
        self.hooks = None
        self.out_meta = out_meta
        self.dirty = False
        self.fw = None

    # -- the read API: what tools that watch the tape may read (the fields above are the
    # engine's own).
    @property
    def name(self) -> str:
        """The name of the primitive (``"sin"``, ``"matmul"``)."""
        return self.prim.name

    @property
    def inputs(self) -> tuple[tuple[Any, int], ...]:
        """Per positional input of the call: ``(producer, output index)``.  The producer
        is the :class:`Node` that computed it, the leaf ``Tensor`` itself, or None (a
        constant, or an input through which no gradient flows); the index says which
        output of a multi-output producer it is (0 otherwise)."""
        pidx = self.pidx
        if pidx is None:
            return tuple((p, 0) for p in self.parents)
        return tuple((p, k or 0) for p, k in zip(self.parents, pidx))

    @property
    def saved_inputs(self) -> tuple[Any, ...]:
        """Per positional input, what the tape keeps of it: the raw value (when a rule
        reads it), a :class:`Meta` (its shape and dtype only), None (nothing: no gradient
        flows there, or it is shaped and typed like the output), or ``FREED`` once a
        backward pass freed the node's values or while they wait to be recomputed."""
        args = self.args
        if isinstance(args, (list, tuple)):
            return tuple(args)
        return (FREED,) * len(self.parents)

    @property
    def saved_output(self) -> Any:
        """The saved output (a tuple for several outputs) when a rule reads it, else None."""
        return self.ans

    @property
    def freed(self) -> bool:
        """Whether a backward pass freed the saved values (a second one then fails)."""
        return self.args is FREED

    @property
    def output_meta(self) -> Any:
        """Shape and dtype (a :class:`Meta`) of each output of a multi-output node (a
        tuple); None for a single-output node."""
        return self.out_meta

    @property
    def output_changed(self) -> bool:
        """Whether the saved output was changed in place since it was recorded."""
        return self.dirty

    # -- deferral: the saved values leave, and an object stands in for them until a
    # backward pass needs them.  The engine, reaching a node whose values are deferred,
    # calls ``stand_in.materialize(node)`` (which must refill the node, e.g. with
    # :meth:`adopt`), and ``stand_in.settle()`` once when
    # that backward pass ends.  Checkpointing defers the nodes of a block this way.
    @property
    def deferral(self) -> Any:
        """The object standing in for the saved values (see :meth:`defer`), or None."""
        args = self.args
        return None if isinstance(args, (list, tuple)) or args is FREED else args

    # -- in-place changes (called by the tensor's in-place machinery)
    def output_written(self, data: Any, idx: int) -> None:
        """Output ``idx``, whose array is ``data``, was changed in place: if the node saved
        that very array as its output, mark it changed (backward then refuses it)."""
        ans = self.ans
        if ans is not None and (ans is data or (ans.__class__ is tuple and ans[idx] is data)):
            self.dirty = True

    def own_saved(self, root: Any) -> None:
        """The node of an in-place op saved arrays that the op is about to overwrite (e.g.
        ``a.mul_(b)`` saves the old ``a`` for ``b``'s gradient): give it copies, and stop
        checking the versions of the tensors (``root`` and its views) it saved them for."""
        mem = root.data
        args = self.args
        if args.__class__ is list:
            for i, v in enumerate(args):
                if v.__class__ is _ndarray and _may_share_memory(v, mem):
                    args[i] = grad_mode.source(np.copy, v)  # (tg.jit repeats the copy)
        vs = self.versions
        if vs is not None:
            keep = [vs[0]]
            for k in range(1, len(vs), 2):
                t = vs[k]
                if (t if t._base is None else t._base) is not root:
                    keep += (t, vs[k + 1])
            self.versions = keep if len(keep) > 1 or self.ans is not None else None

    def saved_tensor_versions(self) -> list[tuple[Any, Any]]:
        """The saved tensors with the :func:`version_key` they had when recorded."""
        vs = self.versions
        if vs is None:
            return []
        return [(vs[k], vs[k + 1]) for k in range(1, len(vs), 2)]

    def defer(self, stand_in: Any) -> None:
        """Drop the saved values; ``stand_in`` brings them back when backward needs them."""
        self.args = stand_in
        self.ans = None
        self.versions = None
        self.fw = None
        if self.prim.joint is not None:
            self.prim.free()

    def adopt(self, other: Node) -> None:
        """Take the saved values of ``other``, a node recorded by a rerun of the same call."""
        self.args = other.args
        self.ans = other.ans
        self.versions = other.versions
        self.fw = other.fw
        self.dirty = False
        if self.prim.joint is not None:
            self.prim = other.prim

    @property
    def next_functions(self) -> tuple:
        """The producers of this node's inputs (PyTorch's spelling), ``None`` for constants."""
        return self.parents

    def __repr__(self) -> str:
        return f"<{self.prim.name}Backward>"


_new = object.__new__


def new_node(
    prim: Any,
    parents: Any,
    pidx: Any,
    args: Any,
    ans: Any,
    params: Any,
    versions: Any,
    out_meta: Any,
) -> Node:
    """A tape entry: the one place that sets a :class:`Node`'s fields (every recording path
    builds its node here; the arguments are those documented on the class)."""
    node = _new(Node)
    node.prim = prim
    node.parents = parents
    node.pidx = pidx
    node.args = args
    node.ans = ans
    node.params = params
    node.versions = versions
    node.hooks = None
    node.out_meta = out_meta
    node.dirty = False
    node.fw = None
    return node
