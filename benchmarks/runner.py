"""Command line of the benchmark suite.

``python -m benchmarks`` runs every workload once per BLAS thread setting (``--threads``,
default ``1,2``).  Each setting runs in a fresh worker process whose environment has
``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS``/... set before NumPy and
torch are loaded (the only way that works for every BLAS); the worker also applies
threadpoolctl when installed (else OpenBLAS's own setter), ``torch.set_num_threads`` and
``numexpr.set_num_threads``, and with one thread tells XLA (jax) to run single-threaded
(``XLA_FLAGS``), so all implementations run under the same setting.  The worker sends its
results back as one JSON line; this process prints the table.

Exit status: 0, or 1 when an implementation raised or disagreed with the NumPy baseline
(timings are never asserted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from . import ROOT, WORKLOADS

MARKER = "@@tapegrad-benchmarks-json@@ "


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time hand-written NumPy, tapegrad (eager and tg.jit), PyTorch eager and "
        "jax.jit on the same workloads (value + gradient), checking that they agree.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="few repeats (a smoke run, e.g. in CI); the numbers are rough",
    )
    p.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        metavar="W1,W2",
        help=f"comma-separated workloads to run (default: all of {', '.join(WORKLOADS)})",
    )
    p.add_argument(
        "--threads",
        default="1,2",
        metavar="N[,N...]",
        help="BLAS/torch thread counts, one worker process each (default: 1,2)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed calls per implementation (default: per workload)",
    )
    p.add_argument(
        "--markdown",
        action="store_true",
        help="print the machine and the table as Markdown (for BENCHMARKS.md)",
    )
    p.add_argument("--json", metavar="PATH", help="also write all results (raw times) here")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run in this process (one --threads value; for profiling/debugging). "
        "Thread limits then rely on OpenBLAS's setter or threadpoolctl, and "
        "on the environment variables only if NumPy is not loaded yet",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="instead of timing, run tapegrad's implementation of each workload "
        "under cProfile (in this process) and print the top entries",
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    names = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown or not names:
        p.error(
            f"--only: unknown workload(s) {unknown or args.only!r}; "
            f"choose from {', '.join(WORKLOADS)}"
        )
    args.only = names
    try:
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        p.error(f"--threads takes positive integers separated by commas, got {args.threads!r}")
    if not threads or min(threads) < 1:
        p.error(f"--threads takes positive integers separated by commas, got {args.threads!r}")
    args.threads = threads[:1] if args.profile else threads
    if (args.worker or args.in_process) and len(threads) != 1:
        p.error("--in-process runs one thread setting; pass a single --threads value")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# XLA (jax) has no thread-count variable: with one thread, its CPU backend is told to run
# Eigen single-threaded; with more, it keeps its default (all cores).
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _thread_env(n: int) -> dict[str, str]:
    from .common import THREAD_ENV_VARS

    env = {var: str(n) for var in THREAD_ENV_VARS}
    if n == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = f"{flags} {XLA_ONE_THREAD}".strip()
    return env


# --------------------------------------------------------------------------- worker side
def run_workloads(
    names: list[str], threads: int, quick: bool, repeats: int | None
) -> dict[str, Any]:
    """Run ``names`` in this process under ``threads``; return the report record."""
    import importlib

    from .common import blas_threads, machine_info, measure, set_threads, torch_or_none

    machine = machine_info()  # imports tapegrad (and scipy's BLAS) and torch first
    how = set_threads(threads)
    torch = torch_or_none()
    record: dict[str, Any] = {
        "threads": threads,
        "machine": machine,
        "thread_control": how,
        "numpy_blas_threads": blas_threads(),
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "load_avg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "results": [],
    }
    _log(
        f"[threads={threads}] BLAS threads reported: {record['numpy_blas_threads']}, "
        f"torch threads: {record['torch_threads']} (set via: {how})"
    )
    for name in names:
        mod = importlib.import_module(WORKLOADS[name])
        try:
            built = mod.build()
        except Exception as exc:  # noqa: BLE001 - reported as an error of the run
            record["results"].append(
                {
                    "workload": name,
                    "title": name,
                    "median_s": {},
                    "errors": [f"setup raised {type(exc).__name__}: {exc}"],
                    "skipped": {},
                    "rel_err": {},
                }
            )
            _log(f"ERROR [{name}] setup raised {type(exc).__name__}: {exc}")
            continue
        # a module's build() returns one workload or several (variants, e.g. sizes)
        for wl in built if isinstance(built, list | tuple) else [built]:
            tag = f"{name} {wl.variant}" if wl.variant else name
            reps = repeats or (wl.quick_repeats if quick else wl.repeats)
            _log(f"[threads={threads}] {tag}: {wl.title} ({reps} repeats)")
            for impl, why in wl.skipped.items():
                if why != "not installed":
                    _log(f"ERROR [{tag}] {impl}: {why}")
            res = measure(wl, reps, log=_log)
            res["errors"] = [
                f"{impl}: {why}" for impl, why in wl.skipped.items() if why != "not installed"
            ] + res["errors"]
            res["threads"] = threads
            record["results"].append(res)
    return record


def _worker_main(args: argparse.Namespace) -> int:
    record = run_workloads(args.only, args.threads[0], args.quick, args.repeats)
    sys.stdout.write(MARKER + json.dumps(record) + "\n")
    return 0


def _spawn(args: argparse.Namespace, threads: int) -> dict[str, Any]:
    env = os.environ.copy()
    env.update(_thread_env(threads))
    paths = [str(ROOT), str(ROOT / "src")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks",
        "--worker",
        "--threads",
        str(threads),
        "--only",
        ",".join(args.only),
    ]
    if args.quick:
        cmd.append("--quick")
    if args.repeats:
        cmd += ["--repeats", str(args.repeats)]
    proc = subprocess.run(cmd, env=env, cwd=str(ROOT), stdout=subprocess.PIPE, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
        print(line)  # anything a workload printed
    msg = f"worker for threads={threads} exited with status {proc.returncode} and no results"
    _log(f"ERROR {msg}")
    return {
        "threads": threads,
        "machine": {},
        "results": [
            {
                "workload": w,
                "title": w,
                "threads": threads,
                "median_s": {},
                "errors": [msg],
                "skipped": {},
                "rel_err": {},
            }
            for w in args.only
        ],
    }


# --------------------------------------------------------------------------- report
def _fmt_time(s: float) -> str:
    if s < 1e-5:
        return f"{s * 1e6:.2f} µs"
    if s < 1e-4:
        return f"{s * 1e6:.1f} µs"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.3f} s"


def _cell(res: dict[str, Any], impl: str) -> str:
    med = res.get("median_s", {}).get(impl)
    if med is None and "impls" in res and impl not in res["impls"]:
        return "-"  # not an implementation of this workload
    if med is None:
        why = res.get("skipped", {}).get(impl, "")
        return "n/a" if why == "not installed" else "error"
    text = _fmt_time(med)
    if res.get("n_ops"):
        text += f" ({med / res['n_ops'] * 1e6:.2f} µs/op)"
    return text


def _ratio(res: dict[str, Any], a: str, b: str) -> str:
    med = res.get("median_s", {})
    if a in med and b in med and med[b] > 0:
        return f"{med[a] / med[b]:.2f}x"
    if "impls" in res and (a not in res["impls"] or b not in res["impls"]):
        return "-"
    return "n/a"


def _extra_targets(res: dict[str, Any]) -> list[str]:
    """The ``Workload.targets`` of ``res``, each ``text: met`` / ``not met`` / ``n/a``."""
    med = res.get("median_s", {})
    out = []
    for t in res.get("targets") or []:
        if t[0] == "ratio":
            _, a, b, goal, text = t
            ok = None if a not in med or b not in med or med[b] <= 0 else med[a] / med[b] <= goal
        else:
            _, a, seconds, text = t
            ok = None if a not in med else med[a] <= seconds
        out.append(f"{text}: {'n/a' if ok is None else 'met' if ok else 'not met'}")
    return out


def _target(res: dict[str, Any]) -> str:
    extra = _extra_targets(res)
    if not extra:
        return _base_target(res)
    # the workload's own target (W1, W2, W4: tapegrad eager's), then the extra ones
    base = [_base_target(res)] if res.get("target_pair") or res.get("target_ratio") else []
    return "; ".join(base + extra)


def _base_target(res: dict[str, Any]) -> str:
    med = res.get("median_s", {})
    pair = res.get("target_pair")
    if pair:
        a, b, goal = pair
        text = res.get("target", "") or f"{a}/{b} ≤ {goal:g}x"
        if a not in med or b not in med or med[b] <= 0:
            return f"{text}: n/a"
        return f"{text}: {'met' if med[a] / med[b] <= goal else 'not met'}"
    goal = res.get("target_ratio")
    if goal is None or "tapegrad" not in med or "numpy" not in med:
        return res.get("target", "") or "-"
    ok = med["tapegrad"] / med["numpy"] <= goal
    text = f"≤ {goal:g}x NumPy"
    if res.get("target_torch"):
        text += ", ≤ PyTorch"
        if "torch" in med:
            ok = ok and med["tapegrad"] <= med["torch"]
    return f"{text}: {'met' if ok else 'not met'}"


# The columns of the value-and-gradient table (W1-W3), after "workload" and "threads"; a
# workload may declare its own (Workload.columns: W4-W6, W12-W15).  "-": the workload has
# no such implementation (W3 is not compiled).
DEFAULT_COLUMNS = [
    ["NumPy (by hand)", "time", "numpy"],
    ["tapegrad", "time", "tapegrad"],
    ["tapegrad jit", "time", "jit"],
    ["PyTorch eager", "time", "torch"],
    ["jax.jit", "time", "jax"],
    ["tapegrad/NumPy", "ratio", "tapegrad", "numpy"],
    ["jit/NumPy", "ratio", "jit", "numpy"],
    ["jax.jit/NumPy", "ratio", "jax", "numpy"],
    ["tapegrad/PyTorch", "ratio", "tapegrad", "torch"],
    ["PyTorch/NumPy", "ratio", "torch", "numpy"],
    ["target", "target"],
]
HEADER = ["workload", "threads", *(c[0] for c in DEFAULT_COLUMNS)]


SPREAD = 3.0  # p90/p10 above this: the timings are bimodal, something competed for the CPUs


def _spread(res: dict[str, Any]) -> bool:
    p10, p90 = res.get("p10_s", {}), res.get("p90_s", {})
    return any(p90[k] > SPREAD * p10[k] for k in p10 if k in p90 and p10[k] > 0)


def _columns(res: dict[str, Any]) -> list[list[str]]:
    return res.get("columns") or DEFAULT_COLUMNS


def _label(res: dict[str, Any]) -> str:
    v = res.get("variant")
    return f"{res['workload']} {v}" if v else res["workload"]


def _row(res: dict[str, Any], threads: Any) -> list[str]:
    flag = " (!)" if res.get("errors") else (" (~)" if _spread(res) else "")
    row = [_label(res) + flag, str(threads)]
    for col in _columns(res):
        kind = col[1]
        if kind == "time":
            row.append(_cell(res, col[2]))
        elif kind == "ratio":
            row.append(_ratio(res, col[2], col[3]))
        else:
            row.append(_target(res))
    return row


def _tables(records: list[dict[str, Any]], order: list[str]) -> list[tuple[list[str], list]]:
    """``[(header, rows)]``: one table per set of columns, in the order workloads come."""
    tables: dict[tuple[str, ...], list[list[str]]] = {}
    for name in order:
        variants: list[str] = []
        for rec in records:
            for res in rec["results"]:
                if res["workload"] == name and res.get("variant", "") not in variants:
                    variants.append(res.get("variant", ""))
        for variant in variants:
            for rec in records:
                for res in rec["results"]:
                    if res["workload"] != name or res.get("variant", "") != variant:
                        continue
                    header = ("workload", "threads", *(c[0] for c in _columns(res)))
                    tables.setdefault(header, []).append(_row(res, rec["threads"]))
    return [(list(h), rows) for h, rows in tables.items()]


def _legend(records: list[dict[str, Any]], order: list[str]) -> list[str]:
    seen: dict[str, dict[str, Any]] = {}
    for rec in records:
        for res in rec["results"]:
            seen.setdefault(_label(res), res)
    keys = [k for n in order for k, r in seen.items() if r["workload"] == n]
    return [
        f"{k}: {seen[k].get('title', k)}"
        + (f" ({seen[k]['repeats']} timed calls each)" if seen[k].get("repeats") else "")
        for k in keys
    ]


def _machine_lines(records: list[dict[str, Any]]) -> list[str]:
    m: dict[str, Any] = next((r["machine"] for r in records if r.get("machine")), {})
    if not m:
        return []
    lines = [
        f"nproc {m.get('nproc')}, CPU {m.get('cpu')}",
        f"Python {m.get('python')}, NumPy {m.get('numpy')} (BLAS: {m.get('numpy_blas')}), "
        f"PyTorch {m.get('torch')}, jax {m.get('jax', '?')}, numexpr {m.get('numexpr', '?')}, "
        f"tapegrad {m.get('tapegrad')}",
    ]
    for r in records:
        if r.get("machine"):
            lines.append(
                f"threads={r['threads']}: NumPy BLAS threads reported "
                f"{r.get('numpy_blas_threads')}, torch threads {r.get('torch_threads')}"
                f" (set via environment + {r.get('thread_control')}); "
                f"load average at start {r.get('load_avg')}"
            )
    return lines


def render(records: list[dict[str, Any]], order: list[str], markdown: bool) -> str:
    tables = _tables(records, order)
    out: list[str] = []
    if markdown:
        out += [f"- {line}" for line in _machine_lines(records)]
        for header, rows in tables:
            out.append("")
            out.append("| " + " | ".join(header) + " |")
            aligns = ["---" if h in ("workload", "threads", "target") else "---:" for h in header]
            out.append("|" + "|".join(aligns) + "|")
            out += ["| " + " | ".join(r) + " |" for r in rows]
        if not tables:
            out.append("")
        out.append("")
        out += [f"- {line}" for line in _legend(records, order)]
    else:
        out += _machine_lines(records)
        for header, rows in tables:
            out.append("")
            widths = [
                max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                for i, h in enumerate(header)
            ]
            out.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
            out.append("  ".join("-" * w for w in widths))
            out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        out.append("")
        out += _legend(records, order)
    if any(_spread(res) for rec in records for res in rec["results"]):
        out.append("")
        out.append(
            f"(~): some implementation's 90th-percentile time is over {SPREAD:g}x its "
            "10th: other processes competed for the CPUs during the run (with more "
            "BLAS threads than free cores every matmul waits for a time slice); "
            "rerun on a quiet machine."
        )
    busy = [
        f"threads={r['threads']}: load average {r['load_avg'][0]} on "
        f"{r['machine'].get('nproc')} CPUs at start"
        for r in records
        if r.get("load_avg")
        and r.get("machine")
        and r["load_avg"][0] >= float(r["machine"].get("nproc") or 1)
    ]
    if busy:
        out.append("")
        out.append(
            "WARNING: other processes competed for the CPUs ("
            + "; ".join(busy)
            + "); the timings, multi-threaded ones above all, are unreliable."
        )
    errors = [
        f"[{_label(res)}, threads={rec['threads']}] {e}"
        for rec in records
        for res in rec["results"]
        for e in res.get("errors", [])
    ]
    if errors:
        out.append("")
        out.append("ERRORS (the rows marked (!) may measure a wrong computation):")
        out += [f"- {e}" for e in errors]
    return "\n".join(out)


def profile(names: list[str], threads: int, calls: int = 20, top: int = 15) -> None:
    """cProfile tapegrad's implementation of each workload; print the top by own time."""
    import cProfile
    import importlib
    import pstats

    from .common import set_threads

    set_threads(threads)
    for name in names:
        built = importlib.import_module(WORKLOADS[name]).build()
        for wl in built if isinstance(built, list | tuple) else [built]:
            tag = f"{name} {wl.variant}" if wl.variant else name
            fn = wl.impls.get("tapegrad")
            if fn is None:
                print(f"{tag}: tapegrad unavailable: {wl.skipped.get('tapegrad')}")
                continue
            for _ in range(wl.warmup):
                fn()
            n = calls if name != "W3" else 2
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(n):
                fn()
            prof.disable()
            print(
                f"=== {tag}: {wl.title}: {n} calls of tapegrad's implementation, "
                f"threads={threads} ==="
            )
            pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.worker:
        return _worker_main(args)
    if args.profile:
        if "numpy" not in sys.modules:
            os.environ.update(_thread_env(args.threads[0]))
        profile(args.only, args.threads[0])
        return 0
    if args.in_process:
        if "numpy" not in sys.modules:
            os.environ.update(_thread_env(args.threads[0]))
        records = [run_workloads(args.only, args.threads[0], args.quick, args.repeats)]
    else:
        records = [_spawn(args, n) for n in args.threads]
    print(render(records, args.only, args.markdown))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    failed = any(res.get("errors") for rec in records for res in rec["results"])
    return 1 if failed else 0
