"""The benchmark keeps working: ``benchmarks/run.py --quick`` runs and writes every row.

No thresholds: timings on a shared machine say nothing in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

ROW_KEYS = (
    "W1_ingest",
    "W2_small_blobs",
    "W3_read",
    "W4_resume_new_process",
    "W4_resume_same_process",
    "W5_walk",
    "W5_walk_label_filter",
    "W5_walk_first",
    "W6_same_ref",
    "W7_lag_p50",
    "W7_lag_p99",
    "W7_lag_max",
    "W8_peak_rss_growth",
)
LIMIT_KEYS = (
    "sha256_mb_s",
    "write_fsync_mb_s",
    "read_mb_s",
    "fsync_ms",
    "pipeline_mb_s",
    "walk_per_s",
)


class QuickRun(NamedTuple):
    data: dict[str, Any]
    stdout: str
    scratch: Path


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "results.json"
    scratch = tmp / "scratch"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "run.py"),
            "--quick",
            "--scratch",
            str(scratch),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return QuickRun(json.loads(out.read_text(encoding="utf-8")), proc.stdout, scratch)


@pytest.mark.slow
def test_quick_run_writes_every_workload_row(quick_run: QuickRun) -> None:
    data = quick_run.data
    assert tuple(data["workloads"]) == ROW_KEYS


@pytest.mark.slow
def test_quick_run_measures_aiocontent_in_every_row(
    quick_run: QuickRun,
) -> None:
    data = quick_run.data
    missing = [k for k, row in data["workloads"].items() if row["median"]["aiocontent"] is None]
    assert missing == []


@pytest.mark.slow
def test_quick_run_measures_every_limit(quick_run: QuickRun) -> None:
    data = quick_run.data
    assert {k: data["limits"][k]["best"] is not None for k in LIMIT_KEYS} == dict.fromkeys(
        LIMIT_KEYS, True
    )


@pytest.mark.slow
def test_quick_run_states_direction_of_every_row(quick_run: QuickRun) -> None:
    data = quick_run.data
    directions = {k: row["better"] for k, row in data["workloads"].items()}
    assert set(directions.values()) == {"higher", "lower"}
    assert directions["W4_resume_new_process"] == directions["W6_same_ref"] == "lower"


@pytest.mark.slow
def test_quick_run_prints_the_table(quick_run: QuickRun) -> None:
    stdout = quick_run.stdout
    assert "Local/ctr" in stdout and "Local/limit" in stdout
    assert all(f"W{i} " in stdout for i in range(1, 9))


@pytest.mark.slow
def test_quick_run_leaves_no_scratch_behind(quick_run: QuickRun) -> None:
    assert not quick_run.scratch.exists()
