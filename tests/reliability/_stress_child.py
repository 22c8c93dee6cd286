"""One stress process: many tasks ingesting into a shared LocalStore root.

Usage: ``python _stress_child.py <root> <backend> <process index> <tasks>``.
Each task picks one of three kinds, from a seed that depends on the process and
task index:

``shared``
    ref ``shared``, always the content :func:`content` of ``"shared"``: every
    process contends for one ref;
``dup``
    a ref of its own (``dup-<process>-<task>``) but the content of ``"dup"``:
    one digest under many refs;
``own``
    a ref and content of its own.

A task waits for its ref (:func:`~aiocontent.open_writer`), resumes at the
ingest's offset, writes in small chunks and commits. About a quarter of the
tasks are cancelled after a random delay. Each task prints one JSON line
``{"ref", "digest", "outcome"}`` with outcome ``ok``, ``exists`` (an
:class:`~aiocontent.AlreadyExistsError` from ``writer`` or ``commit``) or
``cancelled``; any other exception ends the process with a traceback.
"""

from __future__ import annotations

import json
import random
import sys
from typing import Final

import anyio

from aiocontent import (
    AlreadyExistsError,
    Descriptor,
    Digest,
    open_writer,
    with_descriptor,
    with_ref,
)
from aiocontent._local import LocalStore

CHUNK: Final = 16 << 10


def content(name: str) -> bytes:
    """The content a task writes for ``name`` (same name, same bytes)."""
    rng = random.Random(name)
    return rng.randbytes(rng.randrange(32 << 10, 256 << 10))


def plan(process: int, task: int) -> tuple[str, str, float | None]:
    """``(ref, content name, cancel after seconds or None)`` of one task."""
    rng = random.Random(f"{process}/{task}")
    kind = rng.choice(("shared", "dup", "own"))
    cancel = rng.uniform(0.0, 0.05) if rng.random() < 0.25 else None
    if kind == "shared":
        return "shared", "shared", cancel
    if kind == "dup":
        return f"dup-{process}-{task}", "dup", cancel
    return f"own-{process}-{task}", f"own-{process}-{task}", cancel


async def ingest(cs: LocalStore, ref: str, data: bytes) -> str:
    dgst = Digest.from_bytes(data)
    desc = Descriptor(digest=dgst, size=len(data))
    try:
        w = await open_writer(cs, with_ref(ref), with_descriptor(desc))
    except AlreadyExistsError:
        return "exists"
    async with w:
        offset = (await w.status()).offset
        for off in range(offset, len(data), CHUNK):
            await w.write(data[off : off + CHUNK])
        try:
            await w.commit(len(data), dgst)
        except AlreadyExistsError:
            return "exists"
    return "ok"


async def task(cs: LocalStore, process: int, index: int) -> None:
    ref, name, cancel = plan(process, index)
    data = content(name)
    outcome = "cancelled"
    with anyio.move_on_after(cancel if cancel is not None else 60):
        outcome = await ingest(cs, ref, data)
    if outcome == "cancelled" and cancel is None:
        raise TimeoutError(f"task {index} ({ref}) did not finish in 60 s")
    line = {"ref": ref, "digest": Digest.from_bytes(data), "outcome": outcome}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def run(root: str, process: int, tasks: int) -> None:
    async with LocalStore(root) as cs, anyio.create_task_group() as tg:
        for index in range(tasks):
            tg.start_soon(task, cs, process, index)


if __name__ == "__main__":
    anyio.run(run, sys.argv[1], int(sys.argv[3]), int(sys.argv[4]), backend=sys.argv[2])
