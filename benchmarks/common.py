"""Shared machinery: the workload record, timing, the correctness check, thread control.

A workload is a set of zero-argument callables, one per implementation ("numpy" is the
hand-written baseline, "tapegrad", "torch", "jit" for ``tg.jit``, "jax" for ``jax.jit``,
and for some workloads a second tapegrad call such as "tapegrad_grad"), each computing the
same forward value and gradients (or Hessian, Jacobian, ...) and returning them as a dict
of arrays.  :func:`measure` calls every
implementation once (warmup; its outputs are compared against the NumPy baseline), then
times them in rotating blocks (see there) and reports medians.  Nothing here asserts on
time.
"""

from __future__ import annotations

import ctypes
import gc
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IMPLS = ("numpy", "tapegrad", "torch")
LABELS = {
    "numpy": "NumPy",
    "tapegrad": "tapegrad",
    "torch": "PyTorch",
    # second tapegrad implementations of the forward-mode workloads (W5, W6)
    "tapegrad_grad": "tapegrad (gradient)",
    "tapegrad_loop": "tapegrad (looped jvp)",
    "torch_grad": "PyTorch (gradient)",
    # compiled implementations (W1, W2, W4, W12-W15)
    "jit": "tapegrad jit",
    "jit_nofuse": "tapegrad jit (fuse=False)",
    "jit_numexpr": "tapegrad jit (fuse='numexpr')",
    "jit_float": "tapegrad jit (float() each step)",
    "jax": "jax.jit",
    "lower": "tg.jit lower (trace + compile)",
    "lower_trace": "tg.jit lower (trace)",
    "lower_compile": "tg.jit lower (compile)",
}


def label(name: str) -> str:
    return LABELS.get(name, name)


# Read by OpenBLAS, MKL, OpenMP, Accelerate and numexpr when the library is loaded: they have
# to be in the environment before numpy/torch are imported (hence one process per setting).
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

Impl = Callable[[], dict[str, Any]]

# Untimed calls at the start of each timing block last at least this long (see measure).
SETTLE_S = 0.02


