"""What tg.explain, its expression language and the docs' op table read from the op
declarations: an op declared here (with ``explain=``, ``method=``, ``kink=``) shows up in
all three, with nothing listed by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.explain import EXPRESSION_FUNCTIONS, ExpressionError, compile_expression, explain
from tapegrad.explain.picture import PictureNode
from tapegrad.ops.registry import METHODS, REGISTRY, UFUNCS, Primitive, defjvp, defvjp

SCRIPTS = Path(__file__).resolve().parents[1] / "docs" / "scripts"

# The names the expression language accepted before it was generated from the registry.
OLD_EXPRESSION_FUNCTIONS = {
    "sin": 1, "cos": 1, "tan": 1, "exp": 1, "exp2": 1, "expm1": 1, "log": 1, "log2": 1,
    "log10": 1, "log1p": 1, "sqrt": 1, "cbrt": 1, "square": 1, "reciprocal": 1, "abs": 1,
    "sinh": 1, "cosh": 1, "tanh": 1, "arcsin": 1, "arccos": 1, "arctan": 1, "arcsinh": 1,
    "arccosh": 1, "arctanh": 1, "sigmoid": 1, "relu": 1, "softplus": 1, "erf": 1, "sign": 1,
    "negative": 1, "sum": 1, "mean": 1, "prod": 1, "max": 1, "min": 1, "maximum": 2,
    "minimum": 2, "arctan2": 2, "power": 2, "matmul": 2,
}  # fmt: skip


def _ops_table():
    spec = importlib.util.spec_from_file_location("docs_ops_table", SCRIPTS / "ops_table.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def declare():
    """Declare primitives for one test; afterwards every trace of them is removed from the
    registry and the generated tables."""
    made: list[Primitive] = []

    def make(name, impl, deriv, **meta):
        p = Primitive(name, impl, save=(0,), elementwise=True, **meta)
        defvjp(p, lambda g, ans, x: g * deriv(x))
        defjvp(p, lambda t, ans, x: t * deriv(x))
        made.append(p)
        return p

    yield make
    for p in made:
        _remove(p)


def _remove(p: Primitive) -> None:
    if REGISTRY.get(p.name) is p:
        del REGISTRY[p.name]
    for table in (METHODS, UFUNCS):
        for k in [k for k, f in table.items() if f is p]:
            del table[k]


def test_a_declared_formula_shows_in_the_table(declare):
    cube = declare("tcube", lambda x: x**3, lambda x: 3.0 * x**2, explain=("3·{0}**2",))
    e = explain(lambda x: cube(x) * 2.0, 2.0)
    w2 = e["w2"]
    assert w2.equation == "w2 = tcube(w1)"
    (p,) = w2.partials
    assert p.formula == "3·w1**2" and float(p.value) == 12.0
    text = e.to_text()
    assert "∂w2/∂w1 = 3·w1**2 = 12" in text
    assert "w̄1 = w̄2·3·w1**2" in text
    assert e.gradient == (24.0,)


def test_a_declared_mapping_gives_text_adjoint_and_tangent(declare):
    twice = declare(
        "ttwice",
        lambda x: 2.0 * x,
        lambda x: 2.0 + 0.0 * x,
        explain={"text": "2{0}", "partials": ("2",), "tangent": ("2·{t}",)},
    )
    e = explain(lambda x: twice(x), 1.5, mode="both")
    assert e["w2"].equation == "w2 = 2w1"
    assert e["w2"].tangent_expr == "2·ẇ1"
    assert e["w1"].adjoint_expr == "w̄2·2"
    assert e.gradient == (2.0,)


def test_a_callable_declaration_sees_the_call(declare):
    seen = []

    def formulas(call):
        seen.append((call.ops, call.const, float(call.value)))
        return {"text": "[{0}]", "partials": (f"d at {call.number(call.args[0])}",)}

    ident = declare("tident", lambda x: x + 0.0, lambda x: 1.0 + 0.0 * x, explain=formulas)
    e = explain(lambda x: ident(x), -0.5)
    assert e["w2"].equation == "w2 = [w1]"
    assert e["w2"].partials[0].formula == "d at (-0.5)"
    assert seen == [(("w1",), (False,), -0.5)]


def test_explain_rejects_a_malformed_declaration():
    with pytest.raises(tg.errors.InvalidArgumentError, match="one formula per operand"):
        Primitive("tbad", np.sin, register=False, explain="cos({0})")
    with pytest.raises(tg.errors.InvalidArgumentError, match="unknown keys"):
        Primitive("tbad", np.sin, register=False, explain={"partial": ("cos({0})",)})


def test_declared_special_cases_keep_their_text():
    # power with a constant exponent, matmul's adjoint terms, sum, mean, subscripts: each
    # op's declaration, no longer a case in explain.
    e = explain(lambda x, a: tg.sum(x**3.0 @ a) + tg.mean(x) - x[0], np.ones(2), np.ones(2))
    assert [s.equation for s in e.rows[2:]] == [
        "w3 = w1 ** 3",
        "w4 = w3 @ w2",
        "w5 = sum(w4)",
        "w6 = mean(w1)",
        "w7 = w5 + w6",
        "w8 = w1[0]",
        "w9 = w7 - w8",
    ]
    assert e["w3"].partials[0].formula == "3·w1**2"
    assert e["w6"].partials[0].formula == "1/2"
    assert e["w3"].adjoint_expr == "w̄4 @ w2ᵀ" and e["w2"].adjoint_expr == "w3ᵀ @ w̄4"
    f = explain(lambda x, a: tg.sum(x @ a), np.ones(2), np.ones(2), mode="forward")
    assert f["w3"].tangent_expr == "ẇ1 @ w2 + w1 @ ẇ2" and f["w4"].tangent_expr == "sum(ẇ3)"


# ----------------------------------------------------------------------------- expressions


def test_expression_functions_keep_every_old_name():
    for name, arity in OLD_EXPRESSION_FUNCTIONS.items():
        assert name in EXPRESSION_FUNCTIONS, name
        fn, names = compile_expression(f"{name}({', '.join(['x'] * arity)})")
        assert names == ("x",)
    # Ops without a derivative or with a non-array operand are not callable.
    for name in ("equal", "argmax", "floor_divide", "reshape", "einsum", "astype"):
        assert name not in EXPRESSION_FUNCTIONS


def test_an_exposed_op_is_callable_in_an_expression(declare):
    declare("tsquare3", lambda x: 3.0 * x * x, lambda x: 6.0 * x, method=True)
    f, names = compile_expression("tsquare3(x) + 1")
    assert names == ("x",) and float(f(2.0)) == 13.0
    with pytest.raises(ExpressionError, match="takes 1 argument, got 2"):
        compile_expression("tsquare3(x, x)")
    # A registered primitive that is not exposed (no public name, method or ufunc) is not.
    declare("tprivate", lambda x: x, lambda x: 1.0 + 0.0 * x)
    with pytest.raises(ExpressionError, match="unknown function 'tprivate'"):
        compile_expression("tprivate(x)")


def test_expression_functions_are_gone_once_the_op_is(declare):
    p = declare("tgone", lambda x: x, lambda x: 1.0 + 0.0 * x, method=True)
    assert float(compile_expression("tgone(x)")[0](1.0)) == 1.0
    _remove(p)
    with pytest.raises(ExpressionError, match="unknown function 'tgone'"):
        compile_expression("tgone(x)")


# ----------------------------------------------------------------------------- op table


def test_the_op_table_lists_every_registered_op():
    text = _ops_table().render()
    missing = [name for name in REGISTRY if f"| `{name}` |" not in text]
    assert not missing, f"registered ops missing from the op table: {missing}"


def test_the_op_table_shows_a_new_op_with_its_metadata(declare):
    declare(
        "tkinked",
        lambda x: np.abs(x) * 2.0,
        lambda x: 2.0 * np.sign(x),
        explain=("2·sign({0})",),
        kink="tkinked'(0) = 0, as abs.",
    )
    row = next(ln for ln in _ops_table().render().splitlines() if ln.startswith("| `tkinked` |"))
    assert "`2·sign(x)`" in row and "tkinked'(0) = 0, as abs." in row
    assert "reverse, forward" in row


def test_the_op_table_rows_read_the_declarations():
    lines = _ops_table().render().splitlines()

    def row(name):
        return next(ln for ln in lines if ln.startswith(f"| `{name}` |"))

    assert "`x.sin()`" in row("sin") and "`np.sin`" in row("sin") and "`cos(x)`" in row("sin")
    assert "relu'(0) = 0" in row("relu")
    assert "Ties share the gradient evenly" in row("max")
    assert "| — |" in row("equal")


# ----------------------------------------------------------------------------- pictures


def test_the_picture_answers_the_node_read_api():
    e = explain(lambda x, y: tg.sin(x) * 2.0 + x * y, 1.0, 2.0)
    vertices = [v for v, _ in e._picture.vertices if isinstance(v, PictureNode)]
    assert [v.name for v in vertices] == ["sin", "multiply", "multiply", "add"]
    mul_const = vertices[1]
    (src, k), (const, _) = mul_const.inputs
    assert src is vertices[0] and k == 0 and const is None
    assert float(mul_const.saved_inputs[1]) == 2.0 and mul_const.saved_inputs[0] is None
    assert all(v.saved_output is None and v.freed is False for v in vertices)
    assert all(v.output_meta is None and v.params == {} for v in vertices)
    assert vertices[0].inputs[0][0] is e._picture.inputs["x"]
