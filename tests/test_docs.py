"""Every Python example in the documentation runs, and the site's structure holds together.

Conventions for ``docs/**/*.md`` (the pages say so too, in ``docs/contributing-docs.md``):

- Every fenced ```` ```python ```` block runs.  The blocks of one page run in order in one
  namespace (a reader runs them in order), in a fresh temporary working directory, with
  matplotlib's non-interactive ``Agg`` backend.
- A ```` ```text title="Output" ```` block right after a Python block is that block's printed
  output: the test compares it with what the block really prints (trailing spaces ignored).
- A ```` ```console ```` block starting with ``$ tapegrad ...`` is run through the command
  line entry point in a temporary directory; the rest of the block is its output (times in
  parentheses such as ``(0.02s)`` are not compared).
- Any other ```` ```text ````, ```` ```console ```` or ```` ```bash ```` block is not run.

The site itself is built by ``mkdocs build --strict`` in CI, not here; these tests check what
that build relies on without building it: the nav lists every page and only pages that exist,
the benchmark tables and plot data agree with ``BENCHMARKS.md``, and the generated op table
and plots are up to date.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS_YML = ROOT / "mkdocs.yml"
SCRIPTS = DOCS / "scripts"

# A fenced block: its info string (language and attributes) and its body.
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
OUTPUT_INFO = re.compile(r'^text\s+title="Output"\s*$')


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _page_id(p: Path) -> str:
    return p.relative_to(DOCS).as_posix()


def _examples(text: str) -> list[tuple[str, str | None, int]]:
    """``(code, expected_output_or_None, line)`` for each Python block of a page."""
    blocks = [
        (m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1, m.start(), m.end())
        for m in FENCE.finditer(text)
    ]
    out = []
    for i, (info, body, line, _start, end) in enumerate(blocks):
        if info.split()[:1] != ["python"]:
            continue
        expected = None
        if i + 1 < len(blocks):
            nxt_info, nxt_body, _, nxt_start, _ = blocks[i + 1]
            if OUTPUT_INFO.match(nxt_info) and not text[end:nxt_start].strip():
                expected = nxt_body
        out.append((body, expected, line))
    return out


PAGES_WITH_CODE = [p for p in _pages() if _examples(p.read_text(encoding="utf-8"))]


def _normalise(s: str) -> str:
    return "\n".join(line.rstrip() for line in s.strip("\n").splitlines())


@pytest.fixture
def docs_env(tmp_path, monkeypatch):
    """A fresh cwd, the Agg backend, reseeded global RNG, and figures closed afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if "matplotlib" in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    state = tg.random.get_state()
    yield tmp_path
    tg.random.set_state(state)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def test_docs_have_examples():
    assert len(PAGES_WITH_CODE) >= 8
    assert sum(len(_examples(p.read_text(encoding="utf-8"))) for p in PAGES_WITH_CODE) >= 40


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_page_id)
def test_docs_page_examples_run(page, docs_env):
    examples = _examples(page.read_text(encoding="utf-8"))
    if any("matplotlib" in code for code, _, _ in examples):
        pytest.importorskip("matplotlib")
    namespace: dict = {"__name__": "__docs__"}
    for k, (code, expected, line) in enumerate(examples):
        where = f"{_page_id(page)}:{line} (block {k})"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, where, "exec"), namespace)
        if expected is not None:
            assert _normalise(buf.getvalue()) == _normalise(expected), (
                f"{where}: the Output block under this example differs from what it prints; "
                f"paste the real output:\n{buf.getvalue()}"
            )


def test_output_blocks_follow_python_blocks():
    # An Output block anywhere else would be silently unchecked.
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        blocks = list(FENCE.finditer(text))
        for i, m in enumerate(blocks):
            if not OUTPUT_INFO.match(m.group(1).strip()):
                continue
            prev = blocks[i - 1] if i else None
            ok = (
                prev is not None
                and prev.group(1).strip().split()[:1] == ["python"]
                and not text[prev.end() : m.start()].strip()
            )
            line = text.count("\n", 0, m.start()) + 1
            assert ok, f"{_page_id(page)}:{line}: an Output block must directly follow python"


