"""Every Python example in the README runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_readme_example_runs(k):
    # Blocks build on each other (imports, tensors), as a reader runs them in order.
    namespace: dict = {}
    for block in BLOCKS[: k + 1]:
        exec(compile(block, f"README.md block {k}", "exec"), namespace)
