"""Benchmark: ``aiocontent serve`` (uvicorn, LocalStore) beside Debian's docker-registry.

Both servers run as processes on 127.0.0.1, in the same run, with their
storage in the same scratch directory (the same disk), access logs off, and the
same client: ``benchmarks/_http.py``, a lean HTTP/1.1 loop (httpx would be the
bottleneck). Each repetition measures both servers, alternating which goes
first:

- one GET of a large blob (MB/s), and concurrent GETs of mid-sized blobs;
- a monolithic push (POST, then one PUT with the body) and a chunked push
  (POST, PATCHes of a fixed size, closing PUT) of a large blob, each of new bytes;
- HEADs of small blobs and manifest GETs by tag, 64 connections at once (requests/s).

Usage::

    python benchmarks/server_bench.py            # full sizes, 3 repetitions, RESULTS.md section
    python benchmarks/server_bench.py --quick    # small sizes, seconds (CI)

It prints a table of medians with the ratio aiocontent / docker-registry and
the targets of issue 13 (pushes ≥ 1×, large GETs ≥ 0.8×, small requests ≥ 0.5×),
writes a JSON file (``benchmarks/results-server*.json``) and, on full runs, the
``server`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import _report as rep
import anyio
from _http import Connection
from _report import Row, at_least
from _servers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    REGISTRY_BIN,
    REPO,
    Client,
    RegistryProcess,
    ServeProcess,
    descriptor,
    digest_of,
    port_of,
    registry_version,
    server_versions,
    start_aiocontent,
)
from _util import (
    GIB,
    KIB,
    MIB,
    SETTLE,
    filesystem,
    machine,
    payload,
    prepare_scratch,
    settle,
    small_blobs,
)

#: The two measured columns, in table order, and their headings.
COLUMNS: Final = ("aiocontent", "registry")
HEADINGS: Final = {"aiocontent": "aiocontent serve", "registry": "docker-registry"}
ROW_KEYS: Final = ("get_one", "get_many", "push_monolithic", "push_chunked", "head", "manifest")


@dataclasses.dataclass(frozen=True)
class Sizes:
    """The sizes of every workload (full run or ``--quick``)."""

    big: int  # one GET, and each push
    many: int  # blobs fetched at once
    many_size: int  # size of each of them
    chunk: int  # PATCH size of the chunked push
    small: int  # small blobs HEADed
    small_size: int
    manifests: int  # tags fetched
    requests: int  # HEADs, and manifest GETs, per repetition
    connections: int  # connections for the small requests

    @classmethod
    def full(cls) -> Sizes:
        return cls(GIB, 16, 64 * MIB, 16 * MIB, 256, 4 * KIB, 16, 5_000, 64)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(16 * MIB, 16, MIB, 4 * MIB, 32, 4 * KIB, 4, 640, 64)


def _size(n: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def _vs_registry(row: Row) -> float | None:
    return row.ratio(row.median("registry"))


def make_rows(s: Sizes) -> dict[str, Row]:
    """The rows of the table, with their units and targets."""
    specs = [
        ("get_one", f"GET one {_size(s.big)} blob", "MB/s", 0.8),
        ("get_many", f"{s.many} concurrent GETs of {_size(s.many_size)} blobs", "MB/s", 0.8),
        ("push_monolithic", f"monolithic push of {_size(s.big)}", "MB/s", 1.0),
        ("push_chunked", f"push of {_size(s.big)} in {_size(s.chunk)} chunks", "MB/s", 1.0),
        ("head", f"HEAD of {_size(s.small_size)} blobs, {s.connections} at once", "req/s", 0.5),
        ("manifest", f"manifest GET by tag, {s.connections} at once", "req/s", 0.5),
    ]
    rows = {
        key: Row(
            key, title, unit, "higher", target=f"≥{floor:g}×", check=at_least(_vs_registry, floor)
        )
        for key, title, unit, floor in specs
    }
    assert tuple(rows) == ROW_KEYS
    return rows


# --------------------------------------------------------------------------- the run


@dataclasses.dataclass
class Target:
    """One measured server: its column and a client for it."""

    column: str
    client: Client
    small: list[str] = dataclasses.field(default_factory=list)


class Bench:
    """One benchmark run: options, sizes, payloads, the rows being filled and the notes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick: bool = args.quick
        self.sizes = Sizes.quick() if self.quick else Sizes.full()
        self.repeats: int = args.repeats or (1 if self.quick else 3)
        self.backend: str = args.backend
        self.scratch = Path(args.scratch).resolve()
        self.rows = make_rows(self.sizes)
        self.notes: list[str] = []
        self.targets: list[Target] = []
        s = self.sizes
        assert s.many * s.many_size <= s.big, "the concurrent GETs read slices of the big blob"
        self.data = bytearray(payload(s.big))
        self.big = digest_of(self.data)
        view = memoryview(self.data)
        self.many = [
            digest_of(view[i * s.many_size : (i + 1) * s.many_size]) for i in range(s.many)
        ]
        self.small = small_blobs(s.small, s.small_size, seed=3)
        self.load: list[float] = [os.getloadavg()[0]]
        self._stamp: tuple[tuple[int, int], str] = ((-1, -1), "")
        self.filesystem = "?"

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            print(f"note: {text}", flush=True)

    def stamped(self, rep: int, kind: int) -> str:
        """Make the payload new bytes for push ``kind`` of repetition ``rep``; their digest.

        Each server gets the same new bytes (its own storage has never seen them);
        the digest is computed once, outside the timing.
        """
        if self._stamp[0] != (rep, kind):
            self.data[:16] = (rep * 16 + kind + 1).to_bytes(8, "little") + b"aiocbnch"
            self._stamp = ((rep, kind), digest_of(self.data))
        return self._stamp[1]

    # ----------------------------------------------------------------- setup

    async def setup(self, target: Target) -> None:
        """Push the blobs and manifests the reads need, then read each once (checked, warm)."""
        s, client = self.sizes, target.client
        view = memoryview(self.data)
        async with client.connections(1) as (conn,):
            await client.push(conn, view, self.big)
            for i, digest in enumerate(self.many):
                await client.push(conn, view[i * s.many_size : (i + 1) * s.many_size], digest)
            for blob in self.small:
                target.small.append(digest_of(blob))
                await client.push(conn, blob, target.small[-1])
            for i in range(s.manifests):
                config = json.dumps({"architecture": "amd64", "os": "linux", "bench": i}).encode()
                await client.push(conn, config, digest_of(config))
                layer = self.small[i % len(self.small)]
                manifest = {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": descriptor(OCI_CONFIG, config),
                    "layers": [descriptor(OCI_LAYER, layer)],
                }
                await client.put_manifest(conn, f"t{i}", json.dumps(manifest).encode())
            await client.get_blob(conn, self.big, s.big, verify=True)
            for digest in self.many:
                await client.get_blob(conn, digest, s.many_size, verify=True)

    # ----------------------------------------------------------------- workloads

    async def get_one(self, target: Target) -> None:
        client, size = target.client, self.sizes.big
        async with client.connections(1) as (conn,):
            start = time.perf_counter()
            await client.get_blob(conn, self.big, size)
            seconds = time.perf_counter() - start
        self.rows["get_one"].add(target.column, size / 1e6 / seconds)

    async def get_many(self, target: Target) -> None:
        s, client = self.sizes, target.client
        async with client.connections(s.many) as conns:

            async def one(conn: Connection, i: int) -> None:
                await client.get_blob(conn, self.many[i], s.many_size)

            seconds = await client.spread(conns, s.many, one)
        self.rows["get_many"].add(target.column, s.many * s.many_size / 1e6 / seconds)

    async def push(self, target: Target, key: str, digest: str, chunk: int) -> None:
        client = target.client
        settle()
        async with client.connections(1) as (conn,):
            start = time.perf_counter()
            await client.push(conn, memoryview(self.data), digest, chunk)
            seconds = time.perf_counter() - start
        self.rows[key].add(target.column, len(self.data) / 1e6 / seconds)

    async def heads(self, target: Target) -> None:
        s, client = self.sizes, target.client
        async with client.connections(s.connections) as conns:

            async def one(conn: Connection, i: int) -> None:
                digest = target.small[i % len(target.small)]
                resp = await conn.request("HEAD", f"/v2/{REPO}/blobs/{digest}")
                client.check(resp, 200, f"HEAD {digest}")

            seconds = await client.spread(conns, s.requests, one)
        self.rows["head"].add(target.column, s.requests / seconds)

    async def manifests(self, target: Target) -> None:
        s, client = self.sizes, target.client
        async with client.connections(s.connections) as conns:

            async def one(conn: Connection, i: int) -> None:
                tag = f"t{i % s.manifests}"
                resp = await conn.request(
                    "GET", f"/v2/{REPO}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
                )
                client.check(resp, 200, f"GET manifest {tag}")

            seconds = await client.spread(conns, s.requests, one)
        self.rows["manifest"].add(target.column, s.requests / seconds)

    async def repetition(self, rep: int) -> None:
        order = self.targets if rep % 2 == 0 else self.targets[::-1]
        chunk = self.sizes.chunk
        steps: list[tuple[str, Callable[[Target], Awaitable[None]]]] = [
            ("GET one", self.get_one),
            ("GET many", self.get_many),
        ]
        for kind, key, size in ((0, "push_monolithic", 0), (1, "push_chunked", chunk)):

            async def push(
                target: Target, kind: int = kind, key: str = key, size: int = size
            ) -> None:
                await self.push(target, key, self.stamped(rep, kind), size)

            steps.append((key.replace("_", " "), push))
        steps += [("HEAD", self.heads), ("manifest GET", self.manifests)]
        for name, step in steps:
            start = time.perf_counter()
            for target in order:
                await step(target)
            print(
                f"  rep {rep + 1}/{self.repeats} {name}: {time.perf_counter() - start:.1f} s",
                flush=True,
            )

    def meta(self) -> dict[str, Any]:
        return {
            **machine("quick" if self.quick else "full", self.repeats, self.filesystem),
            "load average (1 min) at start, end": ", ".join(f"{v:.2f}" for v in self.load),
            "aiocontent serve": f"--backend {self.backend} ({server_versions(self.backend)})",
            "docker-registry": f"{registry_version()} (blob descriptor cache: inmemory)",
            "client": "benchmarks/_http.py (HTTP/1.1 over anyio sockets, asyncio)",
            "sizes": dataclasses.asdict(self.sizes),
        }


