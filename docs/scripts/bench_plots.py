"""Draw the benchmark ratios of docs/scripts/bench_data.json as bar charts (SVG).

The numbers are copied from BENCHMARKS.md into ``bench_data.json`` (``tests/test_docs.py``
checks that every one of them is in BENCHMARKS.md); this script only draws them.  One chart
per entry of ``charts``: grouped bars (one group per workload row and thread count, one bar
per ratio), each labelled with its value, and dashed lines for the targets.

Run from the repository root after updating the data, and commit the pictures::

    python docs/scripts/bench_plots.py            # writes docs/images/bench_<name>.svg
    python docs/scripts/bench_plots.py --out DIR  # somewhere else
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "bench_data.json"
IMAGES = HERE.parent / "images"
COLORS = ["#3f51b5", "#ff9800", "#9e9e9e"]


def draw(chart: dict, path: Path) -> Path:
    """Draw one chart of ``bench_data.json`` into ``path`` (SVG, text kept as text)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # Reproducible files: no date, fixed ids, text as <text> (searchable, small).
    matplotlib.rcParams["svg.hashsalt"] = "tapegrad"
    matplotlib.rcParams["svg.fonttype"] = "none"

    bars = chart["bars"]
    series = list(bars[0]["values"])
    groups = [f"{b['row']}\n{b['threads']} thread{'s' if b['threads'] > 1 else ''}" for b in bars]
    width = 0.8 / len(series)
    fig = Figure(figsize=(max(6.0, 1.2 * len(bars) + 2), 4.2), layout="constrained")
    ax = fig.add_subplot()
    for k, name in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(bars))]
        ys = [b["values"][name] for b in bars]
        rects = ax.bar(xs, ys, width, label=name, color=COLORS[k % len(COLORS)])
        ax.bar_label(rects, labels=[f"{y:.2f}x" for y in ys], fontsize=8, padding=2)
    for line in chart.get("lines", []):
        ax.axhline(line["value"], color="#c62828", linestyle="--", linewidth=1)
        ax.annotate(
            line["label"],
            (1.0, line["value"]),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
            color="#c62828",
        )
    if chart.get("log"):
        ax.set_yscale("log")
    ax.set_xticks(range(len(bars)), groups, fontsize=9)
    ax.set_ylabel(chart["ylabel"])
    ax.set_title(chart["title"], fontsize=11)
    ax.margins(y=0.15)
    ax.spines[["top", "right"]].set_visible(False)
    fig.legend(fontsize=8, frameon=False, loc="outside lower center", ncols=len(series))
    fig.savefig(path, format="svg", metadata={"Date": None})
    return path


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Draw every chart; return the files written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(IMAGES), help="output folder (docs/images)")
    parser.add_argument("--data", default=str(DATA), help="chart data (bench_data.json)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = json.loads(Path(args.data).read_text(encoding="utf-8"))
    return [draw(c, out / f"bench_{c['name']}.svg") for c in data["charts"]]


if __name__ == "__main__":
    for p in main():
        print(f"wrote {p}")
    sys.exit(0)
