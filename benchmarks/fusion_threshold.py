"""The array size from which a fused elementwise chain beats one NumPy call per op.

``tg.jit`` fuses a chain of elementwise ops when its arrays have at least
``tapegrad.jit.fusion.THRESHOLD`` elements (``fuse="auto"``): block by block through the
same NumPy ufuncs (the default backend), or as one ``numexpr.evaluate``
(``fuse="numexpr"``).  This script chooses that number by measurement: for float64 vectors
of 1e2 to 1e7 elements it times a 20-op chain four ways, checks that they agree, and prints
the times and the crossovers.
Two chains (``--chain``, default both), since the answer depends on the ops:

* "w1": W1's and W13's ops in turn, ``* 1.5``, ``+ 0.1``, ``sin``, ``tanh``, ``exp``
  (transcendental-heavy: NumPy's SIMD ``sin``/``tanh``/``exp`` against numexpr's own);
* "arith": ``* 1.5``, ``+ 0.1``, ``* x`` (the input: another array, as a backward pass
  multiplies by saved values), ``* 0.5``, ``- 0.05`` in turn (memory-bound arithmetic).

The four ways:

* "numpy out=": one NumPy call per op, each writing into one reused buffer (what
  ``tg.jit(fuse=False)`` generates when a buffer dies);
* "numpy": one NumPy call per op, each allocating its result;
* "blocked": the chain block by block (``--block`` elements, default
  ``tapegrad.jit.fusion.BLOCK``), each block through all 20 ufuncs with ``out=`` in a
  scratch buffer that stays in cache (what the jit's default fusion backend does);
* "numexpr": the whole chain as one expression (numexpr caches the compiled expression;
  not timed without numexpr).

A crossover is the smallest measured size from which a fused way ("blocked", "numexpr")
is faster than "numpy out=" (or "numpy") at that size and every larger one (the sizes where it is
faster are listed too: with few elements, one call instead of 20 can win on call overhead
alone).  One thread by default
(``--threads``): the variables are set before NumPy and numexpr are loaded, and
``numexpr.set_num_threads`` is called.
Times are the best of ``--repeat`` batches of calls lasting at least 20 ms each (the
machine is shared: the best batch is the least disturbed one)::

    python benchmarks/fusion_threshold.py            # one thread
    python benchmarks/fusion_threshold.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
N_OPS = 20
SIZES = tuple(int(round(10 ** (k / 2))) for k in range(4, 15))  # 1e2, 3e2, ..., 1e7

# Each chain: its ops in turn, as (numpy ufunc name, second operand or None, numexpr form);
# a second operand "x" is the chain's input array.
CHAINS: dict[str, tuple[tuple[str, Any, str], ...]] = {
    "w1": (
        ("multiply", 1.5, "({}) * 1.5"),
        ("add", 0.1, "({}) + 0.1"),
        ("sin", None, "sin({})"),
        ("tanh", None, "tanh({})"),
        ("exp", None, "exp({})"),
    ),
    "arith": (
        ("multiply", 1.5, "({}) * 1.5"),
        ("add", 0.1, "({}) + 0.1"),
        ("multiply", "x", "({}) * x"),
        ("multiply", 0.5, "({}) * 0.5"),
        ("subtract", 0.05, "({}) - 0.05"),
    ),
}


def _ops(chain: str, n_ops: int) -> list[tuple[str, Any, str]]:
    ops = CHAINS[chain]
    return [ops[i % len(ops)] for i in range(n_ops)]


def chain_expr(chain: str = "w1", n_ops: int = N_OPS) -> str:
    """The chain as one numexpr expression in ``x``."""
    e = "x"
    for _, _, form in _ops(chain, n_ops):
        e = form.format(e)
    return e


def numpy_out(x: Any, buf: Any, chain: str = "w1", n_ops: int = N_OPS) -> Any:
    """One NumPy call per op into one reused buffer."""
    import numpy as np

    np.copyto(buf, x)
    for name, other, _ in _ops(chain, n_ops):
        if other is None:
            getattr(np, name)(buf, out=buf)
        else:
            getattr(np, name)(buf, x if isinstance(other, str) else other, out=buf)
    return buf


def numpy_alloc(x0: Any, chain: str = "w1", n_ops: int = N_OPS) -> Any:
    """One NumPy call per op, each allocating its result."""
    import numpy as np

    x = x0
    for name, other, _ in _ops(chain, n_ops):
        if other is None:
            x = getattr(np, name)(x)
        else:
            x = getattr(np, name)(x, x0 if isinstance(other, str) else other)
    return x


def blocked(x: Any, out: Any, scratch: Any, chain: str = "w1", n_ops: int = N_OPS) -> Any:
    """The chain block by block: each block of ``len(scratch)`` elements through every op."""
    import numpy as np

    ops = [(getattr(np, name), other) for name, other, _ in _ops(chain, n_ops)]
    n, b = x.shape[0], scratch.shape[0]
    for a in range(0, n, b):
        e = min(a + b, n)
        xb, t = x[a:e], scratch[: e - a]
        np.copyto(t, xb)
        for uf, other in ops:
            if other is None:
                uf(t, out=t)
            else:
                uf(t, xb if isinstance(other, str) else other, out=t)
        out[a:e] = t
    return out


def best_time(fn: Any, repeat: int, min_batch_s: float = 0.02) -> float:
    """Seconds per call: the best of ``repeat`` batches, each at least ``min_batch_s`` long."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= min_batch_s:
            break
        n *= 2
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def measure(
    chain: str, sizes: tuple[int, ...], repeat: int, block: int, ne: Any = None
) -> list[dict[str, float]]:
    """``[{"size", "numpy_out", "numpy", "blocked", "numexpr"}]`` (seconds per chain; no
    "numexpr" without the module ``ne``)."""
    import numpy as np

    expr = chain_expr(chain)
    rows = []
    for n in sizes:
        x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
        buf, out = np.empty_like(x), np.empty_like(x)
        scratch = np.empty(min(block, n))
        ref = numpy_alloc(x, chain)
        for way, got in (
            ("numpy out=", numpy_out(x, buf, chain)),
            ("blocked", blocked(x, out, scratch, chain)),
        ):
            if not np.array_equal(got, ref):  # the same ufuncs: bit for bit
                raise AssertionError(f"{chain}, size {n}: {way} differs from numpy")
        row = {
            "size": n,
            "numpy_out": best_time(lambda: numpy_out(x, buf, chain), repeat),
            "numpy": best_time(lambda: numpy_alloc(x, chain), repeat),
            "blocked": best_time(lambda: blocked(x, out, scratch, chain), repeat),
        }
        if ne is not None:
            got = ne.evaluate(expr, local_dict={"x": x})
            if not np.allclose(got, ref, rtol=1e-12, atol=1e-300):
                raise AssertionError(f"{chain}, size {n}: numexpr differs from numpy")
            row["numexpr"] = best_time(lambda: ne.evaluate(expr, local_dict={"x": x}), repeat)
        rows.append(row)
    return rows


