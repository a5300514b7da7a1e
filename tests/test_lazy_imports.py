"""``import tapegrad`` loads the core only; the rest loads on first use, names unchanged.

Each check runs in a fresh interpreter: this one has imported everything already.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Loaded on first use, not by ``import tapegrad``.
LAZY_MODULES = ("nn", "optim", "data", "viz", "explain", "checkpoint", "testing", "optimize")
# Public names of tapegrad that are (or come from) those modules: name -> module or function.
LAZY_NAMES = {
    "nn": "module",
    "optim": "module",
    "data": "module",
    "viz": "module",
    "testing": "module",
    "optimize": "module",
    "explain": "function",
    "checkpoint": "function",
    "checkpoint_chain": "function",
    "checkpoint_sequential": "function",
}


def run(code: str) -> str:
    """Run ``code`` in a fresh interpreter that imports this checkout's tapegrad; its stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_import_tapegrad_loads_only_the_core():
    out = run(
        f"""
        import sys
        import tapegrad
        loaded = [m for m in {LAZY_MODULES!r} if "tapegrad." + m in sys.modules]
        print("loaded:", loaded)
        print("scipy:", "scipy" in sys.modules)
        print("numpy.random:", "numpy.random" in sys.modules)
        """
    )
    assert "loaded: []" in out, out
    assert "scipy: False" in out, out
    # the global generator is made on first use: numpy.random costs a tenth of the import
    assert "numpy.random: False" in out, out


@pytest.mark.parametrize("name", sorted(LAZY_NAMES))
def test_each_lazy_name_resolves_on_first_use(name):
    kind = LAZY_NAMES[name]
    out = run(
        f"""
        import sys, types
        import tapegrad as tg
        assert {name!r} in dir(tg)
        value = getattr(tg, {name!r})
        assert getattr(tg, {name!r}) is value
        from tapegrad import {name} as again
        assert again is value
        print("kind:", "module" if isinstance(value, types.ModuleType) else "function")
        if isinstance(value, types.ModuleType):
            assert value is sys.modules["tapegrad.{name}"]
            import tapegrad.{name}
            assert tg.{name} is value
        else:
            assert callable(value) and value.__name__ == {name!r}
        """
    )
    assert f"kind: {kind}" in out, out


def test_import_tapegrad_nn_and_the_from_forms():
    run(
        """
        import sys
        import tapegrad.nn
        import tapegrad as tg
        assert tg.nn is sys.modules["tapegrad.nn"]
        assert "tapegrad.optim" not in sys.modules
        from tapegrad import optim
        from tapegrad.optim import SGD
        assert optim.SGD is SGD and tg.optim is optim
        layer = tg.nn.Linear(3, 2)
        opt = tg.optim.SGD(layer.parameters(), lr=0.1)
        tg.sum(layer(tg.ones((4, 3), dtype="float32"))).backward()
        opt.step()
        """
    )


CHECKPOINT_WORKS = """
    import numpy as np
    import tapegrad as tg
    x = tg.tensor(np.array([0.5, 1.5]), requires_grad=True)
    tg.sum(tg.checkpoint(lambda v: tg.sin(v) * v, x)).backward()
    expected = np.sin(x.data) + x.data * np.cos(x.data)
    assert np.allclose(x.grad.data, expected), (x.grad, expected)
"""


@pytest.mark.parametrize(
    "first",
    [
        "import tapegrad.checkpoint",
        "from tapegrad.checkpoint import binomial_steps",
        "import tapegrad.checkpoint as ck",
        "tg.checkpoint",
        "tg.checkpoint_chain",
        "from tapegrad import checkpoint",
        "import tapegrad.explain",
        "from tapegrad.explain import explain",
        "tg.explain",
    ],
)
def test_checkpoint_and_explain_stay_functions_however_their_modules_load(first):
    # tapegrad.checkpoint and tapegrad.explain are modules, tg.checkpoint and tg.explain the
    # functions they define; importing a submodule binds it as its parent's attribute.
    code = f"""
        import sys, types
        import tapegrad as tg
        {first}
        import tapegrad.checkpoint
        import tapegrad.explain
        from tapegrad.checkpoint import binomial_steps
        for name in ("checkpoint", "explain"):
            fn = getattr(tg, name)
            module = sys.modules["tapegrad." + name]
            assert isinstance(module, types.ModuleType)
            assert fn is getattr(module, name), (name, fn)
            assert isinstance(fn, types.FunctionType), (name, fn)
        from tapegrad import checkpoint, explain
        assert checkpoint is tg.checkpoint and explain is tg.explain
        assert binomial_steps(10, 3) > 0
        """
    run(textwrap.dedent(code) + textwrap.dedent(CHECKPOINT_WORKS))


def test_setting_a_function_named_like_its_module_keeps_ordinary_assignment():
    run(
        """
        import types
        import tapegrad as tg
        original = tg.checkpoint
        tg.checkpoint = len            # plain assignment still assigns (monkeypatching)
        assert tg.checkpoint is len
        tg.checkpoint = original
        tg.other = types.ModuleType("tapegrad.other")
        assert isinstance(tg.other, types.ModuleType)
        """
    )


def test_unknown_attribute_raises_attribute_error():
    import tapegrad as tg

    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        tg.not_a_name  # noqa: B018
    assert not hasattr(tg, "forward_transforms")


def test_dir_lists_the_lazy_names():
    import tapegrad as tg

    names = dir(tg)
    assert names == sorted(names)
    for name in [*LAZY_NAMES, "grad", "jvp", "Tensor", "sin", "autograd", "transforms"]:
        assert name in names
