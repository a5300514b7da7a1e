"""A seeded random-program fuzzer: compositions of tapegrad ops compared with PyTorch.

The op pool is the op spec table (``tests/opinfo``): every spec with a ``torch_fn`` takes part,
so a new op is fuzzed as soon as its spec names a PyTorch reference.  Specs whose primitives
are all elementwise are applied to any shape (binary ones with random broadcasting); every
other spec is applied with the arguments of one of its samples (shapes, axes, keepdims, ...),
its array inputs coming from earlier results of the same shape or, failing that, from the
sample's own values (which satisfy structural domains such as positive definiteness).

A program is a DAG of 1-6 steps over 1-3 inputs, reproducible from ``(seed, index)``.  In an
*in-domain* program every step's inputs lie in the domain of its spec's sample generator (the
functions ``real``, ``positive``, ``unit``, ... of ``tests/opinfo``; for other generators the
value range of the samples); an *edge* program plants 0, -0.0, +-inf, NaN, huge and tiny
values in its inputs and ignores domains.  :func:`check` compares with PyTorch: the value of
every step, reverse-mode gradients (a random cotangent for every sink), forward-mode tangents
(``tg.jvp`` vs ``torch.func.jvp``) and a Hessian-vector product (``create_graph`` in both).
Arrays agree when NaN, +inf and -inf sit at the same places and the finite entries are close
(tolerances per dtype, see :data:`TOLERANCES`).

A failure message holds the program twice: as readable code, and as a :func:`program` literal
that rebuilds it for a regression test (``check(program(...))``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad.ops.registry import REGISTRY

from . import opinfo
from .opinfo import OpSpec, Sample, all_specs
from .opinfo import elementwise as _ew_specs

# --------------------------------------------------------------------------- known divergences

# Spec name -> why tapegrad and PyTorch differ.  ``KNOWN_EDGE`` ops are left out of edge-value
# programs only (their in-domain behaviour matches).  Prefer a narrow entry in
# ``KNOWN_CHECKS`` (one op, one kind of check) where the difference is explained.
KNOWN_EDGE: dict[str, str] = {
    # Reported, not fixed here.
    **dict.fromkeys(
        ["prod", "prod_zeros", "cumprod", "cumprod_zeros"],
        "the rules divide by x: NaN with an inf or NaN input where PyTorch's are finite",
    ),
    "binary_cross_entropy_with_logits": "forward mode: inf where torch's tangent is NaN "
    "(x = y = inf)",
    "softplus_beta": "Hessian-vector product finite where torch's is NaN, for huge inputs",
    "gelu": "float32 gelu(inf) is inf where torch's is NaN",
    "softplus": "Hessian-vector product finite where torch's is NaN, for huge inputs",
    "eigh": "gradient NaN where torch's is finite when a cotangent is inf",
    "power": "second order: its rules select with where, whose rule multiplies inf*0 "
    "(being fixed)",
    "softmax": "forward mode: 0 where torch's tangent is NaN (non-finite inputs)",
    **dict.fromkeys(
        ["var", "var_ddof1", "std", "std_ddof1"],
        "float32 overflow: (x - mean)**2 is inf for |x| ~ 1e38 where torch's std is finite",
    ),
    **dict.fromkeys(
        ["norm2", "norm_fro", "norm_at_zero"],
        "vector_norm squares without scaling: 0 for 1e-300 (torch 1e-300, gradient 1), inf "
        "for float32 1e38; its Hessian at 0 is 0 where torch's is NaN",
    ),
    **dict.fromkeys(
        ["avg_pool2d", "adaptive_avg_pool2d", "conv2d", "conv1d"],
        "computed through matmul/conv with zero weights: an inf or NaN input leaks NaN "
        "(inf*0) into other windows and gradients, where PyTorch's values are finite",
    ),
}
# Left out of every program.
KNOWN_ALWAYS: dict[str, str] = {
    "std_at_zero": "its samples sit exactly on std = 0, where one rounding of the mean "
    "decides the gradient: tapegrad gives O(1) values, torch (exact mean) 0",
}
# PyTorch behaviour tapegrad deliberately does not share (never fuzzed in that mode).
DELIBERATE_EDGE: dict[str, str] = {
    "arctan2": "at x*x + y*y == 0 torch's reverse mode gives 0 and its forward mode NaN; "
    "tapegrad gives 0 in both",
    "cbrt": "torch has no cbrt; the spec's reference sign(x)*|x|**(1/3) has a NaN derivative "
    "at 0 where cbrt's is +inf",
}

# Narrow, explained differences: (spec name, check, dtype name or None for both) -> reason,
# mirroring ``OpSpec.edge_allow`` (tests/opinfo).  check is "value", "grad", "jvp" or "hvp".
# A mismatch of that check is set aside only where it depends on a step of that spec: a
# value or jvp of a result computed from it, a gradient or hvp of an input that feeds it.
# ``KNOWN_TORCH_NAN`` entries set aside even less: only the elements where PyTorch's array is
# NaN and tapegrad's is not (every other element is still compared).  Each entry has a
# reproducer in tests/test_fuzz.py that must really differ without the entry.
_TORCH_ZERO_INTO_INPUT = (
    "PyTorch's double backward of {} sends an explicit zero cotangent into its saved {}; "
    "where the op before has an infinite derivative there (square of an inf, log of 0, ...) "
    "that zero times inf is NaN, where the exact second derivative (and tapegrad's) is finite"
)
KNOWN_TORCH_NAN: dict[tuple, str] = {
    ("relu", "hvp", None): _TORCH_ZERO_INTO_INPUT.format("relu", "result"),
    ("leaky_relu", "hvp", None): _TORCH_ZERO_INTO_INPUT.format("leaky_relu", "input"),
    ("arctanh", "hvp", "float32"): _ew_specs._F32_GG,
    ("elu", "hvp", None): "PyTorch's elu double backward multiplies its input-side term by "
    "the mask (x < 0) where tapegrad selects: a zero cotangent reaches the saved input also "
    "for x >= 0 (NaN after sqrt at 0, whose derivative is inf), and a NaN cotangent (from "
    "mod(inf, inf)) times that 0 is NaN",
    **dict.fromkeys(
        [("norm_fro", "hvp", None), ("linalg.norm", "hvp", None)],
        "the Hessian of the 2-norm at x = 0 does not exist; PyTorch's double backward sends "
        "the zero of its masked grad / norm into -g * ((grad / norm) / norm): 0 * inf, NaN; "
        "tapegrad gives 0 (in-domain programs reach 0 too: var over a size-1 axis, x mod x)",
    ),
    **dict.fromkeys(
        [("norm0.5", "hvp", None), ("norm-1", "hvp", None)],
        "PyTorch's double backward of |x|**(p-1) (masked at x == 0) sends the masked zero "
        "through pow's derivative (p-1)|x|**(p-2) = inf at x = 0: NaN, where tapegrad's "
        "select gives 0",
    ),
}
KNOWN_CHECKS: dict[tuple, str] = {
    **{(op, "jvp", None): _ew_specs._EXTREMUM_FW for op in ("maximum", "minimum")},
    **{(op, "jvp", None): _ew_specs._EXTREMUM_FW for op in ("maximum_ties", "minimum_ties")},
    **dict.fromkeys(
        [("topk", "grad", None), ("topk", "jvp", None)],
        "the order of tied values in torch.topk is implementation-defined (neither stable nor "
        "reversed); equal values, but the gradient of each output goes to a different one of "
        "the tied inputs (in-domain samples are distinct)",
    ),
    ("qr_complete_square", "jvp", None): "PyTorch's forward mode leaves a rounding residue "
    "(~1e-8 in float32) in the tangent of R's structural zeros, where tapegrad's is exactly "
    "0: a later log of those zeros makes torch's tangent +-inf and tapegrad's 0 * inf = NaN",
    ("divide", "jvp", None): _ew_specs._TORCH_FW_DIFFERS + ": PyTorch's (t_x - t_y * (x/y)) "
    "/ y cancels before dividing where the partials t_x / y and t_y * (x/y) / y overflow "
    "(inf - inf: NaN) for a subnormal y",
    **dict.fromkeys(
        [("logsumexp", "jvp", None), ("logsumexp_large", "jvp", None)],
        _ew_specs._TORCH_FW_DIFFERS + ": PyTorch's forward mode divides by sum(exp(x - max)), "
        "its reverse mode uses exp(x - result); at k tied maxima so large that log(k) is lost "
        "in rounding (1e300 + log 2 == 1e300) the reverse-mode gradient is k times larger",
    ),
    ("log1p", "value", None): "PyTorch's log1p kernel returns 0 for the smallest subnormal "
    "(log1p(5e-324) = 0 in float64, log1p(1e-45) = 0 in float32); tapegrad's (NumPy's) "
    "returns x: a later log makes -inf of torch's 0 (values past it are not compared)",
}

# (rtol, atol) per dtype and order of derivative (0: values, 1: gradients and tangents,
# 2: Hessian-vector products); the atol is scaled by the largest finite magnitude in the
# pair (at least 1).  Rounding differences grow with the order: each derivative multiplies
# by a condition number.
TOLERANCES = {
    np.dtype(np.float64): ((1e-7, 1e-9), (1e-6, 1e-8), (1e-5, 1e-7)),
    np.dtype(np.float32): ((2e-4, 2e-5), (5e-4, 5e-5), (1e-3, 1e-4)),
}

# Primitives that call LAPACK: numpy.linalg can hang on NaN or inf, so edge programs never
# feed them non-finite (or huge) values.
LAPACK_PRIMS = frozenset({"cholesky", "det", "eigh", "inv", "qr", "slogdet", "solve", "svd"})

EDGE_VALUES_F64 = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 1e-300, 5e-324]
EDGE_VALUES_F32 = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e38, -1e38, 1e-38, 1e-45]

# --------------------------------------------------------------------------- domains


def _pred_real(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)) and np.all(np.abs(x) <= 50))


def _pred_positive(x: np.ndarray) -> bool:
    return bool(np.all(x >= 0.05) and np.all(x <= 1e4))


def _pred_unit(x: np.ndarray) -> bool:
    return bool(np.all(np.abs(x) <= 0.95))


def _pred_gt1(x: np.ndarray) -> bool:
    return bool(np.all(x >= 1.05) and np.all(x <= 1e4))


def _pred_nonzero(x: np.ndarray) -> bool:
    return bool(np.all(np.abs(x) >= 0.05) and np.all(np.abs(x) <= 50))


def _pred_distinct(x: np.ndarray) -> bool:
    if not _pred_real(x):
        return False
    v = np.sort(x.ravel())
    return bool(v.size < 2 or np.min(np.diff(v)) >= 1e-3)


def _pred_away_from_ints(x: np.ndarray) -> bool:
    return bool(_pred_real(x) and np.all(np.abs(x - np.round(x)) >= 0.05))


# The sample generators of tests/opinfo -> what an input must satisfy to be in their domain.
DOMAIN_PREDICATES = {
    opinfo.real: _pred_real,
    opinfo.positive: _pred_positive,
    opinfo.unit: _pred_unit,
    opinfo.gt1: _pred_gt1,
    opinfo.nonzero: _pred_nonzero,
    opinfo.distinct: _pred_distinct,
    _ew_specs._kink_free: _pred_nonzero,
    _ew_specs._away_from_ints: _pred_away_from_ints,
}


def _range_pred(lo: float, hi: float):
    """For sample generators the table does not know: the range the samples span."""
    pad = 0.05 * (hi - lo)

    def pred(x: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(x)) and np.all(x >= lo - pad) and np.all(x <= hi + pad))

    return pred


def _closure_vars(fn: Any) -> dict:
    cells = getattr(fn, "__closure__", None) or ()
    return {n: c.cell_contents for n, c in zip(fn.__code__.co_freevars, cells)}


# --------------------------------------------------------------------------- the op pool


@dataclass
class PoolOp:
    """One spec as the fuzzer sees it."""

    spec: OpSpec
    kind: str  # "ew1", "ew2" (elementwise, any shape) or "sample"
    samples: list  # float64 samples (structure; values are drawn afresh per use)
    info: list  # per sample: (float positions, output shapes or None)
    domain_fns: list  # ew: per float arg, the generator (or None)
    preds: list  # ew: per float arg; sample: per sample, per float position
    diff: bool
    lapack: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


def _diff_positions(sample: Sample) -> list[int]:
    return [
        i
        for i, a in enumerate(sample.args)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in sample.nondiff
    ]


def _outs(res: Any) -> list:
    return list(res) if isinstance(res, (tuple, list)) else [res]


def _run_sample(spec: OpSpec, sample: Sample) -> list | None:
    try:
        args = [tg.tensor(a) if isinstance(a, np.ndarray) else a for a in sample.args]
        return [np.asarray(o.data) for o in _outs(spec.op(*args, **sample.kwargs))]
    except Exception:
        return None


def _classify(spec: OpSpec, samples: list) -> tuple[str, list]:
    prims_ew = bool(spec.prims) and all(
        p in REGISTRY and REGISTRY[p].elementwise for p in spec.prims
    )
    info = []
    for s in samples:
        outs = _run_sample(spec, s)
        info.append((_diff_positions(s), None if outs is None else [o.shape for o in outs]))
    if prims_ew:
        nfloat = {len(f) for f, _ in info}
        all_float = all(
            all(not isinstance(a, np.ndarray) or a.dtype.kind == "f" for a in s.args)
            for s in samples
        )
        arity = {len(s.args) for s in samples}
        if all_float and len(nfloat) == 1 and arity == nfloat and nfloat <= {1, 2}:
            return ("ew1" if nfloat == {1} else "ew2"), info
    return "sample", info


def _ew_domains(spec: OpSpec, samples: list, nargs: int) -> tuple[list, list]:
    free = _closure_vars(spec.samples)
    names = ["domain"] if nargs == 1 else ["dom_x", "dom_y"]
    fns, preds = [], []
    for k, n in enumerate(names):
        fn = free.get(n) or (free.get("dom_x") if n == "dom_y" else None)
        pred = DOMAIN_PREDICATES.get(fn) if fn is not None else None
        if pred is None:
            vals = np.concatenate([np.ravel(s.args[k]) for s in samples] + [np.zeros(0)])
            vals = vals[np.isfinite(vals)]
            lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (-1.0, 1.0)
            pred = _range_pred(lo, hi)
            fn = None
        fns.append(fn)
        preds.append(pred)
    return fns, preds


def _never(x: np.ndarray) -> bool:
    return False


def _sample_preds(spec: OpSpec, samples: list, info: list) -> list:
    """Per sample, per float input: which earlier results may stand in for it.

    A generator from :data:`DOMAIN_PREDICATES` gives its predicate; a generator the table does
    not know (positive definite, well conditioned, distinct singular values, ...) admits only
    the sample's own values; specs without a named generator (shape ops) take any finite
    values in the range their samples span.
    """
    free = _closure_vars(spec.samples)
    fn = free.get("domain", free.get("dom"))
    known = DOMAIN_PREDICATES.get(fn, _never) if callable(fn) else None
    out = []
    for s, (fpos, _) in zip(samples, info):
        preds = []
        for i in fpos:
            a = s.args[i]
            if known is not None:
                preds.append(known)
            else:
                fin = a[np.isfinite(a)]
                lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (-1.0, 1.0)
                preds.append(_range_pred(lo, hi))
        out.append(preds)
    return out


@cache
def pool(dtype_name: str = "float64") -> tuple[PoolOp, ...]:
    """The fuzzed ops for one dtype: every spec with a torch reference, less the known ones."""
    dtype = np.dtype(dtype_name)
    ops = []
    for spec in all_specs():
        if spec.torch_fn is None or spec.name in KNOWN_ALWAYS:
            continue
        if dtype.type not in spec.dtypes and dtype != np.float64:
            continue
        samples = spec.samples(np.random.default_rng(0), np.float64)
        kind, info = _classify(spec, samples)
        if kind == "sample":
            keep = [k for k, (_, o) in enumerate(info) if o is not None]
            samples = [samples[k] for k in keep]
            info = [info[k] for k in keep]
            if not samples:
                continue
            fns, preds = [], _sample_preds(spec, samples, info)
        else:
            fns, preds = _ew_domains(spec, samples, 1 if kind == "ew1" else 2)
        lapack = bool(LAPACK_PRIMS.intersection(spec.prims))
        ops.append(PoolOp(spec, kind, samples, info, fns, preds, spec.grad, lapack))
    return tuple(ops)


@cache
def _specs_by_name() -> dict:
    return {s.name: s for s in all_specs()}


def spec(name: str) -> OpSpec:
    """The spec of a fuzzed op, by its spec name (what program literals refer to)."""
    try:
        return _specs_by_name()[name]
    except KeyError:
        raise KeyError(f"no op spec named {name!r} in tests/opinfo") from None


# --------------------------------------------------------------------------- programs


@dataclass(frozen=True)
class Ref:
    """An input (``step is None``) or output ``out`` of step ``step``."""

    step: int | None
    i: int
    out: int | None = None

    def __repr__(self) -> str:
        if self.step is None:
            return f"x({self.i})"
        return f"v({self.step})" if self.out is None else f"v({self.step}, {self.out})"

    def var(self) -> str:
        if self.step is None:
            return f"x{self.i}"
        return f"v{self.step}" if self.out is None else f"v{self.step}[{self.out}]"


def x(i: int) -> Ref:
    """Program input ``i`` (in :func:`program` literals)."""
    return Ref(None, i)


def v(step: int, out: int | None = None) -> Ref:
    """The result of step ``step`` (output ``out`` of a multi-output op)."""
    return Ref(step, step, out)


@dataclass
class Step:
    op: str  # spec name
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass
class Program:
    dtype: np.dtype
    inputs: list
    steps: list
    seed: Any = None
    index: Any = None
    edge: bool = False

    # ------------------------------------------------------------------ rendering
    def code(self) -> str:
        """Readable tapegrad code: one line per step."""
        head = f"# fuzz program seed={self.seed} index={self.index} dtype={self.dtype}"
        lines = [head + (" (edge values)" if self.edge else "")]
        for i, a in enumerate(self.inputs):
            lines.append(f"x{i} = tg.tensor({_arr(a)}, requires_grad=True)")
        for j, st in enumerate(self.steps):
            args = [a.var() if isinstance(a, Ref) else _val(a) for a in st.args]
            args += [f"{k}={_val(w)}" for k, w in st.kwargs.items()]
            lines.append(f"v{j} = {_op_name(st.op)}({', '.join(args)})")
        return "\n".join(lines)

    def literal(self) -> str:
        """A :func:`program` call that rebuilds this program."""
        ins = ", ".join(_arr(a) for a in self.inputs)
        steps = []
        for st in self.steps:
            args = ", ".join(repr(a) if isinstance(a, Ref) else _val(a) for a in st.args)
            if len(st.args) == 1:
                args += ","
            kw = f", {{{', '.join(f'{k!r}: {_val(w)}' for k, w in st.kwargs.items())}}}"
            steps.append(f"        ({st.op!r}, ({args}){kw if st.kwargs else ''}),")
        return (
            f"program(\n    {str(self.dtype)!r},\n    [{ins}],\n    [\n"
            + "\n".join(steps)
            + "\n    ],\n)"
        )

    def __str__(self) -> str:
        return self.code() + "\n# as a literal (tests/fuzzlib.py):\n" + self.literal()

    def op_names(self) -> set:
        return {st.op for st in self.steps}


def program(dtype: str, inputs: list, steps: list) -> Program:
    """Rebuild a program from its literal (see :meth:`Program.literal`)."""
    dt = np.dtype(dtype)
    return Program(
        dt,
        [np.asarray(a, dtype=dt) for a in inputs],
        [Step(s[0], tuple(s[1]), dict(s[2]) if len(s) > 2 else {}) for s in steps],
        seed="literal",
    )


def _op_name(name: str) -> str:
    op = spec(name).op
    n = getattr(op, "__name__", "")
    return f"tg.{n}" if n and getattr(tg, n, None) is op else f"spec({name!r}).op"


def _num(f: float) -> str:
    if np.isnan(f):
        return "np.nan"
    if np.isinf(f):
        return "np.inf" if f > 0 else "-np.inf"
    return repr(float(f))


def _arr(a: np.ndarray) -> str:
    a = np.asarray(a)
    if a.dtype.kind == "f":

        def rec(b):
            if b.ndim == 0:
                return _num(b)
            return "[" + ", ".join(rec(c) for c in b) + "]"

        body = rec(a) if a.size else repr(a.tolist())
        if a.size == 0 and a.ndim:
            return f"np.zeros({a.shape}, dtype=np.{a.dtype})"
        return f"np.array({body}, dtype=np.{a.dtype})"
    return f"np.array({a.tolist()!r}, dtype=np.{a.dtype})"


def _val(w: Any) -> str:
    if isinstance(w, np.ndarray):
        return _arr(w)
    if isinstance(w, float):
        return _num(w)
    if w is Ellipsis:
        return "Ellipsis"
    return repr(w)


# --------------------------------------------------------------------------- generation


def _plant_edges(rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
    if a.size == 0:
        return a
    edges = EDGE_VALUES_F64 if a.dtype == np.float64 else EDGE_VALUES_F32
    a = a.copy()
    flat = a.reshape(-1)
    k = int(rng.integers(1, max(2, flat.size // 2 + 1)))
    for pos in rng.choice(flat.size, size=min(k, flat.size), replace=False):
        flat[pos] = edges[int(rng.integers(len(edges)))]
    return a


_LEAF_SHAPES = [(), (3,), (2, 3), (1, 4), (3, 1, 2), (2, 1), (4,), (2, 2), (0, 3)]
_LEAF_WEIGHTS = np.array([2, 3, 3, 2, 2, 2, 2, 2, 0.3])


def _broadcast_partner(rng: np.random.Generator, shape: tuple) -> tuple:
    r = rng.random()
    if r < 0.4:
        return shape
    if r < 0.55:
        return ()
    s = list(shape)
    if r < 0.7 and s:
        s = s[int(rng.integers(len(s))) :]  # a suffix
    for i in range(len(s)):
        if rng.random() < 0.35:
            s[i] = 1 if s[i] != 1 else int(rng.integers(1, 4))
    if rng.random() < 0.2:
        s = [int(rng.integers(1, 3))] + s
    return tuple(s)


class _Builder:
    def __init__(self, rng, dtype, edge, max_inputs):
        self.rng = rng
        self.dtype = dtype
        self.edge = edge
        self.max_inputs = max_inputs
        self.inputs: list = []
        self.steps: list = []
        self.values: dict = {}  # Ref -> ndarray
        self.usable: list = []  # float refs of differentiable steps and inputs, in order
        self.lapack = False  # the step being built calls LAPACK

    def pick(self, shape, pred) -> Ref | None:
        cands = [
            r
            for r in self.usable
            if (shape is None or self.values[r].shape == shape)
            and (pred is not _never)
            and (self.edge or pred(self.values[r]))
            and not (self.lapack and not _tame(self.values[r]))
        ]
        if not cands or (len(self.inputs) < self.max_inputs and self.rng.random() < 0.2):
            return None
        w = np.array([2.0**k for k in range(len(cands))])
        return cands[int(self.rng.choice(len(cands), p=w / w.sum()))]

    def leaf(self, value: np.ndarray, new: list) -> Ref | None:
        if len(self.inputs) + len(new) >= self.max_inputs:
            return None
        value = np.asarray(value, dtype=self.dtype)
        if self.edge and not self.lapack and self.rng.random() < 0.7:
            value = _plant_edges(self.rng, value)
        ref = Ref(None, len(self.inputs) + len(new))
        new.append((ref, value))
        return ref

    def domain_value(self, fn, pred, shape) -> np.ndarray:
        if fn is not None:
            return np.asarray(fn(self.rng, shape, np.float64), dtype=self.dtype)
        for _ in range(20):
            a = self.rng.uniform(-2, 2, shape)
            if pred(a):
                return a
        return np.asarray(self.rng.uniform(0.5, 0.9, shape))

    def operand(self, shape, fn, pred, new) -> Ref | None:
        r = self.pick(shape, pred)
        if r is not None:
            return r
        for ref, val in new:  # an input made for this step already
            if val.shape == shape and (self.edge or pred(val)) and self.rng.random() < 0.3:
                return ref
        return self.leaf(self.domain_value(fn, pred, shape), new)

    def try_step(self, op: PoolOp) -> bool:
        rng = self.rng
        self.lapack = op.lapack
        new: list = []
        kwargs: dict = {}
        if op.kind == "ew1":
            r = self.pick(None, op.preds[0])
            if r is None:
                shape = _LEAF_SHAPES[int(rng.choice(len(_LEAF_SHAPES), p=_norm(_LEAF_WEIGHTS)))]
                r = self.leaf(self.domain_value(op.domain_fns[0], op.preds[0], shape), new)
            args: list = [r]
            kwargs = dict(op.samples[0].kwargs)
        elif op.kind == "ew2":
            a = self.pick(None, op.preds[0])
            if a is None:
                shape = _LEAF_SHAPES[int(rng.choice(len(_LEAF_SHAPES), p=_norm(_LEAF_WEIGHTS)))]
                a = self.leaf(self.domain_value(op.domain_fns[0], op.preds[0], shape), new)
            if a is None:
                return False
            sa = self._shape(a, new)
            b = self.operand(_broadcast_partner(rng, sa), op.domain_fns[1], op.preds[1], new)
            args = [a, b]
            if rng.random() < 0.3:
                args.reverse()
                if op.preds[0] is not op.preds[1]:
                    return False
            kwargs = dict(op.samples[0].kwargs)
        else:
            k = int(rng.integers(len(op.samples)))
            base = op.samples[k]
            fresh = op.spec.samples(rng, self.dtype.type)
            sample = fresh[k] if len(fresh) == len(op.samples) else base
            fpos, _ = op.info[k]
            args = list(sample.args)
            for p, pred in zip(fpos, op.preds[k]):
                shape = np.shape(sample.args[p])
                r = self.pick(shape, pred)
                if r is None:
                    r = self.leaf(sample.args[p], new)
                args[p] = r
            kwargs = dict(sample.kwargs)
        if any(a is None for a in args):
            return False
        values = dict(self.values)
        values.update(new)
        try:
            with np.errstate(all="ignore"):
                targs = [tg.tensor(values[a]) if isinstance(a, Ref) else a for a in args]
                res = op.spec.op(*targs, **kwargs)
                outs = [np.asarray(o.data) for o in _outs(res)]
        except Exception:
            return False
        if not self.edge:
            for o in outs:
                if o.dtype.kind == "f" and not (
                    np.all(np.isfinite(o)) and np.all(np.abs(o) <= 1e6)
                ):
                    return False
        j = len(self.steps)
        for ref, val in new:
            self.inputs.append(val)
            self.values[ref] = val
            self.usable.append(ref)
        multi = isinstance(res, (tuple, list))
        self.steps.append(Step(op.name, tuple(args), kwargs))
        for k, o in enumerate(outs):
            ref = Ref(j, j, k if multi else None)
            self.values[ref] = o
            if op.diff and o.dtype.kind == "f":
                self.usable.append(ref)
        return True

    def _shape(self, r: Ref, new: list) -> tuple:
        if r in self.values:
            return self.values[r].shape
        return dict(new)[r].shape


def _tame(a: np.ndarray) -> bool:
    with np.errstate(over="ignore"):
        return bool(np.all(np.isfinite(a)) and np.all(np.abs(a) < 1e100))


def _norm(w: np.ndarray) -> np.ndarray:
    return w / w.sum()


def generate(seed: int, index: int) -> Program:
    """The program numbered ``index`` of the run seeded ``seed``."""
    rng = np.random.default_rng([seed, index])
    dtype = np.dtype(np.float32 if rng.random() < 0.25 else np.float64)
    edge = bool(rng.random() < 0.25)
    n_ops = int(rng.integers(1, 7))
    b = _Builder(rng, dtype, edge, int(rng.integers(1, 4)))
    ops = [
        p
        for p in pool(dtype.name)
        if not (edge and (p.name in KNOWN_EDGE or p.name in DELIBERATE_EDGE))
    ]
    attempts = 0
    while len(b.steps) < n_ops and attempts < 40 * n_ops:
        attempts += 1
        b.try_step(ops[int(rng.integers(len(ops)))])
    return Program(dtype, b.inputs, b.steps, seed, index, edge)


# --------------------------------------------------------------------------- execution


def _sinks(prog: Program, outs: dict) -> list:
    """Float results of differentiable steps that no differentiable step consumes."""
    used = set()
    for st in prog.steps:
        if spec(st.op).grad:
            used.update(a for a in st.args if isinstance(a, Ref))
    res = []
    for ref, val in outs.items():
        if ref.step is None or ref in used:
            continue
        if spec(prog.steps[ref.step].op).grad and _is_float(val):
            res.append(ref)
    return res


def _is_float(t: Any) -> bool:
    dt = getattr(t, "dtype", None)
    if dt is None:
        return False
    return getattr(dt, "is_floating_point", None) is True or (
        isinstance(dt, np.dtype) and dt.kind == "f"
    )


def run_tapegrad(prog: Program, xs: list) -> dict:
    env: dict = {Ref(None, i): t for i, t in enumerate(xs)}
    for j, st in enumerate(prog.steps):
        s = spec(st.op)
        res = s.op(*[env[a] if isinstance(a, Ref) else a for a in st.args], **st.kwargs)
        if isinstance(res, (tuple, list)):
            for k, o in enumerate(res):
                env[Ref(j, j, k)] = o
        else:
            env[Ref(j, j)] = res
    return env


def run_torch(torch: Any, prog: Program, xs: list) -> dict:
    env: dict = {Ref(None, i): t for i, t in enumerate(xs)}
    for j, st in enumerate(prog.steps):
        s = spec(st.op)
        args = [
            env[a] if isinstance(a, Ref) else (torch.tensor(a) if isinstance(a, np.ndarray) else a)
            for a in st.args
        ]
        res = s.torch_fn(torch, *args, **st.kwargs)
        if isinstance(res, (tuple, list)):
            for k, o in enumerate(res):
                env[Ref(j, j, k)] = o
        else:
            env[Ref(j, j)] = res
    return env


@contextlib.contextmanager
def _torch_default_dtype(torch: Any, dtype: np.dtype):
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(prev)


# --------------------------------------------------------------------------- comparison


@dataclass
class Mismatch:
    what: str  # "value", "grad", "jvp", "hvp", "raises", "dtype"
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.what} of {self.where}: {self.detail}"


def compare(
    a: np.ndarray, b: np.ndarray, dtype: np.dtype, order: int = 0, torch_nan: bool = False
) -> str | None:
    """None when ``a`` (tapegrad) and ``b`` (torch) agree, else what differs.  With
    ``torch_nan`` the elements where ``b`` is NaN and ``a`` is not are not compared."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        return f"shape {a.shape} vs torch {b.shape}"
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        if not np.array_equal(a, b):
            return f"{a!r} vs torch {b!r}"
        return None
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if torch_nan:
        b64 = np.where(np.isnan(b64) & ~np.isnan(a64), a64, b64)
    for name, fn in (("nan", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        pa, pb = fn(a64), fn(b64)
        if not np.array_equal(pa, pb):
            bad = np.argwhere(pa != pb)[:4].tolist()
            return f"{name} pattern differs at {bad}: {_pair(a64, b64, bad)}"
    fin = np.isfinite(a64) & np.isfinite(b64)
    if not fin.any():
        return None
    rtol, atol = TOLERANCES[np.dtype(dtype)][order]
    scale = max(1.0, float(np.max(np.abs(b64[fin]))), float(np.max(np.abs(a64[fin]))))
    err = np.abs(a64 - b64)
    bad_mask = fin & (err > atol * scale + rtol * np.abs(b64))
    if bad_mask.any():
        bad = np.argwhere(bad_mask)[:4].tolist()
        return f"values differ at {bad}: {_pair(a64, b64, bad)}"
    return None


def _pair(a: np.ndarray, b: np.ndarray, idx: list) -> str:
    return "; ".join(f"{tuple(i)}: tapegrad {a[tuple(i)]!r} torch {b[tuple(i)]!r}" for i in idx)


def _np(t: Any) -> np.ndarray:
    if t is None:
        return None
    if type(t).__module__.startswith("torch"):
        t = t.detach()
        if t.numel() == 0 or t._is_zerotensor():
            # A ZeroTensor gradient (and an empty one) can crash .numpy(): build the zeros.
            import torch

            return np.zeros(tuple(t.shape), dtype=torch.empty(0, dtype=t.dtype).numpy().dtype)
        return t.numpy()
    return np.asarray(getattr(t, "data", t))


def check(prog: Program, torch: Any = None, known: bool = True) -> list[Mismatch]:
    """Compare ``prog`` in tapegrad and PyTorch; the list of mismatches (empty: agree).

    ``known``: set aside the differences listed in :data:`KNOWN_CHECKS` and
    :data:`KNOWN_TORCH_NAN` (False: report everything)."""
    if torch is None:
        import torch
    rng = np.random.default_rng([7, len(prog.steps), len(prog.inputs)])
    dtype = prog.dtype
    allow = _Allowed(prog) if known else None
    with _torch_default_dtype(torch, dtype), np.errstate(all="ignore"):
        return _check(prog, torch, rng, dtype, allow)


class _Allowed:
    """Which listed differences apply where in one program (see :data:`KNOWN_CHECKS`)."""

    def __init__(self, prog: Program):
        # per step: the spec names of that step and of every step it depends on
        self.up: list[set] = []
        # per input: the spec names of the steps it feeds (directly or not)
        self.down: list[set] = [set() for _ in prog.inputs]
        reads: list[set] = []  # per step: the inputs it depends on
        for st in prog.steps:
            up, ins = {st.op}, set()
            for a in st.args:
                if isinstance(a, Ref):
                    if a.step is None:
                        ins.add(a.i)
                    else:
                        up |= self.up[a.step]
                        ins |= reads[a.step]
            self.up.append(up)
            reads.append(ins)
            for i in ins:
                self.down[i].add(st.op)
        self.dtype = str(prog.dtype)

    def _ops(self, what: str, where: Ref | int) -> set:
        if what in ("grad", "hvp"):
            return self.down[where]  # type: ignore[index]
        return self.up[where.step]  # type: ignore[union-attr]

    def _hit(self, table: dict, what: str, where: Ref | int) -> bool:
        ops = self._ops(what, where)
        return any((op, what, dt) in table for op in ops for dt in (None, self.dtype))

    def skip(self, what: str, where: Ref | int) -> bool:
        """The whole comparison of ``what`` at ``where`` is set aside."""
        return self._hit(KNOWN_CHECKS, what, where)

    def torch_nan(self, what: str, where: Ref | int) -> bool:
        """Elements where only torch's result is NaN are set aside."""
        return self._hit(KNOWN_TORCH_NAN, what, where)


def _check(
    prog: Program, torch: Any, rng: np.random.Generator, dtype: np.dtype, allow: Any
) -> list:
    out: list[Mismatch] = []

    def cmp(what: str, where: Any, a: Any, b: Any, order: int) -> str | None:
        if allow is not None and allow.skip(what, where):
            return None
        tn = allow is not None and allow.torch_nan(what, where)
        return compare(a, b, dtype, order, torch_nan=tn)

    xs = [tg.tensor(a, requires_grad=True) for a in prog.inputs]
    txs = [torch.tensor(a).requires_grad_(True) for a in prog.inputs]
    try:
        env = run_tapegrad(prog, xs)
    except Exception as e:  # noqa: BLE001
        try:
            run_torch(torch, prog, [t.detach() for t in txs])
        except Exception:
            return []  # both refuse these inputs
        return [Mismatch("raises", "tapegrad", f"{type(e).__name__}: {e}")]
    try:
        tenv = run_torch(torch, prog, txs)
    except Exception as e:  # noqa: BLE001
        return [Mismatch("raises", "torch only", f"{type(e).__name__}: {e}")]
    skipped_value = False
    for ref in env:
        if ref.step is None:
            continue
        a, b = _np(env[ref]), _np(tenv[ref])
        if str(a.dtype) != str(b.dtype):
            out.append(Mismatch("dtype", ref.var(), f"{a.dtype} vs torch {b.dtype}"))
            continue
        if compare(a, b, dtype):
            msg = cmp("value", ref, a, b, 0)
            if not msg:
                skipped_value = True  # torch's values differ downstream: stop comparing
                continue
            out.append(Mismatch("value", ref.var(), msg))
    if out or skipped_value:
        return out
    sinks = [r for r in _sinks(prog, env) if env[r].requires_grad and tenv[r].requires_grad]
    if not sinks:
        return out
    ws = [rng.standard_normal(env[r].shape).astype(dtype) for r in sinks]
    vs = [rng.standard_normal(a.shape).astype(dtype) for a in prog.inputs]
    us = [rng.standard_normal(a.shape).astype(dtype) for a in prog.inputs]
    # reverse mode, with the graph kept for the Hessian-vector product
    gs = tg.autograd.grad(
        [env[r] for r in sinks], xs, grad_outputs=ws, create_graph=True, allow_unused=True
    )
    tgs = torch.autograd.grad(
        [tenv[r] for r in sinks],
        txs,
        grad_outputs=[torch.tensor(w) for w in ws],
        create_graph=True,
        allow_unused=True,
    )
    for i, (g, tgr) in enumerate(zip(gs, tgs)):
        a = np.zeros_like(prog.inputs[i]) if g is None else _np(g)
        b = np.zeros_like(prog.inputs[i]) if tgr is None else _np(tgr)
        msg = cmp("grad", i, a, b, 1)
        if msg:
            out.append(Mismatch("grad", f"x{i}", msg))
    # second order: d/dx <grad, v>, unless a spec says its op has no second derivative
    if not all(spec(st.op).gradgrad for st in prog.steps if spec(st.op).grad):
        vs = []
    hv = [(g, v) for g, v in zip(gs, vs) if g is not None and g.requires_grad]
    thv = [(g, torch.tensor(v)) for g, v in zip(tgs, vs) if g is not None and g.requires_grad]
    h = (
        tg.autograd.grad([g for g, _ in hv], xs, [v for _, v in hv], allow_unused=True)
        if hv
        else []
    )
    th = (
        torch.autograd.grad([g for g, _ in thv], txs, [v for _, v in thv], allow_unused=True)
        if thv
        else []
    )
    for i in range(len(vs)):
        a = _np(h[i]) if hv and h[i] is not None else np.zeros_like(prog.inputs[i])
        b = _np(th[i]) if thv and th[i] is not None else np.zeros_like(prog.inputs[i])
        msg = cmp("hvp", i, a, b, 2)
        if msg:
            out.append(Mismatch("hvp", f"x{i}", msg))

    # forward mode
    def f_tg(*args):
        e = run_tapegrad(prog, list(args))
        return tuple(e[r] for r in sinks)

    def f_torch(*args):
        e = run_torch(torch, prog, list(args))
        return tuple(e[r] for r in sinks)

    try:
        _, tt = torch.func.jvp(
            f_torch,
            tuple(torch.tensor(a) for a in prog.inputs),
            tuple(torch.tensor(u) for u in us),
        )
    except Exception:  # torch has no forward rule for some op: nothing to compare with
        tt = None
    if tt is not None:
        _, jt = tg.jvp(f_tg, tuple(prog.inputs), tuple(us))
        for r, a, b in zip(sinks, jt, tt):
            msg = cmp("jvp", r, _np(a), _np(b), 1)
            if msg:
                out.append(Mismatch("jvp", r.var(), msg))
    return out


def _renumber(prog: Program, keep: list) -> Program:
    """The program with only the steps ``keep`` (sorted; every dependency kept) and the
    inputs they read."""
    used_inputs = sorted(
        {a.i for j in keep for a in prog.steps[j].args if isinstance(a, Ref) and a.step is None}
    )
    xmap = {old: new for new, old in enumerate(used_inputs)}
    smap = {old: new for new, old in enumerate(keep)}

    def ref(a):
        if not isinstance(a, Ref):
            return a
        if a.step is None:
            return Ref(None, xmap[a.i])
        return Ref(smap[a.step], smap[a.step], a.out)

    steps = [
        Step(prog.steps[j].op, tuple(ref(a) for a in prog.steps[j].args), prog.steps[j].kwargs)
        for j in keep
    ]
    return Program(
        prog.dtype, [prog.inputs[i] for i in used_inputs], steps, prog.seed, prog.index, prog.edge
    )


def shrink(prog: Program, torch: Any = None) -> tuple[Program, list]:
    """A smaller program that still fails: steps no other step reads are dropped while the
    comparison keeps failing."""
    mism = check(prog, torch)
    keep = list(range(len(prog.steps)))
    changed = True
    while changed and len(keep) > 1:
        changed = False
        for j in reversed(keep):
            readers = [
                k for k in keep for a in prog.steps[k].args if isinstance(a, Ref) and a.step == j
            ]
            if readers:
                continue
            cand = _renumber(prog, [k for k in keep if k != j])
            m = check(cand, torch)
            if m:
                keep = [k for k in keep if k != j]
                mism = m
                changed = True
                break
    return _renumber(prog, keep), mism


def report(prog: Program, mismatches: list) -> str:
    lines = [f"tapegrad differs from torch on {len(mismatches)} count(s):"]
    lines += [f"  {m}" for m in mismatches]
    lines.append(str(prog))
    return "\n".join(lines)
