"""tg.explain: the tape as a table (values, local partials, adjoints, tangents) and the
``tapegrad explain`` command with its safe expression parser."""

from __future__ import annotations

import gc
import math
import re
import shutil
import weakref
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main
from tapegrad.explain import (
    EXPRESSION_FUNCTIONS,
    Explanation,
    ExpressionError,
    Step,
    compile_expression,
    explain,
)

BAR = "\u0304"
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(
    not HAVE_DOT, reason="Graphviz's `dot` is not installed (apt-get install graphviz)"
)
SVG = "{http://www.w3.org/2000/svg}"


def sin_xy(x, y):
    return tg.sin(x) + x * y


def f(x, y):  # the seed's f(x, y) = (x + y)(x - y)
    return (x + y) * (x - y)


def _line(text: str, start: str) -> str:
    """The one line of ``text`` that starts with ``start``."""
    found = [ln for ln in text.splitlines() if ln.startswith(start)]
    assert len(found) == 1, (start, text)
    return found[0]


def _cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


# ----------------------------------------------------------------------------- seed 004


@pytest.fixture
def seed004() -> Explanation:
    return explain(lambda x, y: tg.sin(x) + x * y, 1.0, 2.0)


def test_sin_plus_xy_forward_rows_render_exactly(seed004):
    text = seed004.to_text()
    assert _cells(_line(text, "w1 = x")) == ["w1 = x", "1"]
    assert _cells(_line(text, "w2 = y")) == ["w2 = y", "2"]
    assert _cells(_line(text, "w3 = sin(w1)")) == [
        "w3 = sin(w1)",
        "0.841471",
        "∂w3/∂w1 = cos(w1) = 0.540302",
    ]
    assert _cells(_line(text, "w4 = w1 * w2")) == [
        "w4 = w1 * w2",
        "2",
        "∂w4/∂w1 = w2 = 2;",
        "∂w4/∂w2 = w1 = 1",
    ]
    assert _cells(_line(text, "w5 = w3 + w4")) == [
        "w5 = w3 + w4",
        "2.84147",
        "∂w5/∂w3 = 1;",
        "∂w5/∂w4 = 1",
    ]


def test_sin_plus_xy_adjoints_render_in_backward_order(seed004):
    text = seed004.to_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("w" + BAR)]
    assert [_cells(ln) for ln in lines] == [
        ["w̄5 = 1 (seed)", "1"],
        ["w̄4 = w̄5", "1"],
        ["w̄3 = w̄5", "1"],
        ["w̄2 = w̄4·w1", "1"],
        ["w̄1 = w̄3·cos(w1) + w̄4·w2", "2.5403"],
    ]
    assert text.splitlines()[-2:] == ["∂L/∂x = w̄1 = 2.5403", "∂L/∂y = w̄2 = 1"]
    assert text.splitlines()[0] == "L(x, y) at x = 1, y = 2"


def test_sin_plus_xy_numbers_equal_the_engine(seed004):
    gx, gy = tg.grad(sin_xy, argnums=(0, 1))(1.0, 2.0)
    assert seed004.gradient == (pytest.approx(gx, abs=1e-12), pytest.approx(gy, abs=1e-12))
    assert seed004.gradient[0] == pytest.approx(math.cos(1.0) + 2.0, abs=1e-12)
    assert seed004.value == 2.8414709848078967
    rows = {s.name: s for s in seed004.rows}
    assert [s.expr for s in seed004.rows] == ["x", "y", "sin(w1)", "w1 * w2", "w3 + w4"]
    assert float(rows["w3"].value) == math.sin(1.0)
    assert float(rows["w3"].partials[0].value) == pytest.approx(math.cos(1.0), abs=1e-12)
    assert [float(rows[f"w{i}"].adjoint) for i in (5, 4, 3, 2)] == [1.0, 1.0, 1.0, 1.0]
    assert [s.name for s in seed004.backward_order] == ["w5", "w4", "w3", "w2", "w1"]


def test_rows_are_structured_dataclasses(seed004):
    s = seed004["w4"]
    assert isinstance(s, Step)
    assert (s.kind, s.op, s.inputs, s.equation) == ("op", "multiply", ("w1", "w2"), "w4 = w1 * w2")
    assert [(p.wrt, p.position, p.formula, float(p.value)) for p in s.partials] == [
        ("w1", 0, "w2", 2.0),
        ("w2", 1, "w1", 1.0),
    ]
    assert seed004["x"] is seed004["w1"]
    assert s.adjoint_expr == "w̄5" and s.tangents == {} and s.tangent_expr is None
    with pytest.raises(KeyError, match="w1..w5"):
        seed004["w9"]