def test_example_extraction_pairs_outputs():
    text = (
        'x\n```python\nprint(1)\n```\n\n```text title="Output"\n1\n```\n'
        "```python\ny = 2\n```\n```text\nnot an output\n```\n"
    )
    got = _examples(text)
    assert [(c, e) for c, e, _ in got] == [("print(1)\n", "1\n"), ("y = 2\n", None)]


# ----------------------------------------------------------------------------- command line

CLI = re.compile(r"\A\$ tapegrad(?P<args>[^\n]*)\n(?P<out>.*)\Z", re.S)
SECONDS = re.compile(r"\(\d+(?:\.\d+)?s\)")


def _cli_examples() -> list[tuple[Path, int, str, str]]:
    out = []
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1).strip().split()[:1] != ["console"]:
                continue
            c = CLI.match(m.group(2))
            if c:
                line = text.count("\n", 0, m.start()) + 1
                out.append((page, line, c.group("args"), c.group("out")))
    return out


CLI_EXAMPLES = _cli_examples()


def test_docs_have_command_line_examples():
    assert {args.split()[0] for _, _, args, _ in CLI_EXAMPLES} >= {"demo", "train"}


@pytest.mark.parametrize(
    "page, line, args, expected",
    CLI_EXAMPLES,
    ids=[f"{_page_id(p)}:{n}" for p, n, _, _ in CLI_EXAMPLES],
)
def test_docs_command_line_examples(page, line, args, expected, docs_env):
    from tapegrad.cli import main

    if "curves.png" in expected:
        pytest.importorskip("matplotlib")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(shlex.split(args))
    assert rc == 0
    got, want = (SECONDS.sub("(s)", _normalise(s)) for s in (buf.getvalue(), expected))
    assert got == want, f"{_page_id(page)}:{line}: `tapegrad{args}` printed:\n{buf.getvalue()}"


# ----------------------------------------------------------------------------- nav


def _nav_paths() -> list[str]:
    """Every ``.md`` path named in mkdocs.yml's nav (a small YAML subset, no yaml needed)."""
    text = MKDOCS_YML.read_text(encoding="utf-8")
    nav = text.split("\nnav:", 1)
    assert len(nav) == 2, "mkdocs.yml has no top-level nav:"
    body = []
    for line in nav[1].splitlines()[1:]:
        if line and not line[0].isspace() and not line.startswith("-"):
            break  # the next top-level key
        body.append(line)
    return re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w./-]+\.md)\s*$", "\n".join(body), re.M)


def test_nav_covers_every_page():
    nav = _nav_paths()
    pages = {_page_id(p) for p in _pages()}
    orphans = sorted(pages - set(nav))
    assert not orphans, f"pages missing from mkdocs.yml's nav: {orphans}; add them to nav"


def test_nav_names_only_existing_pages_once():
    nav = _nav_paths()
    missing = sorted(p for p in nav if not (DOCS / p).is_file())
    assert not missing, f"mkdocs.yml's nav names pages that do not exist: {missing}"
    dup = sorted({p for p in nav if nav.count(p) > 1})
    assert not dup, f"pages listed twice in nav: {dup}"


def test_mkdocs_config_is_strict_with_numpy_docstrings():
    text = MKDOCS_YML.read_text(encoding="utf-8")
    assert re.search(r"^strict:\s*true\s*$", text, re.M)
    assert re.search(r"docstring_style:\s*numpy", text)
    assert re.search(r"paths:\s*\[src\]", text)


def test_api_pages_name_importable_objects():
    # Each ``::: dotted.name`` must import, or mkdocstrings fails the strict build.
    import importlib

    for page in (DOCS / "api").glob("*.md"):
        for name in re.findall(r"^:::\s*([\w.]+)", page.read_text(encoding="utf-8"), re.M):
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
                break
            else:  # pragma: no cover - the assertion message is the point
                pytest.fail(f"{_page_id(page)}: ::: {name} does not import")


def test_relative_links_point_to_existing_files():
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    for page in _pages():
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        for target in link.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue
            assert (page.parent / target).resolve().exists(), (
                f"{_page_id(page)} links to {target}, which does not exist"
            )


# ----------------------------------------------------------------------------- op table


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ops_reference_is_up_to_date():
    ops_table = _load_script("ops_table")
    committed = (DOCS / "api" / "ops.md").read_text(encoding="utf-8")
    assert committed == ops_table.render(), (
        "docs/api/ops.md is out of date with the registered ops; run "
        "`PYTHONPATH=src python docs/scripts/ops_table.py`"
    )


