"""Random programs of registry ops, compared with PyTorch (see tests/fuzzlib.py).

The CI part runs :data:`CI_PROGRAMS` programs of seed ``FUZZ_SEED`` (default 0); the long
run (10,000 programs of seed 1) is marked ``fuzz_long`` and deselected by default::

    python -m pytest -q -m fuzz_long tests/test_fuzz.py
    FUZZ_SEED=5 python -m pytest -q tests/test_fuzz.py     # another CI sample

A failure prints the (shrunk) program as code and as a ``program(...)`` literal; paste the
literal into a regression test: ``assert not fuzzlib.check(program(...))``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.ops.registry import REGISTRY

from . import fuzzlib
from .fuzzlib import program, v, x

torch = pytest.importorskip("torch")

CI_PROGRAMS = 500
CI_CHUNKS = 10
LONG_PROGRAMS = 10_000
LONG_CHUNKS = 20
SEED = int(os.environ.get("FUZZ_SEED", "0"))


def _run(seed: int, start: int, stop: int) -> None:
    failures = []
    for i in range(start, stop):
        prog = fuzzlib.generate(seed, i)
        if fuzzlib.check(prog, torch):
            small, mism = fuzzlib.shrink(prog, torch)
            failures.append(fuzzlib.report(small, mism))
    assert not failures, f"{len(failures)} of {stop - start} programs differ:\n\n" + "\n\n".join(
        failures[:3]
    )


@pytest.mark.parametrize("chunk", range(CI_CHUNKS))
def test_random_programs_match_torch(chunk):
    n = CI_PROGRAMS // CI_CHUNKS
    _run(SEED, chunk * n, (chunk + 1) * n)


@pytest.mark.fuzz_long
@pytest.mark.parametrize("chunk", range(LONG_CHUNKS))
def test_random_programs_match_torch_long(chunk):
    n = LONG_PROGRAMS // LONG_CHUNKS
    _run(1, chunk * n, (chunk + 1) * n)


# --------------------------------------------------------------------------- the fuzzer itself


def test_programs_are_reproducible_from_seed_and_index():
    for i in range(20):
        a, b = fuzzlib.generate(3, i), fuzzlib.generate(3, i)
        assert a.code() == b.code()
    assert fuzzlib.generate(3, 0).code() != fuzzlib.generate(3, 1).code()


def test_a_literal_rebuilds_its_program():
    ns = {"program": program, "x": x, "v": v, "np": np}
    for i in range(30):
        prog = fuzzlib.generate(0, i)
        again = eval(prog.literal(), ns)
        assert again.literal() == prog.literal()
        assert [a.tobytes() for a in again.inputs] == [a.tobytes() for a in prog.inputs]


def test_the_pool_is_the_spec_table():
    # Every spec with a torch reference is fuzzed, except the listed known divergences.
    names = {p.name for p in fuzzlib.pool("float64")}
    expected = {
        s.name
        for s in fuzzlib.all_specs()
        if s.torch_fn is not None and s.name not in fuzzlib.KNOWN_ALWAYS
    }
    assert names == expected
    kinds = {p.kind for p in fuzzlib.pool("float64")}
    assert kinds == {"ew1", "ew2", "sample"}


def test_ci_programs_cover_every_kind_of_op():
    seen_kinds, seen_edge, sizes = set(), 0, set()
    by_name = {p.name: p for p in fuzzlib.pool("float64")} | {
        p.name: p for p in fuzzlib.pool("float32")
    }
    for i in range(200):
        prog = fuzzlib.generate(SEED, i)
        seen_edge += prog.edge
        sizes.add(len(prog.steps))
        seen_kinds |= {by_name[s.op].kind for s in prog.steps}
        assert 1 <= len(prog.inputs) <= 3 and 1 <= len(prog.steps) <= 6
    assert seen_kinds == {"ew1", "ew2", "sample"}
    assert seen_edge > 20
    assert sizes == {1, 2, 3, 4, 5, 6}


def test_failure_message_prints_the_program_as_code():
    prog = program("float64", [np.array([0.5, 2.0])], [("tanh", (x(0),)), ("sqrt", (v(0),))])
    text = fuzzlib.report(prog, [fuzzlib.Mismatch("grad", "x0", "planted")])
    assert "x0 = tg.tensor(np.array([0.5, 2.0], dtype=np.float64), requires_grad=True)" in text
    assert "v0 = tg.tanh(x0)" in text and "v1 = tg.sqrt(v0)" in text
    assert "('sqrt', (v(0),))" in text


@pytest.mark.parametrize(
    "a,b,bad",
    [
        ([1.0, np.nan], [1.0, np.nan], False),
        ([1.0, np.inf], [1.0, -np.inf], True),
        ([np.nan], [np.inf], True),
        ([1.0], [np.nan], True),
        ([1.0], [1.0 + 1e-12], False),
        ([1.0], [1.001], True),
    ],
)
def test_compare_checks_the_non_finite_pattern_then_values(a, b, bad):
    res = fuzzlib.compare(np.array(a), np.array(b), np.dtype(np.float64))
    assert (res is not None) == bad


# --------------------------------------------------------------------------- planted bugs


def _sin_program():
    return program(
        "float64",
        [np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]])],
        [("sin", (x(0),)), ("sum", (v(0),), {"axis": 1, "keepdims": False})],
    )


def test_a_planted_wrong_vjp_is_reported(monkeypatch):
    assert not fuzzlib.check(_sin_program(), torch)
    sin = REGISTRY["sin"]
    monkeypatch.setattr(sin, "vjps", (lambda g, ans, x: g * 2 * tg.cos(x),))
    whats = {m.what for m in fuzzlib.check(_sin_program(), torch)}
    assert "grad" in whats and "hvp" in whats


def test_a_planted_wrong_jvp_is_reported(monkeypatch):
    sin = REGISTRY["sin"]
    monkeypatch.setattr(sin, "jvps", (lambda t, ans, x: -t * tg.cos(x),))
    whats = {m.what for m in fuzzlib.check(_sin_program(), torch)}
    assert whats == {"jvp"}


def test_a_planted_wrong_value_is_reported(monkeypatch):
    sin = REGISTRY["sin"]
    monkeypatch.setattr(sin, "impl", lambda a: np.sin(a) + 1e-6)
    whats = {m.what for m in fuzzlib.check(_sin_program(), torch)}
    assert whats == {"value"}


def test_a_planted_nan_gradient_is_reported(monkeypatch):
    # A rule that makes inf * 0 (NaN) where torch's gradient is finite.
    sin = REGISTRY["sin"]
    monkeypatch.setattr(sin, "vjps", (lambda g, ans, x: g * tg.cos(x) + (x - x) * np.inf,))
    mism = [m for m in fuzzlib.check(_sin_program(), torch) if m.what == "grad"]
    assert mism and "nan pattern differs" in mism[0].detail


def test_random_runs_find_a_planted_wrong_vjp(monkeypatch):
    # The generator itself reaches the broken op: the programs using sin fail.
    sin = REGISTRY["sin"]
    monkeypatch.setattr(sin, "vjps", (lambda g, ans, x: g * 2 * tg.cos(x),))
    hits = caught = 0
    for i in range(400):
        prog = fuzzlib.generate(SEED, i)
        if "sin" in prog.op_names() and not prog.edge:
            hits += 1
            caught += bool(fuzzlib.check(prog, torch))
        if hits == 10:
            break
    # A program may feed sin only into an op with zero derivative (floor, argmax, ...).
    assert hits == 10 and caught >= 8


def test_a_throwaway_primitive_with_a_wrong_rule_is_reported():
    from tapegrad.ops.registry import Primitive, defjvp, defvjp

    from .opinfo import OpSpec, unary_samples

    bad = Primitive("bad_square", np.square, save=(0,), elementwise=True, register=False)
    defvjp(bad, lambda g, ans, a: g * a)  # should be 2 * a
    defjvp(bad, lambda t, ans, a: 2 * t * a)
    bad_spec = OpSpec(
        "bad_square",
        bad,
        unary_samples(fuzzlib.opinfo.real),
        torch_fn=lambda torch, a: torch.square(a),
    )
    fuzzlib._specs_by_name()["bad_square"] = bad_spec
    try:
        prog = program("float64", [np.array([0.5, -1.5])], [("bad_square", (x(0),))])
        whats = {m.what for m in fuzzlib.check(prog, torch)}
    finally:
        del fuzzlib._specs_by_name()["bad_square"]
    assert "grad" in whats and "jvp" not in whats


# --------------------------------------------------------------------------- fixed piecewise rules
# Reproducers the fuzzer found while the piecewise rules multiplied inf*0 where PyTorch
# selects (shrunk, pasted as printed); they agree with PyTorch since the rules select.

_FIXED = {
    "relu_jvp_inf_times_zero": program(
        "float64",
        [np.array([[1.6234934671386014, 1e-300, 2.270374442432666], [1.4962, -0.0, 0.0]])],
        [("sqrt", (x(0),)), ("relu", (v(0),))],
    ),
    "elu_hvp_at_negative_zero": program(
        "float64",
        [np.array([[-0.0], [1.7930552663873611]])],
        [("elu", (x(0),), {"alpha": 1.3})],
    ),
    "clip_grad_of_nan": program(
        "float64",
        [np.array([[[5e-324, -0.69]], [[np.nan, -0.32]], [[0.05, -1.06]]])],
        [("clip", (x(0),), {"a_min": -0.9, "a_max": 1.05}), ("cosh", (v(0),))],
    ),
    "sign_jvp_of_inf": program(
        "float32",
        [np.array(np.inf, dtype=np.float32)],
        [("square", (x(0),)), ("sign", (v(0),))],
    ),
    "norm_inf_grad_with_nan": program(
        "float32",
        [np.array([np.nan, -0.0, -0.505, 0.235, -0.135], dtype=np.float32)],
        [("norm_inf", (x(0),), {"ord": np.inf})],
    ),
    "matrix_norm1_hvp_with_nan": program(
        "float64",
        [
            np.array(
                [
                    [1.617, np.nan, 0.97, 1.3],
                    [-0.72, -0.0, 1.04, 1.3],
                    [0.73, 5e-324, -1e300, np.nan],
                ]
            )
        ],
        [("norm_matrix1", (x(0),), {"ord": 1, "axis": (1, 0)})],
    ),
}


@pytest.mark.parametrize("name", sorted(_FIXED))
def test_piecewise_rules_select_like_torch_on_fuzzed_edge_values(name):
    mism = fuzzlib.check(_FIXED[name], torch, known=False)
    assert not mism, fuzzlib.report(_FIXED[name], mism)


def test_fixed_ops_are_fuzzed_on_edge_values_again():
    for name, prog in _FIXED.items():
        assert not prog.op_names() & set(fuzzlib.KNOWN_EDGE), name


# --------------------------------------------------------------------------- listed differences
# One reproducer per entry of fuzzlib.KNOWN_CHECKS / KNOWN_TORCH_NAN: it must differ from
# PyTorch in exactly that check without the lists, and agree with them.

_MAX_NAN = program(
    "float32",
    [
        np.array([[np.nan, -0.35, 0.857, -1e38]], dtype=np.float32),
        np.array([1.059, 1.966, -1e38, 1.438], dtype=np.float32),
    ],
    [("maximum_ties", (x(0), x(1)))],
)
_MIN_NAN = program(
    "float64",
    [np.array([[1.78, 1.533, np.nan, 1.67]]), np.array([[[5e-324, 0.738, 0.0, 0.638]]])],
    [("minimum_ties", (x(0), x(1)))],
)


_TOPK_TIES = program(
    "float64",
    [np.array([-0.505, -0.875, -1e300, 0.235, -1e300])],
    [("topk", (x(0),), {"k": 5, "axis": 0, "largest": True})],
)


def _renamed(prog, old, new):
    steps = [(new if st.op == old else st.op, st.args, st.kwargs) for st in prog.steps]
    return program(str(prog.dtype), prog.inputs, steps)


_LSE_TIES = program(
    "float64",
    [np.array([[-1.5928587557063576, 1e300, 1e300], [np.nan, -1.096147632686045, -1.15]])],
    [("logsumexp", (x(0),), {"axis": 1, "keepdims": False})],
)

_LISTED = {
    ("maximum_ties", "jvp", None): _MAX_NAN,
    ("minimum_ties", "jvp", None): _MIN_NAN,
    ("maximum", "jvp", None): _renamed(_MAX_NAN, "maximum_ties", "maximum"),
    ("minimum", "jvp", None): _renamed(_MIN_NAN, "minimum_ties", "minimum"),
    ("leaky_relu", "hvp", None): program(
        "float64",
        [np.array([[-0.6459983565571761, 1e-300, -0.5655], [-0.0, 1e300, -1.5412]])],
        [
            ("log", (x(0),)),
            ("square", (v(0),)),
            ("leaky_relu", (v(1),), {"negative_slope": 0.2}),
        ],
    ),
    ("relu", "hvp", None): program(
        "float64",
        [np.array([np.inf, -np.inf, 1.0])],
        [("square", (x(0),)), ("relu", (v(0),))],
    ),
    ("arctanh", "hvp", "float32"): program(
        "float32",
        [np.array([[-1e38, 1.04], [-1e38, 0.17]], dtype=np.float32)],
        [("einsum", ("i...->...", x(0))), ("arctanh", (v(0),))],
    ),
    ("elu", "hvp", None): program(
        "float64",
        [np.array([np.inf, 0.5045264429144973, 0.0, 1.723017216695642])],
        [("sqrt", (x(0),)), ("elu", (v(0),), {"alpha": 1.3})],
    ),
    ("norm_fro", "hvp", None): program(
        "float64",
        [np.array([[[0.79, 0.42, -1.06, 1.16]], [[1.53, -1.43, 0.05, -0.32]]])],
        [
            ("var", (x(0),), {"axis": -2, "keepdims": False}),
            ("norm_fro", (v(0),), {"ord": None, "axis": (1, 0)}),
        ],
    ),
    ("linalg.norm", "hvp", None): program(
        "float32",
        [
            np.array(
                [[-0.94, 1.27, 1.56, 0.94], [-1.62, 1.03, -0.53, -0.18], [1.98, 0.75, -1.4, -1.0]],
                dtype=np.float32,
            ),
            np.array([[-0.63, 0.74], [0.89, -0.14], [0.8, 0.42]], dtype=np.float32),
        ],
        [
            ("mod", (x(0), x(0))),
            ("inplace_on_view", (v(0), x(1))),
            ("linalg.norm", (v(1),), {"ord": "fro"}),
        ],
    ),
    ("norm0.5", "hvp", None): program(
        "float64",
        [np.array([[1e-300, -1e300, -1.61], [5e-324, 5e-324, 1.03], [1.26, -1.38, -0.0]])],
        [("norm0.5", (x(0),), {"ord": 0.5, "axis": -1})],
    ),
    ("norm-1", "hvp", None): program(
        "float64",
        [np.array([[-0.0, 1.9393567147365447, 0.95], [0.7628623411915624, np.nan, -0.85]])],
        [("norm-1", (x(0),), {"ord": -1, "axis": 0, "keepdims": True})],
    ),
    ("divide", "jvp", None): program(
        "float32",
        [
            np.array([[-1.9683839082717896, 1.4e-45, 0.0, -0.16263486]], dtype=np.float32),
            np.array([[9.999999350456404e-39, -1.28135061, 1.46934366, -1.7421149]], np.float32),
        ],
        [
            ("mod", (x(0), x(1))),
            ("arctan", (v(0),)),
            ("divide", (v(0), v(1))),
            ("clip_min_only", (v(2),), {"a_min": -0.9}),
        ],
    ),
    ("logsumexp", "jvp", None): _LSE_TIES,
    ("logsumexp_large", "jvp", None): _renamed(_LSE_TIES, "logsumexp", "logsumexp_large"),
    ("topk", "grad", None): _TOPK_TIES,
    ("topk", "jvp", None): _TOPK_TIES,
    ("qr_complete_square", "jvp", None): program(
        "float32",
        [
            np.array(
                [
                    [0.217685729265213, 0.19880220293998718, 1.7215522527694702, 0.0745796486],
                    [1.066172480583191, -0.12073415517807007, -0.2724040448665619, 0.296206444],
                ]
            )
        ],
        [
            ("qr_complete_square", (x(0),), {"mode": "complete"}),
            ("arctan", (v(0, 1),)),
            ("log", (v(1),)),
        ],
    ),
    ("log1p", "value", None): program(
        "float32",
        [np.array([[0.91, -1.63], [-1.69, 1.401298464324817e-45]], dtype=np.float32)],
        [("sinh", (x(0),)), ("arctanh", (v(0),)), ("log1p", (v(1),)), ("log", (v(2),))],
    ),
}


@pytest.mark.parametrize("key", sorted(_LISTED, key=str), ids=lambda k: "-".join(map(str, k)))
def test_a_listed_difference_is_real_and_set_aside(key):
    prog = _LISTED[key]
    op, what, dt = key
    assert op in prog.op_names() and (dt is None or str(prog.dtype) == dt)
    raw = fuzzlib.check(prog, torch, known=False)
    assert what in {m.what for m in raw}, fuzzlib.report(prog, raw)
    mism = fuzzlib.check(prog, torch)
    assert not mism, fuzzlib.report(prog, mism)


def test_every_listed_difference_has_a_reproducer():
    assert set(_LISTED) == set(fuzzlib.KNOWN_CHECKS) | set(fuzzlib.KNOWN_TORCH_NAN)


def test_a_torch_nan_entry_still_compares_the_other_elements():
    # A KNOWN_TORCH_NAN entry sets aside only the elements where torch's array is NaN and
    # tapegrad's is not; every other element is still compared.
    a = np.array([1.0, 2.0])
    b = np.array([np.nan, 2.5])
    d = np.dtype(np.float64)
    assert fuzzlib.compare(np.array([1.0, 2.0]), b, d, 2, torch_nan=True) is not None
    assert fuzzlib.compare(np.array([7.0, 2.5]), b, d, 2, torch_nan=True) is None
    assert fuzzlib.compare(np.array([7.0, 2.5]), b, d, 2) is not None
    assert fuzzlib.compare(a, a, d, 2, torch_nan=True) is None


def test_a_listed_difference_is_set_aside_only_downstream_of_its_op():
    # relu's entry covers the inputs that feed relu (x0), not x1; and only hvp.
    prog = program(
        "float64",
        [np.array([np.inf, -np.inf, 1.0]), np.array([0.5, 1.5, 2.0])],
        [("square", (x(0),)), ("relu", (v(0),)), ("sin", (x(1),))],
    )
    allow = fuzzlib._Allowed(prog)
    assert allow.torch_nan("hvp", 0) and not allow.torch_nan("hvp", 1)
    assert allow.torch_nan("jvp", fuzzlib.Ref(1, 1)) is False  # relu's entry is hvp only
    assert not fuzzlib.check(prog, torch)
    assert {m.where for m in fuzzlib.check(prog, torch, known=False)} == {"x0"}


# --------------------------------------------------------------------------- fixed after fuzzing


@pytest.mark.parametrize("op", ["floor", "ceil", "round", "trunc"])
def test_rounding_ops_pass_back_zeros_even_for_an_infinite_cotangent(op):
    # log(round(x)) at round(x) = 0 sends an inf cotangent into round; inf * 0 was NaN.
    prog = program("float64", [np.array([0.3, 2.2, -0.2])], [(op, (x(0),)), ("log", (v(0),))])
    assert not fuzzlib.check(prog, torch)
    xt = tg.tensor([0.3, 2.2], requires_grad=True)
    (g,) = tg.autograd.grad(tg.log(getattr(tg, op)(xt) * 1.0), [xt], np.ones(2))
    assert np.array_equal(g.data, [0.0, 0.0])


def test_arctan2_gradient_is_zero_where_the_squared_radius_is_zero():
    # The fuzzer's reproducer: logsumexp(x) - itself is exactly 0, then arctan2(0, 0).
    prog = program(
        "float64",
        [np.array([[-903.4, -899.55, -908.2, 5e-324], [-892.29, -905.46, 0.5, -906.57]])],
        [
            ("logsumexp_large", (x(0),), {"axis": 1, "keepdims": False}),
            ("subtract", (v(0), v(0))),
            ("arctan2", (v(1), v(1))),
        ],
    )
    # torch's forward mode gives NaN there, its reverse mode 0; tapegrad gives 0 in both.
    # (known=False: logsumexp's own listed jvp difference would set this one aside too.)
    mism = fuzzlib.check(prog, torch, known=False)
    assert [m.what for m in mism] == ["jvp"] and "torch np.float64(nan)" in mism[0].detail
    y = tg.tensor([0.0, 1e-200, 1.0], requires_grad=True)
    xx = tg.tensor([0.0, 1e-200, 2.0], requires_grad=True)
    gy, gx = tg.autograd.grad(tg.sum(tg.arctan2(y, xx)), [y, xx])
    np.testing.assert_allclose(gy.data, [0.0, 0.0, 0.4])
    np.testing.assert_allclose(gx.data, [0.0, 0.0, -0.2])


def test_power_exponent_gradient_multiplies_the_cotangent_after_selecting_zero():
    # At x = 0, y >= 0 the y-derivative is taken as 0; PyTorch multiplies the cotangent by
    # that 0, so an inf cotangent (from arccos(0**0) = arccos(1)) gives NaN, as here.
    prog = program(
        "float64",
        [np.array([0.11787242, -0.0, 0.66170314])],
        [("power", (x(0), x(0))), ("arccos", (v(0),))],
    )
    assert not fuzzlib.check(prog, torch)
    u = tg.tensor([-0.0, 0.5], requires_grad=True)
    (g,) = tg.autograd.grad(tg.sum(tg.arccos(tg.power(u, u))), [u])
    assert np.isnan(g.data[0]) and np.isfinite(g.data[1])


def test_log10_hessian_of_a_reciprocal_of_huge_values_is_nan_like_pytorchs():
    # The fuzzer's reproducer (seed 0, index 159): reciprocal(1e300) = 1e-300, whose
    # derivative -1e-600 underflows to 0; log10's second derivative there is inf.  PyTorch's
    # grad / (x * ln 10) and -g * ((x / y) / y) make that 0 * inf NaN; tapegrad now follows.
    prog = program(
        "float64",
        [np.array([1e300, -0.505, 0.235, 0.605, -1e300])],
        [("sort", (x(0),), {"axis": -1}), ("reciprocal", (v(0),)), ("log10", (v(1),))],
    )
    assert not fuzzlib.check(prog, torch, known=False)