def test_ascii_spelling(seed004):
    text = seed004.to_text(ascii=True)
    assert text.isascii()
    assert _cells(_line(text, "wbar1 = ")) == ["wbar1 = wbar3*cos(w1) + wbar4*w2", "2.5403"]
    assert "dw3/dw1 = cos(w1) = 0.540302" in text
    assert str(seed004) == seed004.to_text()


def test_repr_is_one_line(seed004):
    r = repr(seed004)
    assert "\n" not in r
    assert r.startswith("<Explanation") and "5 steps" in r and "gradient=(2.5403, 1)" in r


def test_precision_option(seed004):
    text = seed004.to_text(precision=12)
    assert _cells(_line(text, "w̄1 = "))[-1] == "2.54030230587"


# ----------------------------------------------------------------------------- seed 002


@pytest.fixture
def seed002() -> Explanation:
    return explain(f, 3.0, 2.0, mode="both")


def test_difference_of_squares_both_modes_side_by_side(seed002):
    text = seed002.to_text()
    header = _line(text, "step")
    assert _cells(header) == [
        "step",
        "value",
        "local partials",
        "tangent",
        "ẇ, seed x",
        "ẇ, seed y",
    ]
    assert _cells(_line(text, "w3 = w1 + w2"))[-3:] == ["ẇ3 = ẇ1 + ẇ2", "1", "1"]
    assert _cells(_line(text, "w4 = w1 - w2"))[-3:] == ["ẇ4 = ẇ1 - ẇ2", "1", "-1"]
    assert _cells(_line(text, "w5 = w3 * w4")) == [
        "w5 = w3 * w4",
        "5",
        "∂w5/∂w3 = w4 = 1;",
        "∂w5/∂w4 = w3 = 5",
        "ẇ5 = w4·ẇ3 + w3·ẇ4",
        "6",
        "-4",
    ]
    adj = [_cells(ln) for ln in text.splitlines() if ln.startswith("w" + BAR)]
    assert adj == [
        ["w̄5 = 1 (seed)", "1"],
        ["w̄4 = w̄5·w3", "5"],
        ["w̄3 = w̄5·w4", "1"],
        ["w̄2 = w̄3 - w̄4", "-4"],
        ["w̄1 = w̄3 + w̄4", "6"],
    ]
    assert text.splitlines()[-2:] == [
        "∂f/∂x = w̄1 = ẇ5 (seed x) = 6",
        "∂f/∂y = w̄2 = ẇ5 (seed y) = -4",
    ]


def test_forward_mode_shows_tangents_instead_of_adjoints():
    e = explain(f, 3.0, 2.0, mode="forward")
    text = e.to_text()
    assert "Reverse pass" not in text and "w" + BAR not in text
    assert all(s.adjoint is None for s in e.rows)
    assert e.gradient == (6.0, -4.0)
    assert text.splitlines()[-2:] == ["∂f/∂x = ẇ5 (seed x) = 6", "∂f/∂y = ẇ5 (seed y) = -4"]


@pytest.mark.parametrize("xv,yv", [(3.0, 2.0), (-1.5, 0.25), (0.7, -4.0)])
def test_tangents_equal_jvp_and_adjoints_equal_grad(xv, yv):
    f = lambda x, y: tg.exp(x * y) / (1.0 + x**2) - tg.tanh(y) * x
    e = explain(f, xv, yv, mode="both")
    out = e[e.output]
    for k, name in enumerate(("x", "y")):
        seed = (1.0, 0.0) if k == 0 else (0.0, 1.0)
        _, t = tg.jvp(f, (xv, yv), seed)
        assert float(out.tangents[name]) == pytest.approx(float(t), abs=1e-12)
    g = tg.grad(f, argnums=(0, 1))(xv, yv)
    assert e.gradient == (
        pytest.approx(float(g[0]), abs=1e-12),
        pytest.approx(float(g[1]), abs=1e-12),
    )


def test_every_intermediate_tangent_equals_jvp_of_the_prefix():
    # w3 = sin(w1), w4 = w3 * w1: the tangent of w3 alone is cos(x)·ẋ.
    e = explain(lambda x: tg.sin(x) * x, 0.4, mode="forward")
    assert float(e["w2"].tangents["x"]) == pytest.approx(math.cos(0.4), abs=1e-15)
    assert e["w2"].tangent_expr == "cos(w1)·ẇ1"
    assert e["w3"].tangent_expr == "w1·ẇ2 + w2·ẇ1"


# ----------------------------------------------------------------------------- semantics


