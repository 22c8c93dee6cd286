"""Rows, medians, ratios and targets; the terminal table, RESULTS.md and the JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from _util import median

#: The measured columns, in table order, and their headings.
COLUMNS: Final = ("aiocontent", "memory", "containerd", "naive")
HEADINGS: Final = {
    "aiocontent": "LocalStore",
    "memory": "MemoryStore",
    "containerd": "containerd",
    "naive": "aiofiles loop",
}

Check = Callable[["Row"], bool | None]


@dataclasses.dataclass
class Row:
    """One measured quantity: the runs of every column, its limit and target."""

    key: str
    title: str
    unit: str
    better: str  # "higher" or "lower"
    runs: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    limit: float | None = None
    limit_name: str = ""
    target: str = ""
    check: Check | None = None

    def add(self, column: str, value: float) -> None:
        self.runs.setdefault(column, []).append(value)

    def median(self, column: str) -> float | None:
        values = [v for v in self.runs.get(column, []) if not math.isnan(v)]
        return median(values) if values else None

    def ratio(self, other: float | None) -> float | None:
        mine = self.median("aiocontent")
        if mine is None or other is None or other == 0:
            return None
        return mine / other

    @property
    def vs_containerd(self) -> float | None:
        return self.ratio(self.median("containerd"))

    @property
    def vs_naive(self) -> float | None:
        return self.ratio(self.median("naive"))

    @property
    def vs_limit(self) -> float | None:
        return self.ratio(self.limit)

    @property
    def met(self) -> bool | None:
        if self.check is None:
            return None
        return self.check(self)


def at_least(ratio: Callable[[Row], float | None], floor: float) -> Check:
    def check(row: Row) -> bool | None:
        value = ratio(row)
        return None if value is None else value >= floor

    return check


def at_most(ratio: Callable[[Row], float | None], ceiling: float) -> Check:
    def check(row: Row) -> bool | None:
        value = ratio(row)
        return None if value is None else value <= ceiling

    return check


def all_of(*checks: Check) -> Check:
    def check(row: Row) -> bool | None:
        results = [c(row) for c in checks]
        if any(r is False for r in results):
            return False
        if any(r is None for r in results):
            return None
        return True

    return check


def mine(row: Row) -> float | None:
    return row.median("aiocontent")


# --------------------------------------------------------------------------- formatting


def fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}×" if abs(value) >= 0.01 else f"{value:.1g}×"


def fmt_met(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "–"}[value]


HEADER: Final = (
    "workload",
    "unit",
    "better",
    *(HEADINGS[c] for c in COLUMNS),
    "limit",
    "Local/ctr",
    "Local/limit",
    "target",
    "met",
)


def cells(row: Row) -> list[str]:
    return [
        row.title,
        row.unit,
        row.better,
        *(fmt(row.median(c)) for c in COLUMNS),
        fmt(row.limit)
        + (f" ({row.limit_name})" if row.limit is not None and row.limit_name else ""),
        fmt_ratio(row.vs_containerd),
        fmt_ratio(row.vs_limit),
        row.target or "–",
        fmt_met(row.met),
    ]


def text_table(rows: list[Row]) -> str:
    """A fixed-width table for the terminal."""
    return render_text(HEADER, [cells(r) for r in rows], range(3, 3 + len(COLUMNS) + 3))


def render_text(header: Sequence[str], body: list[list[str]], numeric: Iterable[int]) -> str:
    """A fixed-width table: ``numeric`` columns right-aligned, a rule under the header."""
    lines = [list(header), *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = set(numeric)
    out = []
    for n, line in enumerate(lines):
        parts = [
            cell.rjust(widths[i]) if i in right and n else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        out.append("  ".join(parts).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    align = ["---", "---", "---"] + ["---:"] * (len(COLUMNS) + 3) + ["---", "---"]
    return render_markdown(HEADER, [cells(r) for r in rows], align)


def render_markdown(header: Sequence[str], body: list[list[str]], align: Sequence[str]) -> str:
    """A Markdown table; ``align`` holds each column's ``---`` or ``---:``."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for line in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |")
    return "\n".join(lines)