def crossover(
    rows: list[dict[str, float]], base: str = "numpy_out", fused: str = "numexpr"
) -> int | None:
    """The smallest size from which ``fused`` is faster than ``base`` at every larger size."""
    found = None
    for row in reversed(rows):
        if row[fused] < row[base]:
            found = int(row["size"])
        else:
            break
    return found


def _fmt(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="threads for NumPy and numexpr")
    p.add_argument("--repeat", type=int, default=5, help="batches per measurement (best)")
    p.add_argument("--sizes", default=None, help="comma-separated sizes (default 1e2..1e7)")
    p.add_argument("--chain", default="w1,arith", help=f"chains to time, of {', '.join(CHAINS)}")
    p.add_argument("--block", type=int, default=None, help="elements per block (blocked)")
    args = p.parse_args(argv)
    if "numpy" in sys.modules or "numexpr" in sys.modules:
        print("note: NumPy was loaded before the thread variables were set", file=sys.stderr)
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(args.threads)
    try:
        import numexpr as ne
    except ImportError:
        ne = None
        print("numexpr is not installed (pip install 'tapegrad[jit]'): not timed", file=sys.stderr)
    import numpy as np

    try:
        from tapegrad.jit import fusion
    except ImportError:
        fusion = None
    block = args.block or (fusion.BLOCK if fusion is not None else 16384)
    if ne is not None:
        ne.set_num_threads(args.threads)
    sizes = tuple(int(float(s)) for s in args.sizes.split(",")) if args.sizes else SIZES
    print(
        f"{N_OPS}-op elementwise chain, float64; threads={args.threads}; blocks of {block:,}; "
        f"NumPy {np.__version__}, numexpr "
        + (f"{ne.__version__} (VML: {ne.use_vml})" if ne is not None else "not installed")
    )
    ways = [("blocked", "blocked")] + ([("numexpr", "numexpr")] if ne is not None else [])
    for chain in (c.strip() for c in args.chain.split(",") if c.strip()):
        if chain not in CHAINS:
            p.error(f"--chain: unknown chain {chain!r}; choose from {', '.join(CHAINS)}")
        rows = measure(chain, sizes, args.repeat, block, ne)
        print()
        print(f"chain {chain!r}: {chain_expr(chain, 5)} ... ({N_OPS} ops)")
        print()
        cols = ["numpy out=", "numpy"] + [w for w, _ in ways]
        print(
            "| elements | "
            + " | ".join(cols)
            + " | "
            + " | ".join(f"{w} / numpy out=" for w, _ in ways)
            + " |"
        )
        print("|---:" * (1 + len(cols) + len(ways)) + "|")
        for r in rows:
            cells = [f"{int(r['size']):,}", _fmt(r["numpy_out"]), _fmt(r["numpy"])]
            cells += [_fmt(r[k]) for _, k in ways]
            cells += [f"{r[k] / r['numpy_out']:.2f}x" for _, k in ways]
            print("| " + " | ".join(cells) + " |")
        print()
        for what, key in ways:
            for base, name in (("numpy_out", "numpy out="), ("numpy", "numpy")):
                c = crossover(rows, base, key)
                text = f"{c:,} elements" if c is not None else "none in the measured range"
                faster = [f"{int(r['size']):,}" for r in rows if r[key] < r[base]]
                print(
                    f"chain {chain!r}: crossover ({what} faster than {name} from here on): "
                    f"{text}; {what} faster at: {', '.join(faster) or 'no size'}"
                )
    if fusion is not None:
        print(f"tapegrad.jit.fusion.THRESHOLD = {fusion.THRESHOLD:,}, BLOCK = {fusion.BLOCK:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
