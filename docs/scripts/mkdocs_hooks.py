"""MkDocs hooks for the tapegrad site.

The docstrings use Sphinx roles (``:func:`tapegrad.grad```), which the numpy-style parser
leaves in the text: the rendered page would read ":func:tapegrad.grad".  After a page is
rendered, the role prefix is dropped and ``~a.b.C`` is shortened to ``C``, as Sphinx shows it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|data|mod|attr|exc|obj):(?=<code>)")
_TILDE = re.compile(r"<code>~(?:[\w]+\.)*([\w]+)</code>")


def clean_roles(html: str) -> str:
    """Drop the role before a code span; ``~a.b.C`` becomes ``C``."""
    return _TILDE.sub(r"<code>\1</code>", _ROLE.sub("", html))


def on_post_page(output: str, page: Any, config: Any) -> str:
    return clean_roles(output)
