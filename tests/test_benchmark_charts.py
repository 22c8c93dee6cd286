"""``benchmarks/run.py`` draws one chart per workload, and the docs show every one.

The charts are drawn in a child process (the benchmark modules live outside the
package), into a temporary directory, never over the committed ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
COMMITTED = sorted(p.name for p in (BENCHMARKS / "charts").glob("*.svg"))


def _draw(out: Path, source: str) -> list[str]:
    """Draw charts from ``source`` (``markdown`` or a results.json path) into ``out``."""
    code = (
        "import sys; from pathlib import Path; import _charts, run\n"
        f"src = {source!r}\n"
        "ws = (_charts.from_markdown(run.HERE / 'RESULTS.md', run.ROW_KEYS) if src == 'markdown'"
        " else _charts.from_json(Path(src)))\n"
        f"print('\\n'.join(p.name for p in _charts.write_charts(ws, Path({str(out)!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(BENCHMARKS), "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_results_md_gives_the_committed_charts(tmp_path: Path) -> None:
    names = _draw(tmp_path, "markdown")
    assert sorted(names) == COMMITTED
    ingest = (tmp_path / "w1-ingest.svg").read_text(encoding="utf-8")
    for text in ("W1 ingest", "LocalStore", "containerd", "aiofiles loop", "machine's limit"):
        assert text in ingest


def test_a_run_draws_each_contender_it_measured(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    median = {"aiocontent": 632.0, "memory": None, "containerd": 234.0, "naive": 289.0}
    workload = {"title": "W1 ingest 1 GiB", "unit": "MB/s", "better": "higher"}
    results.write_text(
        json.dumps({"workloads": {"W1_ingest": {**workload, "median": median, "limit": 1789.0}}}),
        encoding="utf-8",
    )
    assert _draw(tmp_path / "charts", str(results)) == ["w1-ingest.svg"]
    svg = (tmp_path / "charts" / "w1-ingest.svg").read_text(encoding="utf-8")
    assert "LocalStore" in svg and "containerd" in svg and "MemoryStore" not in svg
    assert "1,789" in svg  # the limit's label


def test_the_benchmarks_page_shows_every_chart() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    shown = {name for name in COMMITTED if f"(assets/charts/{name})" in page}
    assert shown == set(COMMITTED)
    assert COMMITTED, "benchmarks/charts/ holds no chart"
