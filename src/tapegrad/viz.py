"""Pictures of the recorded graph: ``tg.viz.graph(output)`` -> Graphviz DOT, SVG, PNG.

:func:`graph` walks the tape back from an output tensor and describes what it finds in the DOT
language: leaves (the tensors created with ``requires_grad=True``, with their names, values and,
after ``backward()``, gradients), one box per recorded operation (its name, its forward value or
shape, the shapes of the values it saved for the backward pass), constants, and the module calls
of ``tg.nn`` models as nested clusters.  Arrows follow the data, from the inputs to the output.

Building the description needs nothing but tapegrad.  Turning it into a picture
(:meth:`Graph.pipe`, :meth:`Graph.render` to ``.svg``/``.png``/``.pdf``, inline display in
Jupyter) runs the ``dot`` program of Graphviz (Debian/Ubuntu: ``apt-get install graphviz``).

Large graphs stay readable: repeated module calls (50 identical layers) are drawn once, followed
by one box that stands for the rest ("x49 more Linear+Tanh blocks"), and a graph still larger than
``max_nodes`` collapses repeated operations too, then keeps the part nearest the output.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .autograd.node import Meta, Node
from .errors import InvalidArgumentError, InvalidTypeError, TapegradError
from .tensor import Tensor

__all__ = [
    "Annotations",
    "EdgeLabels",
    "Graph",
    "GraphvizError",
    "GraphvizNotFoundError",
    "graph",
]

Annotations = (
    Mapping[Node | Tensor, str | Iterable[str]]
    | Callable[[Node | Tensor], str | Iterable[str] | None]
)
"""What ``graph(..., annotate=...)`` takes: extra label lines per vertex, as a mapping from a
vertex (a :class:`~tapegrad.autograd.node.Node`, a leaf Tensor, or a recorded Tensor standing
for the operation that made it) to a string or a list of strings, or as a function of the
vertex (a Node or a leaf Tensor) returning them (None: nothing to add)."""

EdgeLabels = (
    Mapping[tuple[Node | Tensor, Node | Tensor] | tuple[Node | Tensor, Node | Tensor, int], str]
    | Callable[[Node | Tensor, Node, int], str | None]
)
"""What ``graph(..., edge_labels=...)`` takes: labels for the arrows, as a mapping from
``(producer, consumer)`` or ``(producer, consumer, position)`` to a string, or as a function
``(producer, consumer, position) -> str | None``.  The producer is a
:class:`~tapegrad.autograd.node.Node` or a leaf Tensor, the consumer a Node (a recorded Tensor
stands for the operation that made it), and ``position`` the consumer's input the arrow
feeds."""

# A repeated unit is collapsed once it occurs this many times in a row (the first one is drawn).
MIN_REPEATS = 3
# The longest repeated unit looked for, in sibling items (module calls or operations).
MAX_PERIOD = 16
# Values with at most this many elements are printed in the labels; larger ones show a shape.
SMALL = 6

_INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install "
    "graphviz`, conda: `conda install graphviz`) so that `dot` is on PATH, or use str(graph) / "
    "graph.render('graph.dot') for the DOT text, which needs no Graphviz"
)


class GraphvizNotFoundError(TapegradError, RuntimeError):
    """The Graphviz ``dot`` program, needed to render a :class:`Graph`, is not on PATH."""


class GraphvizError(TapegradError, RuntimeError):
    """``dot`` ran but failed (an unknown output format, or a broken DOT text)."""


# ----------------------------------------------------------------------------- DOT text


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as ``\\n``."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{text}"'


def _attrs(attrs: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def _dot_program() -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            f"the Graphviz program `dot` was not found on PATH; {_INSTALL_HINT}"
        )
    return exe


class Graph:
    """A picture of a recorded graph, as DOT text; rendered by Graphviz's ``dot`` on demand.

    Returned by :func:`graph`.  ``str(g)`` and ``g.source`` are the DOT text (no Graphviz
    needed); :meth:`pipe` and :meth:`render` run ``dot`` to make SVG, PNG, PDF, ...; in Jupyter
    the graph shows itself as SVG when ``dot`` is installed and as DOT text otherwise.

    Parameters
    ----------
    source : str
        DOT text.
    node_ids : iterable of str, optional
        The ids of the drawn vertices (the ``<title>`` of each node in the SVG).
    edges : iterable of (str, str), optional
        The drawn edges as ``(tail_id, head_id)`` pairs.

    Examples
    --------
    >>> from tapegrad.viz import Graph
    >>> g = Graph('digraph { a -> b }', node_ids=["a", "b"], edges=[("a", "b")])
    >>> str(g)
    'digraph { a -> b }'
    >>> g
    <tapegrad.viz.Graph: 2 nodes, 1 edges>
    """

    def __init__(
        self,
        source: str,
        node_ids: Iterable[str] = (),
        edges: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.source = source
        self.node_ids: tuple[str, ...] = tuple(node_ids)
        self.edges: tuple[tuple[str, str], ...] = tuple(edges)

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return f"<tapegrad.viz.Graph: {len(self.node_ids)} nodes, {len(self.edges)} edges>"

    def pipe(self, format: str = "svg", *, timeout: float = 60.0) -> bytes:
        """Run ``dot -T<format>`` on the DOT text and return what it prints.

        Parameters
        ----------
        format : str
            Any output format of ``dot``: ``"svg"`` (default), ``"png"``, ``"pdf"``, ...
        timeout : float
            Seconds to wait for ``dot``.

        Returns
        -------
        bytes
            The rendered picture (UTF-8 text for SVG).

        Raises
        ------
        GraphvizNotFoundError
            When ``dot`` is not on PATH (the message says how to install Graphviz).
        GraphvizError
            When ``dot`` fails, e.g. for a format it does not know.
        """
        if not re.fullmatch(r"[A-Za-z0-9_:]+", format):
            raise InvalidArgumentError(
                f"Graph.pipe: {format!r} is not an output format of dot; use one such as 'svg', "
                "'png' or 'pdf'"
            )
        exe = _dot_program()
        proc = subprocess.run(
            [exe, f"-T{format}"],
            input=self.source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise GraphvizError(
                f"`dot -T{format}` failed with exit status {proc.returncode}: {err}. Check the "
                "format name (`dot -T?` lists them) or save the DOT text with render('x.dot')"
            )
        return proc.stdout

    def render(self, path: str | Path, format: str | None = None) -> str:
        """Write the picture to ``path`` and return the path.

        Parameters
        ----------
        path : str or Path
            Where to write.  The suffix gives the format unless ``format`` is given: ``.svg``,
            ``.png``, ``.pdf`` (any format of ``dot``) or ``.dot``/``.gv`` for the DOT text
            itself, which needs no Graphviz.
        format : str, optional
            The format, overriding the suffix.

        Returns
        -------
        str
            ``path`` as a string.

        Raises
        ------
        GraphvizNotFoundError
            For a picture format when ``dot`` is not installed.

        Examples
        --------
        >>> import os, tempfile
        >>> import tapegrad as tg
        >>> from tapegrad import viz
        >>> x = tg.tensor(2.0, requires_grad=True)
        >>> path = viz.graph(x * x).render(os.path.join(tempfile.mkdtemp(), "square.dot"))
        >>> open(path).read().startswith("digraph")
        True
        """
        p = Path(path)
        fmt = format if format is not None else p.suffix[1:].lower()
        if not fmt:
            raise InvalidArgumentError(
                f"Graph.render: cannot tell the format of {str(p)!r}: give the file a suffix such "
                "as .svg, .png, .pdf or .dot, or pass format='svg'"
            )
        if fmt in ("dot", "gv"):
            p.write_text(self.source, encoding="utf-8")
        else:
            p.write_bytes(self.pipe(fmt))
        return str(p)

    def _repr_svg_(self) -> str | None:
        """SVG for Jupyter; None when ``dot`` is missing or fails (Jupyter then shows text)."""
        try:
            return self.pipe("svg").decode("utf-8")
        except (GraphvizNotFoundError, GraphvizError, OSError, subprocess.TimeoutExpired):
            return None

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, str]:
        """SVG and a short text when ``dot`` is installed, else the DOT text (for Jupyter)."""
        svg = self._repr_svg_()
        bundle = {"text/plain": repr(self) if svg is not None else self.source}
        if svg is not None:
            bundle["image/svg+xml"] = svg
        if include is not None:
            keep = set(include)
            bundle = {k: v for k, v in bundle.items() if k in keep}
        if exclude is not None:
            drop = set(exclude)
            bundle = {k: v for k, v in bundle.items() if k not in drop}
        return bundle


# ----------------------------------------------------------------------------- labels


def _shape_text(shape: Any, dtype: Any) -> str:
    dims = tuple(int(d) for d in shape)
    text = "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
    return f"{text} {np.dtype(dtype).name}" if dtype is not None else text


def _value_text(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        v = arr.item()
        if isinstance(v, float):
            return f"{v:.5g}"
        if isinstance(v, complex):
            return f"{v:.4g}"
        return repr(v)
    return np.array2string(arr, precision=4, separator=", ", suppress_small=True)


def _describe(value: Any, shape: Any, dtype: Any, show_values: bool) -> str | None:
    """The value when small (and wanted), else shape and dtype, else None when unknown."""
    if value is not None:
        arr = np.asarray(value)
        if show_values and arr.size <= SMALL:
            return _value_text(arr)
        return _shape_text(arr.shape, arr.dtype)
    if shape is not None:
        return _shape_text(shape, dtype)
    return None


def _is_array(v: Any) -> bool:
    return isinstance(v, (np.ndarray, np.generic, int, float, complex, bool))


def _note_lines(lines: Any, where: str) -> list[str]:
    """Annotation lines from a string (split at newlines), a list of strings, or None."""
    if lines is None:
        return []
    if isinstance(lines, str):
        return lines.split("\n") if lines else []
    if isinstance(lines, Iterable) and not isinstance(lines, (bytes, np.ndarray)):
        out = list(lines)
        for i, ln in enumerate(out):
            if not isinstance(ln, str):
                raise InvalidTypeError(
                    f"annotate: line {i} for {where} is a {type(ln).__name__}, not a str; "
                    "format it first, e.g. f'{value:.4g}'"
                )
        return out
    raise InvalidTypeError(
        f"annotate: the lines for {where} must be a str or a list of str, got "
        f"{type(lines).__name__}"
    )


def _is_node(obj: Any) -> bool:
    """Whether ``obj`` is a tape entry: anything with the node read API (``inputs``,
    ``saved_inputs``, ...), a :class:`~tapegrad.autograd.node.Node` or a stand-in."""
    return obj is not None and not isinstance(obj, Tensor) and hasattr(obj, "saved_inputs")


def _vertex_text(obj: Any) -> str:
    if _is_node(obj):
        return f"the {obj.name} node"
    return "a leaf tensor" if isinstance(obj, Tensor) else type(obj).__name__


def _annotator(annotate: Any) -> Callable[[Any], list[str]] | None:
    """``annotate`` as a function of a vertex (Node or leaf Tensor) to its extra lines."""
    if annotate is None:
        return None
    if isinstance(annotate, Mapping):
        by_id: dict[int, list[str]] = {}
        keep: list[Any] = []  # holds the keys, so that their ids stay theirs while we draw
        for key, lines in annotate.items():
            if isinstance(key, Tensor) and key.grad_fn is not None:
                vertex: Any = key.grad_fn  # a recorded tensor stands for its operation
            elif isinstance(key, Tensor) or _is_node(key):
                vertex = key
            else:
                raise InvalidTypeError(
                    f"annotate keys must be vertices of the graph: a Node (a tensor's "
                    f".grad_fn), a leaf Tensor or a recorded Tensor, got {type(key).__name__}"
                )
            keep.append(vertex)
            by_id.setdefault(id(vertex), []).extend(_note_lines(lines, _vertex_text(vertex)))

        def from_mapping(obj: Any) -> list[str]:
            return by_id.get(id(obj), [])

        from_mapping.keep = keep  # type: ignore[attr-defined]
        return from_mapping
    if callable(annotate):
        fn = annotate

        def from_function(obj: Any) -> list[str]:
            return _note_lines(fn(obj), _vertex_text(obj))

        return from_function
    raise InvalidTypeError(
        "annotate must be a dict from Node or Tensor to label lines, or a function of a Node "
        f"or leaf Tensor returning them, got {type(annotate).__name__}"
    )


def _edge_vertex(obj: Any, role: str) -> Any:
    """A key's producer or consumer as a vertex: a recorded Tensor stands for its Node."""
    if isinstance(obj, Tensor) and obj.grad_fn is not None:
        return obj.grad_fn
    if _is_node(obj) or (isinstance(obj, Tensor) and role == "producer"):
        return obj
    what = "a Node or a leaf Tensor" if role == "producer" else "a Node or a recorded Tensor"
    raise InvalidTypeError(
        f"edge_labels keys are (producer, consumer) or (producer, consumer, position): the "
        f"{role} must be {what}, got {type(obj).__name__}"
    )


