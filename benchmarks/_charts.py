"""Charts of the results: one SVG per workload, each contender beside the machine's limit.

``write_charts`` draws them with matplotlib, an optional dependency (the
``[bench]`` extra) imported only here and only when charts are written. The
data comes from a run (``results.json``, see ``_report.to_json``) or, to redraw
the committed charts without measuring again, from the results table of
``RESULTS.md``. The SVGs are deterministic (no dates, fixed ids, text kept as
text), so redrawing unchanged results changes no file.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Final

from _report import COLUMNS, HEADINGS

#: Bar colours: aiocontent's stores in one hue, the others apart.
COLOURS: Final = {
    "aiocontent": "#3949ab",
    "memory": "#7986cb",
    "containerd": "#2e7d32",
    "naive": "#9e9e9e",
}


@dataclasses.dataclass(frozen=True)
class Workload:
    """One row of results: the median of each contender, and the limit if any."""

    key: str
    title: str
    unit: str
    better: str
    medians: dict[str, float | None]
    limit: float | None = None
    limit_name: str = ""

    @property
    def filename(self) -> str:
        """``W1_ingest`` -> ``w1-ingest.svg``."""
        return self.key.lower().replace("_", "-") + ".svg"


def from_json(path: Path) -> list[Workload]:
    """The workloads of a ``results.json`` written by ``run.py``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Workload(
            key=key,
            title=w["title"],
            unit=w["unit"],
            better=w["better"],
            medians={c: w["median"].get(c) for c in COLUMNS},
            limit=w.get("limit"),
            limit_name=w.get("limit_name") or "",
        )
        for key, w in data["workloads"].items()
    ]


def _number(cell: str) -> float | None:
    match = re.match(r"[\d,]+(?:\.\d+)?", cell.strip())
    return float(match.group(0).replace(",", "")) if match else None


def from_markdown(path: Path, keys: tuple[str, ...]) -> list[Workload]:
    """The workloads of the results table in ``RESULTS.md``, its rows in ``keys`` order.

    Medians are as printed there (three significant digits or so), enough for a chart.
    """
    text = path.read_text(encoding="utf-8")
    section = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| W")]
    if len(rows) != len(keys):
        raise ValueError(f"{path}: {len(rows)} result rows, expected {len(keys)}")
    found = []
    for key, line in zip(keys, rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        title, unit, better = cells[:3]
        values = cells[3 : 3 + len(COLUMNS)]
        limit = cells[3 + len(COLUMNS)]
        name = re.search(r"\((.*)\)", limit)
        found.append(
            Workload(
                key=key,
                title=title,
                unit=unit,
                better=better,
                medians={c: _number(v) for c, v in zip(COLUMNS, values, strict=True)},
                limit=_number(limit),
                limit_name=name.group(1) if name else "",
            )
        )
    return found


def _label(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def write_charts(workloads: list[Workload], out: Path) -> list[Path]:
    """Draw one SVG per workload into ``out``; the paths written.

    :raises ImportError: matplotlib is missing (``pip install '.[bench]'``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "aiocontent", "font.size": 9})
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for w in workloads:
        bars = [(HEADINGS[c], v, COLOURS[c]) for c, v in w.medians.items() if v is not None]
        if not bars:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.42 * (len(bars) + 1)))
        names = [b[0] for b in bars][::-1]
        values = [b[1] for b in bars][::-1]
        ax.barh(names, values, color=[b[2] for b in bars][::-1], height=0.6)
        top = max(values + ([w.limit] if w.limit else []))
        for y, v in enumerate(values):
            ax.text(v + top * 0.01, y, _label(v), va="center")
        if w.limit:
            name = f" ({w.limit_name})" if w.limit_name else ""
            ax.axvline(
                w.limit,
                color="#c62828",
                linestyle="--",
                linewidth=1.2,
                label=f"machine's limit: {_label(w.limit)}{name}",
            )
            ax.legend(loc="best", frameon=False)
        ax.set_xlim(0, top * 1.15)
        ax.set_xlabel(f"{w.unit} ({w.better} is better)")
        ax.set_title(w.title, loc="left", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        path = out / w.filename
        fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
        written.append(path)
    return written


def redraw(here: Path, keys: tuple[str, ...]) -> list[Path]:
    """Charts from ``results.json`` if a full run left one, else from ``RESULTS.md``."""
    results = here / "results.json"
    workloads = from_json(results) if results.exists() else from_markdown(here / "RESULTS.md", keys)
    return write_charts(workloads, here / "charts")