# --------------------------------------------------------------------------- the report

HEADER: Final = ("workload", "unit", *HEADINGS.values(), "ratio", "target", "met")


def cells(row: Row) -> list[str]:
    return [
        row.title,
        row.unit,
        *(rep.fmt(row.median(c)) for c in COLUMNS),
        rep.fmt_ratio(_vs_registry(row)),
        row.target,
        rep.fmt_met(row.met),
    ]


def markdown(rows: list[Row], meta: dict[str, Any], notes: list[str]) -> str:
    """The ``server`` section of ``RESULTS.md``."""
    align = ["---", "---", "---:", "---:", "---:", "---", "---"]
    lines = [
        "## Registry server: aiocontent serve beside docker-registry",
        "",
        "Regenerated by `python benchmarks/server_bench.py`. Both servers ran in the same run,",
        "with their storage on the same disk, no access logs, and the same HTTP/1.1 client;",
        f"values are medians over {meta['repeats']} repetitions, the ratio is aiocontent serve /",
        "docker-registry (higher is better everywhere).",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in meta.items() if k != "sizes"]
    lines += ["", rep.render_markdown(HEADER, [cells(r) for r in rows], align), ""]
    if notes:
        lines += [f"- note: {n}" for n in notes]
        lines.append("")
    lines += [
        "Workloads: a GET reads the whole body (page cache warm: every blob was read once,",
        "checked, at setup); a push is POST, then one PUT with the body (monolithic) or",
        "PATCHes with `Content-Range` and a closing PUT (chunked), of bytes new to the server,",
        "after `sync`; HEADs cycle over the small blobs and manifest GETs over the tags",
        "(`Accept` OCI manifest), spread over the connections, opened before timing.",
    ]
    return "\n".join(lines)