def test_ops_reference_lists_every_public_op():
    text = (DOCS / "api" / "ops.md").read_text(encoding="utf-8")
    registry = set(tg.ops.registry.__all__)
    missing = [n for n in tg.ops.__all__ if n not in registry and f"`{n}`" not in text]
    assert not missing, f"ops missing from docs/api/ops.md: {missing}"


def test_linalg_reference_lists_every_function():
    text = (DOCS / "api" / "linalg.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\s+- (\w+)\s*$", text, re.M)
    assert sorted(listed) == sorted(tg.linalg.__all__), (
        "docs/api/linalg.md's members list differs from tg.linalg.__all__; update it"
    )


# ----------------------------------------------------------------------------- benchmarks


def _bench_data() -> dict:
    return json.loads((SCRIPTS / "bench_data.json").read_text(encoding="utf-8"))


def _table_lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.startswith("| W")]


def test_benchmark_tables_are_copied_from_benchmarks_md():
    source = set(_table_lines((ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")))
    page = _table_lines((DOCS / "benchmarks.md").read_text(encoding="utf-8"))
    assert len(page) >= 15
    stale = [ln for ln in page if ln not in source]
    assert not stale, f"docs/benchmarks.md rows not in BENCHMARKS.md (copy them again): {stale}"


def _fmt_ratio(v: float) -> str:
    return f"{v:.2f}x"


def test_bench_data_matches_benchmarks_md():
    # Every ratio in the plot data appears in the BENCHMARKS.md row it names.
    rows = {}
    for ln in _table_lines((ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")):
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows.setdefault((cells[0], cells[1]), cells)
    data = _bench_data()
    n = 0
    for chart in data["charts"]:
        for bar in chart["bars"]:
            cells = rows.get((bar["row"], str(bar["threads"])))
            assert cells is not None, f"{chart['name']}: no BENCHMARKS.md row {bar['row']!r}"
            for series, value in bar["values"].items():
                assert _fmt_ratio(value) in cells, (
                    f"{chart['name']} {bar['row']} {series}: {value} is not in the row {cells}"
                )
                n += 1
    assert n >= 20


def test_bench_plots_are_drawn_and_committed(tmp_path):
    pytest.importorskip("matplotlib")
    bench_plots = _load_script("bench_plots")
    written = bench_plots.main(["--out", str(tmp_path)])
    names = sorted(p.name for p in written)
    assert names == sorted(f"bench_{c['name']}.svg" for c in _bench_data()["charts"])
    import xml.etree.ElementTree as ET

    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    for p in written:
        root = ET.parse(p).getroot()
        assert root.tag.endswith("svg")
        committed = DOCS / "images" / p.name
        assert committed.is_file(), f"run `python docs/scripts/bench_plots.py` ({p.name})"
        assert f"images/{p.name}" in page, f"docs/benchmarks.md does not show {p.name}"
        # The committed picture carries the same numbers as a fresh one (text is kept as text).
        fresh = set(re.findall(r"\d+\.\d+x", p.read_text(encoding="utf-8")))
        old = set(re.findall(r"\d+\.\d+x", committed.read_text(encoding="utf-8")))
        assert fresh == old, f"docs/images/{p.name} is stale; rerun docs/scripts/bench_plots.py"


def test_numbers_quoted_in_tutorials_are_tapegrads():
    # The gradient-descent tutorial quotes the seed's printed numbers; tapegrad reproduces them.
    from tapegrad.demo import run

    final, x, y = run(verbose=False)
    text = (DOCS / "tutorials" / "gradient-descent.md").read_text(encoding="utf-8")
    for v in (final, x, y):
        assert repr(v) in text
    assert np.isclose(final, -193992792.6350034)


def test_sphinx_roles_are_cleaned_from_rendered_pages():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "mkdocs_hooks", ROOT / "docs" / "scripts" / "mkdocs_hooks.py"
    )
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    html = "see :func:<code>tapegrad.grad</code>, :class:<code>~tapegrad.autograd.node.Node</code>"
    assert hooks.clean_roles(html) == "see <code>tapegrad.grad</code>, <code>Node</code>"
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "hooks:\n  - docs/scripts/mkdocs_hooks.py" in config
