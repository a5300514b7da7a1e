"""W15: how long compiling takes: ``tg.jit``'s first call against ``jax.jit``'s.

One row per compiled program of W1, W2, W4 and W12 (``build`` returns one workload each):

* "tg.jit first call": a fresh ``tg.jit(f)`` (empty cache) called once: trace (the function
  runs once, on tensors), optimise, generate and ``exec`` the source, and that first call's
  results;
* "trace + compile (lower)": ``lowered = tg.jit(f).lower(*args)`` on a fresh jit,
  ``lowered.trace_seconds + lowered.compile_seconds`` (the jit's own account; the split is
  in the next two columns, each from a lowering of its own);
* "jax.jit first call": a fresh ``jax.jit`` of a new function object (jax caches traces by
  function, so a new closure is traced and compiled again), called once and waited for with
  ``block_until_ready``.

Each call is self-timed (the duration is its output ``seconds``).  The first call's results
are checked: jax's against tapegrad jit's (the compiled results themselves are checked
against NumPy in W1, W2, W4 and W12).  Targets (issue 12): W1's 2000-op chain compiles in at
most 1 s (jax.jit: 3-4 s), each W2 step in at most 0.3 s.

The Module + SGD step changes the model it closes over at every call (tracing runs it
once, with its effects): the calls measure the same program from different weights.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import w1_chain, w2_mlp, w4_hessian, w12_seed
from .common import SELF_TIME_KEY, Impl, Workload, collect_impls

NAME = "W15"

COLUMNS = (
    ("tg.jit first call", "time", "jit"),
    ("trace + compile (lower)", "time", "lower"),
    ("trace (lower)", "time", "lower_trace"),
    ("compile (lower)", "time", "lower_compile"),
    ("jax.jit first call", "time", "jax"),
    ("jit/jax.jit", "ratio", "jit", "jax"),
    ("target", "target"),
)

# A program: () -> (function, args); called anew for every fresh compilation.
Program = Callable[[], tuple[Callable[..., Any], tuple[Any, ...]]]


def quick_from_argv() -> bool:
    """Whether the benchmark runner was started with ``--quick`` (its worker gets the flag)."""
    return "--quick" in sys.argv[1:]


def _flat(out: Any) -> dict[str, Any]:
    """The leaves of a result as ``{"out0": ..., "out1": ...}`` (NumPy arrays)."""
    leaves: list[Any] = []

    def walk(o: Any) -> None:
        if isinstance(o, (tuple, list)):
            for v in o:
                walk(v)
        else:
            leaves.append(np.asarray(o.data if hasattr(o, "grad_fn") else o))

    walk(out)
    return {f"out{i}": v for i, v in enumerate(leaves)}


def first_call_impl(make: Program, jax: bool = False) -> Impl:
    """A fresh compilation and its first call, timed: tg.jit's or jax.jit's."""
    if jax:
        from .common import jax_or_none

        jx = jax_or_none()

    def run() -> dict[str, Any]:
        fn, args = make()
        if jax:
            compiled = jx.jit(fn)
            t0 = time.perf_counter()
            out = jx.block_until_ready(compiled(*args))
        else:
            import tapegrad as tg

            compiled = tg.jit(fn)
            t0 = time.perf_counter()
            out = compiled(*args)
        seconds = time.perf_counter() - t0
        return {SELF_TIME_KEY: seconds, **_flat(out)}

    return run


def lower_impl(make: Program, part: str = "both") -> Impl:
    """``Lowered.trace_seconds`` + ``compile_seconds`` of a fresh ``tg.jit(f).lower``."""
    import tapegrad as tg

    def run() -> dict[str, Any]:
        fn, args = make()
        lo = tg.jit(fn).lower(*args)
        t = {"trace": lo.trace_seconds, "compile": lo.compile_seconds}
        return {SELF_TIME_KEY: t[part] if part in t else t["trace"] + t["compile"]}

    return run


# ----------------------------------------------------------------------------- programs
def w1_programs(n_ops: int) -> tuple[Program, Program]:
    x0 = w1_chain.make_input(16)

    def tg_prog() -> Any:
        import tapegrad as tg

        return tg.value_and_grad(w1_chain.tapegrad_fn(n_ops)), (x0,)

    def jax_prog() -> Any:
        import jax

        return jax.value_and_grad(w1_chain.jax_fn(n_ops)), (x0,)

    return tg_prog, jax_prog


def w2_programs() -> tuple[Program, Program, Program]:
    params0, x, labels = w2_mlp.make_problem()

    def tg_prog() -> Any:
        import tapegrad as tg

        step = w2_mlp.functional_step(tg.value_and_grad, w2_mlp.tapegrad_loss)
        return step, ([p.copy() for p in params0], x, labels)

    def jax_prog() -> Any:
        import jax

        step = w2_mlp.functional_step(jax.value_and_grad, w2_mlp.jax_loss)
        return step, ([p.copy() for p in params0], x, labels)

    holder: list[Any] = []

    def module_prog() -> Any:
        import tapegrad as tg

        if not holder:  # one model for all calls: only the compilation is new
            holder.append(w2_mlp.module_step(params0)[0])
        return holder[0], (tg.tensor(x), tg.tensor(labels))

    return tg_prog, jax_prog, module_prog


def w4_programs(n: int) -> tuple[Program, Program]:
    x = w4_hessian.make_input(n)

    def tg_prog() -> Any:
        import tapegrad as tg

        return tg.hessian(lambda v: w4_hessian.rosenbrock(v, tg.sum)), (x,)

    def jax_prog() -> Any:
        import jax
        import jax.numpy as jnp

        return jax.hessian(lambda v: w4_hessian.rosenbrock(v, jnp.sum)), (x,)

    return tg_prog, jax_prog


def w12_programs() -> tuple[Program, Program]:
    def tg_prog() -> Any:
        import tapegrad as tg

        return w12_seed.make_step(tg.grad, tg.sin), (w12_seed.X0, w12_seed.Y0)

    def jax_prog() -> Any:
        import jax
        import jax.numpy as jnp

        return w12_seed.make_step(jax.grad, jnp.sin), (w12_seed.X0, w12_seed.Y0)

    return tg_prog, jax_prog


# ----------------------------------------------------------------------------- workloads
def _workload(
    variant: str,
    title: str,
    tg_prog: Program,
    jax_prog: Program | None,
    target_s: float | None,
    repeats: int,
    tol: float = 1e-9,
) -> Workload:
    factories: dict[str, Callable[[], Impl]] = {
        "jit": lambda: first_call_impl(tg_prog),
        "lower": lambda: lower_impl(tg_prog),
        "lower_trace": lambda: lower_impl(tg_prog, "trace"),
        "lower_compile": lambda: lower_impl(tg_prog, "compile"),
    }
    if jax_prog is not None:
        factories["jax"] = lambda: first_call_impl(jax_prog, jax=True)
    impls, skipped = collect_impls(factories)
    targets: tuple[tuple[Any, ...], ...] = ()
    if target_s is not None:
        targets = (("time", "jit", target_s, f"first call ≤ {target_s:g} s"),)
    return Workload(
        name=NAME,
        variant=variant,
        title=f"compile time: {title}",
        impls=impls,
        tol=tol,
        repeats=repeats,
        quick_repeats=1,
        warmup=1,
        rounds=1,
        block_warmup=0,
        columns=COLUMNS,
        reference="jit",
        check_keys={"lower": (), "lower_trace": (), "lower_compile": ()},
        target=f"first call ≤ {target_s:g} s" if target_s is not None else "-",
        targets=targets,
        self_timed=True,
        skipped=skipped,
    )


def build(quick: bool | None = None, n_ops: int | None = None) -> list[Workload]:
    """One workload per compiled program; ``--quick``: W1's chain has 200 ops."""
    if quick is None:
        quick = quick_from_argv()
    if n_ops is None:
        n_ops = 200 if quick else 2000
    w1_tg, w1_jax = w1_programs(n_ops)
    w2_tg, w2_jax, w2_module = w2_programs()
    w4_tg, w4_jax = w4_programs(w4_hessian.TARGET_SIZE)
    w12_tg, w12_jax = w12_programs()
    return [
        _workload(
            f"W1 ({n_ops} ops)",
            f"W1's value_and_grad, {n_ops} elementwise ops, 16 x float64",
            w1_tg,
            w1_jax,
            1.0,
            3,
        ),
        _workload(
            "W2",
            "W2's functional SGD step (value_and_grad over the list), float32",
            w2_tg,
            w2_jax,
            0.3,
            5,
            tol=1e-4,
        ),
        _workload(
            "W2 module",
            "W2's Module + SGD step (zero_grad, backward, step; first call: .grad None)",
            w2_module,
            None,
            0.3,
            5,
            tol=1e-4,
        ),
        _workload(
            "W4 n=100",
            "W4's hessian of Rosenbrock, n=100, float64",
            w4_tg,
            w4_jax,
            None,
            5,
        ),
        _workload("W12", "the seed step (one step, two Python floats)", w12_tg, w12_jax, None, 5),
    ]
