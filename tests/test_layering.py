"""Imports point down the layers (docs: DESIGN's "The layers, bottom up").

A fresh interpreter records, with an import hook, which tapegrad module imports which while
the package loads, and every edge is checked against the layer order:

    errors, _dtype, _tree, random, return_types  <  autograd.node, grad_mode, injected
    <  autograd.* and tensor  <  ops.registry  <  ops.*  <  everything else

Within the middle layer the tensor imports only ``autograd.engine`` (for ``backward``: the
one mutual import), so neither the tensor nor autograd ever reaches the op library.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Runs in the child: wraps builtins.__import__ and prints [importer, imported] edges.
_RECORDER = textwrap.dedent(
    """
    import builtins, importlib.util, json, sys

    edges = set()
    _orig = builtins.__import__

    def _resolve(name, globals, level):
        if level == 0:
            return name
        pkg = (globals or {}).get("__package__") or ""
        return importlib.util.resolve_name("." * level + name, pkg)

    def _hook(name, globals=None, locals=None, fromlist=(), level=0):
        mod = _orig(name, globals, locals, fromlist, level)
        importer = (globals or {}).get("__name__", "")
        if importer.startswith("tapegrad"):
            try:
                target = _resolve(name, globals, level)
            except (ImportError, ValueError):
                return mod
            if target.startswith("tapegrad"):
                edges.add((importer, target))
                for item in fromlist or ():
                    sub = target + "." + item
                    if sub in sys.modules:
                        edges.add((importer, sub))
        return mod

    builtins.__import__ = _hook
    for first in sys.argv[1:]:
        importlib.import_module(first)
    import tapegrad  # noqa: F401  (then everything else)
    builtins.__import__ = _orig
    print(json.dumps(sorted(edges)))
    """
)

# Leaves: they import nothing of tapegrad but errors.
_BOTTOM = {
    "tapegrad.errors",
    "tapegrad._dtype",
    "tapegrad._tree",
    "tapegrad.random",
    "tapegrad.return_types",
}
_TAPE = {"tapegrad.autograd.node", "tapegrad.autograd.grad_mode", "tapegrad.autograd.injected"}


def layer(mod: str) -> int:
    """The layer of a tapegrad module (higher layers may import lower ones only)."""
    if mod in _BOTTOM:
        return 0
    if mod in _TAPE:
        return 1
    if (
        mod == "tapegrad.tensor"
        or mod == "tapegrad.autograd"
        or mod.startswith("tapegrad.autograd.")
    ):
        return 2
    if mod == "tapegrad.ops.registry":
        return 3
    if mod == "tapegrad.ops" or mod.startswith("tapegrad.ops."):
        return 4
    return 5


def violations(edges: list[list[str]]) -> list[str]:
    """The edges that break the layering, as readable lines."""
    bad = []
    for importer, imported in edges:
        if importer == imported or imported.startswith(importer + "."):
            continue  # a package importing its own submodules
        if importer.startswith(imported + "."):
            continue  # its own package (``from . import x``): loaded before it anyway
        if layer(imported) > layer(importer):
            bad.append(
                f"{importer} (layer {layer(importer)}) imports {imported} (layer {layer(imported)})"
            )
        elif importer == "tapegrad.tensor" and imported.startswith("tapegrad.autograd."):
            if imported not in _TAPE and imported != "tapegrad.autograd.engine":
                bad.append(f"tapegrad.tensor imports {imported} (only autograd.engine, mutually)")
        if (importer == "tapegrad.tensor" or importer.startswith("tapegrad.autograd")) and (
            imported == "tapegrad.ops" or imported.startswith("tapegrad.ops.")
        ):
            bad.append(f"{importer} imports the op library ({imported})")
    return sorted(set(bad))


def record(*first: str, extra_src: Path | None = None) -> list[list[str]]:
    env = dict(os.environ)
    paths = [str(p) for p in (extra_src, SRC) if p is not None]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", _RECORDER, *first],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "first", [("tapegrad.autograd.engine",), ("tapegrad.tensor",), ("tapegrad.ops",)]
)
def test_imports_point_down(first):
    edges = record(*first)
    assert ["tapegrad.tensor", "tapegrad.autograd.engine"] in edges  # the hook saw the package
    assert ["tapegrad.ops.install", "tapegrad.tensor"] in edges
    assert violations(edges) == []


def test_an_upward_import_is_caught(tmp_path):
    # A copy of the package with one import added to the tensor module: the check fails.
    pkg = tmp_path / "tapegrad"
    shutil.copytree(SRC / "tapegrad", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    tensor_py = pkg / "tensor.py"
    tensor_py.write_text(
        tensor_py.read_text() + "\nfrom .ops import elementwise as _upward  # noqa\n"
    )
    edges = record("tapegrad.autograd.engine", extra_src=tmp_path)
    bad = violations(edges)
    assert "tapegrad.tensor (layer 2) imports tapegrad.ops.elementwise (layer 4)" in bad
    assert "tapegrad.tensor imports the op library (tapegrad.ops.elementwise)" in bad


def test_layer_order():
    order = [
        "tapegrad.errors",
        "tapegrad.autograd.grad_mode",
        "tapegrad.autograd.engine",
        "tapegrad.ops.registry",
        "tapegrad.ops.methods",
        "tapegrad.nn.module",
    ]
    assert [layer(m) for m in order] == sorted(layer(m) for m in order)
    assert layer("tapegrad.tensor") == layer("tapegrad.autograd.function")
