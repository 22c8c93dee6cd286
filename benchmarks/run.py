"""Benchmarks: aiocontent beside containerd's Go store, a hand-written aiofiles loop and the limits.

One command measures, in the same run and on the same disk:

(a) aiocontent's ``LocalStore`` (and ``MemoryStore`` where it makes sense);
(b) containerd 1.6's own local content store (``benchmarks/ctrbench``, Go);
(c) the loop a user writes by hand: asyncio + aiofiles, 64 KiB chunks, hashlib
    on the event loop, fsync, rename;
(d) the machine's limits: SHA-256, sequential write + fsync, page-cache read and
    one small-file fsync.

Usage::

    python benchmarks/run.py              # full sizes, 3 repetitions, writes RESULTS.md
    python benchmarks/run.py --quick      # small sizes, under a minute (CI)
    python benchmarks/run.py --charts-only  # redraw the charts, measuring nothing

It prints a table of medians with ratios to containerd and to the limit, and
writes the same to ``benchmarks/RESULTS.md`` (full runs) and a JSON file
(``benchmarks/results.json``; ``results-quick.json`` with ``--quick``). A full
run also draws one SVG chart per workload into ``benchmarks/charts/`` when
matplotlib (the ``[bench]`` extra) is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import _aiocontent as ac
import _charts as charts
import _containerd as ctr
import _limits
import _naive as naive
import _report as rep
import anyio
from _report import Row, all_of, at_least, at_most, mine
from _util import (
    MIB,
    SETTLE,
    PeakRSS,
    Sizes,
    filesystem,
    fresh_dir,
    machine,
    payload,
    prepare_scratch,
    sha256_digest,
    small_blobs,
)

HERE: Final = Path(__file__).resolve().parent

#: W5: walks timed per repetition (each by a new store object); their median counts.
WALK_REPEATS: Final = 5
WORKLOADS: Final = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8")

#: Every row key of the JSON output, in table order.
ROW_KEYS: Final = (
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


def _size_text(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def make_rows(s: Sizes) -> dict[str, Row]:
    """The rows of the table, with their units, directions and targets."""
    ctr_ratio = lambda r: r.vs_containerd  # noqa: E731
    lim_ratio = lambda r: r.vs_limit  # noqa: E731
    naive_ratio = lambda r: r.vs_naive  # noqa: E731
    rows = [
        Row(
            "W1_ingest",
            f"W1 ingest {_size_text(s.ingest)} from memory",
            "MB/s",
            "higher",
            target="≥0.85× limit",
            check=at_least(lim_ratio, 0.85),
        ),
        Row(
            "W2_small_blobs",
            f"W2 {s.blobs}×{_size_text(s.blob_size)}, {s.writers} writers",
            "blobs/s",
            "higher",
            target="≥2× ctr, ≥1× loop",
            check=all_of(at_least(ctr_ratio, 2.0), at_least(naive_ratio, 1.0)),
        ),
        Row(
            "W3_read",
            f"W3 read {_size_text(s.read)} (reader_at+new_reader)",
            "MB/s",
            "higher",
            target="≥0.8× limit",
            check=at_least(lim_ratio, 0.8),
        ),
        Row(
            "W4_resume_new_process",
            f"W4 resume after {_size_text(s.resume)}, new process",
            "ms",
            "lower",
            target="≤0.25× ctr",
            check=at_most(ctr_ratio, 0.25),
        ),
        Row(
            "W4_resume_same_process",
            f"W4 resume after {_size_text(s.resume)}, same process",
            "ms",
            "lower",
            target="<10 ms",
            check=at_most(mine, 10.0),
        ),
        Row(
            "W5_walk",
            f"W5 walk {s.blobs} blobs",
            "blobs/s",
            "higher",
            target="≥1.5× ctr, ≥1× bare walk",
            check=all_of(at_least(ctr_ratio, 1.5), at_least(lim_ratio, 1.0)),
        ),
        Row(
            "W5_walk_label_filter",
            f"W5 walk {s.blobs} blobs, label filter",
            "blobs/s",
            "higher",
            target="≥1.5× ctr",
            check=at_least(ctr_ratio, 1.5),
        ),
        Row("W5_walk_first", f"W5 walk {s.blobs} blobs, first after the puts", "blobs/s", "higher"),
        Row(
            "W6_same_ref",
            f"W6 {s.same_tasks} tasks, same {_size_text(s.same_size)} blob+ref",
            "ms",
            "lower",
            target="≤0.5× ctr",
            check=at_most(ctr_ratio, 0.5),
        ),
        Row("W7_lag_p50", "W7 loop lag during W1, p50", "ms", "lower"),
        Row(
            "W7_lag_p99",
            "W7 loop lag during W1, p99",
            "ms",
            "lower",
            target="<5 ms",
            check=at_most(mine, 5.0),
        ),
        Row("W7_lag_max", "W7 loop lag during W1, max", "ms", "lower"),
        Row(
            "W8_peak_rss_growth",
            "W8 peak RSS growth during W1",
            "MiB",
            "lower",
            target="<64 MiB",
            check=at_most(mine, 64.0),
        ),
    ]
    assert tuple(r.key for r in rows) == ROW_KEYS
    return {r.key: r for r in rows}


class Bench:
    """One benchmark run: options, sizes, the rows being filled and the notes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick: bool = args.quick
        self.sizes = Sizes.quick() if self.quick else Sizes.full()
        self.repeats: int = args.repeats or (1 if self.quick else 3)
        self.scratch = Path(args.scratch).resolve()
        self.only = set(args.only.split(",")) if args.only else set(WORKLOADS)
        self.rows = make_rows(self.sizes)
        self.notes: list[str] = []
        self.limits: dict[str, list[float]] = {}
        self.ctr_why: str | None = None
        self.data = b""
        self.rep = 0
        self.digest = ""
        self.filesystem = "?"
        self.has_local = ac.local_store(self.scratch) is not None
        self.has_memory = ac.memory_store() is not None

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            print(f"note: {text}", flush=True)

    def add_limit(self, name: str, value: float) -> None:
        self.limits.setdefault(name, []).append(value)

    def best(self, name: str, lower: bool = False) -> float | None:
        values = self.limits.get(name)
        if not values:
            return None
        return min(values) if lower else max(values)

    @property
    def use_ctr(self) -> bool:
        return self.ctr_why is None

    def ctr(self, workload: str, root: Path, **flags: int | str) -> dict[str, float] | None:
        if not self.use_ctr:
            return None
        try:
            return ctr.run(workload, root, **flags)
        except RuntimeError as exc:
            self.note(str(exc))
            return None

    # ----------------------------------------------------------------- workloads

    async def limits_once(self, rep_dir: Path) -> None:
        data = self.data[: self.sizes.limit_bytes]
        for _ in range(2):
            self.add_limit("sha256_mb_s", _limits.sha256_mb_s(data))
            self.add_limit(
                "write_fsync_mb_s", _limits.write_fsync_mb_s(rep_dir / "limit.bin", data)
            )
            pipeline = _limits.write_fsync_mb_s(rep_dir / "limit.bin", data, hash_alongside=True)
            self.add_limit("pipeline_mb_s", pipeline)
        with fresh_dir(rep_dir, "fsync") as d:
            self.add_limit("fsync_ms", _limits.fsync_ms(d, self.sizes.fsync_samples))

    async def w1(self, rep_dir: Path) -> None:
        s = self.sizes
        data = self.data[: s.ingest]
        digest = sha256_digest(data)
        w1, w7p50, w7p99, w7max, w8 = (
            self.rows[k]
            for k in (
                "W1_ingest",
                "W7_lag_p50",
                "W7_lag_p99",
                "W7_lag_max",
                "W8_peak_rss_growth",
            )
        )
        mb = len(data) / 1e6
        if self.has_local:
            with fresh_dir(rep_dir, "local-w1") as root:
                local = ac.local_store(root)
                assert local is not None
                async with local() as cs:
                    seconds, rss = await ac.ingest(cs, data, digest)
                w1.add("aiocontent", mb / seconds)
                w8.add("aiocontent", rss / MIB)
            with fresh_dir(rep_dir, "local-w7") as root:
                local = ac.local_store(root)
                assert local is not None
                async with local() as cs:
                    lag = await ac.lag_during(lambda: ac.ingest(cs, data, digest))
                for row, value in zip((w7p50, w7p99, w7max), lag, strict=True):
                    row.add("aiocontent", value)
        memory = ac.memory_store()
        if memory is not None:
            async with memory() as cs:
                seconds, _ = await ac.ingest(cs, data, digest)
            w1.add("memory", mb / seconds)
            del cs
            gc.collect()
        with fresh_dir(rep_dir, "naive-w1") as root:
            with PeakRSS() as peak:
                seconds = await naive.ingest(root, data, digest)
            w1.add("naive", mb / seconds)
            w8.add("naive", peak.growth / MIB)
        with fresh_dir(rep_dir, "naive-w7") as root:
            await naive.ensure_dirs(root)
            lag = await ac.lag_during(lambda: naive.write_blob(root, "lag", data, digest))
            for row, value in zip((w7p50, w7p99, w7max), lag, strict=True):
                row.add("naive", value)
        with fresh_dir(rep_dir, "ctr-w1") as root:
            out = self.ctr("ingest", root, size=s.ingest)
            if out is not None:
                w1.add("containerd", out["mb_s"])
                if "rss_growth_bytes" in out:
                    w8.add("containerd", out["rss_growth_bytes"] / MIB)

    async def w2_w5(self, rep_dir: Path) -> None:
        s = self.sizes
        w2, w5, w5l, w5f = (
            self.rows[k]
            for k in ("W2_small_blobs", "W5_walk", "W5_walk_label_filter", "W5_walk_first")
        )
        blobs = small_blobs(s.blobs, s.blob_size, seed=self.rep + 7)
        digests = [sha256_digest(b) for b in blobs]
        do_w2, do_w5 = "W2" in self.only, "W5" in self.only

        def add_walks(column: str, plain: float, labelled: float) -> None:
            w5.add(column, s.blobs / plain)
            w5l.add(column, s.blobs / labelled)

        if self.has_local:
            with fresh_dir(rep_dir, "local-w2") as root:
                local = ac.local_store(root)
                assert local is not None
                async with local() as cs:
                    seconds = await ac.small(cs, blobs, digests, s.writers)
                if do_w2:
                    w2.add("aiocontent", s.blobs / seconds)
                if do_w5:
                    async with local() as cs:
                        n, first = await ac.walk(cs)  # lists the folders: nothing kept yet
                        await ac.label(cs, 2)
                    assert n == s.blobs, n
                    w5f.add("aiocontent", s.blobs / first)
                    plain, labelled = await ac.walks(local, WALK_REPEATS, s.blobs)
                    add_walks("aiocontent", plain, labelled)
                    for _ in range(WALK_REPEATS):
                        self.add_limit("walk_per_s", _limits.walk_per_s(root / "blobs" / "sha256"))
        memory = ac.memory_store()
        if memory is not None:
            async with memory() as cs:
                seconds = await ac.small(cs, blobs, digests, s.writers)
                w2.add("memory", s.blobs / seconds)
                await ac.label(cs, 2)
                n, plain = await ac.walk(cs)
                _, labelled = await ac.walk(cs, "labels.bench==yes")
                add_walks("memory", plain, labelled)
        with fresh_dir(rep_dir, "naive-w2") as root:
            seconds = await naive.small(root, blobs, digests, s.writers)
            w2.add("naive", s.blobs / seconds)
            n, plain = await naive.walk(root)
            w5.add("naive", n / plain)
        with fresh_dir(rep_dir, "ctr-w2") as root:
            out = self.ctr(
                "small", root, count=s.blobs, blob_size=s.blob_size, concurrency=s.writers
            )
            if out is not None:
                w2.add("containerd", out["blobs_s"])
                out = self.ctr("walk", root, label_every=2) if do_w5 else None
                if out is not None:
                    w5.add("containerd", out["blobs_s"])
                    w5l.add("containerd", out["filtered_blobs_s"])

    async def w3(self, rep_dir: Path) -> None:
        s, row = self.sizes, self.rows["W3_read"]
        data = self.data[: s.read]
        digest = sha256_digest(data)
        mb = len(data) / 1e6
        with fresh_dir(rep_dir, "w3") as root:
            path = root / "blobs" / "sha256" / digest.split(":", 1)[1]
            local = ac.local_store(root)
            if local is not None:
                async with local() as cs:
                    await ac.ingest(cs, data, digest)
            else:
                await naive.ensure_dirs(root)
                await naive.write_blob(root, "w3", data, digest)
            _limits.read_mb_s(path)  # warm the page cache
            for _ in range(2):
                self.add_limit("read_mb_s", _limits.read_mb_s(path))
            if local is not None:
                async with local() as cs:
                    row.add("aiocontent", mb / await ac.read(cs, digest, len(data)))
            row.add("naive", mb / await naive.read(path))
        memory = ac.memory_store()
        if memory is not None:
            async with memory() as cs:
                await ac.ingest(cs, data, digest)
                row.add("memory", mb / await ac.read(cs, digest, len(data)))
            del cs
            gc.collect()
        with fresh_dir(rep_dir, "ctr-w3") as root:
            out = self.ctr("read", root, size=s.read)
            if out is not None:
                row.add("containerd", out["mb_s"])

    async def w4(self, rep_dir: Path) -> None:
        s = self.sizes
        new, same = self.rows["W4_resume_new_process"], self.rows["W4_resume_same_process"]
        data = self.data[: s.resume]
        ref = "bench-resume"
        if self.has_local:
            with fresh_dir(rep_dir, "local-w4") as root:
                local = ac.local_store(root)
                assert local is not None
                async with local() as cs:
                    await ac.write_ingest(cs, ref, data)
                    same.add("aiocontent", await ac.reopen(cs, ref, len(data)) * 1e3)
                child = _child("aiocontent", str(root), ref, str(len(data)))
                new.add("aiocontent", child * 1e3)
        memory = ac.memory_store()
        if memory is not None:
            async with memory() as cs:
                await ac.write_ingest(cs, ref, data)
                same.add("memory", await ac.reopen(cs, ref, len(data)) * 1e3)
            del cs
            gc.collect()
        with fresh_dir(rep_dir, "naive-w4") as root:
            path = root / "partial"
            path.write_bytes(data)
            same.add("naive", await naive.resume(path, len(data)) * 1e3)
            new.add("naive", _child("naive", str(path), str(len(data))) * 1e3)
        with fresh_dir(rep_dir, "ctr-w4") as root:
            out = self.ctr("resume-setup", root, size=s.resume)
            if out is not None:
                same.add("containerd", out["same_process_seconds"] * 1e3)
                out = self.ctr("resume", root, size=s.resume)
                if out is not None:
                    new.add("containerd", out["seconds"] * 1e3)

    async def w6(self, rep_dir: Path) -> None:
        s, row = self.sizes, self.rows["W6_same_ref"]
        data = self.data[: s.same_size]
        digest = sha256_digest(data)
        if self.has_local:
            with fresh_dir(rep_dir, "local-w6") as root:
                local = ac.local_store(root)
                assert local is not None
                async with local() as cs:
                    row.add("aiocontent", await ac.same(cs, data, digest, s.same_tasks) * 1e3)
        memory = ac.memory_store()
        if memory is not None:
            async with memory() as cs:
                row.add("memory", await ac.same(cs, data, digest, s.same_tasks) * 1e3)
        with fresh_dir(rep_dir, "naive-w6") as root:
            row.add("naive", await naive.same(root, data, digest, s.same_tasks) * 1e3)
        with fresh_dir(rep_dir, "ctr-w6") as root:
            out = self.ctr("same", root, size=s.same_size, concurrency=s.same_tasks)
            if out is not None:
                row.add("containerd", out["seconds"] * 1e3)

    # ----------------------------------------------------------------- driver

    async def repetition(self, n: int) -> None:
        self.rep = n
        steps: list[tuple[str, Callable[[Path], Awaitable[None]]]] = [("limits", self.limits_once)]
        if self.only & {"W1", "W7", "W8"}:
            steps.append(("W1/W7/W8", self.w1))
        if self.only & {"W2", "W5"}:
            steps.append(("W2/W5", self.w2_w5))
        if "W3" in self.only:
            steps.append(("W3", self.w3))
        if "W4" in self.only:
            steps.append(("W4", self.w4))
        if "W6" in self.only:
            steps.append(("W6", self.w6))
        for name, step in steps:
            start = time.perf_counter()
            with fresh_dir(self.scratch, f"rep{n}") as rep_dir:
                await step(rep_dir)
            print(
                f"  rep {n + 1}/{self.repeats} {name}: {time.perf_counter() - start:.1f} s",
                flush=True,
            )

    def apply_limits(self) -> dict[str, Any]:
        s = self.sizes
        sha = self.best("sha256_mb_s")
        write = self.best("write_fsync_mb_s")
        read = self.best("read_mb_s")
        fsync = self.best("fsync_ms", lower=True)
        both = min(sha, write) if sha is not None and write is not None else None
        pipeline = self.best("pipeline_mb_s")
        walk = self.best("walk_per_s")
        rows = self.rows
        if pipeline is not None:
            rows["W1_ingest"].limit, rows["W1_ingest"].limit_name = pipeline, "2-thread pipeline"
        else:
            rows["W1_ingest"].limit, rows["W1_ingest"].limit_name = both, "min(hash, write)"
        for key in ("W5_walk", "W5_walk_label_filter", "W5_walk_first"):
            rows[key].limit, rows[key].limit_name = walk, "bare walk"
        if fsync:
            rows["W2_small_blobs"].limit = 1e3 / fsync
            rows["W2_small_blobs"].limit_name = "1/fsync"
        rows["W3_read"].limit, rows["W3_read"].limit_name = read, "py read loop"
        if sha:
            rows["W4_resume_new_process"].limit = s.resume / 1e6 / sha * 1e3
            rows["W4_resume_new_process"].limit_name = "hash only"
        if both and fsync:
            rows["W6_same_ref"].limit = s.same_size / 1e6 / both * 1e3 + fsync
            rows["W6_same_ref"].limit_name = "one write"
        return {
            "sha256_mb_s": {"runs": self.limits.get("sha256_mb_s", []), "best": sha},
            "write_fsync_mb_s": {"runs": self.limits.get("write_fsync_mb_s", []), "best": write},
            "read_mb_s": {"runs": self.limits.get("read_mb_s", []), "best": read},
            "fsync_ms": {"runs": self.limits.get("fsync_ms", []), "best": fsync},
            "pipeline_mb_s": {"runs": self.limits.get("pipeline_mb_s", []), "best": pipeline},
            "walk_per_s": {"runs": self.limits.get("walk_per_s", []), "best": walk},
        }

    def meta(self) -> dict[str, Any]:
        return {
            **machine("quick" if self.quick else "full", self.repeats, self.filesystem),
            "containerd": ctr.version() or "–",
            "backend": "asyncio",
            "sizes": self.sizes.__dict__,
        }