def to_json(rows: list[Row], meta: dict[str, Any], notes: list[str]) -> str:
    workloads = {r.key: {**rep.row_json(r, COLUMNS), "ratio": _vs_registry(r)} for r in rows}
    return rep.dumps({"meta": meta, "notes": notes, "workloads": workloads})


# --------------------------------------------------------------------------- driver


@contextlib.contextmanager
def servers(bench: Bench, with_registry: bool) -> Iterator[None]:
    """Start both servers (storage under the scratch directory) for the block."""
    started: list[ServeProcess | RegistryProcess] = []
    try:
        ours = start_aiocontent(bench.scratch / "aiocontent", bench.backend)
        started.append(ours)
        bench.targets.append(Target("aiocontent", Client(port_of(ours))))
        if with_registry:
            workdir = bench.scratch / "registry"
            workdir.mkdir()
            theirs = RegistryProcess(workdir, workdir / "storage", cache=True)
            theirs.start()
            started.append(theirs)
            bench.targets.append(Target("registry", Client(port_of(theirs))))
        yield
    finally:
        for server in started:
            server.stop()


async def main(bench: Bench) -> None:
    for target in bench.targets:
        start = time.perf_counter()
        await bench.setup(target)
        print(f"  setup {HEADINGS[target.column]}: {time.perf_counter() - start:.1f} s", flush=True)
    for n in range(bench.repeats):
        await bench.repetition(n)
    bench.load.append(os.getloadavg()[0])


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition (CI)")
    p.add_argument("--repeats", type=int, default=0, help="repetitions (default 3, quick 1)")
    p.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="aiocontent serve --backend: asyncio runs uvicorn, trio runs hypercorn",
    )
    p.add_argument(
        "--scratch",
        default=os.path.join(tempfile.gettempdir(), "aiocontent-server-bench"),
        help="scratch directory, on the disk to measure (removed afterwards)",
    )
    p.add_argument(
        "--json", default="", help="JSON output (default benchmarks/results-server*.json)"
    )
    p.add_argument(
        "--markdown",
        default="",
        help="Markdown file whose 'server' section is written (full runs: RESULTS.md)",
    )
    p.add_argument(
        "--no-registry", action="store_true", help="leave the docker-registry column empty"
    )
    p.add_argument(
        "--note",
        action="append",
        default=[],
        help="a note for the report, such as what else ran on the machine (repeatable)",
    )
    return p.parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    SETTLE["seconds"] = 0.0 if bench.quick else 0.3
    with_registry = not args.no_registry
    for text in args.note:
        bench.note(text)
    if args.no_registry:
        bench.note("docker-registry column empty: --no-registry given")
    elif shutil.which(REGISTRY_BIN) is None:
        with_registry = False
        bench.note(f"docker-registry column empty: {REGISTRY_BIN} not installed")
    print(
        f"registry server benchmark ({'quick' if bench.quick else 'full'}, "
        f"{bench.repeats} repetition(s), scratch {bench.scratch})",
        flush=True,
    )
    shutil.rmtree(bench.scratch, ignore_errors=True)
    why = prepare_scratch(bench.scratch)
    if why is not None:
        bench.note(f"chattr +T on the scratch directory failed ({why})")
    bench.filesystem = filesystem(bench.scratch)
    try:
        with servers(bench, with_registry):
            anyio.run(main, bench, backend="asyncio")
    finally:
        shutil.rmtree(bench.scratch, ignore_errors=True)
    rows = list(bench.rows.values())
    meta = bench.meta()
    print()
    numeric = range(2, 2 + len(COLUMNS) + 1)
    print(rep.render_text(HEADER, [cells(r) for r in rows], numeric))
    json_path, md_path = rep.output_paths(args.json, args.markdown, bench.quick, "results-server")
    rep.write(json_path, to_json(rows, meta, bench.notes))
    written = [str(json_path)]
    if md_path is not None:
        rep.put_section(
            md_path, "server", "benchmarks/server_bench.py", markdown(rows, meta, bench.notes)
        )
        written.append(str(md_path))
    print("\nwrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(run(sys.argv[1:]))
