"""The compiled programs shown in docs/guides/jit.md are the ones ``tg.jit`` makes now.

The guide prints the intermediate representation and the generated source of the seed
example ``L(x, y) = sin(x) + x*y`` and of its gradient-descent step.  These tests compute
them here, from ``lower()``, and look for them in the guide's Output blocks; when the
compiler's output changes (a pass, the code generator, the IR format), they fail until the
blocks are regenerated with ``PYTHONPATH=src python docs/scripts/jit_guide.py``.

The last tests check the compositions the guide describes in prose (transforms of a
compiled function, forward over reverse inside one) against eager mode.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guides" / "jit.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
OUTPUT_INFO = re.compile(r'^text\s+title="Output"\s*$')
REGENERATE = "run `PYTHONPATH=src python docs/scripts/jit_guide.py` and review the diff"


# The guide's definitions, verbatim (test_guide_shows_these_definitions checks it).
def L(x, y):
    return tg.sin(x) + x * y


lr = 1e-2


def step(x, y):
    dx, dy = tg.grad(L, argnums=(0, 1))(x, y)
    return x - lr * dx, y - lr * dy


def _expected() -> dict[str, str]:
    """What the guide must show: name -> text, computed from ``lower()``."""
    lowered_L = tg.jit(L).lower(1.0, 2.0)
    lowered_step = tg.jit(step).lower(np.float64(1.0), np.float64(2.0))
    return {
        "IR of L": str(lowered_L),
        "source of L": lowered_L.source,
        "IR of the step": str(lowered_step),
        "source of the step": lowered_step.source,
    }


def _normalise(s: str) -> str:
    return "\n".join(line.rstrip() for line in s.strip("\n").splitlines())


def _stale(text: str, expected: dict[str, str]) -> list[str]:
    """The names of the ``expected`` texts that no Output block of ``text`` shows (whole
    lines, in one piece: an Output block may print other lines around them)."""
    outputs = [
        "\n" + _normalise(m.group(2)) + "\n"
        for m in FENCE.finditer(text)
        if OUTPUT_INFO.match(m.group(1).strip())
    ]
    return [
        name
        for name, want in expected.items()
        if not any("\n" + _normalise(want) + "\n" in out for out in outputs)
    ]


def _guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_guide_shows_these_definitions():
    text = _guide()
    for fn in (L, step):
        assert textwrap.dedent(inspect.getsource(fn)) in text, fn.__name__
    assert "lr = 1e-2\n" in text


def test_guide_shows_the_current_ir_and_source():
    stale = _stale(_guide(), _expected())
    assert not stale, f"docs/guides/jit.md shows an outdated {', '.join(stale)}; {REGENERATE}"


@pytest.mark.parametrize(
    "old, new, name",
    [
        ("v8:f64[] = cos(v0)", "v8:f64[] = sin(v0)", "IR of the step"),
        ("    v3 = v0 * v1\n", "    v3 = _u2(v0, v1)\n", "source of L"),
    ],
)
def test_a_changed_block_is_caught_and_regenerated(old, new, name):
    text = _guide()
    assert text.count(old) == 1
    changed = text.replace(old, new)
    assert _stale(changed, _expected()) == [name]
    spec = importlib.util.spec_from_file_location(
        "jit_guide", ROOT / "docs" / "scripts" / "jit_guide.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.render(changed) == text


# ----------------------------------------------------------------------------- known problems

_x = np.linspace(-1.0, 1.0, 4)
_f = lambda x: tg.sum(tg.sin(x) * x)  # noqa: E731
_df = tg.grad(_f)(_x)
_cube = lambda x: tg.sum(x**3)  # noqa: E731


def test_grad_of_jit():
    jf = tg.jit(_f)
    jf(_x)
    np.testing.assert_array_equal(tg.grad(jf)(_x), _df)


def test_backward_through_the_tracing_call():
    x = tg.tensor(_x, requires_grad=True)
    tg.jit(_f)(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), _df)


def test_jvp_of_jit_first_call():
    f = lambda x: tg.sin(x) * x  # noqa: E731
    _, t = tg.jvp(tg.jit(f), (_x,), (np.ones(4),))
    np.testing.assert_array_equal(t, tg.jvp(f, (_x,), (np.ones(4),))[1])


def test_jit_of_hessian():
    np.testing.assert_array_equal(tg.jit(tg.hessian(_cube))(_x), tg.hessian(_cube)(_x))


def test_jit_of_hvp():
    hvp = tg.jit(lambda x, v: tg.hvp(_cube, (x,), (v,)))
    np.testing.assert_array_equal(hvp(_x, np.ones(4))[1], tg.hvp(_cube, (_x,), (np.ones(4),))[1])
