"""A process that ingests through LocalStore, for the crash tests to kill.

Usage: ``python _crash_child.py <root> <backend>``, usually with
``AIOCONTENT_FAULT=<point>[#n][@kill|@exit]`` in the environment. It prints one
line per finished phase (flushed), so a parent can also kill it from outside at
a known moment. The phases, in order:

1. open a writer for :data:`REF` expecting :data:`DIGEST` and :data:`SIZE`;
   write the first half in chunks (``first <offset>``); close it (``closed``);
2. resume, write junk and truncate it away (``truncated``);
3. write the rest (``rest <offset>``) and commit with :data:`LABELS` (``committed``);
4. add a label with ``update`` (``updated``); delete :data:`DEL` (``deleted``);
5. commit :data:`SMALL` without labels (``small``);
6. ``verify(quarantine=True)`` the corrupt blob :data:`BAD` (``verified``), then ``done``.

The parent prepares :data:`OLD`, :data:`DEL` and :data:`BAD` beforehand.
"""

from __future__ import annotations

import random
import sys
from typing import Final

import anyio

from aiocontent import Descriptor, Digest, Info, with_descriptor, with_labels, with_ref
from aiocontent._local import LocalStore

SIZE: Final = 4 << 20
CHUNK: Final = 256 << 10
DATA: Final = random.Random(20240601).randbytes(SIZE)
DIGEST: Final = Digest.from_bytes(DATA)
REF: Final = "crash/../ingest ü"
LABELS: Final = {"containerd.io/gc.root": "yes", "name": "crash"}
EXTRA: Final = {"extra": "1"}

OLD: Final = b"an old blob that must survive"
OLD_LABELS: Final = {"old": "yes"}
DEL: Final = b"a blob the child deletes"
DEL_LABELS: Final = {"del": "yes"}
BAD: Final = b"a blob the parent corrupts"
SMALL: Final = b"a small blob committed without labels"
SMALL_REF: Final = "small"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def run(root: str) -> None:
    desc = Descriptor(digest=DIGEST, size=SIZE)
    half = SIZE // 2
    async with LocalStore(root) as cs:
        w = await cs.writer(with_ref(REF), with_descriptor(desc))
        say("opened")
        for off in range(0, half, CHUNK):
            await w.write(DATA[off : off + CHUNK])
            say(f"first {off}")
        await w.aclose()
        say("closed")
        w = await cs.writer(with_ref(REF), with_descriptor(desc))
        await w.write(b"junk" * 4096)
        await w.truncate(half)
        say("truncated")
        for off in range(half, SIZE, CHUNK):
            await w.write(DATA[off : off + CHUNK])
            say(f"rest {off}")
        await w.commit(SIZE, DIGEST, with_labels(LABELS))
        say("committed")
        await cs.update(Info(digest=DIGEST, labels=EXTRA), "labels.extra")
        say("updated")
        await cs.delete(Digest.from_bytes(DEL))
        say("deleted")
        w = await cs.writer(with_ref(SMALL_REF))
        await w.write(SMALL)
        await w.commit(len(SMALL), Digest.from_bytes(SMALL))
        say("small")
        await cs.verify(Digest.from_bytes(BAD), quarantine=True)
        say("verified")
    say("done")


if __name__ == "__main__":
    anyio.run(run, sys.argv[1], backend=sys.argv[2])
