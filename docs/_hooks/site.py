"""mkdocs hooks: the benchmark charts, kept next to benchmarks/RESULTS.md, join the site.

``benchmarks/run.py`` writes them to ``benchmarks/charts/``; pages show them as
``assets/charts/<name>.svg``. No copy is kept under ``docs/``, so the site always
shows the charts that were committed with the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

CHARTS = Path(__file__).resolve().parents[2] / "benchmarks" / "charts"


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    for chart in sorted(CHARTS.glob("*.svg")):
        files.append(File.generated(config, f"assets/charts/{chart.name}", abs_src_path=str(chart)))
    return files