def markdown(rows: list[Row], meta: dict[str, Any], notes: list[str], limits: str) -> str:
    """The whole of ``RESULTS.md``."""
    lines = [
        "# Benchmark results",
        "",
        "Regenerated by `python benchmarks/run.py` (do not edit by hand). Every column was",
        "measured in the same run on the same disk; values are medians over "
        f"{meta['repeats']} repetitions, limits the best of them.",
        "Ratios compare the LocalStore median with containerd's median and with the",
        "machine's limit; `better` says whether higher or lower values are better.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in meta.items() if k != "sizes"]
    lines += ["", "## Limits", "", limits, "", "## Results", "", markdown_table(rows), ""]
    if notes:
        lines += ["## Notes", ""]
        lines += [f"- {n}" for n in notes]
        lines.append("")
    lines += [
        "## Workloads",
        "",
        "- W1: ingest one blob from memory with known digest and size (`write_blob`).",
        "- W2: small blobs written by concurrent tasks (`write_blob` each).",
        "- W3: read a blob sequentially through `reader_at` + `new_reader` (page cache warm).",
        "- W4: reopen an ingest holding the given bytes, in a new process and in the same one.",
        "- W5: walk every blob, without a filter and with `labels.bench==yes` (half match);",
        "  LocalStore: median of 5 walks, each by a new store object; `first after the puts`",
        "  is the walk right after W2, which lists every folder (nothing cached yet).",
        "- W6: concurrent tasks write the same blob under the same ref; time until all return.",
        "- W7: lag of a 1 ms ticker task on the event loop while W1 runs.",
        "- W8: peak RSS growth of the process during W1 (the payload is allocated before).",
        "- containerd: 1.6's `content/local` store driven by `benchmarks/ctrbench` (Go);",
        "  its W5 uses an in-memory label store (containerd's own has no labels).",
        "- aiofiles loop: asyncio + aiofiles, 64 KiB chunks, hashlib on the event loop,",
        "  fsync and rename, no directory fsync (W5: listdir + stat; W6: no coordination).",
        "- limits: W1's is the two-thread hash + write pipeline (on two cores what both",
        "  jobs at once reach), W3's a bare Python read loop, W5's a bare `os.scandir` +",
        "  `stat` loop over the same blobs.",
        "",
    ]
    return "\n".join(lines)


def row_json(row: Row, columns: Sequence[str] = COLUMNS) -> dict[str, Any]:
    """The fields every benchmark's JSON gives a row: runs and medians of ``columns``, target."""
    return {
        "title": row.title,
        "unit": row.unit,
        "better": row.better,
        "runs": {c: [None if math.isnan(v) else v for v in vs] for c, vs in row.runs.items()},
        "median": {c: row.median(c) for c in columns},
        "target": row.target,
        "met": row.met,
    }


def dumps(doc: dict[str, Any]) -> str:
    """A benchmark's JSON output: indented, no NaN, anything else as its ``str``."""
    return json.dumps(doc, indent=2, allow_nan=False, default=str)


def to_json(rows: list[Row], meta: dict[str, Any], notes: list[str], limits: dict[str, Any]) -> str:
    workloads = {
        r.key: {
            **row_json(r),
            "limit": r.limit,
            "limit_name": r.limit_name,
            "ratio_containerd": r.vs_containerd,
            "ratio_naive": r.vs_naive,
            "ratio_limit": r.vs_limit,
        }
        for r in rows
    }
    return dumps({"meta": meta, "limits": limits, "notes": notes, "workloads": workloads})


def output_paths(
    json_arg: str, markdown_arg: str, quick: bool, stem: str
) -> tuple[Path, Path | None]:
    """Where a run writes: ``--json``, else ``benchmarks/<stem>[-quick].json``; ``--markdown``,
    else ``benchmarks/RESULTS.md`` on full runs and nothing on quick ones."""
    here = Path(__file__).resolve().parent
    json_path = Path(json_arg) if json_arg else here / f"{stem}{'-quick' if quick else ''}.json"
    md_path = Path(markdown_arg) if markdown_arg else (None if quick else here / "RESULTS.md")
    return json_path, md_path


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- sections

_BEGIN: Final = "<!-- section {name}: written by {script}, kept when the rest is regenerated -->"
_END: Final = "<!-- end of section {name} -->"
_SECTION: Final = re.compile(r"<!-- section (\S+): .*?<!-- end of section \1 -->\n?", re.S)


def sections(text: str) -> str:
    """The marked sections of ``text`` (those another script writes), in order."""
    return "".join(m.group(0) for m in _SECTION.finditer(text))


def keep_sections(path: Path, text: str) -> str:
    """``text`` followed by the marked sections the file at ``path`` holds now, if any."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = sections(old)
    return text.rstrip("\n") + "\n\n" + kept if kept else text


def put_section(path: Path, name: str, script: str, body: str) -> None:
    """Write ``body`` as the section ``name`` of the file at ``path``: replaced, else appended."""
    block = (
        _BEGIN.format(name=name, script=script)
        + "\n\n"
        + body.strip("\n")
        + "\n\n"
        + _END.format(name=name)
        + "\n"
    )
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    found = [m for m in _SECTION.finditer(old) if m.group(1) == name]
    if found:
        new = old[: found[0].start()] + block + old[found[0].end() :]
    else:
        new = old.rstrip("\n") + "\n\n" + block if old else block
    write(path, new)