def _edge_text(text: Any, where: str) -> str | None:
    if text is None or isinstance(text, str):
        return text or None
    raise InvalidTypeError(
        f"edge_labels: the label of {where} must be a str or None, got "
        f"{type(text).__name__}; format it first, e.g. f'{{value:.4g}}'"
    )


def _edge_labeller(edge_labels: Any) -> Callable[[Any, Node, int], str | None] | None:
    """``edge_labels`` as a function of (producer, consumer Node, input position)."""
    if edge_labels is None:
        return None
    if isinstance(edge_labels, Mapping):
        by_pos: dict[tuple[int, int, int], str] = {}
        by_pair: dict[tuple[int, int], str] = {}
        keep: list[Any] = []  # holds the keys, so that their ids stay theirs while we draw
        for key, text in edge_labels.items():
            if not isinstance(key, tuple) or len(key) not in (2, 3):
                raise InvalidTypeError(
                    "edge_labels keys must be (producer, consumer) or (producer, consumer, "
                    f"position) tuples, got {type(key).__name__} {key!r:.60}"
                )
            src = _edge_vertex(key[0], "producer")
            dst = _edge_vertex(key[1], "consumer")
            keep += [src, dst]
            where = f"the arrow into the {dst.name} node"
            label = _edge_text(text, where)
            if label is None:
                continue
            if len(key) == 3:
                pos = key[2]
                if isinstance(pos, bool) or not isinstance(pos, (int, np.integer)) or pos < 0:
                    raise InvalidTypeError(
                        f"edge_labels: the position in a (producer, consumer, position) key is "
                        f"the consumer's input index, a non-negative int, got {pos!r}"
                    )
                by_pos[(id(src), id(dst), int(pos))] = label
            else:
                by_pair[(id(src), id(dst))] = label

        def from_mapping(src: Any, dst: Node, pos: int) -> str | None:
            got = by_pos.get((id(src), id(dst), pos))
            return got if got is not None else by_pair.get((id(src), id(dst)))

        from_mapping.keep = keep  # type: ignore[attr-defined]
        return from_mapping
    if callable(edge_labels):
        fn = edge_labels

        def from_function(src: Any, dst: Node, pos: int) -> str | None:
            return _edge_text(fn(src, dst, pos), f"the arrow into input {pos} of {dst.name}")

        return from_function
    raise InvalidTypeError(
        "edge_labels must be a dict from (producer, consumer) or (producer, consumer, position) "
        "to a str, or a function (producer, consumer, position) -> str or None, got "
        f"{type(edge_labels).__name__}"
    )


