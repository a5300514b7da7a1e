"""A brake on the size of the core: its code lines stay under a ceiling.

The core is what every other layer stands on: the autograd package, the Tensor, the op
registry and installer, and the transforms.  Code lines are counted with :mod:`tokenize`:
a physical line counts when a token other than a comment or a module, class or function
docstring is on it, so blank lines, comment lines and docstrings do not count, and every
continuation line of a statement does.  Lower the ceiling when the core shrinks; raise it
only with a reason.
"""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "tapegrad"

# The core: directories (every .py file under them) and single files, relative to SRC.
CORE = ("autograd", "tensor.py", "ops/registry.py", "ops/install.py", "transforms")

# 3,795 after the architecture issue; +106 for the compiler's hooks in the core (the tracer
# events of the observer protocol, grad_mode.tracing/effect/source as the one chokepoint for
# memory writes and fresh arrays, opaque rules in the sweep and in forward mode, the
# concretization checks of Tensor): the jit itself lives outside, in tapegrad/jit.
CEILING = 3910

_NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


def _docstring_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of the module, class and function docstrings of ``source``."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                assert first.end_lineno is not None and first.end_col_offset is not None
                spans.append(
                    ((first.lineno, first.col_offset), (first.end_lineno, first.end_col_offset))
                )
    return spans


def code_lines(source: str) -> int:
    """The number of code lines of Python ``source`` (see the module docstring)."""
    spans = _docstring_spans(source)
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in _NOT_CODE:
            continue
        if tok.type == tokenize.STRING and any(a <= tok.start and tok.end <= b for a, b in spans):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines)


def core_files(root: Path = SRC) -> list[Path]:
    """The core's Python files under ``root`` (entries of CORE that do not exist are skipped)."""
    files: list[Path] = []
    for entry in CORE:
        path = root / entry
        if path.is_dir():
            files += sorted(path.rglob("*.py"))
        elif path.is_file():
            files.append(path)
    return files


def core_size(root: Path = SRC) -> dict[str, int]:
    """Code lines per core file, relative path -> count."""
    return {
        str(p.relative_to(root)): code_lines(p.read_text(encoding="utf-8"))
        for p in core_files(root)
    }


SAMPLE = '''\
"""Module docstring.

Its second paragraph.
"""
# a comment line

import os  # a trailing comment: the line counts


class A:
    """Class docstring."""

    x = (1,
         2)
    y = 1 + \\
        2

    def f(self):
        """Function
        docstring."""
        s = """a string, not
a docstring"""
        return s


async def g():
    'a single-quoted docstring'
    return "text"


def h(): "a docstring on the def's line"; return 1
'''


def test_code_lines_excludes_comments_docstrings_and_blank_lines():
    # import, class, x (2 lines), y (2 lines), def f, s (2 lines), return s, async def,
    # return "text", def h (its docstring shares the line with code)
    assert code_lines(SAMPLE) == 13


def test_code_lines_counts_each_continuation_line():
    one = code_lines("total = first + second + third\n")
    split = code_lines("total = (\n    first\n    + second\n    + third\n)\n")
    backslash = code_lines("total = first + \\\n    second\n")
    assert (one, split, backslash) == (1, 5, 2)


def test_code_lines_of_docstrings_and_comments_only_is_zero():
    src = textwrap.dedent(
        '''\
        """Only a docstring."""

        # and a comment


        '''
    )
    assert code_lines(src) == 0


def test_core_files_are_the_listed_ones():
    names = {str(p.relative_to(SRC)) for p in core_files()}
    assert "tensor.py" in names and "ops/registry.py" in names
    assert "autograd/engine.py" in names and "transforms/reverse.py" in names
    assert not any(n.startswith(("nn/", "optim/", "data/")) for n in names)


def test_core_stays_under_its_ceiling():
    sizes = core_size()
    total = sum(sizes.values())
    report = "\n".join(f"{n:6d}  {name}" for name, n in sorted(sizes.items()))
    print(f"core code lines: {total} (ceiling {CEILING})\n{report}")
    assert total <= CEILING, (
        f"the core has {total} code lines, over the ceiling of {CEILING}: move code out of "
        f"the core or justify raising CEILING in {Path(__file__).name}\n{report}"
    )
