"""S3Store against the S3 client's own plain calls, on the same bytes in the same run.

W1 ingest: ``S3Store`` writer (1 MiB writes, size and digest verified at commit)
vs one aiobotocore ``put_object`` of the whole blob. W3 read: ``new_reader`` over
``S3Store.reader_at`` in 1 MiB chunks, hashing every byte and comparing with the
digest, vs one aiobotocore ``get_object`` read to the end (no hashing). Each pair
runs ``--repeat`` times, alternating; the report gives the median MB/s and the
ratio (target: at least 0.8). During both W1 runs a 1 ms ticker task measures the
longest stall of the caller's event loop (under asyncio the plain client runs on
that loop too, and signs its body there).

Starts a throwaway Ceph RGW (``tests/s3/rgw.py``) unless ``S3_ENDPOINT``,
``S3_ACCESS_KEY`` and ``S3_SECRET_KEY`` name a service::

    .venv/bin/python benchmarks/s3_bench.py [--size-mib 256] [--repeat 3] [--backend trio]

To compare two versions of the library on a shared machine, run it alternately
under each (``PYTHONPATH=<other>/src``) with ``--json``, then write the ``s3``
section of ``benchmarks/RESULTS.md`` from those files (ratios are taken within
each run, then their median)::

    .venv/bin/python benchmarks/s3_bench.py --report after-*.json --before before-*.json \
        --markdown benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import _report as rep
import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiocontent import Descriptor, Digest, new_reader, with_descriptor, with_ref  # noqa: E402
from aiocontent._s3 import S3Store, _bridge  # noqa: E402

BUCKET = "aiocontent-bench"
MIB = 1 << 20


def _settings() -> tuple[dict[str, Any], Callable[[], None]]:
    if os.environ.get("S3_ENDPOINT"):
        return {
            "endpoint_url": os.environ["S3_ENDPOINT"],
            "aws_access_key_id": os.environ.get("S3_ACCESS_KEY"),
            "aws_secret_access_key": os.environ.get("S3_SECRET_KEY"),
        }, lambda: None
    from tests.s3 import rgw

    gw = rgw.start()
    return {
        "endpoint_url": gw.endpoint,
        "aws_access_key_id": gw.access_key,
        "aws_secret_access_key": gw.secret_key,
    }, lambda: rgw.stop(gw)


async def _plain_client(settings: dict[str, Any]) -> Any:
    """A plain aiobotocore client, as a user of the library would make it."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    return await (
        get_session()
        .create_client(
            "s3",
            endpoint_url=settings["endpoint_url"],
            aws_access_key_id=settings["aws_access_key_id"],
            aws_secret_access_key=settings["aws_secret_access_key"],
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        .__aenter__()
    )


