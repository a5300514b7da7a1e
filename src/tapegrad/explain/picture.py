"""The explained tape as a picture (:meth:`~tapegrad.explain.Explanation.graph`).

The picture is a small graph of its own, restricted to the table's steps: one
:class:`PictureNode` per primitive call (one per node for a multi-output op), new leaf
tensors sharing the steps' values for the inputs and external steps, and no saved values.
The recorded tape itself (its saved arrays, the function's closed-over tensors, the
primitives' state) is not kept.  :func:`tapegrad.viz.graph` draws it through the node read
API, with the table's lines on each vertex and the local partials on the arrows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd.node import Meta
from ..errors import InvalidArgumentError
from ..tensor import Tensor
from .notation import SMALL, _fmt, _wbar, _wdot
from .record import _Call, node_inputs, node_output_meta
from .render import _partial_text
from .steps import Step

if TYPE_CHECKING:
    from ..viz import Graph
    from .explanation import Explanation
    from .table import _Builder


class _OpName:
    """Stands for a primitive in the picture: its name and number of outputs, nothing the
    primitive holds."""

    __slots__ = ("name", "nout")

    def __init__(self, name: str, nout: int) -> None:
        self.name = name
        self.nout = nout


class PictureNode:
    """One op vertex of an explained tape's picture.

    It answers the node read API that :mod:`tapegrad.viz` draws from (``name``, ``prim``,
    ``params``, ``inputs``, ``saved_inputs``, ``saved_output``, ``freed``,
    ``output_meta``): its inputs are other picture vertices, leaf tensors or None (a
    constant), its saved inputs only the small constants (a value, else a
    :class:`~tapegrad.autograd.node.Meta`), and it has no saved output and no rules;
    nothing runs a backward through it.
    """

    __slots__ = ("prim", "params", "inputs", "saved_inputs", "output_meta")

    saved_output = None
    freed = False

    def __init__(
        self,
        op: _OpName,
        inputs: tuple[tuple[PictureNode | Tensor | None, int], ...],
        consts: tuple[Any, ...],
        output_meta: Any,
    ) -> None:
        self.prim = op
        self.params: dict[str, Any] = {}
        self.inputs = inputs
        self.saved_inputs = tuple(consts)
        self.output_meta = output_meta

    @property
    def name(self) -> str:
        return self.prim.name

    def __repr__(self) -> str:
        return f"<PictureNode {self.prim.name}>"


def _const_arg(call: _Call | None, i: int) -> Any:
    """A constant operand for the picture: small values as they are, else their shape."""
    if call is None or i >= len(call.args):
        return None
    try:
        a = np.asarray(call.args[i])
    except Exception:  # pragma: no cover - anything numpy cannot hold is drawn as "const"
        return None
    if a.dtype.kind not in "biufc":
        return None
    return np.array(a) if a.size <= SMALL else Meta(tuple(a.shape), a.dtype)


class _Picture:
    """The structure of an explained tape: the output, the inputs by name, and each vertex
    with the names of the steps it stands for."""

    __slots__ = ("root", "inputs", "vertices")

    def __init__(
        self,
        root: Tensor,
        inputs: dict[str, Tensor],
        vertices: list[tuple[PictureNode | Tensor, tuple[str, ...]]],
    ) -> None:
        self.root = root
        self.inputs = inputs
        self.vertices = vertices


def _picture(b: _Builder, out_step: Step) -> _Picture:
    vertex: dict[str, PictureNode | Tensor] = {}
    made: dict[int, PictureNode] = {}  # id(recorded node) -> its vertex
    order: list[PictureNode | Tensor] = []
    names: dict[int, list[str]] = {}
    for s in b.steps:
        h = b.handles[s.name]
        v: PictureNode | Tensor
        if s.kind != "op" or h.grad_fn is None:
            v = Tensor._wrap(s.value if s.value is not None else np.zeros(()))
            v.requires_grad = True
        else:
            orig = h.grad_fn
            got = made.get(id(orig))
            if got is None:
                call = b.call_of.get(s.name)
                inputs: list[tuple[PictureNode | Tensor | None, int]] = []
                consts: list[Any] = []
                for i, (p, _) in enumerate(node_inputs(orig)):
                    if p is None:
                        inputs.append((None, 0))
                        consts.append(_const_arg(call, i))
                        continue
                    key = b._parent_key(orig, i)
                    pv = vertex[b.step_of[key].name]
                    inputs.append((pv, key[1] if isinstance(pv, PictureNode) else 0))
                    consts.append(None)
                nout = getattr(orig.prim, "nout", 1) or 1
                got = PictureNode(
                    _OpName(orig.prim.name, nout),
                    tuple(inputs),
                    tuple(consts),
                    node_output_meta(orig),
                )
                made[id(orig)] = got
            v = got
        vertex[s.name] = v
        if id(v) not in names:
            names[id(v)] = []
            order.append(v)
        names[id(v)].append(s.name)
    out_v = vertex[out_step.name]
    if isinstance(out_v, PictureNode):
        root = Tensor._wrap(out_step.value if out_step.value is not None else np.zeros(()))
        root.requires_grad = True
        root.grad_fn = out_v
        root._idx = b.key_of_step[out_step.name][1]
    else:
        root = out_v
    inputs_by_name = {}
    for s in b.steps:
        v = vertex[s.name]
        if s.kind == "input" and isinstance(v, Tensor):
            inputs_by_name[s.expr] = v
    return _Picture(root, inputs_by_name, [(v, tuple(names[id(v)])) for v in order])


def _vertex_lines(e: Explanation, s: Step, show_adjoints: bool, precision: int) -> list[str]:
    lines = [s.equation]
    if s.value is not None:
        lines.append("= " + _fmt(s.value, precision))
    if show_adjoints and e.mode in ("reverse", "both") and s.adjoint is not None:
        lines.append(f"{_wbar(s.name)} = {_fmt(s.adjoint, precision)}")
    if show_adjoints and e.mode in ("forward", "both"):
        for n in e.inputs:
            t = s.tangents.get(n)
            if t is not None:
                lines.append(f"{_wdot(s.name)} = {_fmt(t, precision)} (seed {n})")
    return lines


def draw(
    e: Explanation,
    pic: _Picture | None,
    show_adjoints: bool,
    show_partials: bool,
    precision: int,
    rankdir: str,
    max_nodes: int | None,
) -> Graph:
    """The picture of ``e`` (see :meth:`~tapegrad.explain.Explanation.graph`)."""
    from .. import viz

    if pic is None:
        raise InvalidArgumentError(
            "Explanation.graph: this Explanation holds no recorded tape to draw (it was not "
            "made by tg.explain); make it with tg.explain(f, *args) and call .graph() on that"
        )
    notes: dict[Any, list[str]] = {}  # vertex -> its lines
    by_name = {s.name: s for s in e.rows}
    for v, names in pic.vertices:
        lines: list[str] = []
        for n in names:
            lines += _vertex_lines(e, by_name[n], bool(show_adjoints), precision)
        notes[v] = lines
    arrows: dict[Any, str] = {}  # (producer, consumer, position) -> partial
    if show_partials:
        vertex_of = {n: v for v, names in pic.vertices for n in names}
        for s in e.rows:
            consumer = vertex_of.get(s.name)
            if not isinstance(consumer, PictureNode):
                continue
            for p in s.partials:
                key = (vertex_of[p.wrt], consumer, p.position)
                # Two lines keep the labels narrow: "∂w3/∂w1" over "= cos(w1) = 0.540302".
                text = _partial_text(s, p, precision).replace(" = ", "\n= ", 1)
                # One arrow per argument; the outputs of a multi-output op share it.
                arrows[key] = f"{arrows[key]}\n{text}" if key in arrows else text
    return viz.graph(
        pic.root,
        params=pic.inputs,
        annotate=notes,
        details=False,
        edge_labels=arrows or None,
        rankdir=rankdir,
        max_nodes=max_nodes,
    )