def test_fan_out_sums_adjoints():
    # x used three times: x*x and sin(x).
    e = explain(lambda x: x * x + tg.sin(x), 0.3)
    w1 = e["w1"]
    assert w1.adjoint_expr == "w̄2·w1 + w̄2·w1 + w̄3·cos(w1)"
    assert float(w1.adjoint) == pytest.approx(2 * 0.3 + math.cos(0.3), abs=1e-12)
    assert len(e["w2"].partials) == 2  # one per argument position


def test_fan_out_of_an_intermediate():
    f = lambda x: (lambda s: s * s + 3.0 * s)(tg.exp(x))
    e = explain(f, 0.5)
    s = e["w2"]
    assert s.expr == "exp(w1)"
    assert s.adjoint_expr == "w̄3·w2 + w̄3·w2 + w̄4·3"
    assert float(s.adjoint) == pytest.approx(2 * math.exp(0.5) + 3.0, abs=1e-12)
    assert e.gradient[0] == pytest.approx(float(tg.grad(f)(0.5)), abs=1e-12)


def test_constants_appear_inline():
    e = explain(lambda x: 2 * x + x / 4 - 1.5**x + (x - -3.0), 1.0)
    exprs = [s.expr for s in e.rows if s.kind == "op"]
    assert exprs[:3] == ["2 * w1", "w1 / 4", "w2 + w3"]
    assert "1.5 ** w1" in exprs and "w1 - (-3)" in exprs
    assert e["w3"].partials[0].formula == "1/4"
    assert e["w2"].adjoint_expr == "w̄4"
    assert e.gradient[0] == pytest.approx(2 + 0.25 - math.log(1.5) * 1.5 + 1, abs=1e-12)


def test_power_partials_are_simplified():
    e = explain(lambda x: x**2 + x**3 + x**0.5, 4.0)
    assert [p.formula for s in e.rows if s.op == "power" for p in s.partials] == [
        "2·w1",
        "3·w1**2",
        "0.5·w1**(-0.5)",
    ]
    assert e.gradient[0] == pytest.approx(8 + 48 + 0.25, abs=1e-12)


def test_unused_input_has_zero_adjoint():
    e = explain(lambda x, y: tg.cos(x), 1.0, 5.0)
    assert e["y"].adjoint_expr == "0 (not used)"
    assert e.gradient == (pytest.approx(-math.sin(1.0)), 0.0)