async def _timed(fn: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def _timed_with_lag(fn: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Seconds ``fn`` takes, and the longest gap between ticks of a 1 ms ticker meanwhile."""
    lag = 0.0

    async def tick() -> None:
        nonlocal lag
        last = time.perf_counter()
        while True:
            await anyio.sleep(0.001)
            t = time.perf_counter()
            lag, last = max(lag, t - last), t

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        seconds = await _timed(fn)
        tg.cancel_scope.cancel()
    return seconds, lag


async def _on_client_loop(coro: Awaitable[Any]) -> Any:
    """Await a plain-client call: directly under asyncio, through the bridge under trio."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return await _bridge.call(coro)  # type: ignore[arg-type]
    return await coro


async def _pair(cs: S3Store, client: Any, key: str, data: bytes, dgst: Digest) -> list[float]:
    """One round: plain PUT, S3Store ingest, plain GET, S3Store read; seconds each.

    Then the longest event-loop stall of the plain PUT and of the ingest.
    """
    size = len(data)

    async def plain_put() -> None:
        await _on_client_loop(client.put_object(Bucket=BUCKET, Key=key, Body=data))

    async def ingest() -> None:
        desc = Descriptor(digest=dgst, size=size)
        w = await cs.writer(with_ref("bench"), with_descriptor(desc))
        view = memoryview(data)
        for off in range(0, size, MIB):
            await w.write(view[off : off + MIB])
        await w.commit(size, dgst)

    async def plain_get() -> None:
        async def get() -> int:
            r = await client.get_object(Bucket=BUCKET, Key=key)
            async with r["Body"] as body:
                return len(await body.read())

        if await _on_client_loop(get()) != size:
            raise AssertionError("short plain read")

    async def read() -> None:
        h = hashlib.sha256()
        async with await cs.reader_at(Descriptor(digest=dgst)) as ra:
            async for chunk in new_reader(ra):
                h.update(chunk)
        if f"sha256:{h.hexdigest()}" != dgst:
            raise AssertionError("read back other bytes")

    put_s, put_lag = await _timed_with_lag(plain_put)
    ingest_s, ingest_lag = await _timed_with_lag(ingest)
    return [put_s, ingest_s, await _timed(plain_get), await _timed(read), put_lag, ingest_lag]


async def run(size: int, repeat: int, settings: dict[str, Any]) -> dict[str, Any]:
    data = os.urandom(size)
    dgst = Digest(f"sha256:{hashlib.sha256(data).hexdigest()}")
    client = await _on_client_loop(_plain_client(settings))
    keys = ("w1_plain", "w1_store", "w3_plain", "w3_store", "w1_plain_lag", "w1_store_lag")
    times: dict[str, list[float]] = {k: [] for k in keys}
    try:
        for i in range(repeat):
            prefix = f"run-{uuid.uuid4().hex[:8]}-{i}"
            async with S3Store(BUCKET, prefix, create_bucket=True, **settings) as cs:
                await cs._ready()
                round_times = await _pair(cs, client, f"{prefix}/plain", data, dgst)
                # Leave nothing behind: a gateway on memstore keeps every byte in RAM.
                await cs.delete(dgst)
                await _on_client_loop(client.delete_object(Bucket=BUCKET, Key=f"{prefix}/plain"))
            for key, seconds in zip(keys, round_times, strict=True):
                times[key].append(seconds)
    finally:
        await _on_client_loop(client.__aexit__(None, None, None))

    def mb_s(key: str) -> float:
        return size / statistics.median(times[key]) / 1e6

    out: dict[str, Any] = {"size_bytes": size, "repeat": repeat, "seconds": times}
    for w in ("w1", "w3"):
        store, plain = mb_s(f"{w}_store"), mb_s(f"{w}_plain")
        out[w] = {"store_mb_s": round(store, 1), "plain_mb_s": round(plain, 1)}
        out[w]["ratio"] = round(store / plain, 2)
    for side in ("store", "plain"):
        out["w1"][f"{side}_max_lag_ms"] = round(max(times[f"w1_{side}_lag"]) * 1000, 1)
    return out


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median over runs of each W1/W3 figure; ratios are per run, so within one run."""
    return {
        f"{w}_{k}": statistics.median(r[w][k] for r in runs)
        for w in ("w1", "w3")
        for k in ("store_mb_s", "plain_mb_s", "ratio", "store_max_lag_ms", "plain_max_lag_ms")
        if k in runs[0][w]
    }


def _section(after: list[dict[str, Any]], before: list[dict[str, Any]]) -> str:
    """The ``s3`` section of RESULTS.md: this code's runs, and the previous code's if given."""
    now, then = _medians(after), _medians(before) if before else {}
    first = after[0]
    header = ["workload", "S3Store", "plain aiobotocore", "ratio"]
    if then:
        header += ["S3Store before", "plain before", "ratio before"]
    body = []
    for w, name in (("w1", "W1 ingest, MB/s"), ("w3", "W3 read, MB/s")):
        keys = (f"{w}_store_mb_s", f"{w}_plain_mb_s", f"{w}_ratio")
        row = [name, *(rep.fmt(now[k]) for k in keys[:2]), rep.fmt_ratio(now[keys[2]])]
        if then:
            row += [*(rep.fmt(then[k]) for k in keys[:2]), rep.fmt_ratio(then[keys[2]])]
        body.append(row)
    stall = ["W1 longest event-loop stall, ms"]
    for got in (now, then) if then else (now,):
        stall += [rep.fmt(got["w1_store_max_lag_ms"]), rep.fmt(got["w1_plain_max_lag_ms"]), ""]
    body.append(stall)
    lines = [
        "## S3Store against plain aiobotocore",
        "",
        "Written by `python benchmarks/s3_bench.py --report ... --markdown ...` from "
        f"{len(after)} run(s)"
        + (f", alternated with {len(before)} of the previous code" if then else "")
        + f": {first['size_bytes'] // MIB} MiB, medians of {first['repeat']} per run, "
        f"backend {first.get('backend', 'asyncio')}, a local Ceph RGW (memstore). Each ratio is "
        "taken within one run (S3Store / plain in the same process), then the median over runs.",
        "",
        rep.render_markdown(header, body, ["---", *["---:"] * (len(header) - 1)]),
        "",
        "W1 ratio per run: "
        + ", ".join(rep.fmt_ratio(r["w1"]["ratio"]) for r in after)
        + (
            " (previous code: " + ", ".join(rep.fmt_ratio(r["w1"]["ratio"]) for r in before) + ")"
            if before
            else ""
        )
        + ". Under a shared machine's load the plain calls vary by up to 2× between runs:"
        " compare the ratios, not the values.",
    ]
    return "\n".join(lines)


def _write_report(args: argparse.Namespace) -> int:
    after = [json.loads(Path(p).read_text()) for p in args.report]
    before = [json.loads(Path(p).read_text()) for p in args.before]
    text = _section(after, before)
    print(text)
    if args.markdown:
        rep.put_section(args.markdown, "s3", "benchmarks/s3_bench.py", text)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--report", nargs="+", default=[], help="result files to report")
    parser.add_argument("--before", nargs="+", default=[], help="the previous code's results")
    parser.add_argument("--markdown", type=Path, help="with --report: write its section here")
    args = parser.parse_args()
    if args.report:
        return _write_report(args)
    settings, stop = _settings()
    try:
        result = anyio.run(run, args.size_mib * MIB, args.repeat, settings, backend=args.backend)
    finally:
        stop()
    result["backend"] = args.backend
    print(f"S3Store vs plain aiobotocore, {args.size_mib} MiB, median of {args.repeat}:")
    for w, name in (("w1", "W1 ingest"), ("w3", "W3 read")):
        r = result[w]
        print(
            f"  {name:10} S3Store {r['store_mb_s']:8.1f} MB/s   plain {r['plain_mb_s']:8.1f} MB/s"
            f"   ratio {r['ratio']:.2f}"
        )
    r = result["w1"]
    print(
        f"  W1 longest event-loop stall: S3Store {r['store_max_lag_ms']:.1f} ms"
        f"   plain {r['plain_max_lag_ms']:.1f} ms"
    )
    for key, seconds in result["seconds"].items():
        if key.endswith("_lag"):
            continue
        print(f"    {key}: " + " ".join(f"{t:.2f}s" for t in seconds))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
