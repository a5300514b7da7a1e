"""Rewrite the compiled programs shown in docs/guides/jit.md with what ``tg.jit`` makes now.

The guide shows intermediate representations (``print(j.lower(...))``) and generated source
(``print(j.lower(...).source)``) in the ``Output`` blocks under its Python examples.  Their
format follows the compiler (the passes, the code generator, fusion), so they go stale when
it changes; ``tests/test_docs.py`` and ``tests/test_docs_jit.py`` then fail.  This script
runs the guide's Python blocks in order, in one namespace and a temporary directory (as
``tests/test_docs.py`` does), and replaces the ``Output`` block under every block that calls
``.lower(`` with what that block prints.  Other ``Output`` blocks are left alone: a changed
result there is a change of behaviour to look at, not a format to refresh.

Run from the repository root, then review the diff::

    PYTHONPATH=src python docs/scripts/jit_guide.py
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "guides" / "jit.md"

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
OUTPUT_INFO = re.compile(r'^text\s+title="Output"\s*$')


def render(text: str) -> str:
    """``text`` (the guide) with the Output blocks of its ``.lower(`` examples regenerated."""
    import tapegrad as tg

    blocks = list(FENCE.finditer(text))
    namespace: dict = {"__name__": "__docs__"}
    edits: list[tuple[int, int, str]] = []
    cwd = os.getcwd()
    state = tg.random.get_state()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            for i, m in enumerate(blocks):
                if m.group(1).strip().split()[:1] != ["python"]:
                    continue
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    exec(compile(m.group(2), f"jit.md block {i}", "exec"), namespace)
                nxt = blocks[i + 1] if i + 1 < len(blocks) else None
                if (
                    ".lower(" in m.group(2)
                    and nxt is not None
                    and OUTPUT_INFO.match(nxt.group(1).strip())
                    and not text[m.end() : nxt.start()].strip()
                ):
                    edits.append((nxt.start(2), nxt.end(2), _tidy(buf.getvalue())))
        finally:
            os.chdir(cwd)
            tg.random.set_state(state)
    out = text
    for start, end, body in reversed(edits):
        out = out[:start] + body + out[end:]
    return out


def _tidy(printed: str) -> str:
    lines = [line.rstrip() for line in printed.strip("\n").splitlines()]
    return "\n".join(lines) + "\n"


def main() -> int:
    text = GUIDE.read_text(encoding="utf-8")
    new = render(text)
    if new == text:
        print(f"{GUIDE}: up to date")
    else:
        GUIDE.write_text(new, encoding="utf-8")
        print(f"{GUIDE}: rewritten; review the diff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
