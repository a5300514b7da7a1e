"""W11: the cold import of tapegrad against that of NumPy alone.

Each call starts a fresh interpreter that imports one package and reports how long the
``import`` statement took (``time.perf_counter`` around it; the interpreter's own start-up is
not counted):

* ``numpy``: ``import numpy``, the floor (tapegrad cannot load without NumPy);
* ``tapegrad``: ``import tapegrad``, NumPy included.

Cold means a new process with nothing imported yet.  The bytecode is compiled beforehand
(``python -m compileall`` on both packages, ``PYTHONDONTWRITEBYTECODE`` unset for it and for
the subprocesses), so the time is loading, not compiling.  The two alternate, each round
starting with the other one, and each block starts with an untimed import (the files are then
in the OS cache); the median of 5 calls each.  The subprocesses inherit the runner's BLAS
thread settings (NumPy's OpenBLAS starts its threads when NumPy is imported).

The target: ``import tapegrad`` costs at most 1.5x ``import numpy``, i.e. the core loads in
half of NumPy's time; ``tg.nn``, ``tg.optim``, ``tg.data``, ``tg.viz``, ``tg.explain``,
``tg.testing``, ``tg.optimize`` and checkpointing load on first use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import SELF_TIME_KEY, Impl, Workload, collect_impls

NAME = "W11"
REPEATS = 5
QUICK_REPEATS = 3
TARGET = 1.5

# Run with ``python -c``: the import's duration, then where the module came from.
CHILD = (
    "import time\n"
    "t0 = time.perf_counter()\n"
    "import {module}\n"
    "t1 = time.perf_counter()\n"
    "print(repr(t1 - t0))\n"
    "print({module}.__file__)\n"
)

COLUMNS = (
    ("import numpy", "time", "numpy"),
    ("import tapegrad", "time", "tapegrad"),
    ("tapegrad/NumPy", "ratio", "tapegrad", "numpy"),
    ("target", "target"),
)


def quick_from_argv() -> bool:
    """Whether the benchmark runner was started with ``--quick`` (its worker gets the flag)."""
    return "--quick" in sys.argv[1:]


def package_dir(module: str) -> Path:
    """The directory of an importable package (imported here to find it)."""
    mod = __import__(module)
    return Path(mod.__file__).resolve().parent


def child_env(tapegrad_dir: Path) -> dict[str, str]:
    """This process's environment, with bytecode writing allowed and ``tapegrad_dir``'s
    parent first on ``PYTHONPATH`` (the subprocess imports the tapegrad measured here)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    paths = [str(tapegrad_dir.parent)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def compile_bytecode(dirs: list[Path], env: dict[str, str]) -> None:
    """``python -m compileall -q`` on each directory; raises when it fails."""
    for d in dirs:
        proc = subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(d)],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"compileall {d} exited with status {proc.returncode}: "
                f"{(proc.stdout + proc.stderr).strip()[-500:]}"
            )


def import_impl(module: str, expected_dir: Path, env: dict[str, str]) -> Impl:
    """A call that imports ``module`` in a fresh interpreter and returns how long it took."""
    code = CHILD.format(module=module)

    def call() -> dict[str, Any]:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"import {module} exited with status {proc.returncode}: {proc.stderr[-500:]}"
            )
        seconds, where = proc.stdout.split()
        if Path(where).resolve().parent != expected_dir:
            raise RuntimeError(f"import {module} loaded {where}, not the one in {expected_dir}")
        return {SELF_TIME_KEY: float(seconds)}

    return call


def build(quick: bool | None = None) -> Workload:
    """The import workload; its setup compiles both packages' bytecode."""
    if quick is None:
        quick = quick_from_argv()
    dirs = {m: package_dir(m) for m in ("numpy", "tapegrad")}
    env = child_env(dirs["tapegrad"])
    compile_bytecode(list(dirs.values()), env)
    impls, skipped = collect_impls(
        {m: (lambda m=m: import_impl(m, dirs[m], env)) for m in ("numpy", "tapegrad")}
    )
    return Workload(
        name=NAME,
        title=(
            "cold import of tapegrad vs NumPy alone, each in a fresh interpreter, "
            "bytecode compiled (interpreter start-up not counted)"
        ),
        impls=impls,
        tol=0.0,
        repeats=REPEATS,
        quick_repeats=QUICK_REPEATS,
        warmup=1,
        rounds=QUICK_REPEATS if quick else REPEATS,
        block_warmup=0,
        columns=COLUMNS,
        target_pair=("tapegrad", "numpy", TARGET),
        target=f"import tapegrad ≤ {TARGET:g}x import numpy",
        skipped=skipped,
        self_timed=True,
    )
