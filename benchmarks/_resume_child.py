"""W4 in a new process: time reopening an ingest, printed as JSON on stdout.

Usage (run by ``run.py``)::

    python _resume_child.py aiocontent ROOT REF SIZE
    python _resume_child.py naive PATH SIZE

The clock starts after the imports, when the store (or file) is opened, and
stops when the writer is ready to append at ``SIZE``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import _aiocontent
import _naive
import anyio

import aiocontent


async def _aiocontent_resume(root: Path, ref: str, size: int) -> float:
    factory = _aiocontent.local_store(root)
    if factory is None:
        raise SystemExit("aiocontent has no LocalStore")
    start = time.perf_counter()
    async with factory() as cs:
        w = await cs.writer(aiocontent.with_ref(ref))
        status = await w.status()
        ready = time.perf_counter()
        await w.aclose()
    if status.offset != size:
        raise SystemExit(f"resumed at {status.offset}, want {size}")
    return ready - start


def main(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "aiocontent":
        root, ref, size = Path(argv[1]), argv[2], int(argv[3])
        seconds = anyio.run(_aiocontent_resume, root, ref, size)
    elif kind == "naive":
        path, size = Path(argv[1]), int(argv[2])
        seconds = anyio.run(_naive.resume, path, size)
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])