def test_tensor_inputs_show_shapes_and_small_values():
    x = np.array([1.0, 2.0, 3.0])
    y = np.arange(12.0).reshape(4, 3)
    e = explain(lambda x, y: tg.sum(x * y), x, y)
    text = e.to_text()
    assert _cells(_line(text, "step")) == ["step", "shape", "value", "local partials"]
    assert _cells(_line(text, "w1 = x"))[:3] == ["w1 = x", "(3,)", "[1, 2, 3]"]
    assert _cells(_line(text, "w2 = y"))[:3] == [
        "w2 = y",
        "(4, 3)",
        "4×3 array: min 0, mean 5.5, max 11",
    ]
    assert e["w3"].shape == (4, 3) and e["w4"].shape == ()
    gx, gy = tg.grad(lambda x, y: tg.sum(x * y), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(e.gradient[0], gx, atol=1e-12)
    np.testing.assert_allclose(e.gradient[1], gy, atol=1e-12)
    assert _cells(_line(text, "w̄1 = "))[-1] == "[18, 22, 26]"


def test_tensor_arguments_are_not_modified():
    x = tg.tensor([0.5, -1.0], requires_grad=True)
    e = explain(lambda x: tg.sum(tg.tanh(x)), x)
    assert x.grad is None and x.grad_fn is None
    np.testing.assert_allclose(e.gradient[0], 1 - np.tanh([0.5, -1.0]) ** 2, atol=1e-12)


def test_matmul_and_a_parameter_closed_over():
    W = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    e = explain(lambda x: tg.sum(W @ x), np.array([1.0, -1.0]))
    w2, w3 = e["w2"], e["w3"]
    assert w2.kind == "external" and w3.expr == "w2 @ w1"
    assert w2.adjoint_expr == "w̄3 @ w1ᵀ" and e["w1"].adjoint_expr == "w2ᵀ @ w̄3"
    np.testing.assert_allclose(e.gradient[0], [4.0, 6.0])
    np.testing.assert_allclose(w2.adjoint, [[1.0, -1.0], [1.0, -1.0]])
    assert W.grad is None


def test_output_must_be_scalar_for_reverse_mode():
    with pytest.raises(tg.ShapeMismatchError, match=r"\.sum\(\)"):
        explain(lambda x: x * 2.0, np.ones(3))
    e = explain(lambda x: x * 2.0, np.ones(3), mode="forward")
    np.testing.assert_array_equal(e.gradient[0], [2.0, 2.0, 2.0])


@pytest.mark.parametrize(
    "f,args,kw,err,match",
    [
        (sin_xy, (1.0, 2.0), {"mode": "sideways"}, ValueError, "mode must be one of"),
        (sin_xy, (1.0, 2.0), {"names": ["a"]}, ValueError, "one name per input"),
        (sin_xy, (), {}, ValueError, "at least one input"),
        (lambda x: 3.0, (1.0,), {}, TypeError, "must return one Tensor"),
        (lambda x: tg.tensor(3.0), (1.0,), {}, ValueError, "does not depend on its inputs"),
        (lambda x: x, ("a",), {}, TypeError, "input x must be a number"),
    ],
)
def test_clear_errors(f, args, kw, err, match):
    with pytest.raises(err, match=match):
        explain(f, *args, **kw)


def test_names_option_and_lambda_varargs():
    e = explain(lambda *a: a[0] * a[1], 2.0, 3.0)
    assert e.inputs == ("x1", "x2")
    e = explain(sin_xy, 1.0, 2.0, names=["u", "v"])
    assert e.inputs == ("u", "v") and e.title == "sin_xy(u, v) at u = 1, v = 2"
    assert e.to_text().splitlines()[-2] == "∂sin_xy/∂u = w̄1 = 2.5403"


def test_multi_output_op_gets_one_row_per_output_used():
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    e = explain(lambda x: tg.linalg.slogdet(x)[1], a)
    assert e["w2"].expr == "slogdet(w1)[1]"
    np.testing.assert_allclose(e.gradient[0], np.linalg.inv(a).T, atol=1e-12)


def test_grad_mode_off_outside_still_records():
    with tg.no_grad():
        e = explain(sin_xy, 1.0, 2.0)
    assert len(e.rows) == 5


def test_primitives_are_left_as_they_were():
    from tapegrad.ops.registry import Primitive

    before = Primitive.__call__
    with pytest.raises(TypeError):
        explain(lambda x: 1.0, 1.0)
    explain(sin_xy, 1.0, 2.0)
    assert Primitive.__call__ is before


# ----------------------------------------------------------------------------- markdown, html


def test_markdown_tables(seed004):
    md = seed004.to_markdown()
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert "| `w3 = sin(w1)` | 0.841471 | `∂w3/∂w1 = cos(w1) = 0.540302` |" in rows
    assert "| `w̄1 = w̄3·cos(w1) + w̄4·w2` | 2.5403 |" in rows
    assert len(rows) == 2 + 5 + 5  # two header rows, one row per step in each table
    assert "- `∂L/∂x = w̄1 = 2.5403`" in md


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.body_rows: list[int] = []
        self.cells: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        if tag == "tbody":
            self.body_rows.append(0)
        if tag == "tr" and "tbody" in self.stack:
            self.body_rows[-1] += 1

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data):
        self.text += data
        if self.stack and self.stack[-1] == "td":
            self.cells.append(data)


def test_html_is_well_formed_with_one_row_per_step(seed002):
    p = _Tables()
    p.feed(seed002._repr_html_())
    p.close()
    assert p.stack == []
    assert p.body_rows == [5, 5]
    assert "w̄1 = w̄3 + w̄4" in p.cells and "ẇ5 = w4·ẇ3 + w3·ẇ4" in p.cells


def test_html_escapes_text():
    e = explain(lambda x: x * 2.0, 1.0, title="<b>f</b> & g")
    out = e._repr_html_()
    assert "&lt;b&gt;f&lt;/b&gt; &amp; g" in out and "<b>f</b>" not in out


# ----------------------------------------------------------------------------- expressions


def test_compile_expression_evaluates_with_tapegrad():
    f, names = compile_expression("sin(x) + x*y - -2 ** 2 / pi")
    assert names == ("x", "y")
    assert float(f(1.0, 2.0)) == pytest.approx(math.sin(1) + 2 + 4 / math.pi)
    f, names = compile_expression("sum(maximum(a, b)) + sum(a * b)")
    assert names == ("a", "b")
    assert float(f(np.array([1.0, 5.0]), np.array([3.0, 2.0]))) == pytest.approx(8.0 + 13.0)
    assert {"sin", "cos", "tanh", "sigmoid", "relu", "log1p", "maximum"} <= set(
        EXPRESSION_FUNCTIONS
    )


