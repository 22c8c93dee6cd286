"""The registry server benchmark keeps working: ``server_bench.py --quick`` fills every row.

No thresholds: timings on a shared machine say nothing in CI.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests._services import service_unavailable

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

ROW_KEYS = ("get_one", "get_many", "push_monolithic", "push_chunked", "head", "manifest")
#: What RESULTS.md holds before the run: regenerated text and an old server section.
BEFORE = (
    "# Benchmark results\n\nthe store's own table\n\n"
    "<!-- section server: written by benchmarks/server_bench.py, kept when the rest is "
    "regenerated -->\n\nold figures\n\n<!-- end of section server -->\n"
)

pytestmark = pytest.mark.slow


class QuickRun(NamedTuple):
    data: dict[str, Any]
    stdout: str
    scratch: Path
    markdown: str


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    tmp = tmp_path_factory.mktemp("server-bench")
    out, scratch, markdown = tmp / "results.json", tmp / "scratch", tmp / "RESULTS.md"
    markdown.write_text(BEFORE, encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "server_bench.py"),
            "--quick",
            f"--scratch={scratch}",
            f"--json={out}",
            f"--markdown={markdown}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return QuickRun(
        json.loads(out.read_text(encoding="utf-8")),
        proc.stdout,
        scratch,
        markdown.read_text(encoding="utf-8"),
    )


def test_quick_run_writes_every_workload_row(quick_run: QuickRun) -> None:
    assert tuple(quick_run.data["workloads"]) == ROW_KEYS


def test_quick_run_measures_aiocontent_serve_in_every_row(quick_run: QuickRun) -> None:
    rows = quick_run.data["workloads"]
    assert [k for k, row in rows.items() if not row["median"]["aiocontent"]] == []


def test_quick_run_measures_docker_registry_and_the_ratio_in_every_row(
    quick_run: QuickRun,
) -> None:
    if shutil.which("docker-registry") is None:
        service_unavailable("docker-registry is not installed (Debian package docker-registry)")
    rows = quick_run.data["workloads"]
    assert [k for k, row in rows.items() if not (row["median"]["registry"] and row["ratio"])] == []


def test_quick_run_states_the_targets_of_pushes_large_gets_and_small_requests(
    quick_run: QuickRun,
) -> None:
    targets = {k: row["target"] for k, row in quick_run.data["workloads"].items()}
    assert targets == {
        "get_one": "≥0.8×",
        "get_many": "≥0.8×",
        "push_monolithic": "≥1×",
        "push_chunked": "≥1×",
        "head": "≥0.5×",
        "manifest": "≥0.5×",
    }


def test_quick_run_prints_the_table(quick_run: QuickRun) -> None:
    header = next(line for line in quick_run.stdout.splitlines() if line.startswith("workload"))
    assert header.split() == [
        "workload",
        "unit",
        "aiocontent",
        "serve",
        "docker-registry",
        "ratio",
        "target",
        "met",
    ]


def test_quick_run_replaces_its_results_section_and_keeps_the_rest(quick_run: QuickRun) -> None:
    text = quick_run.markdown
    assert text.startswith("# Benchmark results\n\nthe store's own table\n\n")
    assert "old figures" not in text
    assert text.count("<!-- section server:") == text.count("<!-- end of section server -->") == 1
    assert "| manifest GET by tag, 64 at once | req/s |" in text


def test_regenerating_the_store_results_keeps_the_server_section(
    quick_run: QuickRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    report = importlib.import_module("_report")
    path = tmp_path / "RESULTS.md"
    path.write_text(quick_run.markdown, encoding="utf-8")
    text = report.keep_sections(path, "# Benchmark results\n\nnew store table\n")
    assert "the store's own table" not in text
    assert text.startswith("# Benchmark results\n\nnew store table\n\n<!-- section server:")
    assert text.endswith("<!-- end of section server -->\n")


def test_quick_run_leaves_no_scratch_behind(quick_run: QuickRun) -> None:
    assert not quick_run.scratch.exists()