def torch_or_none() -> Any:
    """The torch module, or None when it is not installed (it is an optional extra)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def jax_or_none() -> Any:
    """The jax module with float64 enabled, or None when it is not installed (optional).

    The workloads compare float64 results, which jax computes only with ``jax_enable_x64``
    (float32 inputs stay float32 with it).
    """
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


def numexpr_or_none() -> Any:
    """The numexpr module (``tg.jit``'s fusion backend), or None when it is not installed."""
    try:
        import numexpr
    except ImportError:
        return None
    return numexpr


# An implementation whose name starts with one of these needs that optional package.
OPTIONAL = {"torch": torch_or_none, "jax": jax_or_none}


@dataclass
class Workload:
    """One benchmark: implementations plus what is needed to report them.

    ``impls`` maps an implementation name to a zero-argument callable returning a dict of
    arrays (value and gradients).  ``skipped`` maps a name to why it has no callable
    ("not installed", or the error raised while setting it up).

    Optional, for workloads that do not fit the value-and-gradient table (W4-W6):

    * ``variant``: told apart from other workloads of the same name (a module's ``build``
      may return several, e.g. one per size), shown after the name ("W4 n=100");
    * ``check_keys``: for an implementation that computes only part of the baseline's
      outputs (W5's gradient call), the keys compared;
    * ``columns``: the report's columns for this workload, after "workload" and
      "threads": ``(header, "time", impl)`` or ``(header, "ratio", impl_a, impl_b)``
      (median of a over median of b) or ``(header, "target")``; workloads with the same
      headers share one table;
    * ``target_pair``: ``(impl_a, impl_b, goal)``, the target "median a / median b <= goal"
      (checked and printed like ``target_ratio``, described by ``target``);
    * ``targets``: more targets, each ``("ratio", impl_a, impl_b, goal, text)`` (median a /
      median b <= goal) or ``("time", impl, seconds, text)`` (median <= seconds), printed
      after the others in the target column (the ``tg.jit`` targets of W1, W2, W4,
      W12-W15);
    * ``reference``: the implementation the others are checked against ("numpy" unless a
      workload has no hand-written baseline: W7 checks PyTorch against tapegrad);
    * ``self_timed``: each call returns its own duration as ``SELF_TIME_KEY`` among its
      outputs (not compared), timed instead of the call (W11: an import in a subprocess).
    """

    name: str
    title: str
    impls: dict[str, Impl]
    tol: float
    repeats: int
    quick_repeats: int
    warmup: int = 2
    rounds: int = 3
    block_warmup: int = 2
    n_ops: int | None = None
    target: str = ""
    target_ratio: float | None = None
    target_not_slower_than_torch: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    variant: str = ""
    check_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    columns: tuple[tuple[str, ...], ...] | None = None
    target_pair: tuple[str, str, float] | None = None
    targets: tuple[tuple[Any, ...], ...] = ()
    reference: str = "numpy"
    self_timed: bool = False


# The output of a self-timed implementation that holds its duration in seconds.
SELF_TIME_KEY = "seconds"


def collect_impls(
    factories: dict[str, Callable[[], Impl]],
) -> tuple[dict[str, Impl], dict[str, str]]:
    """Call each factory; return the implementations and, for the others, why not.

    torch and jax (and the "torch_*"/"jax_*" implementations) are skipped as "not
    installed" when the package is missing; any other setup error (say, an op tapegrad does
    not have yet) is recorded and later reported as an error of the run.
    """
    impls: dict[str, Impl] = {}
    skipped: dict[str, str] = {}
    for name, factory in factories.items():
        if any(name.startswith(p) and get() is None for p, get in OPTIONAL.items()):
            skipped[name] = "not installed"
            continue
        try:
            impls[name] = factory()
        except Exception as exc:  # noqa: BLE001 - reported, never hidden
            skipped[name] = f"setup failed: {_short_exc(exc)}"
    return impls, skipped


def rel_err(a: Any, b: Any) -> float:
    """Norm-wise relative error ``max|a - b| / max|b|`` (0 for two empty/zero arrays)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    scale = float(np.max(np.abs(b)))
    diff = float(np.max(np.abs(a - b)))
    if not np.isfinite(diff):
        return float("inf")
    return diff / scale if scale > 0 else diff


def compare(
    outputs: dict[str, dict[str, Any]],
    tol: float,
    check_keys: dict[str, tuple[str, ...]] | None = None,
    reference: str = "numpy",
) -> tuple[dict[str, float], list[str]]:
    """Compare every implementation's outputs with the NumPy baseline's (or ``reference``'s).

    ``check_keys`` restricts an implementation's comparison to some of the baseline's keys
    (all of them for an implementation not named there).  Returns the worst relative error
    per implementation and a list of error messages (empty when everything agrees within
    ``tol``).
    """
    errors: list[str] = []
    worst: dict[str, float] = {}
    ref = outputs.get(reference)
    base = "NumPy baseline" if reference == "numpy" else f"{label(reference)} reference"
    if ref is None:
        return worst, [f"no {base} to compare against"]
    for name, out in outputs.items():
        if name == reference:
            continue
        w = 0.0
        keys = (check_keys or {}).get(name, tuple(ref))
        for key in keys:
            val = ref[key]
            if key not in out:
                errors.append(f"{label(name)} did not return {key!r}")
                w = float("inf")
                continue
            e = rel_err(out[key], val)
            w = max(w, e)
            if not e <= tol:
                errors.append(
                    f"{label(name)} {key!r} differs from the {base}: "
                    f"relative error {e:.3g} > tolerance {tol:g}"
                )
        worst[name] = w
    return worst, errors


def _short_exc(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _quantile(ts: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(ts), q))


def measure(
    wl: Workload, repeats: int, warmup: int | None = None, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Warm up, check and time every implementation of ``wl``; return a result record.

    The first call of each implementation is the one whose outputs are compared against
    NumPy's.  Timing runs in ``wl.rounds`` rounds (fewer if ``repeats`` is smaller); in each
    round every implementation runs one block of consecutive calls, the order rotating from
    round to round so that slow drifts of the machine hit all of them alike.  A block starts
    with calls that are not timed (``wl.block_warmup`` and at least ``SETTLE_S`` seconds'
    worth): right after another library ran, its BLAS/OpenMP threads may still be spinning
    and would slow the first call down (by milliseconds, measured).  The median of all timed
    calls is reported.
    """
    log = log or (lambda msg: None)
    warmup = wl.warmup if warmup is None else warmup
    impls = dict(wl.impls)
    failed: dict[str, str] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for name, fn in list(impls.items()):
        try:
            outputs[name] = {
                k: np.array(v, copy=True)
                for k, v in fn().items()
                if not (wl.self_timed and k == SELF_TIME_KEY)
            }
            for _ in range(max(warmup - 1, 0)):
                fn()
        except Exception as exc:  # noqa: BLE001 - reported as an error of this run
            failed[name] = _short_exc(exc)
            del impls[name]
    worst, errors = (
        compare(outputs, wl.tol, wl.check_keys, wl.reference)
        if wl.reference in outputs
        else ({}, [])
    )
    for name, msg in failed.items():
        errors.append(f"{label(name)} raised {msg}")

    times: dict[str, list[float]] = {name: [] for name in impls}
    names = list(impls)
    rounds = max(1, min(wl.rounds, repeats))
    per_block = -(-repeats // rounds)
    clock = time.perf_counter
    for r in range(rounds):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            fn = impls[name]
            gc.collect()
            settle_until = clock() + SETTLE_S
            n = 0
            while n < wl.block_warmup or clock() < settle_until:
                fn()
                n += 1
            ts = times[name]
            for _ in range(per_block):
                if wl.self_timed:
                    ts.append(float(fn()[SELF_TIME_KEY]))
                    continue
                t0 = clock()
                fn()
                ts.append(clock() - t0)
    medians = {name: statistics.median(ts) for name, ts in times.items() if ts}
    for msg in errors:
        log(f"ERROR [{wl.name}{' ' + wl.variant if wl.variant else ''}] {msg}")
    return {
        "workload": wl.name,
        "variant": wl.variant,
        "columns": [list(c) for c in wl.columns] if wl.columns else None,
        "target_pair": list(wl.target_pair) if wl.target_pair else None,
        "targets": [list(t) for t in wl.targets],
        "impls": list(wl.impls) + [k for k in wl.skipped if k not in wl.impls],
        "title": wl.title,
        "target": wl.target,
        "target_ratio": wl.target_ratio,
        "target_torch": wl.target_not_slower_than_torch,
        "n_ops": wl.n_ops,
        "repeats": rounds * per_block,
        "rounds": rounds,
        "median_s": medians,
        "min_s": {name: min(ts) for name, ts in times.items() if ts},
        "p10_s": {name: _quantile(ts, 0.1) for name, ts in times.items() if ts},
        "p90_s": {name: _quantile(ts, 0.9) for name, ts in times.items() if ts},
        "times_s": times,
        "rel_err": worst,
        "errors": errors,
        "skipped": dict(wl.skipped),
    }


# --------------------------------------------------------------------------- threads
def _openblas_libs() -> list[str]:
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if "openblas" in os.path.basename(p).lower())


_OPENBLAS_GET = (
    "openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
)
_OPENBLAS_SET = (
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
)


def _openblas_call(names: tuple[str, ...], *args: int) -> dict[str, int]:
    """Call the first of ``names`` found in each loaded OpenBLAS; ``{library: result}``."""
    out: dict[str, int] = {}
    for path in _openblas_libs():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in names:
            fn = getattr(lib, sym, None)
            if fn is not None:
                # e.g. numpy.libs/libscipy_openblas64_-32a4b2a6.so -> numpy.libs
                out[os.path.basename(os.path.dirname(path)) or path] = fn(*args)
                break
    return out


def set_threads(n: int) -> str:
    """Limit NumPy's BLAS (and torch) to ``n`` threads in this process; return what was done.

    The environment variables (set by the runner before this process started) are the main
    mechanism; this also applies threadpoolctl when installed, else OpenBLAS's own setter
    through ctypes, ``torch.set_num_threads`` and ``numexpr.set_num_threads``.  Import every
    library first (tapegrad pulls in scipy, which brings its own OpenBLAS).  jax reads its
    threads from ``XLA_FLAGS``, set by the runner (see ``runner._thread_env``).
    """
    done = []
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if _openblas_call(_OPENBLAS_SET, n):
            done.append("openblas_set_num_threads")
    else:
        global _LIMITER
        _LIMITER = threadpool_limits(limits=n)
        done.append("threadpoolctl")
    torch = torch_or_none()
    if torch is not None:
        torch.set_num_threads(n)
        done.append("torch.set_num_threads")
    ne = numexpr_or_none()
    if ne is not None:
        ne.set_num_threads(n)
        done.append("numexpr.set_num_threads")
    return ", ".join(done) or "environment only"


_LIMITER: Any = None


def blas_threads() -> str:
    """NumPy's BLAS thread count(s) as reported by the library, for the header."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        counts = _openblas_call(_OPENBLAS_GET)
        return ", ".join(f"{k}: {v}" for k, v in counts.items()) if counts else "unknown"
    return ",".join(f"{d.get('internal_api')}={d.get('num_threads')}" for d in threadpool_info())


def machine_info() -> dict[str, str]:
    """nproc, CPU, Python, NumPy (and its BLAS), torch, jax, numexpr: a report's header."""
    info: dict[str, str] = {}
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        ncpu = os.cpu_count() or 0
    info["nproc"] = str(ncpu)
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = cpu
    info["python"] = sys.version.split()[0]
    info["numpy"] = np.__version__
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        blas = f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - informational only
        pass
    info["numpy_blas"] = blas
    torch = torch_or_none()
    if torch is None:
        info["torch"] = "not installed"
    else:
        tb = "MKL" if torch.backends.mkl.is_available() else "non-MKL BLAS"
        info["torch"] = f"{torch.__version__} ({tb})"
    jax = jax_or_none()
    info["jax"] = "not installed" if jax is None else jax.__version__
    ne = numexpr_or_none()
    info["numexpr"] = "not installed" if ne is None else ne.__version__
    try:
        import tapegrad

        info["tapegrad"] = getattr(tapegrad, "__version__", "?")
    except ImportError:
        info["tapegrad"] = "not importable"
    return info