@pytest.mark.parametrize(
    "source,match",
    [
        ("x.__class__", "attribute access"),
        ("x.real", "attribute access"),
        ("x[0]", "subscripts"),
        ("lambda: 1", "lambda"),
        ("(lambda x: x)(1)", "lambda"),
        ("foo(x)", "unknown function 'foo'"),
        ("__import__('os')", "names starting with '_'"),
        ("x + __builtins__", "names starting with '_'"),
        ("sin", "without a call"),
        ("'a' + x", "the constant 'a'"),
        ("True * x", "the constant True"),
        ("x if x else 1", "conditional"),
        ("x < 1", "comparisons"),
        ("x and 1", "'and'/'or'"),
        ("[x, 1]", "list literals"),
        ("sin(x=1)", "keyword arguments"),
        ("sin(*x)", "starred"),
        ("x // 2", "FloorDiv"),
        ("~x", "Invert"),
        ("(y := x)", "assignment expressions"),
        ("f'{x}'", "f-strings"),
        ("x +", "not a valid expression"),
        ("sin(x, x)", "takes 1 argument, got 2"),
    ],
)
def test_compile_expression_rejects(source, match):
    with pytest.raises(ExpressionError, match=re.escape(match)):
        compile_expression(source)


# ----------------------------------------------------------------------------- pictures


