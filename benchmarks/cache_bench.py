"""Benchmark: pulling through ``aiocontent serve --upstream`` against pulling directly.

Debian's docker-registry holds one image (a config and layers of incompressible
bytes, a few tens of MiB in all); ``aiocontent pull`` (the library function the
command runs) copies it into a fresh LocalStore, in the same run:

- **direct**: from docker-registry;
- **cold**: through a pull-through cache with an empty store (every blob is a
  miss: fetched upstream, streamed on while verified and committed);
- **warm**: through the same cache again (every blob a hit; the tag is
  revalidated with one HEAD, ``--tag-ttl 0``).

Every process runs on 127.0.0.1 with its storage in one scratch directory.
Each repetition measures the three in that order with a new cache root.

Usage::

    python benchmarks/cache_bench.py             # 48 MiB image, 3 repetitions
    python benchmarks/cache_bench.py --quick     # 6 MiB, 1 repetition
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.registry._server import RegistryProcess, push_blob, push_manifest
from tests.server._process import ServeProcess

from aiocontent import LocalStore
from aiocontent.registry import pull

MIB: Final = 1 << 20
REPO: Final = "bench/image"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
WAYS: Final = ("direct", "cold", "warm")


def _push_image(base: str, layers: int, layer_size: int) -> int:
    """Push ``layers`` random layers and a manifest to ``REPO:v1``; the bytes pushed."""
    rng = __import__("random").Random(7)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    blobs = [rng.randbytes(layer_size) for _ in range(layers)]
    with httpx.Client(timeout=120) as client:
        descs = []
        for data in (config, *blobs):
            digest = push_blob(client, base, REPO, data, chunked=False)
            descs.append({"digest": digest, "size": len(data)})
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **descs[0]},
            "layers": [{"mediaType": OCI_LAYER, **d} for d in descs[1:]],
        }
        push_manifest(client, base, REPO, "v1", OCI_MANIFEST, json.dumps(manifest).encode())
    return len(config) + layers * layer_size


async def _pull_seconds(host: str, root: Path) -> float:
    """Seconds to pull ``host/REPO:v1`` into a new LocalStore at ``root``."""
    async with LocalStore(root) as store:
        start = time.perf_counter()
        await pull(store, f"{host}/{REPO}:v1", plain_http=True)
        seconds = time.perf_counter() - start
    shutil.rmtree(root)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 MiB, one repetition")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    layers, layer_size, repeats = (3, 16 * MIB, args.repeats)
    if args.quick:
        layers, layer_size, repeats = (3, 2 * MIB, 1)
    with tempfile.TemporaryDirectory(prefix="cache-bench-", dir="/var/tmp") as scratch:
        work = Path(scratch)
        upstream = RegistryProcess(work, work / "registry")
        upstream.start()
        try:
            total = _push_image(upstream.url, layers, layer_size)
            runs: dict[str, list[float]] = {way: [] for way in WAYS}
            for rep in range(repeats):
                cache = ServeProcess(
                    work / f"cache-{rep}",
                    args.backend,
                    log=work / f"cache-{rep}.log",
                    args=["--quiet", "--upstream", upstream.url, "--tag-ttl", "0"],
                )
                cache.start()
                try:
                    for way in WAYS:
                        host = upstream.host if way == "direct" else cache.listen
                        seconds = anyio.run(
                            _pull_seconds, host, work / f"pull-{way}", backend=args.backend
                        )
                        runs[way].append(seconds)
                finally:
                    cache.stop()
                shutil.rmtree(work / f"cache-{rep}", ignore_errors=True)
        finally:
            upstream.stop()
    direct = statistics.median(runs["direct"])
    print(
        f"image: {total / MIB:.1f} MiB ({layers} layers), {repeats} repetition(s), {args.backend}"
    )
    print(f"{'pull':<8} {'median s':>9} {'MB/s':>8} {'vs direct':>10}   runs (s)")
    for way in WAYS:
        median = statistics.median(runs[way])
        each = ", ".join(f"{s:.3f}" for s in runs[way])
        print(
            f"{way:<8} {median:>9.3f} {total / median / 1e6:>8.1f} "
            f"{median / direct:>9.2f}×   {each}"
        )


if __name__ == "__main__":
    main()
