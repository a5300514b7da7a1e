"""tg.viz: DOT text of the recorded graph, module clusters, collapsing, rendering with Graphviz."""

from __future__ import annotations

import copy
import gc
import importlib.util
import pickle
import re
import shutil
import weakref
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, viz
from tapegrad.autograd.node import Node
from tapegrad.nn import module as module_mod

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(
    not HAVE_DOT, reason="Graphviz's `dot` is not installed (apt-get install graphviz)"
)


@pytest.fixture(autouse=True)
def _layers_take_float64_inputs(float64_layers):
    """The inputs here are float64, and layers take their parameters' dtype only."""


SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]


def seed_graph():
    x = tg.tensor(1.0, requires_grad=True)
    y = tg.tensor(2.0, requires_grad=True)
    return x, y, tg.sin(x) + x * y


def vertex_lines(source: str) -> dict[str, str]:
    """``{id: attribute text}`` for each vertex statement of the DOT text."""
    found = re.findall(r"^\s*(\w+) \[(.*)\];$", source, re.M)
    return {v: a for v, a in found if v not in ("graph", "node", "edge")}


def edge_lines(source: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*(\w+) -> (\w+)", source, re.M)


def label(source: str, vid: str) -> str:
    attrs = vertex_lines(source)[vid]
    m = re.match(r'label="((?:[^"\\]|\\.)*)"', attrs)
    assert m is not None, attrs
    return m.group(1).replace("\\n", "\n")


def tape_counts(outputs):
    """Ops, leaves, constants and input edges of the tape, counted independently of viz."""
    nodes, leaves, consts, edges = set(), set(), 0, 0
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    while stack:
        n = stack.pop()
        if id(n) in nodes:
            continue
        nodes.add(id(n))
        for p in n.parents:
            edges += 1
            if isinstance(p, Node):
                stack.append(p)
            elif p is None:
                consts += 1
            else:
                leaves.add(id(p))
    return len(nodes), len(leaves), consts, edges


def mlp(depth: int, width: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers)


def frame(source: str, name: str) -> str:
    """The DOT text inside the cluster labelled ``name`` (nested clusters included)."""
    lines = source.splitlines()
    start = next(i for i, ln in enumerate(lines) if f'graph [label="{name}"' in ln)
    depth, out = 1, []
    for ln in lines[start + 1 :]:
        depth += ln.strip().startswith("subgraph") - (ln.strip() == "}")
        if depth == 0:
            break
        out.append(ln)
    return "\n".join(out)


def cluster_tree(source: str) -> list[tuple[int, str]]:
    """``(depth, label)`` of each cluster, in order."""
    out, depth = [], 0
    for line in source.splitlines():
        s = line.strip()
        if s.startswith("subgraph cluster_"):
            depth += 1
        elif s.startswith("graph [label=") and depth:
            out.append((depth, re.match(r'graph \[label="([^"]*)"', s).group(1)))
        elif s == "}" and depth:
            depth -= 1
    return out


# ----------------------------------------------------------------------------- DOT text


def test_seed_graph_has_one_vertex_per_op_and_leaf_and_one_edge_per_input():
    x, y, L = seed_graph()
    g = viz.graph(L, params={"x": x, "y": y})
    verts = vertex_lines(g.source)
    assert sorted(verts) == ["leaf0", "leaf1", "op0", "op1", "op2"]
    assert sorted(g.node_ids) == sorted(verts)
    assert sorted(edge_lines(g.source)) == sorted(
        [("leaf0", "op0"), ("leaf0", "op1"), ("leaf1", "op1"), ("op0", "op2"), ("op1", "op2")]
    )
    assert list(g.edges) == edge_lines(g.source)
    assert [label(g.source, v).split("\n")[0] for v in ("op0", "op1", "op2")] == [
        "sin",
        "multiply",
        "add",
    ]
    assert label(g.source, "leaf0").startswith("x\n") and label(g.source, "leaf1").startswith("y\n")
    assert str(g) == g.source and g.source.startswith("digraph tapegrad {")
    assert g.source.rstrip().endswith("}")
    assert repr(g) == "<tapegrad.viz.Graph: 5 nodes, 5 edges>"


@pytest.mark.parametrize(
    "f",
    [
        lambda a, b: tg.sum(tg.exp(a) * b + a / 3.0),
        lambda a, b: tg.mean((a @ tg.ones((3, 2))) ** 2) - tg.sum(b * b * b),
        lambda a, b: tg.tanh(a + b) * 2.0 + tg.maximum(a, b),
    ],
)
def test_vertex_and_edge_counts_match_the_tape(f):
    rng = np.random.default_rng(0)
    a = tg.tensor(rng.normal(size=3), requires_grad=True)
    b = tg.tensor(rng.normal(size=3), requires_grad=True)
    out = f(a, b)
    ops, leaves, consts, edges = tape_counts([out])
    g = viz.graph(out)
    kinds = [re.match(r"[a-z]+", v).group(0) for v in vertex_lines(g.source)]
    assert (kinds.count("op"), kinds.count("leaf"), kinds.count("const")) == (ops, leaves, consts)
    assert len(edge_lines(g.source)) == edges


def test_labels_are_escaped_for_dot():
    x, y, L = seed_graph()
    name = 'we"ird\\name'
    g = viz.graph(L, params={name: x, "y": y})
    assert r'label="we\"ird\\name' in g.source
    # Every double-quoted string in the text is closed: no stray quote ends one early.
    for line in g.source.splitlines():
        assert len(re.findall(r'(?<!\\)"', line.replace("\\\\", ""))) % 2 == 0, line


def test_values_and_gradients_are_shown():
    x, y, L = seed_graph()
    g = viz.graph(L, params={"x": x, "y": y})
    assert label(g.source, "leaf0") == "x\n1"
    assert label(g.source, "op2").split("\n")[1] == "2.8415"  # sin(1) + 2
    assert "\\ngrad " not in g.source
    L.backward()
    g = viz.graph(L, params={"x": x, "y": y})
    assert label(g.source, "leaf0") == "x\n1\ngrad 2.5403"  # cos(1) + y
    assert label(g.source, "leaf1") == "y\n2\ngrad 1"  # x
    assert "\\ngrad " not in viz.graph(L, show_grads=False).source


def test_large_values_show_shape_and_dtype_and_show_values_false_hides_small_ones():
    x = tg.tensor(np.arange(10.0), requires_grad=True)
    s = tg.sum(tg.sin(x))
    g = viz.graph(s)
    assert "(10,) float64" in label(g.source, "leaf0")
    assert label(g.source, "op0") == "sin\n(10,) float64\nsaved: (10,)"
    g = viz.graph(s, show_values=False)
    assert label(g.source, "op1").split("\n")[1] == "() float64"


def test_output_is_highlighted_and_several_outputs_can_be_drawn():
    x, y, L = seed_graph()
    g = viz.graph(L)
    verts = vertex_lines(g.source)
    assert [v for v, a in verts.items() if 'tooltip="output"' in a] == ["op2"]
    a = tg.sin(x)
    b = tg.cos(x) * y
    g = viz.graph([a, b])
    verts = vertex_lines(g.source)
    assert sum('tooltip="output"' in a for a in verts.values()) == 2
    assert sorted(verts) == ["leaf0", "leaf1", "op0", "op1", "op2"]
    g = viz.graph(x)  # a leaf is its own graph
    assert list(vertex_lines(g.source)) == ["leaf0"] and 'tooltip="output"' in g.source


def test_constants_are_small_dashed_boxes_with_their_value():
    x = tg.tensor(1.5, requires_grad=True)
    out = x * 2.0 + 3.0
    g = viz.graph(out)
    consts = {v: label(g.source, v) for v in vertex_lines(g.source) if v.startswith("const")}
    assert sorted(consts.values()) == ["const", "const\n2"]  # add does not keep its 3.0
    for v in consts:
        assert 'style="dashed"' in vertex_lines(g.source)[v]


def test_multi_output_op_is_one_box_and_edges_name_the_output():
    x = tg.tensor(np.arange(6.0), requires_grad=True)
    p = tg.split(x, 3)
    out = p[0] * p[2] + tg.sin(p[1])
    g = viz.graph(out)
    assert label(g.source, "op0") == "split (3 outputs)\n(2,) (2,) (2,)"
    labelled = re.findall(r"op0 -> (\w+) \[label=\"\[(\d)\]\"\]", g.source)
    assert sorted(k for _, k in labelled) == ["0", "1", "2"]


def test_freed_graph_still_draws_its_structure():
    x, y, L = seed_graph()
    before = viz.graph(L)
    L.backward()
    after = viz.graph(L)
    assert sorted(vertex_lines(after.source)) == sorted(vertex_lines(before.source))
    assert after.edges == before.edges
    assert label(after.source, "op0") == "sin\n(freed)\nsaved: freed"
    assert label(after.source, "op2").split("\n")[:2] == ["add", "2.8415"]  # the output's value


def test_retained_graph_keeps_saved_shapes():
    x = tg.tensor(np.ones(3), requires_grad=True)
    s = tg.sum(tg.exp(x))
    s.backward(retain_graph=True)
    g = viz.graph(s)
    assert label(g.source, "op0") == "exp\n[2.7183, 2.7183, 2.7183]\nsaved: out"
    assert label(g.source, "leaf0") == "x0\n[1., 1., 1.]\ngrad [2.7183, 2.7183, 2.7183]"


def test_rankdir_and_argument_errors():
    x, y, L = seed_graph()
    assert "rankdir=LR" in viz.graph(L, rankdir="LR").source
    with pytest.raises(ValueError, match="rankdir"):
        viz.graph(L, rankdir="up")
    with pytest.raises(ValueError, match="max_nodes"):
        viz.graph(L, max_nodes=0)
    with pytest.raises(TypeError, match="Tensor"):
        viz.graph(np.ones(3))
    with pytest.raises(TypeError, match="params"):
        viz.graph(L, params=[x, y])
    with pytest.raises(TypeError, match="params"):
        viz.graph(L, params={"x": 1.0})
    with pytest.raises(ValueError, match="requires_grad=True"):
        viz.graph(tg.tensor(1.0) * 2)
    with pytest.raises(ValueError, match="empty"):
        viz.graph([])


# ----------------------------------------------------------------------------- clusters


def test_sequential_draws_nested_module_clusters_named_from_the_model():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    out = model(tg.tensor(np.ones((1, 2))))
    g = viz.graph(out, params=model)
    assert cluster_tree(g.source) == [
        (1, "Sequential"),
        (2, "0: Linear"),
        (2, "1: Tanh"),
        (2, "2: Linear"),
    ]
    names = {label(g.source, v).split("\n")[0] for v in vertex_lines(g.source) if "leaf" in v}
    assert names == {"0.weight", "0.bias", "2.weight", "2.bias"}
    # Each op sits in its own layer's frame.
    tanh_frame = frame(g.source, "1: Tanh")
    assert "tanh" in tanh_frame and "matmul" not in tanh_frame
    assert "matmul" in frame(g.source, "Sequential")


def test_clusters_without_params_use_class_names_and_local_parameter_names():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.scale = nn.Parameter(tg.ones(3))

        def forward(self, x):
            return tg.tanh(self.lin(x)) * self.scale

    block = Block()
    out = tg.sum(block(tg.tensor(np.ones((2, 3)))))
    g = viz.graph(out)
    assert cluster_tree(g.source) == [(1, "Block"), (2, "Linear")]
    names = {label(g.source, v).split("\n")[0] for v in vertex_lines(g.source) if "leaf" in v}
    assert names == {"weight", "bias", "scale"}
    assert "sum" not in frame(g.source, "Block") and "tanh" in frame(g.source, "Block")
    assert "tanh" not in frame(g.source, "Linear")


def test_module_inputs_stay_outside_its_cluster():
    lin = nn.Linear(3, 3)
    x = tg.tensor(np.ones((1, 3)), requires_grad=True)
    h = tg.exp(x)
    out = lin(h)
    g = viz.graph(out, params={"x": x})
    inside = frame(g.source, "Linear")
    assert "matmul" in inside and "exp" not in inside and '"x\\n' not in inside


def test_collapse_draws_one_of_fifty_identical_layers_and_a_box_for_the_rest():
    model = mlp(50)
    loss = tg.mean(model(tg.tensor(np.ones((2, 4)))) ** 2)
    full = viz.graph(loss, collapse=False, max_nodes=None)
    assert len(full.node_ids) > 300
    g = viz.graph(loss, params=model)
    assert len(g.node_ids) < 30
    more = [v for v in g.node_ids if v.startswith("more")]
    assert len(more) == 1
    assert label(g.source, more[0]) == "\u00d749 more Linear+Tanh blocks\n(196 operations)"
    # The picture stays connected from the input layer to the loss through the box.
    assert any(h == more[0] for _, h in g.edges) and any(t == more[0] for t, _ in g.edges)
    preds: dict[str, set[str]] = {}
    for t, h in g.edges:
        preds.setdefault(h, set()).add(t)
    reach, stack = set(), ["op" + str(max(int(v[2:]) for v in g.node_ids if v.startswith("op")))]
    while stack:
        v = stack.pop()
        if v not in reach:
            reach.add(v)
            stack.extend(preds.get(v, ()))
    assert reach == set(g.node_ids)
    assert [d for d, _ in cluster_tree(g.source)] == [1, 2, 2]  # Sequential, Linear, Tanh


def test_collapse_keeps_the_repeat_that_makes_the_output():
    model = mlp(10)
    out = model(tg.tensor(np.ones((1, 4))))
    g = viz.graph(out)
    more = [v for v in g.node_ids if v.startswith("more")]
    assert [label(g.source, v).split("\n")[0] for v in more] == ["\u00d78 more Linear+Tanh blocks"]
    out_vertex = [v for v, a in vertex_lines(g.source).items() if 'tooltip="output"' in a]
    assert out_vertex and label(g.source, out_vertex[0]).startswith("tanh")


def test_short_repeats_and_collapse_false_are_drawn_in_full():
    model = mlp(2)
    out = tg.sum(model(tg.tensor(np.ones((1, 4)))))
    assert not any(v.startswith("more") for v in viz.graph(out).node_ids)
    model = mlp(6)
    out = tg.sum(model(tg.tensor(np.ones((1, 4)))))
    assert not any(v.startswith("more") for v in viz.graph(out, collapse=False).node_ids)


def test_shared_weights_of_a_repeated_cell_stay_drawn():
    cell = nn.Linear(3, 3)
    h = tg.tensor(np.zeros((1, 3)))
    for _ in range(20):
        h = tg.tanh(cell(h))
    g = viz.graph(h, params={"W": cell.weight, "b": cell.bias})
    more = [v for v in g.node_ids if v.startswith("more")]
    assert len(more) == 1 and len(g.node_ids) < 20
    w = [v for v in g.node_ids if label(g.source, v).startswith("W\n")]
    assert len(w) == 1
    assert (w[0], more[0]) in set(g.edges)  # the weight feeds the collapsed calls


def test_max_nodes_collapses_repeated_operations():
    x = tg.tensor(0.5, requires_grad=True)
    h = x
    for _ in range(1000):
        h = tg.sin(h)
    assert len(viz.graph(h, max_nodes=None).node_ids) == 1001
    g = viz.graph(h)
    assert len(g.node_ids) <= 6
    assert any(label(g.source, v) == "\u00d7997 more sin" for v in g.node_ids)


def test_max_nodes_keeps_the_part_nearest_the_output():
    rng = np.random.default_rng(3)
    fns = [tg.sin, tg.cos, tg.tanh, tg.exp, tg.negative]
    x = tg.tensor(np.ones(2), requires_grad=True)
    h = x
    for k in rng.integers(0, len(fns), size=400):
        h = fns[k](h) * 0.5
    g = viz.graph(h, max_nodes=40)
    assert len(g.node_ids) <= 40
    assert "rest" in g.node_ids
    assert label(g.source, "rest").startswith("... ")
    assert 'tooltip="output"' in g.source


# ----------------------------------------------------------------------------- recording


def test_module_call_records_keep_nothing_alive():
    gc.disable()
    try:
        model = mlp(3)
        out = model(tg.tensor(np.ones((1, 4))))
        node_ref = weakref.ref(out.grad_fn)
        model_ref = weakref.ref(model)
        assert module_mod.MODULE_CALLS[id(out.grad_fn)][0]() is out.grad_fn
        del out
        assert node_ref() is None
        del model
        assert model_ref() is None
    finally:
        gc.enable()


def test_module_that_returns_its_input_draws_no_frame():
    x = tg.tensor(np.ones(3), requires_grad=True)
    h = tg.exp(x)
    assert nn.Identity()(h) is h
    assert cluster_tree(viz.graph(h).source) == []


def test_modules_still_pickle_and_copy_after_a_recorded_call():
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    model(tg.tensor(np.ones((1, 2))))
    clone = pickle.loads(pickle.dumps(model))
    twin = copy.deepcopy(model)
    for m in (clone, twin):
        out = m(tg.tensor(np.ones((1, 2))))
        assert cluster_tree(viz.graph(out).source)[0] == (1, "Sequential")


def test_module_recording_can_be_switched_off():
    model = mlp(1)
    module_mod.MODULE_CALLS_ENABLED[0] = False
    try:
        out = model(tg.tensor(np.ones((1, 4))))
    finally:
        module_mod.MODULE_CALLS_ENABLED[0] = True
    assert cluster_tree(viz.graph(out).source) == []


# ----------------------------------------------------------------------------- annotations


def test_no_annotation_leaves_the_picture_as_it_was():
    x, y, L = seed_graph()
    plain = viz.graph(L, params={"x": x, "y": y}).source
    assert viz.graph(L, params={"x": x, "y": y}, annotate=None).source == plain
    assert viz.graph(L, params={"x": x, "y": y}, annotate={}).source == plain
    assert viz.graph(L, params={"x": x, "y": y}, annotate=lambda v: None).source == plain


def test_annotations_by_node_leaf_and_recorded_tensor_go_below_the_label():
    x, y, L = seed_graph()
    sin_node, mul_node = L.grad_fn.parents
    g = viz.graph(
        L,
        params={"x": x, "y": y},
        annotate={sin_node: "w3 = sin(w1)", x: ["w1", "first input"], L: "the loss\nseed 1"},
    )
    assert label(g.source, "op0").split("\n") == [
        "sin",
        "() float64",
        "saved: scalar",
        "w3 = sin(w1)",
    ]
    assert label(g.source, "leaf0").split("\n") == ["x", "1", "w1", "first input"]
    assert label(g.source, "op2").split("\n")[-2:] == ["the loss", "seed 1"]
    assert label(g.source, "op1") == label(viz.graph(L).source, "op1")  # not annotated
    assert label(g.source, "leaf1").startswith("y\n")  # params still name the leaves


def test_annotation_function_is_called_with_each_operation_and_leaf():
    x, y, L = seed_graph()
    seen = []

    def note(v):
        seen.append(v)
        return f"id {len(seen)}" if isinstance(v, Node) else None

    g = viz.graph(L, annotate=note)
    assert sum(isinstance(v, Node) for v in seen) == 3
    assert {id(v) for v in seen if isinstance(v, tg.Tensor)} == {id(x), id(y)}
    assert [label(g.source, f"op{k}").split("\n")[-1] for k in range(3)] == [
        "id 1",
        "id 2",
        "id 3",
    ]


def test_details_false_draws_the_annotation_alone():
    x, y, L = seed_graph()
    L.backward()
    g = viz.graph(L, annotate={L: ["L = w3 + w4", "= 2.8415"], x: "x (w1)"}, details=False)
    assert label(g.source, "op2") == "L = w3 + w4\n= 2.8415"
    assert label(g.source, "leaf0") == "x (w1)"  # no value, no grad
    assert label(g.source, "leaf1") == "x1\n2\ngrad 1"  # not annotated: as usual
    assert 'tooltip="output"' in vertex_lines(g.source)["op2"]  # the style stays


def test_annotations_are_escaped_and_keys_outside_the_graph_are_ignored():
    x, y, L = seed_graph()
    other = tg.tensor(5.0, requires_grad=True)
    g = viz.graph(L, annotate={L: 'say "hi" \\ bye', other: "never drawn"})
    assert 'say \\"hi\\" \\\\ bye' in g.source and "never drawn" not in g.source


@pytest.mark.parametrize(
    "annotate, match",
    [
        ({"x": "a"}, "annotate keys must be vertices"),
        ({0: "a"}, "annotate keys must be vertices"),
        ("lines", "annotate must be a dict"),
        (lambda v: 3, "must be a str or a list of str, got int"),
        (lambda v: ["ok", 2.5], "line 1 .* is a float, not a str"),
    ],
)
def test_annotation_errors_say_what_was_wrong(annotate, match):
    x, y, L = seed_graph()
    with pytest.raises(TypeError, match=match):
        viz.graph(L, annotate=annotate)


def test_annotations_survive_collapsing():
    tg.random.seed(0)
    layers = []
    for _ in range(10):
        layers += [nn.Linear(3, 3), nn.Tanh()]
    model = nn.Sequential(*layers)
    out = tg.sum(model(tg.ones((2, 3))))
    g = viz.graph(out, params=model, annotate={out: "the output"})
    assert "the output" in g.source and "more" in g.source


# ----------------------------------------------------------------------------- edge labels


def edge_labels_of(source: str) -> list[tuple[str, str, str]]:
    """``(tail, head, label)`` per edge statement, in order ("" when unlabelled)."""
    out = []
    for t, h, lab in re.findall(
        r'^\s*(\w+) -> (\w+)(?: \[label="((?:[^"\\]|\\.)*)"\])?;$', source, re.M
    ):
        out.append((t, h, lab.replace("\\n", "\n")))
    return out


def test_no_edge_labels_leave_the_picture_as_it_was():
    x, y, L = seed_graph()
    plain = viz.graph(L, params={"x": x, "y": y}).source
    for empty in (None, {}, lambda p, c, i: None, lambda p, c, i: ""):
        assert viz.graph(L, params={"x": x, "y": y}, edge_labels=empty).source == plain
    assert all(lab == "" for _, _, lab in edge_labels_of(plain))


def test_edge_labels_by_pair_and_by_position():
    x, y, L = seed_graph()
    sin_node, mul_node = L.grad_fn.parents
    g = viz.graph(
        L,
        edge_labels={
            (x, sin_node): "cos(x)",
            (x, mul_node): "every x arrow",
            (y, mul_node, 1): "x",
            (sin_node, L): "1",  # a recorded tensor stands for its operation
            (mul_node, L.grad_fn, 1): "1 (position 1)",
        },
    )
    assert edge_labels_of(g.source) == [
        ("leaf0", "op0", "cos(x)"),
        ("leaf0", "op1", "every x arrow"),
        ("leaf1", "op1", "x"),
        ("op0", "op2", "1"),
        ("op1", "op2", "1 (position 1)"),
    ]
    assert [(t, h) for t, h, _ in edge_labels_of(g.source)] == list(g.edges)


def test_each_arrow_of_a_multi_edge_gets_its_own_label():
    x = tg.tensor(3.0, requires_grad=True)
    sq = x * x
    g = viz.graph(sq, edge_labels={(x, sq, 0): "left", (x, sq, 1): "right"})
    assert edge_labels_of(g.source) == [("leaf0", "op0", "left"), ("leaf0", "op0", "right")]
    # The pair labels both, a position key wins over it for its own arrow.
    g = viz.graph(sq, edge_labels={(x, sq): "both", (x, sq, 1): "second"})
    assert [lab for _, _, lab in edge_labels_of(g.source)] == ["both", "second"]
    seen = []
    g = viz.graph(sq, edge_labels=lambda p, c, i: seen.append((p, c, i)) or f"pos {i}")
    assert [lab for _, _, lab in edge_labels_of(g.source)] == ["pos 0", "pos 1"]
    assert [(p is x, c is sq.grad_fn, i) for p, c, i in seen] == [(True, True, 0), (True, True, 1)]


def test_edge_label_function_sees_nodes_and_leaves_but_not_constants():
    x = tg.tensor(2.0, requires_grad=True)
    h = tg.exp(x)
    out = 3.0 * h
    seen = []

    def lab(producer, consumer, position):
        seen.append((producer, consumer, position))
        return f"{type(producer).__name__}->{consumer.name}[{position}]"

    g = viz.graph(out, edge_labels=lab)
    assert len(seen) == 2  # the constant 3 feeds its arrow unlabelled
    assert seen[0][0] is x and seen[0][1] is h.grad_fn and seen[0][2] == 0
    assert seen[1][0] is h.grad_fn and seen[1][1] is out.grad_fn and seen[1][2] == 1
    labs = {(t, hd): lb for t, hd, lb in edge_labels_of(g.source)}
    assert labs[("leaf0", "op0")] == "Tensor->exp[0]"
    assert labs[("op0", "op1")] == "Node->multiply[1]"
    assert labs[("const0", "op1")] == ""


def test_edge_labels_keep_the_output_index_of_a_multi_output_op():
    x = tg.tensor(np.arange(4.0), requires_grad=True)
    a, b = tg.split(x, 2)
    out = tg.sum(a * b)
    split = a.grad_fn
    mul = out.grad_fn.parents[0]
    g = viz.graph(out, edge_labels={(split, mul, 0): "b", (split, mul, 1): "a"})
    from_split = [
        lb for t, _, lb in edge_labels_of(g.source) if label(g.source, t).startswith("split")
    ]
    assert from_split == ["[0] b", "[1] a"]


def test_edge_labels_are_escaped_and_keys_outside_the_graph_are_ignored():
    x, y, L = seed_graph()
    other = tg.tensor(5.0, requires_grad=True)
    sin_node = L.grad_fn.parents[0]
    g = viz.graph(
        L, edge_labels={(x, sin_node): 'say "hi" \\ bye\nline 2', (other, sin_node): "never"}
    )
    assert '[label="say \\"hi\\" \\\\ bye\\nline 2"]' in g.source
    assert "never" not in g.source


def test_edge_labels_skip_collapsed_boxes():
    model = mlp(10)
    out = tg.sum(model(tg.tensor(np.ones((1, 4)))))
    g = viz.graph(out, params=model, edge_labels=lambda p, c, i: "d")
    edges = edge_labels_of(g.source)
    more = [v for v in g.node_ids if v.startswith("more")]
    assert more
    for t, h, lab in edges:
        if t in more or h in more:
            assert lab == ""
    assert any(lab == "d" for _, _, lab in edges)


@pytest.mark.parametrize(
    "edge_labels, match",
    [
        ({"x": "a"}, "keys must be .producer, consumer. or"),
        ({(0, 1): "a"}, "the producer must be a Node or a leaf Tensor, got int"),
        ("labels", "edge_labels must be a dict"),
        (lambda p, c, i: 2.5, "must be a str or None, got float"),
    ],
)
def test_edge_label_errors_say_what_was_wrong(edge_labels, match):
    x, y, L = seed_graph()
    with pytest.raises(TypeError, match=match):
        viz.graph(L, edge_labels=edge_labels)


def test_edge_label_keys_are_checked():
    x, y, L = seed_graph()
    sin_node = L.grad_fn.parents[0]
    with pytest.raises(TypeError, match="the consumer must be a Node or a recorded Tensor"):
        viz.graph(L, edge_labels={(x, y): "a"})
    with pytest.raises(TypeError, match="non-negative int, got -1"):
        viz.graph(L, edge_labels={(x, sin_node, -1): "a"})
    with pytest.raises(TypeError, match="must be a str or None, got int"):
        viz.graph(L, edge_labels={(x, sin_node): 3})


@needs_dot
def test_edge_labels_appear_in_the_svg():
    x, y, L = seed_graph()
    sin_node = L.grad_fn.parents[0]
    root = ET.fromstring(viz.graph(L, edge_labels={(x, sin_node): "cos(x) = 0.5403"}).pipe())
    edges = [el for el in root.iter(SVG + "g") if el.get("class") == "edge"]
    texts = {el.find(SVG + "title").text: [t.text for t in el.iter(SVG + "text")] for el in edges}
    assert texts["leaf0->op0"] == ["cos(x) = 0.5403"]
    assert texts["leaf0->op1"] == []


# ----------------------------------------------------------------------------- rendering


def test_render_dot_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    x, y, L = seed_graph()
    g = viz.graph(L)
    path = g.render(tmp_path / "seed.dot")
    assert path == str(tmp_path / "seed.dot")
    assert Path(path).read_text(encoding="utf-8") == g.source
    assert Path(g.render(tmp_path / "seed", format="gv")).read_text(encoding="utf-8") == g.source


def test_missing_dot_gives_an_error_that_says_to_install_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    x, y, L = seed_graph()
    g = viz.graph(L)
    with pytest.raises(viz.GraphvizNotFoundError, match=r"apt-get install graphviz") as err:
        g.render(tmp_path / "seed.svg")
    assert isinstance(err.value, RuntimeError) and isinstance(err.value, tg.TapegradError)
    with pytest.raises(viz.GraphvizNotFoundError, match="dot"):
        g.pipe("png")
    assert g._repr_svg_() is None
    assert g._repr_mimebundle_() == {"text/plain": g.source}
    assert not (tmp_path / "seed.svg").exists()


def test_render_needs_a_format():
    x, y, L = seed_graph()
    with pytest.raises(ValueError, match="suffix"):
        viz.graph(L).render("picture")
    with pytest.raises(ValueError, match="format"):
        viz.graph(L).pipe("svg; rm -rf /")


@needs_dot
def test_svg_parses_and_names_every_vertex_and_edge():
    x, y, L = seed_graph()
    g = viz.graph(L, params={'we"ird\\name <&>': x, "y": y})
    root = ET.fromstring(g.pipe("svg"))
    assert root.tag == SVG + "svg"
    groups = {"node": [], "edge": [], "cluster": []}
    for el in root.iter(SVG + "g"):
        kind = el.get("class")
        if kind in groups:
            groups[kind].append(el.find(SVG + "title").text)
    assert sorted(groups["node"]) == sorted(g.node_ids)
    assert sorted(groups["edge"]) == sorted(f"{t}->{h}" for t, h in g.edges)
    texts = [t.text for t in root.iter(SVG + "text")]
    assert 'we"ird\\name <&>' in texts and "sin" in texts


@needs_dot
def test_svg_of_a_model_has_its_clusters_and_collapsed_box(tmp_path):
    model = mlp(20)
    loss = tg.mean(model(tg.tensor(np.ones((2, 4)))) ** 2)
    g = viz.graph(loss, params=model)
    path = g.render(tmp_path / "mlp.svg")
    root = ET.parse(path).getroot()
    titles = {
        el.find(SVG + "title").text for el in root.iter(SVG + "g") if el.get("class") == "cluster"
    }
    assert len(titles) == 3
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "\u00d719 more Linear+Tanh blocks" in texts


@needs_dot
def test_png_and_pdf_render(tmp_path):
    x, y, L = seed_graph()
    g = viz.graph(L)
    assert g.pipe("png").startswith(b"\x89PNG\r\n\x1a\n")
    assert Path(g.render(tmp_path / "seed.png")).read_bytes().startswith(b"\x89PNG")
    assert Path(g.render(tmp_path / "seed.pdf")).read_bytes().startswith(b"%PDF")


@needs_dot
def test_jupyter_gets_svg_and_dot_errors_are_reported():
    x, y, L = seed_graph()
    g = viz.graph(L)
    svg = g._repr_svg_()
    assert svg is not None and "<svg" in svg
    bundle = g._repr_mimebundle_()
    assert bundle["image/svg+xml"] == svg and bundle["text/plain"] == repr(g)
    assert set(g._repr_mimebundle_(include=["text/plain"])) == {"text/plain"}
    with pytest.raises(viz.GraphvizError, match="failed"):
        g.pipe("nosuchformat")
    with pytest.raises(viz.GraphvizError):
        viz.Graph("digraph { a -> }").pipe()


@needs_dot
def test_documentation_pictures_are_up_to_date(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_pictures", ROOT / "docs" / "scripts" / "make_pictures.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    written = mod.main(["--out", str(tmp_path)])
    names = sorted(p.name for p in written)
    assert names == sorted(
        ["graph_seed.svg", "graph_mlp.svg", "graph_deep.svg"]
        + ["explain_sin.svg", "explain_product.svg"]
    )
    guides = ROOT / "docs" / "guides"
    for p in written:
        committed = ROOT / "docs" / "images" / p.name
        assert committed.is_file(), f"run `python docs/scripts/make_pictures.py` ({p.name})"
        page = guides / ("explain.md" if p.name.startswith("explain_") else "graphs.md")
        assert f"images/{p.name}" in page.read_text(encoding="utf-8"), f"{page.name}: {p.name}"
        fresh = [t.text for t in ET.parse(p).getroot().iter(SVG + "text")]
        old = [t.text for t in ET.parse(committed).getroot().iter(SVG + "text")]
        assert fresh == old, f"docs/images/{p.name} is stale; rerun docs/scripts/make_pictures.py"
