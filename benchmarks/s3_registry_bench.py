"""Benchmark: one registry on one S3 bucket, served by one ``aiocontent serve`` process or several.

Each configuration (``--hosts``, default 1 and 3) is a set of server processes
on one bucket and prefix of a Ceph RGW (uvicorn, access logs off), standing in
for hosts behind a load balancer: the client's connections are spread over the
processes (connection ``i`` talks to process ``i mod N``). Every repetition
measures each configuration in turn (alternating which goes first):

- push: monolithic pushes (POST, then one PUT with the body) of new blobs (MB/s);
- pull: GETs of those blobs, read whole (MB/s);
- manifest PUT: manifests pushed to one repository under distinct tags (each
  takes the repository's lock object in the bucket), requests/s;
- manifest GET: by tag, requests/s.

Starts a throwaway Ceph RGW (``tests/s3/rgw.py``, objects in the OSD's RAM)
unless ``S3_ENDPOINT``, ``S3_ACCESS_KEY`` and ``S3_SECRET_KEY`` name a service::

    .venv/bin/python benchmarks/s3_registry_bench.py            # 3 repetitions, RESULTS.md section
    .venv/bin/python benchmarks/s3_registry_bench.py --quick    # small sizes, seconds

Writes ``benchmarks/results-s3-registry*.json`` and, on full runs, the
``s3-registry`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import _report as rep
import anyio
from _http import Connection
from _servers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, REPO, Client, descriptor, digest_of
from _util import MIB, machine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.server._process import S3ServeProcess

BUCKET = "aiocontent-registry-bench"
ROWS = (
    ("push", "push, monolithic", "MB/s"),
    ("pull", "pull (GET whole blob)", "MB/s"),
    ("manifest_put", "manifest PUT, one repository", "req/s"),
    ("manifest_get", "manifest GET by tag", "req/s"),
)


def _service() -> tuple[dict[str, str], Callable[[], None]]:
    """S3 endpoint and credentials, and how to stop the gateway started for the run."""
    if os.environ.get("S3_ENDPOINT"):
        return {
            "endpoint": os.environ["S3_ENDPOINT"],
            "key": os.environ.get("S3_ACCESS_KEY", ""),
            "secret": os.environ.get("S3_SECRET_KEY", ""),
        }, lambda: None
    from tests.s3 import rgw

    gw = rgw.start()
    return {"endpoint": gw.endpoint, "key": gw.access_key, "secret": gw.secret_key}, (
        lambda: rgw.stop(gw)
    )


class Hosts:
    """``n`` server processes on one bucket and prefix."""

    def __init__(self, n: int, s3: dict[str, str], scratch: Path, stack: ExitStack) -> None:
        self.n = n
        self.prefix = f"bench-{n}-{uuid.uuid4().hex[:8]}"
        args = ["--quiet", "--s3-bucket", BUCKET, "--s3-endpoint", s3["endpoint"]]
        env = {"AWS_ACCESS_KEY_ID": s3["key"], "AWS_SECRET_ACCESS_KEY": s3["secret"]}
        self.ports: list[int] = []
        for i in range(n):
            log = scratch / f"{self.prefix}-{i}.log"
            server = S3ServeProcess(
                scratch, "asyncio", log=log, args=[*args, "--s3-prefix", self.prefix], env=env
            )
            server.start()
            stack.callback(server.stop)
            self.ports.append(int(server.listen.rsplit(":", 1)[1]))

    async def connections(self, count: int) -> list[Connection]:
        return [await Connection.open("127.0.0.1", self.ports[i % self.n]) for i in range(count)]


async def _measure(hosts: Hosts, sizes: argparse.Namespace, rep_n: int) -> dict[str, float]:
    """One repetition of every workload on ``hosts``; values by row key."""
    client = Client(hosts.ports[0])
    conns = await hosts.connections(sizes.conns)
    try:
        base = os.urandom(sizes.size_mib * MIB)
        stamp = uuid.uuid4().bytes
        blobs = [stamp + i.to_bytes(4, "big") + base[20:] for i in range(sizes.blobs)]
        digests = [digest_of(b) for b in blobs]
        total = sizes.blobs * sizes.size_mib * MIB

        async def push(conn: Connection, i: int) -> None:
            await client.push(conn, blobs[i], digests[i])

        async def pull(conn: Connection, i: int) -> None:
            await client.get_blob(conn, digests[i], len(blobs[i]))

        out = {"push": total / 1e6 / await client.spread(conns, sizes.blobs, push)}
        out["pull"] = total / 1e6 / await client.spread(conns, sizes.blobs, pull)
        config = b"{}"
        await client.push(conns[0], config, digest_of(config))
        layers = [
            {"mediaType": OCI_LAYER, "digest": digests[i % len(blobs)], "size": len(blobs[0])}
            for i in range(sizes.manifests)
        ]
        bodies = [
            json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": descriptor(OCI_CONFIG, config),
                    "layers": [layers[i]],
                    "annotations": {"n": f"{rep_n}-{i}"},
                }
            ).encode()
            for i in range(sizes.manifests)
        ]

        async def put_manifest(conn: Connection, i: int) -> None:
            await client.put_manifest(conn, f"t{rep_n}-{i}", bodies[i])

        async def get_manifest(conn: Connection, i: int) -> None:
            resp = await conn.request(
                "GET", f"/v2/{REPO}/manifests/t{rep_n}-{i}", headers={"Accept": OCI_MANIFEST}
            )
            client.check(resp, 200, "GET manifest")

        out["manifest_put"] = sizes.manifests / await client.spread(
            conns, sizes.manifests, put_manifest
        )
        out["manifest_get"] = sizes.manifests / await client.spread(
            conns, sizes.manifests, get_manifest
        )
        return out
    finally:
        for conn in conns:
            await conn.aclose()


def _markdown(table: list[list[str]], meta: dict[str, Any], header: list[str]) -> str:
    lines = [
        "## Registry on S3: several server processes on one bucket",
        "",
        "Regenerated by `python benchmarks/s3_registry_bench.py`. Each configuration is that many",
        "`aiocontent serve --s3-bucket` processes (uvicorn) on one bucket and prefix of a local",
        "Ceph RGW (memstore), the client's connections spread over them; values are medians",
        f"over {meta['repeats']} repetitions; the ratio: the last configuration / the first.",
        "",
        *[f"- {k}: {v}" for k, v in meta.items()],
        "",
        rep.render_markdown(header, table, ["---", "---", *["---:"] * (len(header) - 2)]),
        "",
        "Pushes are of bytes new to the bucket; a manifest PUT names one pushed blob and takes",
        "the repository's lock object (`If-None-Match`), so PUTs to one repository serialize",
        "across processes. The machine's 2 cores are shared by Ceph, the servers and the",
        "client, so more processes add no CPU: the figures show the cost of sharing one bucket",
        "more than the scaling a multi-host deployment would get. Under a shared machine's load",
        "(above), repetitions of one configuration differ by up to 3×: compare ratios, not values.",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    p.add_argument("--hosts", default="1,3", help="process counts to compare (default 1,3)")
    p.add_argument("--repeats", type=int, default=0, help="repetitions (default 3, quick 1)")
    p.add_argument("--blobs", type=int, default=0, help="blobs pushed and pulled (default 16)")
    p.add_argument("--size-mib", type=int, default=0, help="MiB per blob (default 8)")
    p.add_argument("--manifests", type=int, default=0, help="manifest PUTs and GETs (default 64)")
    p.add_argument("--conns", type=int, default=8, help="client connections (default 8)")
    p.add_argument("--json", default="", help="JSON output")
    p.add_argument("--markdown", default="", help="Markdown file for the section")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.blobs = args.blobs or (4 if args.quick else 16)
    args.size_mib = args.size_mib or (1 if args.quick else 8)
    args.manifests = args.manifests or (8 if args.quick else 64)
    counts = [int(n) for n in args.hosts.split(",")]
    s3, stop = _service()
    results: dict[int, dict[str, list[float]]] = {n: {k: [] for k, _, _ in ROWS} for n in counts}
    try:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
            groups = [Hosts(n, s3, Path(scratch), stack) for n in counts]
            for r in range(args.repeats):
                for hosts in groups if r % 2 == 0 else groups[::-1]:
                    got = anyio.run(_measure, hosts, args, r)
                    for key, value in got.items():
                        results[hosts.n][key].append(value)
                    print(f"  rep {r + 1}, {hosts.n} process(es): {_fmt(got)}", flush=True)
    finally:
        stop()
    header = ["workload", "unit", *[f"{n} process{'es' if n > 1 else ''}" for n in counts]]
    header.append(f"{counts[-1]} / {counts[0]}")
    table = []
    for key, label, unit in ROWS:
        medians = [statistics.median(results[n][key]) for n in counts]
        table.append([label, unit, *[rep.fmt(m) for m in medians]])
        table[-1].append(rep.fmt_ratio(medians[-1] / medians[0]))
    meta = {
        **machine("quick" if args.quick else "full", args.repeats, "Ceph RGW memstore (RAM)"),
        "load average (1 min) at the end": f"{os.getloadavg()[0]:.1f}",
        "sizes": f"{args.blobs} blobs of {args.size_mib} MiB, {args.manifests} manifests, "
        f"{args.conns} connections",
    }
    print()
    print(rep.render_text(header, table, range(2, len(header))))
    json_path, md_path = rep.output_paths(
        args.json, args.markdown, args.quick, "results-s3-registry"
    )
    rep.write(json_path, rep.dumps({"meta": meta, "results": {str(n): results[n] for n in counts}}))
    if md_path is not None:
        rep.put_section(
            md_path,
            "s3-registry",
            "benchmarks/s3_registry_bench.py",
            _markdown(table, meta, header),
        )
    print(f"\nwrote {json_path}" + (f", {md_path}" if md_path else ""))
    return 0


def _fmt(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:,.1f}" for k, v in values.items())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