# ----------------------------------------------------------------------------- the walk


class _Cluster:
    """One recorded module call: the graph vertices it produced."""

    __slots__ = (
        "module",
        "cls",
        "label",
        "outs",
        "members",
        "seq",
        "parent",
        "hidden",
        "last",
        "sig",
    )

    def __init__(
        self, module: Any, cls: str, outs: list[Node], members: set[int], seq: int
    ) -> None:
        self.module = module  # None once the module is gone
        self.cls = cls
        self.outs = outs
        self.members = members  # ids of Nodes and leaf Tensors
        self.seq = seq
        self.parent: int | None = None
        self.hidden = False
        self.label = ""
        self.last = 0  # topological position of its last operation
        self.sig: Any = None


class _Builder:
    def __init__(
        self,
        roots: list[Tensor],
        show_values: bool,
        show_grads: bool,
        params: Any,
        max_nodes: int | None,
        collapse: bool,
        rankdir: str,
        annotate: Any = None,
        details: bool = True,
        edge_labels: Any = None,
    ) -> None:
        self.roots = roots
        self.notes = _annotator(annotate)
        self.edge_text = _edge_labeller(edge_labels)
        self.edge_memo: dict[tuple[str, int], str | None] = {}
        self.details = details
        self.show_values = show_values
        self.show_grads = show_grads
        self.max_nodes = max_nodes
        self.collapse = collapse
        self.rankdir = rankdir
        self.leaf_names, self.module_names = _names(params)

    # -- the tape
    def walk(self) -> None:
        """Nodes in topological order (inputs first), leaves, constants, consumers."""
        order: list[Node] = []
        seen: set[int] = set()
        for t in self.roots:
            fn = t.grad_fn
            if fn is None or id(fn) in seen:
                continue
            seen.add(id(fn))
            stack: list[tuple[Node, int]] = [(fn, 0)]
            while stack:  # iterative post-order: a graph may be 10**5 nodes deep
                node, i = stack[-1]
                edges_in = node.inputs
                if i < len(edges_in):
                    stack[-1] = (node, i + 1)
                    p = edges_in[i][0]
                    if _is_node(p) and id(p) not in seen:
                        seen.add(id(p))
                        stack.append((p, 0))
                else:
                    stack.pop()
                    order.append(node)
        self.order = order
        self.topo = {id(n): k for k, n in enumerate(order)}
        self.vid: dict[int, str] = {id(n): f"op{k}" for k, n in enumerate(order)}
        self.obj: dict[str, Any] = {f"op{k}": n for k, n in enumerate(order)}
        self.kind: dict[str, str] = {f"op{k}": "op" for k in range(len(order))}
        self.leaves: list[Tensor] = []
        # Incoming edges of each drawn op: (source vertex id, output index of the source).
        self.inputs: dict[str, list[tuple[str, int]]] = {}
        self.const_of: dict[str, str] = {}  # constant vertex -> its consumer op
        self.consumers: dict[str, list[str]] = {}
        nconst = 0

        def leaf_vertex(t: Tensor) -> str:
            v = self.vid.get(id(t))
            if v is None:
                v = f"leaf{len(self.leaves)}"
                self.vid[id(t)] = v
                self.obj[v] = t
                self.kind[v] = "leaf"
                self.leaves.append(t)
            return v

        for node in order:
            me = self.vid[id(node)]
            ins: list[tuple[str, int]] = []
            for i, (p, k) in enumerate(node.inputs):
                if _is_node(p):
                    src = self.vid[id(p)]
                elif isinstance(p, Tensor):
                    src = leaf_vertex(p)
                else:
                    src = f"const{nconst}"
                    nconst += 1
                    self.obj[src] = (node, i)
                    self.kind[src] = "const"
                    self.const_of[src] = me
                ins.append((src, k or 0))
                self.consumers.setdefault(src, []).append(me)
            self.inputs[me] = ins
        for t in self.roots:  # an output that is a leaf itself
            if t.grad_fn is None:
                leaf_vertex(t)
        self.root_vertices = {
            self.vid[id(t.grad_fn if t.grad_fn is not None else t)] for t in self.roots
        }

    def infer(self) -> None:
        """Forward values and shapes of each op's outputs, from what the tape still holds."""
        # (id(node), output index) -> (value or None, shape or None, dtype or None)
        info: dict[tuple[int, int], tuple[Any, Any, Any]] = {}

        def put(node: Node, k: int, value: Any, shape: Any, dtype: Any) -> None:
            old = info.get((id(node), k))
            if old is None or (old[0] is None and value is not None) or (old[1] is None):
                info[(id(node), k)] = (value, shape, dtype)

        for t in self.roots:
            if t.grad_fn is not None:
                put(t.grad_fn, t._idx, t.data, t.data.shape, t.data.dtype)
        for node in self.order:
            ans = node.saved_output
            if ans is not None:
                if isinstance(ans, tuple):
                    for k, a in enumerate(ans):
                        put(node, k, a, np.shape(a), np.asarray(a).dtype)
                else:
                    put(node, 0, ans, np.shape(ans), np.asarray(ans).dtype)
            if node.output_meta is not None:
                for k, m in enumerate(node.output_meta):
                    if isinstance(m, Meta):
                        put(node, k, None, m.shape, m.dtype)
        for node in reversed(self.order):  # consumers before producers
            if node.freed:
                continue
            args = node.saved_inputs
            mine = info.get((id(node), 0))
            for i, (p, k) in enumerate(node.inputs):
                if not _is_node(p) or i >= len(args):
                    continue
                a = args[i]
                if isinstance(a, Meta):
                    put(p, k, None, a.shape, a.dtype)
                elif a is None:
                    # An input the rule does not read and shaped like the output (elementwise).
                    if mine is not None and mine[1] is not None:
                        put(p, k, None, mine[1], mine[2])
                elif _is_array(a):
                    arr = np.asarray(a)
                    put(p, k, arr, arr.shape, arr.dtype)
        self.info = info

    # -- module clusters
    def find_clusters(self) -> None:
        # The module calls come from the log that observes every Module call's scope.
        from .nn.module import MODULE_LOG

        calls: dict[int, tuple[Any, list[Node]]] = {}  # id(entry) -> (entry, output nodes)
        for node in self.order:
            for entry in MODULE_LOG.calls(node):
                got = calls.get(id(entry))
                if got is None:
                    calls[id(entry)] = (entry, [node])
                else:
                    got[1].append(node)
        clusters: list[_Cluster] = []
        for seq, (entry, outs) in enumerate(calls.values()):
            mref, ins, cls = entry
            stop = set(ins)
            members: set[int] = set()
            stack: list[Any] = [n for n in outs if id(n) not in stop]
            while stack:
                o = stack.pop()
                if id(o) in members:
                    continue
                members.add(id(o))
                if _is_node(o):
                    for p, _ in o.inputs:
                        if p is not None and id(p) not in stop:
                            stack.append(p)
            if members:
                clusters.append(_Cluster(mref(), cls.__name__, outs, members, seq))
        # Smallest first; for equal sets the inner call was recorded first.
        clusters.sort(key=lambda c: (len(c.members), c.seq))
        self.clusters = clusters
        self.in_clusters: dict[str, list[int]] = {}
        for ci, c in enumerate(clusters):
            c.last = max((self.topo[m] for m in c.members if m in self.topo), default=0)
            for m in c.members:
                v = self.vid.get(m)
                if v is not None:
                    self.in_clusters.setdefault(v, []).append(ci)
        for ci, c in enumerate(clusters):
            out = next(o for o in c.outs if id(o) in c.members)
            chain = self.in_clusters[self.vid[id(out)]]
            later = [j for j in chain if j > ci]
            c.parent = later[0] if later else None
            name = self.module_names.get(id(c.module)) if c.module is not None else None
            c.label = f"{name}: {c.cls}" if name else c.cls

    def home(self, v: str) -> int | None:
        """The smallest visible cluster holding vertex ``v`` (None: the top level)."""
        if self.kind[v] == "const":
            v = self.const_of[v]
        for ci in self.in_clusters.get(v, ()):
            if not self.clusters[ci].hidden:
                return ci
        return None

    # -- collapsing
    def signature(self, item: tuple[str, Any]) -> Any:
        kind, x = item
        if kind == "cluster":
            c = self.clusters[x]
            if c.sig is None:
                ops = sorted(self.topo[m] for m in c.members if m in self.topo)
                idx = sorted(self.leaf_index[m] for m in c.members if m in self.leaf_index)
                c.sig = (
                    "cluster",
                    c.cls,
                    tuple(self.order[k].name for k in ops),
                    tuple(tuple(self.leaves[k].shape) for k in idx),
                )
            return c.sig
        if kind == "more":
            return ("more", x)
        node = self.obj[x]
        consts = sum(1 for s, _ in self.inputs[x] if self.kind[s] == "const")
        leaves = tuple(
            tuple(self.obj[s].shape) for s, _ in self.inputs[x] if self.kind[s] == "leaf"
        )
        return ("op", node.name, consts, leaves)

    def items_of(self, scope: int | None) -> list[tuple[str, Any]]:
        """The module calls and operations directly inside ``scope``, in execution order."""
        items: list[tuple[int, tuple[str, Any]]] = []
        for ci in self.sub.get(scope, ()):
            if not self.clusters[ci].hidden:
                items.append((self.clusters[ci].last, ("cluster", ci)))
        for k, v in self.direct.get(scope, ()):
            if self.rep[v] == v:
                items.append((k, ("op", v)))
        for v, (where, pos) in self.placeholders.items():
            if where == scope:
                items.append((pos, ("more", v)))
        items.sort(key=lambda t: t[0])
        return [it for _, it in items]

    def unit_vertices(self, unit: list[tuple[str, Any]]) -> list[str]:
        out: list[str] = []
        for kind, x in unit:
            if kind == "cluster":
                for m in self.clusters[x].members:
                    v = self.vid[m]
                    if self.kind[v] == "op":
                        out.append(v)
            elif kind == "op":
                out.append(x)
            else:
                out.extend(v for v, r in self.rep.items() if r == x and self.kind[v] == "op")
        return out

    def unit_name(self, unit: list[tuple[str, Any]]) -> str:
        names = []
        for kind, x in unit:
            if kind == "cluster":
                names.append(self.clusters[x].cls)
            elif kind == "op":
                names.append(self.obj[x].name)
            else:
                names.append("group")
        return names[0] if len(names) == 1 else "+".join(names) + " blocks"

    def collapse_scope(self, scope: int | None, need_cluster: bool) -> None:
        items = self.items_of(scope)
        sigs = [self.signature(it) for it in items]
        i, n = 0, len(items)
        while i < n:
            best_p, best_r = 0, 1
            for p in range(1, min(MAX_PERIOD, (n - i) // MIN_REPEATS) + 1):
                if need_cluster and not any(it[0] == "cluster" for it in items[i : i + p]):
                    continue
                r = 1
                while sigs[i + r * p : i + (r + 1) * p] == sigs[i : i + p]:
                    r += 1
                if r >= MIN_REPEATS and r * p > best_r * best_p:
                    best_p, best_r = p, r
            if not best_p:
                i += 1
                continue
            p, r = best_p, best_r
            units = [items[i + u * p : i + (u + 1) * p] for u in range(r)]
            verts = [self.unit_vertices(u) for u in units]
            hide = list(range(1, r))
            if any(v in self.root_vertices for v in verts[-1]):
                hide = hide[:-1]  # keep the unit that makes the output
            if not hide or any(v in self.root_vertices for u in hide for v in verts[u]):
                i += 1
                continue
            pid = f"more{len(self.placeholders)}"
            hidden_ops = [v for u in hide for v in verts[u]]
            for v in hidden_ops:
                self.rep[v] = pid
            for u in hide:
                for kind, x in units[u]:
                    if kind == "cluster":
                        self._hide_cluster(x)
                    elif kind == "more":
                        self.placeholders.pop(x, None)
            self.kind[pid] = "more"
            head = f"\u00d7{len(hide)} more {self.unit_name(units[0])}"
            self.more_label[pid] = (
                (head,)
                if len(hidden_ops) == len(hide)
                else (head, f"({len(hidden_ops)} operations)")
            )
            self.placeholders[pid] = (scope, max(self.topo[id(self.obj[v])] for v in hidden_ops))
            i += r * p

    def _hide_cluster(self, ci: int) -> None:
        stack = [ci]
        while stack:
            c = stack.pop()
            self.clusters[c].hidden = True
            stack.extend(self.sub.get(c, ()))

    def collapse_tree(self, need_cluster: bool) -> None:
        # What each scope directly holds; collapsing a scope only hides things inside it.
        self.sub: dict[int | None, list[int]] = {}
        for ci, c in enumerate(self.clusters):
            if not c.hidden:
                self.sub.setdefault(c.parent, []).append(ci)
        self.direct: dict[int | None, list[tuple[int, str]]] = {}
        for k, node in enumerate(self.order):
            v = self.vid[id(node)]
            if self.rep[v] == v:
                self.direct.setdefault(self.home(v), []).append((k, v))
        scopes: list[int | None] = [None]
        while scopes:
            scope = scopes.pop(0)
            self.collapse_scope(scope, need_cluster)
            scopes.extend(ci for ci in self.sub.get(scope, ()) if not self.clusters[ci].hidden)

    def settle_leaves(self) -> None:
        """A leaf or constant goes with its consumers when they all went into one box."""
        for v, kind in self.kind.items():
            if kind == "const":
                c = self.const_of[v]
                if self.rep[c] != c:
                    self.rep[v] = self.rep[c]
            elif kind == "leaf" and v not in self.root_vertices:
                reps = {self.rep[c] for c in self.consumers.get(v, ())}
                if len(reps) == 1:
                    r = reps.pop()
                    if self.kind.get(r) == "more":
                        self.rep[v] = r

    def drawn(self) -> list[str]:
        seen: dict[str, None] = {}
        for v in self.rep.values():
            seen.setdefault(v, None)
        return list(seen)

    def edges(self) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        dedupe: set[tuple[str, str]] = set()
        for head, ins in self.inputs.items():
            h = self.rep[head]
            for pos, (src, k) in enumerate(ins):
                t = self.rep[src]
                if t == h:
                    continue
                boxed = self.kind.get(t) in ("more", "rest") or self.kind.get(h) in ("more", "rest")
                if boxed:
                    if (t, h) in dedupe:
                        continue
                    dedupe.add((t, h))
                node = self.obj.get(src)
                multi = (
                    _is_node(node) and getattr(node, "output_meta", None) is not None and not boxed
                )
                text = f"[{k}]" if multi else ""
                if self.edge_text is not None and not boxed and self.kind.get(src) != "const":
                    if (head, pos) not in self.edge_memo:  # edges() runs again after truncate()
                        self.edge_memo[(head, pos)] = self.edge_text(node, self.obj[head], pos)
                    mine = self.edge_memo[(head, pos)]
                    if mine:
                        text = f"{text} {mine}" if text else mine
                out.append((t, h, text))
        return out

    def truncate(self) -> None:
        """Keep the ``max_nodes - 1`` vertices nearest the outputs; one box for the rest."""
        assert self.max_nodes is not None
        preds: dict[str, list[str]] = {}
        for t, h, _ in self.edges():
            preds.setdefault(h, []).append(t)
        keep: dict[str, None] = {}
        queue = [self.rep[v] for v in sorted(self.root_vertices)]
        budget = max(self.max_nodes - 1, 1)
        while queue and len(keep) < budget:
            v = queue.pop(0)
            if v in keep:
                continue
            keep[v] = None
            queue.extend(preds.get(v, ()))
        rest = [v for v in self.drawn() if v not in keep]
        if not rest:
            return
        hidden = sum(1 for r in self.rep.values() if r in set(rest))
        for v, r in self.rep.items():
            if r not in keep:
                self.rep[v] = "rest"
        self.kind["rest"] = "rest"
        self.more_label["rest"] = (
            f"... {hidden} more nodes",
            f"(graph(..., max_nodes={self.max_nodes}) draws at most {self.max_nodes}; raise it)",
        )

    # -- labels
    def label(self, v: str) -> list[str]:
        """The vertex's lines: tapegrad's own, then the annotation (or the annotation alone
        when ``details`` is False)."""
        extra: list[str] = []
        if self.notes is not None and self.kind[v] in ("leaf", "op"):
            extra = self.notes(self.obj[v])
        if extra and not self.details:
            return extra
        return self.own_label(v) + extra

    def own_label(self, v: str) -> list[str]:
        kind = self.kind[v]
        sv = self.show_values
        if kind in ("more", "rest"):
            return list(self.more_label[v])
        if kind == "leaf":
            t = self.obj[v]
            lines = [self.leaf_label[v]]
            d = _describe(t.data, None, None, sv)
            if d is not None:
                lines.append(d)
            if self.show_grads and t.grad is not None:
                g = t.grad.data if isinstance(t.grad, Tensor) else t.grad
                lines.append("grad " + str(_describe(g, None, None, True)))
            return lines
        if kind == "const":
            node, i = self.obj[v]
            args = node.saved_inputs
            a = args[i] if i < len(args) else None
            if isinstance(a, Meta):
                return ["const", _shape_text(a.shape, a.dtype)]
            if a is not None and _is_array(a):
                return ["const", str(_describe(a, None, None, sv))]
            return ["const"]
        node = self.obj[v]
        nout = getattr(node.prim, "nout", 1) or 1
        if node.output_meta is not None:
            nout = len(node.output_meta)
        lines = [node.name if nout == 1 else f"{node.name} ({nout} outputs)"]
        if nout == 1:
            got = self.info.get((id(node), 0))
            d = _describe(got[0], got[1], got[2], sv) if got is not None else None
            if d is not None:
                lines.append(d)
            elif node.freed:
                lines.append("(freed)")
        else:
            outs = []
            for k in range(nout):
                got = self.info.get((id(node), k))
                outs.append(_describe(None, got[1], None, False) if got and got[1] else "?")
            lines.append(" ".join(str(o) for o in outs))
        if node.freed:
            lines.append("saved: freed")
        else:
            saved = []
            for a in node.saved_inputs:
                if isinstance(a, (np.ndarray, np.generic)):
                    saved.append(_shape_text(a.shape, None) if a.ndim else "scalar")
            if node.saved_output is not None:
                saved.append("out")
            if saved:
                lines.append("saved: " + ", ".join(saved))
        return lines

    def name_leaves(self) -> None:
        self.leaf_index = {id(t): k for k, t in enumerate(self.leaves)}
        self.leaf_label: dict[str, str] = {}
        k = 0
        for t in self.leaves:
            v = self.vid[id(t)]
            name = self.leaf_names.get(id(t))
            if name is None:
                for ci in self.in_clusters.get(v, ()):
                    mod = self.clusters[ci].module
                    if mod is None:
                        continue
                    for pname, p in getattr(mod, "_parameters", {}).items():
                        if p is t:
                            name = pname
                            break
                    if name is not None:
                        break
            if name is None:
                name = f"x{k}"
                k += 1
            self.leaf_label[v] = name

    # -- output
    def build(self) -> Graph:
        self.walk()
        self.infer()
        self.find_clusters()
        self.name_leaves()
        self.rep: dict[str, str] = {v: v for v in self.kind}
        self.placeholders: dict[str, tuple[int | None, int]] = {}
        self.more_label: dict[str, tuple[str, ...]] = {}
        if self.collapse:
            self.collapse_tree(need_cluster=True)
            self.settle_leaves()
        if self.max_nodes is not None and len(self.drawn()) > self.max_nodes:
            self.collapse_tree(need_cluster=False)
            self.settle_leaves()
            if len(self.drawn()) > self.max_nodes:
                self.truncate()
        return self.emit()

    def emit(self) -> Graph:
        drawn = self.drawn()
        edges = self.edges()
        where: dict[str, int | None] = {}
        for v in drawn:
            if self.kind[v] == "rest":
                where[v] = None
            elif self.kind[v] == "more":
                where[v] = self.placeholders[v][0]
            else:
                where[v] = self.home(v)
        children: dict[int | None, list[int]] = {}
        members: dict[int | None, list[str]] = {}
        for v in drawn:
            members.setdefault(where[v], []).append(v)
        used: set[int] = set()
        for ci in {w for w in where.values() if w is not None}:
            c: int | None = ci
            while c is not None and c not in used:
                used.add(c)
                c = self.clusters[c].parent
        for ci in sorted(used):
            children.setdefault(self.clusters[ci].parent, []).append(ci)
        lines = [
            "digraph tapegrad {",
            f'  graph [rankdir={self.rankdir}, fontname="Helvetica", fontsize=10, '
            "nodesep=0.25, ranksep=0.35];",
            '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", '
            'fillcolor="#e8eef7", color="#4a5a70", margin="0.08,0.04", height=0.3];',
            '  edge [color="#4a5a70", arrowsize=0.6, fontname="Helvetica", fontsize=8];',
        ]

        def emit_scope(scope: int | None, indent: str) -> None:
            for ci in sorted(children.get(scope, []), key=lambda j: self.clusters[j].seq):
                c = self.clusters[ci]
                lines.append(f"{indent}subgraph cluster_{ci} {{")
                lines.append(
                    f'{indent}  graph [label={_quote(c.label)}, style="rounded,dashed", '
                    'color="#8a96a8", fontcolor="#4a5a70", labeljust=l];'
                )
                emit_scope(ci, indent + "  ")
                lines.append(f"{indent}}}")
            for v in members.get(scope, []):
                lines.append(f"{indent}{v} [{_attrs(self.style(v))}];")

        emit_scope(None, "  ")
        for t, h, lab in edges:
            lines.append(f"  {t} -> {h}" + (f" [label={_quote(lab)}]" if lab else "") + ";")
        lines.append("}")
        return Graph("\n".join(lines) + "\n", drawn, [(t, h) for t, h, _ in edges])

    def style(self, v: str) -> dict[str, str]:
        kind = self.kind[v]
        a = {"label": "\n".join(self.label(v))}
        if kind == "leaf":
            param = type(self.obj[v]).__name__ == "Parameter"
            a.update(shape="ellipse", style="filled", fillcolor="#fff2c2" if param else "#d8f0d8")
        elif kind == "const":
            a.update(
                style="dashed", fontsize="8", color="#9aa3ad", fontcolor="#6b7480", height="0.2"
            )
        elif kind in ("more", "rest"):
            a.update(shape="box3d" if kind == "more" else "note", style="filled")
            a.update(fillcolor="#eeeeee")
        if v in self.root_vertices:
            a.update(fillcolor="#ffd8a8", penwidth="2", tooltip="output")
        return a


def _names(params: Any) -> tuple[dict[int, str], dict[int, str]]:
    """Leaf names and module names by id, from a dict of tensors or a Module."""
    if params is None:
        return {}, {}
    if hasattr(params, "named_parameters") and hasattr(params, "named_modules"):
        leaves = {id(p): n for n, p in params.named_parameters()}
        mods = {id(m): n for n, m in params.named_modules()}
        return leaves, mods
    if isinstance(params, Mapping):
        leaves = {}
        for n, t in params.items():
            if not isinstance(t, Tensor):
                raise InvalidTypeError(
                    f"graph: params[{n!r}] is a {type(t).__name__}, not a Tensor: pass a dict of "
                    "the leaf tensors by name, or a tg.nn.Module"
                )
            leaves[id(t)] = str(n)
        return leaves, {}
    raise InvalidTypeError(
        "graph: params must be a dict of name -> Tensor or a tg.nn.Module, got "
        f"{type(params).__name__}"
    )


def graph(
    output: Tensor | Iterable[Tensor],
    show_values: bool = True,
    show_grads: bool = True,
    *,
    params: Mapping[str, Tensor] | Any | None = None,
    annotate: Annotations | None = None,
    details: bool = True,
    edge_labels: EdgeLabels | None = None,
    max_nodes: int | None = 200,
    collapse: bool = True,
    rankdir: str = "TB",
) -> Graph:
    """Draw the graph recorded for ``output``: leaves, operations, saved values, gradients.

    The walk starts at ``output.grad_fn`` and follows each operation's inputs back to the
    leaves.  It only reads the tape, so it works at any time: before ``backward()``, after it
    (leaves then show their ``.grad``), and after the graph was freed (the structure is still
    there; values that were freed show as shapes where the tape kept them, else ``(freed)``).

    What is drawn, with arrows from inputs to outputs:

    - a leaf (a tensor created with ``requires_grad=True``) as an ellipse (yellow for a
      ``Parameter``): its name, its value when it has at most 6 elements (else shape and
      dtype), and ``grad ...`` once ``.grad`` is set;
    - an operation as a box: the primitive's name, its forward value when small (else the shape
      and dtype, when the tape still knows them), and ``saved ...``: the shapes of the arrays it
      keeps for the backward pass (``out`` for its own output, ``freed`` once backward dropped
      them).  An operation with several outputs is one box (``split (3 outputs)``); the edges
      leaving it say which output they carry (``[1]``);
    - a constant input (a plain number or a tensor that needs no gradient) as a small dashed
      box ``const``, with its value or shape when the operation saved it;
    - the output(s) filled orange;
    - module calls of ``tg.nn`` models as nested dashed frames, labelled with the module's class
      (and its name in the model when ``params`` is the model).

    Parameters
    ----------
    output : Tensor or iterable of Tensor
        The result(s) to draw the history of.  Each must have been recorded (require grad).
    show_values : bool
        Print values with at most 6 elements in the labels (default True); False prints shapes.
    show_grads : bool
        Print each leaf's ``.grad`` when it is set (default True).
    params : dict of str to Tensor, or Module, optional
        Names for the leaves: a dict ``{name: tensor}``, or a model, whose
        ``named_parameters()`` name the leaves and ``named_modules()`` the module frames.
        Unnamed leaves are called by their parameter name inside their module (``weight``)
        or ``x0``, ``x1``, ... in the order the computation first used them.
    annotate : dict or callable, optional
        Extra lines for the labels, drawn in the vertex below tapegrad's own.  A dict maps a
        vertex to a string (newlines split it) or a list of strings; its keys are operations
        (a :class:`~tapegrad.autograd.node.Node`, e.g. ``t.grad_fn``), leaf tensors, or
        recorded tensors, which stand for the operation that made them.  A function is called
        with each operation (Node) and leaf (Tensor) and returns the lines, or None.  Keys
        that are not in the graph are ignored; constants and collapsed boxes are not
        annotated.
    details : bool
        Draw tapegrad's own lines (name, value, saved arrays, gradient) in annotated vertices
        (default True).  False: an annotated vertex shows its annotation alone, which then
        says everything about it; vertices without an annotation keep their usual label.
    edge_labels : dict or callable, optional
        Labels for the arrows, e.g. the local partial derivative each arrow carries.  A dict
        maps ``(producer, consumer)`` to a string, where the producer is an operation (a
        :class:`~tapegrad.autograd.node.Node`) or a leaf tensor and the consumer an operation
        (recorded tensors stand for the operations that made them); a key
        ``(producer, consumer, position)`` labels only the arrow into the consumer's input
        ``position`` and wins over the pair, which tells apart the two arrows of ``x * x``.
        A function is called as ``edge_labels(producer, consumer, position)`` for each arrow
        from an operation or leaf and returns the label or None.  Arrows from constants and
        into or out of collapsed boxes are not labelled; an arrow that says which output of
        a multi-output operation it carries keeps that (``[1] label``).
    max_nodes : int or None
        The most vertices to draw (default 200; None: no limit).  Past it, repeated runs of
        operations are collapsed as repeated module calls are, and if that is not enough only
        the ``max_nodes - 1`` vertices nearest the output are drawn, with one box for the rest.
    collapse : bool
        Collapse repeated module calls (default True): when a module call of the same class
        and the same operations (a unit of up to 16 consecutive calls, e.g. ``Linear`` then
        ``Tanh``) repeats at least 3 times in a row, the first is drawn and one box
        ``×49 more Linear+Tanh blocks`` stands for the others, with every edge into or out of
        them redrawn to it.  A repeat that makes the output itself stays drawn.
    rankdir : {"TB", "BT", "LR", "RL"}
        The direction of the arrows (Graphviz's ``rankdir``; top to bottom by default).

    Returns
    -------
    Graph
        Always a :class:`Graph`, whether or not Graphviz is installed: ``str(g)`` is the DOT
        text; ``g.render("g.svg")``, ``g.pipe("png")`` and Jupyter's inline SVG need the
        ``dot`` program (Debian package ``graphviz``).

    Raises
    ------
    TypeError
        When ``output`` is not a Tensor (or tensors), ``params`` is not a dict or a Module, or
        ``annotate`` is not a dict or a function of vertices giving strings, or
        ``edge_labels`` is not a dict of edges or a function of them giving strings.
    ValueError
        When an output was not recorded (``requires_grad`` is False): there is nothing to draw.

    Examples
    --------
    >>> import tapegrad as tg
    >>> from tapegrad import viz
    >>> x = tg.tensor(1.0, requires_grad=True)
    >>> y = tg.tensor(2.0, requires_grad=True)
    >>> L = tg.sin(x) + x * y
    >>> g = viz.graph(L, params={"x": x, "y": y})
    >>> g
    <tapegrad.viz.Graph: 5 nodes, 5 edges>
    >>> print("\\n".join(ln for ln in g.source.splitlines() if "->" in ln))
      leaf0 -> op0;
      leaf0 -> op1;
      leaf1 -> op1;
      op0 -> op2;
      op1 -> op2;
    >>> L.backward()
    >>> 'grad 2.5403' in str(viz.graph(L, params={"x": x, "y": y}))
    True

    Extra lines, here the local derivative of ``sin``, below tapegrad's own; with
    ``details=False`` an annotated vertex shows its annotation alone:

    >>> sin_node = L.grad_fn.inputs[0][0]
    >>> g = viz.graph(L, params={"x": x, "y": y}, annotate={sin_node: "d/dx = cos(x)"})
    >>> print(next(ln for ln in g.source.splitlines() if "cos" in ln).strip())
    op0 [label="sin\\n(freed)\\nsaved: freed\\nd/dx = cos(x)"];
    >>> g = viz.graph(L, annotate={L: ["L", "the loss"]}, details=False)
    >>> print(next(ln for ln in g.source.splitlines() if "loss" in ln).strip())
    op2 [label="L\\nthe loss", fillcolor="#ffd8a8", penwidth="2", tooltip="output"];

    Labels on the arrows, by (producer, consumer) or, for ``x * y`` read at two positions,
    by (producer, consumer, position):

    >>> mul_node = L.grad_fn.inputs[1][0]
    >>> g = viz.graph(
    ...     L,
    ...     params={"x": x, "y": y},
    ...     edge_labels={(x, sin_node): "cos(x)", (x, mul_node, 0): "y", (y, mul_node, 1): "x"},
    ... )
    >>> print("\\n".join(ln for ln in g.source.splitlines() if "->" in ln))
      leaf0 -> op0 [label="cos(x)"];
      leaf0 -> op1 [label="y"];
      leaf1 -> op1 [label="x"];
      op0 -> op2;
      op1 -> op2;
    """
    roots = _roots(output)
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise InvalidArgumentError(
            f"graph: max_nodes must be a positive int or None, got {max_nodes!r}"
        )
    if rankdir not in ("TB", "BT", "LR", "RL"):
        raise InvalidArgumentError(
            f"graph: rankdir must be one of 'TB', 'BT', 'LR', 'RL', got {rankdir!r}"
        )
    return _Builder(
        roots,
        bool(show_values),
        bool(show_grads),
        params,
        max_nodes,
        bool(collapse),
        rankdir,
        annotate=annotate,
        details=bool(details),
        edge_labels=edge_labels,
    ).build()


def _roots(output: Any) -> list[Tensor]:
    if isinstance(output, Tensor):
        outs = [output]
    elif isinstance(output, Iterable) and not isinstance(output, (str, bytes, np.ndarray)):
        outs = list(output)
        if not outs:
            raise InvalidArgumentError(
                "graph() got an empty list of outputs; pass at least one Tensor"
            )
    else:
        raise InvalidTypeError(
            f"graph() draws the history of a Tensor (or a list of them), got "
            f"{type(output).__name__}"
        )
    for i, t in enumerate(outs):
        if not isinstance(t, Tensor):
            raise InvalidTypeError(f"graph: output {i} is a {type(t).__name__}, not a Tensor")
        if not t.requires_grad:
            raise InvalidArgumentError(
                f"graph: output {i} was not recorded (requires_grad is False), so there is no "
                "graph to draw; create the inputs with requires_grad=True and compute it with "
                "grad mode on"
            )
    return outs
