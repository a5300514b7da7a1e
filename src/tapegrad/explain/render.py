"""Rendering an :class:`~tapegrad.explain.Explanation`: the forward and reverse tables and the
gradient lines, as aligned text, Markdown and HTML."""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .notation import BAR, WDOT, _fmt, _to_ascii, _wbar, _wdot
from .steps import Partial, Step

if TYPE_CHECKING:
    from .explanation import Explanation


def _width(s: str) -> int:
    w = 0
    for c in s:
        if unicodedata.combining(c):
            continue
        w += 2 if unicodedata.east_asian_width(c) in "WF" else 1
    return w


def _pad(s: str, w: int) -> str:
    return s + " " * (w - _width(s))


def _partial_text(s: Step, p: Partial, precision: int) -> str:
    """``"∂w3/∂w1 = cos(w1) = 0.540302"``; ``"∂w5/∂w3 = 1"`` where formula and value agree."""
    head = f"∂{s.name}/∂{p.wrt}"
    v = "Jacobian" if p.value is None else _fmt(p.value, precision)
    if p.value is not None and p.value.size and np.all(p.value == p.value.flat[0]):
        if p.formula == _fmt(p.value.flat[0], precision):
            v = p.formula  # ones everywhere: "∂w5/∂w3 = 1"
    if p.formula is None or p.formula == v:
        return f"{head} = {v}"
    return f"{head} = {p.formula} = {v}"


@dataclass
class _Table:
    title: str
    headers: list[str]
    rows: list[list[str]]


def _tables(e: Explanation, precision: int) -> tuple[list[_Table], list[str]]:
    """The tables of ``e`` and its gradient lines, as text cells."""
    fwd = e.mode in ("forward", "both")
    rev = e.mode in ("reverse", "both")
    shaped = any(s.value is not None and s.value.ndim > 0 for s in e.rows)
    headers = ["step"] + (["shape"] if shaped else []) + ["value", "local partials"]
    if fwd:
        headers += ["tangent"] + [f"{WDOT}, seed {n}" for n in e.inputs]
    rows = []
    for s in e.rows:
        parts = [_partial_text(s, p, precision) for p in s.partials]
        row = [s.equation]
        if shaped:
            row.append("?" if s.shape is None else str(s.shape))
        row += [_fmt(s.value, precision), ";  ".join(parts)]
        if fwd:
            row.append(f"{_wdot(s.name)} = {s.tangent_expr}")
            row += [_fmt(s.tangents.get(n), precision) for n in e.inputs]
        rows.append(row)
    tables = [_Table("Forward pass", headers, rows)]
    if rev:
        rrows = [
            [f"{_wbar(s.name)} = {s.adjoint_expr}", _fmt(s.adjoint, precision)]
            for s in e.backward_order
        ]
        tables.append(
            _Table(
                f"Reverse pass: adjoints w{BAR}i = ∂{e.label}/∂wi, "
                "in the order the backward pass fills them in",
                ["adjoint", "value"],
                rrows,
            )
        )
    lines = []
    out = e[e.output]
    for s in e.input_steps:
        d = f"∂{e.label}/∂{s.expr}"
        r = f"{_wbar(s.name)} = {_fmt(s.adjoint, precision)}"
        t = out.tangents.get(s.expr)
        fw = f"{_wdot(out.name)} (seed {s.expr}) = {_fmt(t, precision)}"
        scalar_in = s.value is not None and s.value.ndim == 0
        if rev and fwd:
            if scalar_in and _fmt(s.adjoint, precision) == _fmt(t, precision):
                lines.append(f"{d} = {_wbar(s.name)} = {fw}")
            else:
                lines.append(f"{d} = {r} (reverse);  {fw} (forward)")
        elif rev:
            lines.append(f"{d} = {r}")
        elif scalar_in and out.value is not None and out.value.size == 1:
            lines.append(f"{d} = {fw}")
        else:
            lines.append(fw)
    return tables, lines


def to_text(e: Explanation, ascii: bool, precision: int) -> str:
    """The tables as aligned plain text (``ascii``: accents spelled out)."""
    tables, lines = _tables(e, precision)
    conv: Callable[[str], str] = _to_ascii if ascii else (lambda s: s)
    out = [conv(e.title)]
    for t in tables:
        t = _Table(
            conv(t.title), [conv(h) for h in t.headers], [[conv(c) for c in r] for r in t.rows]
        )
        widths = [_width(h) for h in t.headers]
        for r in t.rows:
            widths = [max(w, _width(c)) for w, c in zip(widths, r)]
        out += ["", t.title]
        out.append("  ".join(_pad(h, w) for h, w in zip(t.headers, widths)).rstrip())
        out.append("  ".join("-" * w for w in widths))
        for r in t.rows:
            out.append("  ".join(_pad(c, w) for c, w in zip(r, widths)).rstrip())
    out += ["", "Gradient" if e.mode != "forward" else "Derivatives"]
    out += [conv(ln) for ln in lines]
    return "\n".join(out)


def to_markdown(e: Explanation, precision: int) -> str:
    """The table as Markdown (pipe tables, formulas in code spans)."""

    def cell(c: str, code: bool) -> str:
        c = c.replace("|", "\\|")
        return f"`{c}`" if code and c else c

    tables, lines = _tables(e, precision)
    out = [f"**{e.title}**"]
    for t in tables:
        out += ["", f"*{t.title}*", ""]
        out.append("| " + " | ".join(t.headers) + " |")
        out.append("|" + "|".join("---" for _ in t.headers) + "|")
        value_cols = {i for i, h in enumerate(t.headers) if h in ("value", "shape") or "seed" in h}
        for r in t.rows:
            cells = [cell(c, i not in value_cols) for i, c in enumerate(r)]
            out.append("| " + " | ".join(cells) + " |")
    title = "Gradient" if e.mode != "forward" else "Derivatives"
    out += ["", f"*{title}*", ""] + [f"- `{ln}`" for ln in lines]
    return "\n".join(out) + "\n"


def to_html(e: Explanation, precision: int) -> str:
    """A rich HTML table (Jupyter displays it)."""
    esc = html.escape
    tables, lines = _tables(e, precision)
    out = [
        '<div class="tapegrad-explain">',
        f"<p><strong>{esc(e.title)}</strong></p>",
    ]
    for t in tables:
        value_cols = {i for i, h in enumerate(t.headers) if h in ("value", "shape") or "seed" in h}
        out.append('<table style="font-family: monospace; text-align: left">')
        out.append(f"<caption>{esc(t.title)}</caption>")
        out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in t.headers))
        out.append("</tr></thead>")
        out.append("<tbody>")
        for r in t.rows:
            tds = "".join(
                f'<td style="text-align: right">{esc(c)}</td>'
                if i in value_cols
                else f"<td>{esc(c)}</td>"
                for i, c in enumerate(r)
            )
            out.append(f"<tr>{tds}</tr>")
        out.append("</tbody></table>")
    title = "Gradient" if e.mode != "forward" else "Derivatives"
    out.append(f"<p>{esc(title)}</p><ul>")
    out += [f"<li><code>{esc(ln)}</code></li>" for ln in lines]
    out.append("</ul></div>")
    return "\n".join(out)