def _vertices(source: str) -> dict[str, list[str]]:
    """``{vertex id: label lines}`` of a DOT text."""
    out = {}
    for vid, lab in re.findall(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', source, re.M):
        out[vid] = lab.replace('\\"', '"').split("\\n")
    return out


def _by_step(source: str) -> dict[str, list[str]]:
    """Label lines keyed by the step name that starts them (``w3``)."""
    return {lines[0].split(" = ")[0]: lines for lines in _vertices(source).values()}


def _arrows(source: str) -> set[tuple[str, str]]:
    """The edges as (step, step) pairs."""
    names = {v: lines[0].split(" = ")[0] for v, lines in _vertices(source).items()}
    return {(names[t], names[h]) for t, h in re.findall(r"^\s*(\w+) -> (\w+)", source, re.M)}


def test_graph_of_the_seed_tells_the_tables_story(seed004):
    g = seed004.graph()
    labels = _by_step(g.source)
    assert labels == {
        "w1": ["w1 = x", "= 1", "w̄1 = 2.5403"],
        "w2": ["w2 = y", "= 2", "w̄2 = 1"],
        "w3": ["w3 = sin(w1)", "= 0.841471", "w̄3 = 1"],
        "w4": ["w4 = w1 * w2", "= 2", "w̄4 = 1"],
        "w5": ["w5 = w3 + w4", "= 2.84147", "w̄5 = 1"],
    }
    # One arrow per input of each step, exactly as the table's rows read them.
    assert _arrows(g.source) == {(i, s.name) for s in seed004.rows for i in s.inputs}
    assert "(freed)" not in g.source and "x0" not in g.source
    out_vertex = next(v for v, ln in _vertices(g.source).items() if ln[0].startswith("w5"))
    assert re.search(rf"^\s*{out_vertex} \[.*tooltip=\"output\"", g.source, re.M)


def test_graph_numbers_are_the_tables_numbers():
    e = explain(sin_xy, 0.3, -1.7)
    labels = _by_step(e.graph(precision=4).source)
    for s in e.rows:
        assert labels[s.name][1] == "= " + format(float(s.value), ".4g").replace("e-0", "e-")
        assert float(labels[s.name][2].split(" = ")[1]) == pytest.approx(float(s.adjoint), 1e-3)


def test_graph_in_both_modes_shows_adjoints_and_one_tangent_per_seed():
    labels = _by_step(explain(f, 3.0, 2.0, mode="both").graph().source)
    assert labels["w5"] == ["w5 = w3 * w4", "= 5", "w̄5 = 1", "ẇ5 = 6 (seed x)", "ẇ5 = -4 (seed y)"]
    assert labels["w2"] == ["w2 = y", "= 2", "w̄2 = -4", "ẇ2 = 0 (seed x)", "ẇ2 = 1 (seed y)"]
    fwd = _by_step(explain(f, 3.0, 2.0, mode="forward").graph().source)
    assert fwd["w4"] == ["w4 = w1 - w2", "= 1", "ẇ4 = 1 (seed x)", "ẇ4 = -1 (seed y)"]
    assert "w̄" not in str(explain(f, 3.0, 2.0, mode="forward").graph())


def test_graph_without_adjoints_draws_the_forward_pass():
    g = explain(f, 3.0, 2.0, mode="both").graph(show_adjoints=False)
    assert _by_step(g.source)["w3"] == ["w3 = w1 + w2", "= 5"]
    assert "w̄" not in g.source and "ẇ" not in g.source


def test_graph_draws_constants_multi_output_ops_and_closed_over_tensors():
    e = explain(lambda x: 2 * x**3, 2.0)
    g = e.graph()
    assert _by_step(g.source)["w3"] == ["w3 = 2 * w2", "= 16", "w̄3 = 1"]
    consts = [ln for v, ln in _vertices(g.source).items() if v.startswith("const")]
    assert sorted(consts) == [["const", "2"], ["const", "3"]]

    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    g = explain(lambda x: tg.linalg.slogdet(x)[1], a).graph()
    assert _by_step(g.source)["w2"][0] == "w2 = slogdet(w1)[1]"

    W = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    e = explain(lambda x: tg.sum(W @ x), np.array([1.0, -1.0]))
    labels = _by_step(e.graph().source)
    assert labels["w2"] == [
        "w2 = (leaf, not an input)",
        "= [[1, 2], [3, 4]]",
        "w̄2 = [[1, -1], [1, -1]]",
    ]
    assert _arrows(e.graph().source) == {("w2", "w3"), ("w1", "w3"), ("w3", "w4")}


def test_graph_of_a_split_shows_both_outputs_used_in_one_vertex():
    e = explain(lambda x: tg.sum(tg.split(x, 2)[0] * tg.split(x, 2)[1]), np.arange(4.0))
    g = e.graph()
    split_vertices = [ln for ln in _vertices(g.source).values() if "split(" in ln[0]]
    assert len(split_vertices) == 2  # two calls, each drawn once
    assert {(i, s.name) for s in e.rows for i in s.inputs} == _arrows(g.source)


def test_graph_keeps_no_recorded_values_or_closed_over_tensors_alive():
    recorded = []

    def make():
        W = tg.tensor(np.ones((200, 200)), requires_grad=True)

        def g(x):
            h = tg.sin(x) * 3.0
            recorded.append(weakref.ref(h.grad_fn))
            return tg.sum(W * h)

        return g, weakref.ref(W)

    g, w_ref = make()
    e = explain(g, np.ones((200, 200)))
    del g
    gc.collect()
    assert recorded[0]() is None  # the recorded tape is gone
    assert w_ref() is None  # and so is the tensor the function closed over
    labels = _by_step(e.graph().source)  # the picture is still there
    assert labels["w2"][0] == "w2 = sin(w1)" and labels["w4"][0] == "w4 = (leaf, not an input)"
    held = e._picture
    assert held is not None and held.vertices
    for v, _ in held.vertices:
        if isinstance(v, tg.Tensor):
            assert v.grad_fn is None
        else:
            # No saved arrays: nothing for the inputs, a small constant at most.
            assert v.saved_output is None and v.params == {}
            for a, (parent, _) in zip(v.saved_inputs, v.inputs):
                assert a is None if parent is not None else np.size(a) == 1


def test_graph_of_an_explanation_made_by_hand_says_what_to_do(seed004):
    bare = Explanation(seed004.rows, "reverse", ("x", "y"), "w5", "L", seed004.title)
    with pytest.raises(ValueError, match=r"make it with tg.explain"):
        bare.graph()
    assert bare.to_text() == seed004.to_text()


def test_graph_when_the_output_is_an_input():
    e = explain(lambda x, y: x, 1.0, 2.0)
    g = e.graph()
    assert _by_step(g.source) == {"w1": ["w1 = x", "= 1", "w̄1 = 1"]}


def _arrow_labels(source: str) -> list[tuple[str, str, list[str]]]:
    """``(from step, to step, label lines)`` per arrow from a step, in DOT order."""
    names = {v: lines[0].split(" = ")[0] for v, lines in _vertices(source).items()}
    out = []
    for t, h, lab in re.findall(
        r'^\s*(\w+) -> (\w+)(?: \[label="((?:[^"\\]|\\.)*)"\])?;$', source, re.M
    ):
        if not t.startswith("const"):
            out.append((names[t], names[h], lab.split("\\n") if lab else []))
    return out


def test_graph_arrows_carry_the_local_partials(seed004):
    assert _arrow_labels(seed004.graph().source) == [
        ("w1", "w3", ["∂w3/∂w1", "= cos(w1) = 0.540302"]),
        ("w1", "w4", ["∂w4/∂w1", "= w2 = 2"]),
        ("w2", "w4", ["∂w4/∂w2", "= w1 = 1"]),
        ("w3", "w5", ["∂w5/∂w3", "= 1"]),
        ("w4", "w5", ["∂w5/∂w4", "= 1"]),
    ]
    # The labels are the table's local partials, word for word.
    table = seed004.to_text()
    for _, _, (head, rest) in _arrow_labels(seed004.graph().source):
        assert f"{head} {rest}" in table


def _number(lines: list[str]) -> float:
    return float(lines[-1].rsplit("= ", 1)[1])


@pytest.mark.parametrize(
    "fn, args",
    [
        (sin_xy, (0.3, -1.7)),
        (f, (3.0, 2.0)),
        (lambda x, y: tg.exp(x * y) / (1.0 + x**2) - tg.tanh(y) * x, (0.7, -0.4)),
    ],
)
def test_graph_adjoints_are_sums_over_outgoing_arrows(fn, args):
    e = explain(fn, *args, mode="both")
    arrows = _arrow_labels(e.graph(precision=15).source)
    by_name = {s.name: s for s in e.rows}
    for s in e.rows:
        if s.name == e.output:
            continue
        out_of = [(h, lines) for t, h, lines in arrows if t == s.name]
        assert out_of, s.name
        total = sum(float(by_name[h].adjoint) * _number(lines) for h, lines in out_of)
        assert total == pytest.approx(float(s.adjoint), rel=1e-10, abs=1e-12)
    # Forward mode: each tangent is the sum over incoming arrows of partial x tangent.
    for s in e.rows:
        into = [(t, lines) for t, h, lines in arrows if h == s.name]
        if not into:
            continue
        for n in e.inputs:
            total = sum(_number(lines) * float(by_name[t].tangents[n]) for t, lines in into)
            assert total == pytest.approx(float(s.tangents[n]), rel=1e-10, abs=1e-12)


def test_graph_draws_one_labelled_arrow_per_argument_of_x_times_x():
    e = explain(lambda x: x * x, 3.0)
    assert _arrow_labels(e.graph().source) == [
        ("w1", "w2", ["∂w2/∂w1", "= w1 = 3"]),
        ("w1", "w2", ["∂w2/∂w1", "= w1 = 3"]),
    ]
    assert e["x"].adjoint == 6.0  # w̄2·w1 + w̄2·w1


def test_graph_partials_in_forward_mode_are_the_same(seed004):
    fwd = explain(sin_xy, 1.0, 2.0, mode="forward").graph().source
    assert _arrow_labels(fwd) == _arrow_labels(seed004.graph().source)
    assert _arrow_labels(explain(sin_xy, 1.0, 2.0).graph(precision=3).source)[0][2] == [
        "∂w3/∂w1",
        "= cos(w1) = 0.54",
    ]


def test_graph_without_partials_draws_bare_arrows(seed004):
    g = seed004.graph(show_partials=False)
    assert all(lines == [] for _, _, lines in _arrow_labels(g.source))
    assert "∂" not in g.source
    assert _by_step(g.source) == _by_step(seed004.graph().source)
    both = seed004.graph(show_adjoints=False, show_partials=False).source
    assert "∂" not in both and "w̄" not in both


def test_graph_partials_of_constants_jacobians_and_multi_output_ops():
    g = explain(lambda x: 2 * x**3, 2.0).graph().source
    assert _arrow_labels(g) == [
        ("w1", "w2", ["∂w2/∂w1", "= 3·w1**2 = 12"]),
        ("w2", "w3", ["∂w3/∂w2", "= 2"]),
    ]
    assert re.findall(r"^\s*const\d+ -> \w+;$", g, re.M)  # constants: unlabelled arrows

    W = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    g = explain(lambda x: tg.sum(W @ x), np.array([1.0, -1.0])).graph().source
    assert ("w1", "w3", ["∂w3/∂w1", "= Jacobian"]) in _arrow_labels(g)

    def both_halves(x):
        a, b = tg.split(x, 2)
        return tg.sum(a * b)

    e = explain(both_halves, np.arange(4.0))
    arrows = _arrow_labels(e.graph().source)
    # One split, two outputs used: the arrow into it carries both partials.
    assert ("w1", "w2", ["∂w2/∂w1", "= Jacobian", "∂w3/∂w1", "= Jacobian"]) in arrows
    out_of_split = [lines for t, h, lines in arrows if h == "w4"]
    assert out_of_split == [["[0] ∂w4/∂w2", "= w3 = [2, 3]"], ["[1] ∂w4/∂w3", "= w2 = [0, 1]"]]


@needs_dot
def test_graph_renders_to_svg_with_the_labels(seed004, tmp_path):
    path = seed004.graph().render(tmp_path / "seed.svg")
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    texts = [t.text for t in root.iter(SVG + "text")]
    for want in ("w3 = sin(w1)", "= 0.841471", "w̄1 = 2.5403", "w1 = x", "w2 = y"):
        assert want in texts
    titles = {t.text for t in root.iter(SVG + "title")}
    assert {"leaf0", "leaf1", "op0", "op1", "op2", "leaf0->op0"} <= titles


# ----------------------------------------------------------------------------- command line


def test_cli_explain_seed_example(capsys):
    assert main(["explain", "sin(x) + x*y", "x=1", "y=2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "L = sin(x) + x*y at x = 1, y = 2"
    assert _cells(_line(out, "w3 = sin(w1)"))[:2] == ["w3 = sin(w1)", "0.841471"]
    assert _cells(_line(out, "w̄1 = ")) == ["w̄1 = w̄3·cos(w1) + w̄4·w2", "2.5403"]
    assert out.rstrip().splitlines()[-2:] == ["∂L/∂x = w̄1 = 2.5403", "∂L/∂y = w̄2 = 1"]


def test_cli_inputs_follow_the_command_line_order(capsys):
    main(["explain", "x*y", "y=2", "x=3"])
    out = capsys.readouterr().out
    assert "w1 = y" in out and "w2 = x" in out and "w3 = w2 * w1" in out


def test_cli_modes_formats_and_lists(capsys):
    main(["explain", "(x+y)*(x-y)", "x=3", "y=2", "--mode", "both", "--ascii"])
    out = capsys.readouterr().out
    assert out.isascii() and "dL/dx = wbar1 = wdot5 (seed x) = 6" in out
    main(["explain", "sum(x*y)", "x=[1,2,3]", "y=2", "--format", "markdown"])
    out = capsys.readouterr().out
    assert "| `w1 = x` | (3,) | [1, 2, 3] |  |" in out and "- `∂L/∂y = w̄2 = 6`" in out
    main(["explain", "exp(x)", "x=0", "--mode", "forward", "--format", "html"])
    p = _Tables()
    p.feed(capsys.readouterr().out)
    assert p.body_rows == [2]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["x*y", "x=1"], "no value given for y; add y=..."),
        (["x*y*z", "x=1"], "no value given for y, z"),
        (["x*y", "x=1", "y=2", "z=3"], "z given but not used"),
        (["x", "x=abc"], "x=abc: the value must be a number"),
        (["x", "x=[1,'a']"], "the value must be a number"),
        (["x", "x=1", "x=2"], "x is given twice"),
        (["x", "1"], "expected NAME=VALUE"),
        (["x.__class__", "x=1"], "attribute access"),
        (["open(x)", "x=1"], "unknown function 'open'"),
        (["x*2", "x=[1,2]"], "reduce it to a scalar"),
        (["x", "x=1", "--graph", "picture"], "give the file a suffix"),
    ],
)
def test_cli_errors(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["explain", *argv])
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


