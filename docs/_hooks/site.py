"""mkdocs hooks: generated parts of the site, so that they cannot drift.

- The benchmark charts, kept next to ``benchmarks/RESULTS.md``, join the site:
  ``benchmarks/run.py`` writes them to ``benchmarks/charts/``; pages show them
  as ``assets/charts/<name>.svg``. No copy is kept under ``docs/``.
- ``<!-- exit-status -->`` in a page becomes the table of the CLI's exit
  statuses, read from the text its ``--help`` prints.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

CHARTS = Path(__file__).resolve().parents[2] / "benchmarks" / "charts"
EXIT_STATUS = "<!-- exit-status -->"


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    for chart in sorted(CHARTS.glob("*.svg")):
        files.append(File.generated(config, f"assets/charts/{chart.name}", abs_src_path=str(chart)))
    return files


def exit_status_table() -> str:
    """The CLI's exit statuses as a Markdown table, from the text its ``--help`` prints."""
    from aiocontent._cli._app import EXIT_CODES_HELP

    rows = re.findall(r"^\s+(\d+)\s+(.+)$", EXIT_CODES_HELP, re.M)
    if not rows:
        raise ValueError("no exit statuses found in aiocontent._cli._app.EXIT_CODES_HELP")
    return "| code | meaning |\n|---|---|\n" + "\n".join(f"| {c} | {m} |" for c, m in rows)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if EXIT_STATUS in markdown:
        markdown = markdown.replace(EXIT_STATUS, exit_status_table())
    return markdown
