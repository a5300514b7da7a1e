"""The op spec table: how to test every primitive.

Each family module (``elementwise``, ``reduce``, ``shape``, ``linalg``, ``nn``) defines a list
``SPECS`` of :class:`OpSpec`.  The generic tests in ``tests/test_ops.py`` run every spec's
samples through finite differences (first and second order), the PyTorch oracle, NumPy
reference values and dtype checks; ``test_every_primitive_has_a_spec`` fails when a registered
primitive is named by no spec's ``prims``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# --------------------------------------------------------------------------- samples


@dataclass
class Sample:
    """One call: ``op(*args, **kwargs)``.

    Floating ndarrays in ``args`` are differentiated unless their position is in ``nondiff``;
    everything else (ints, index arrays, Python values) is passed through unchanged.
    """

    args: tuple
    kwargs: dict = field(default_factory=dict)
    nondiff: tuple = ()

    def __repr__(self) -> str:
        parts = [
            f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else repr(a) for a in self.args
        ]
        kw = ",".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return "(" + ",".join(parts) + (";" + kw if kw else "") + ")"


SampleFn = Callable[[np.random.Generator, Any], list]


@dataclass
class OpSpec:
    """How to test one public op.

    name : test id.
    op : the tapegrad function under test.
    samples : ``samples(rng, dtype) -> list[Sample]``; arrays must be of ``dtype``.
    prims : registry names this spec exercises (for the completeness test).
    torch_fn : ``torch_fn(torch, *args, **kwargs)`` with arrays turned into torch tensors, or
        None (then ``torch_skip`` says why).
    numpy_ref : reference values on raw arrays ``numpy_ref(*args, **kwargs)``, or None.
    grad / gradgrad : run first / second order finite-difference checks.
    atol, rtol : gradcheck tolerances (float64).
    dtypes : float dtypes the op must preserve.
    edge_samples : ``edge_samples(rng, dtype) -> list[Sample]`` with 0, -0.0, +-inf, NaN and
        huge values, or None.  No finite differences run on them (meaningless at inf/NaN);
        ``tests/test_edges.py`` compares values, gradients (reverse, forward, second order)
        and their non-finite pattern with PyTorch's.
    jit : why ``tg.jit`` can't compile the op (its result's shape depends on the values, ...);
        empty when it can.  ``tests/test_jit_ops.py`` then checks that compiling raises
        ConcretizationError instead of comparing results.
    edge_allow : the known, explained differences from PyTorch on the edge samples:
        ``{(sample_index, check): reason}`` with check one of "value", "grad", "jvp",
        "gradgrad", or ``check + ":zero_sign"`` to allow only the signs of zeros to differ.
        A third key item, e.g. ``(k, "gradgrad", "float32")``, limits it to one dtype.
        Each listed case must really differ (the test fails once it agrees).
    """

    name: str
    op: Callable[..., Any]
    samples: SampleFn
    prims: tuple = ()
    torch_fn: Callable[..., Any] | None = None
    torch_skip: str = ""
    numpy_ref: Callable[..., Any] | None = None
    grad: bool = True
    gradgrad: bool = True
    atol: float = 1e-5
    rtol: float = 1e-3
    dtypes: tuple = (np.float64, np.float32)
    edge_samples: SampleFn | None = None
    edge_allow: dict = field(default_factory=dict)
    jit: str = ""

    def __repr__(self) -> str:
        return self.name


# --------------------------------------------------------------------------- domains


def real(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    return np.asarray(rng.uniform(-2.0, 2.0, shape), dtype=dtype)


def positive(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    return np.asarray(rng.uniform(0.5, 2.5, shape), dtype=dtype)


def unit(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    """Open interval (-0.9, 0.9): inside the domain of arcsin, arctanh, ..."""
    return np.asarray(rng.uniform(-0.9, 0.9, shape), dtype=dtype)


def gt1(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    return np.asarray(rng.uniform(1.2, 3.0, shape), dtype=dtype)


def nonzero(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    """|x| in [0.5, 2]: away from 0, for divisors and ops with a kink at 0."""
    mag = rng.uniform(0.5, 2.0, shape)
    sgn = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return np.asarray(mag * sgn, dtype=dtype)


def distinct(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    """Values at least 0.1 apart (a shuffled grid): no ties for max/min/sort."""
    n = int(np.prod(shape)) if shape else 1
    vals = (np.arange(n) - n / 2) * 0.37 + 0.05
    return np.asarray(rng.permutation(vals).reshape(shape), dtype=dtype)


UNARY_SHAPES = [(), (5,), (2, 3), (1, 4), (3, 1, 2), (0, 3)]
BINARY_SHAPES = [
    ((), ()),
    ((4,), (4,)),
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((), (2, 2)),
    ((3, 1, 2), (4, 2)),
    ((0, 3), (3,)),
]


def unary_samples(domain: Callable[..., np.ndarray], **kwargs: Any) -> SampleFn:
    def make(rng: np.random.Generator, dtype: Any) -> list:
        return [Sample((domain(rng, s, dtype),), dict(kwargs)) for s in UNARY_SHAPES]

    return make


def binary_samples(
    dom_x: Callable[..., np.ndarray], dom_y: Callable[..., np.ndarray] | None = None, **kwargs: Any
) -> SampleFn:
    dom_y = dom_y or dom_x

    def make(rng: np.random.Generator, dtype: Any) -> list:
        return [
            Sample((dom_x(rng, a, dtype), dom_y(rng, b, dtype)), dict(kwargs))
            for a, b in BINARY_SHAPES
        ]

    return make


# --------------------------------------------------------------------------- edge values


def edge_values(dtype: Any) -> np.ndarray:
    """0, -0.0, +-inf, NaN, huge (1e300; 3e38 in float32), tiny and ordinary values."""
    huge = 3e38 if np.dtype(dtype) == np.float32 else 1e300
    tiny = 1e-38 if np.dtype(dtype) == np.float32 else 1e-300
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, huge, -huge, tiny, 1.0, -1.0, 0.5, -2.0, 3.0]
    return np.array(vals, dtype=dtype)


def unary_edges(**kwargs: Any) -> SampleFn:
    """One sample: every edge value once."""

    def make(rng: np.random.Generator, dtype: Any) -> list:
        return [Sample((edge_values(dtype),), dict(kwargs))]

    return make


def binary_edges(**kwargs: Any) -> SampleFn:
    """One sample: every pair of edge values (x, y), flattened."""

    def make(rng: np.random.Generator, dtype: Any) -> list:
        v = edge_values(dtype)
        x, y = np.meshgrid(v, v, indexing="ij")
        return [Sample((x.ravel().copy(), y.ravel().copy()), dict(kwargs))]

    return make


def all_specs() -> list[OpSpec]:
    from . import conv, elementwise, linalg, nn, reduce, shape

    specs: list[OpSpec] = []
    for mod in (elementwise, reduce, shape, linalg, nn, conv):
        specs.extend(mod.SPECS)
    return specs