def test_cli_graph_writes_dot(tmp_path, capsys):
    path = tmp_path / "g.dot"
    assert main(["explain", "sin(x) + x*y", "x=1", "y=2", "--graph", str(path)]) == 0
    dot = path.read_text(encoding="utf-8")
    assert dot.startswith("digraph")
    assert "w3 = sin(w1)" in dot and "w̄3 = 1" in dot and "w̄1 = 2.5403" in dot
    assert _by_step(dot)["w1"] == ["w1 = x", "= 1", "w̄1 = 2.5403"]
    assert "(freed)" not in dot and "x0" not in dot
    assert ("w1", "w3", ["∂w3/∂w1", "= cos(w1) = 0.540302"]) in _arrow_labels(dot)
    cap = capsys.readouterr()
    assert "w3 = sin(w1)" in cap.out and str(path) in cap.err


def test_cli_graph_follows_the_mode_and_precision(tmp_path, capsys):
    path = tmp_path / "g.dot"
    argv = ["explain", "(x+y)*(x-y)", "x=3", "y=2", "--mode", "forward", "--graph", str(path)]
    assert main(argv) == 0
    dot = path.read_text(encoding="utf-8")
    assert "ẇ5 = 6 (seed x)" in dot and "w̄" not in dot
    main(["explain", "sin(x)", "x=1", "--precision", "3", "--graph", str(path)])
    assert _by_step(path.read_text(encoding="utf-8"))["w2"][1] == "= 0.841"
    capsys.readouterr()


@needs_dot
def test_cli_graph_renders_svg(tmp_path, capsys):
    path = tmp_path / "g.svg"
    assert main(["explain", "sin(x) + x*y", "x=1", "y=2", "--graph", str(path)]) == 0
    texts = [t.text for t in ET.parse(path).getroot().iter(SVG + "text")]
    assert "w3 = sin(w1)" in texts and "w̄3 = 1" in texts and "w̄1 = 2.5403" in texts
    assert "w1 = x" in texts and "w2 = y" in texts
    assert str(path) in capsys.readouterr().err


def test_cli_graph_reports_an_unknown_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["explain", "x*2", "x=1", "--graph", str(tmp_path / "g.nosuchformat")])
    assert exc.value.code == 2
    assert "--graph" in capsys.readouterr().err


def test_cli_overflowing_constants_are_an_error_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["explain", "x * 9**9**99", "x=1"])
    assert exc.value.code == 2
    assert "could not be evaluated" in capsys.readouterr().err