def _child(*argv: str) -> float:
    proc = subprocess.run(
        [sys.executable, str(HERE / "_resume_child.py"), *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"resume child {argv[0]} failed: {proc.stderr.strip()}")
    return float(json.loads(proc.stdout)["seconds"])


def _limits_text(limits: dict[str, Any]) -> str:
    names = {
        "sha256_mb_s": ("hashlib sha256, 1 MiB chunks", "MB/s"),
        "write_fsync_mb_s": ("sequential write + fsync", "MB/s"),
        "read_mb_s": ("page-cache read, Python loop, 1 MiB chunks", "MB/s"),
        "fsync_ms": ("fsync of one small file (median)", "ms"),
        "pipeline_mb_s": ("hash + write + fsync, two threads, 1 MiB chunks", "MB/s"),
        "walk_per_s": ("bare os.scandir + stat walk of the W2 blobs", "blobs/s"),
    }
    lines = ["| limit | best | unit | runs |", "| --- | ---: | --- | --- |"]
    for key, (title, unit) in names.items():
        entry = limits.get(key, {"runs": [], "best": None})
        runs = ", ".join(rep.fmt(v) for v in entry["runs"])
        lines.append(f"| {title} | {rep.fmt(entry['best'])} | {unit} | {runs} |")
    return "\n".join(lines)


async def main(bench: Bench) -> None:
    s = bench.sizes
    bench.data = payload(max(s.ingest, s.read, s.resume, s.same_size, s.limit_bytes))
    why = prepare_scratch(bench.scratch)
    if why is not None:
        bench.note(f"chattr +T on the scratch directory failed ({why})")
    bench.filesystem = filesystem(bench.scratch) + ("" if why else ", scratch chattr +T")
    if not bench.has_local:
        bench.note("aiocontent has no LocalStore yet: its column is empty")
    if not bench.has_memory:
        bench.note("aiocontent has no MemoryStore: its column is empty")
    for n in range(bench.repeats):
        await bench.repetition(n)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition (CI)")
    p.add_argument("--repeats", type=int, default=0, help="repetitions (default 3, quick 1)")
    p.add_argument(
        "--scratch",
        default=os.path.join(tempfile.gettempdir(), "aiocontent-bench"),
        help="scratch directory, on the disk to measure (removed afterwards)",
    )
    p.add_argument("--json", default="", help="JSON output (default benchmarks/results*.json)")
    p.add_argument(
        "--markdown", default="", help="Markdown output (default benchmarks/RESULTS.md; full runs)"
    )
    p.add_argument("--no-containerd", action="store_true", help="leave the containerd column empty")
    p.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    p.add_argument(
        "--charts-only",
        action="store_true",
        help="measure nothing: redraw benchmarks/charts/ from results.json, else RESULTS.md",
    )
    return p.parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.charts_only:
        print("wrote " + ", ".join(map(str, charts.redraw(HERE, ROW_KEYS))))
        return 0
    bench = Bench(args)
    SETTLE["seconds"] = 0.0 if bench.quick else 0.3
    if args.no_containerd:
        bench.ctr_why = "--no-containerd given"
    else:
        bench.ctr_why = ctr.ensure_built(allow_build=not bench.quick)
    if bench.ctr_why is not None:
        bench.note(f"containerd column empty: {bench.ctr_why}")
    print(
        f"aiocontent benchmarks ({'quick' if bench.quick else 'full'}, "
        f"{bench.repeats} repetition(s), scratch {bench.scratch})",
        flush=True,
    )
    try:
        anyio.run(main, bench, backend="asyncio")
    finally:
        shutil.rmtree(bench.scratch, ignore_errors=True)
    limits = bench.apply_limits()
    rows = list(bench.rows.values())
    meta = bench.meta()
    print()
    print(rep.text_table(rows))
    print()
    print(_limits_text(limits))
    json_path, md_path = rep.output_paths(args.json, args.markdown, bench.quick, "results")
    rep.write(json_path, rep.to_json(rows, meta, bench.notes, limits))
    written = [str(json_path)]
    if md_path is not None:
        text = rep.markdown(rows, meta, bench.notes, _limits_text(limits))
        rep.write(md_path, rep.keep_sections(md_path, text))
        written.append(str(md_path))
    print("\nwrote " + ", ".join(written))
    if md_path is not None:  # a full run: its charts go next to RESULTS.md
        _write_charts(json_path)
    return 0


def _write_charts(json_path: Path) -> None:
    try:
        paths = charts.write_charts(charts.from_json(json_path), HERE / "charts")
    except ImportError as exc:
        print(f"no charts ({exc}): pip install '.[bench]' draws them")
        return
    print(f"wrote {len(paths)} charts in {HERE / 'charts'}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(run(sys.argv[1:]))
