"""Helper process: write part of an ingest to an S3Store, then die by SIGKILL mid-upload.

``python -m tests.s3._killed_writer ENDPOINT BUCKET PREFIX REF SIZE WRITTEN`` writes
the first WRITTEN bytes of :func:`content` (SIZE) under REF, waits until the parts
already sent have landed, prints ``ready`` and kills itself without closing
anything: the lock object, the multipart upload and the buffered tail are left
as a crash leaves them.
"""

from __future__ import annotations

import os
import random
import signal
import sys

import anyio

from aiocontent import with_ref
from aiocontent._s3 import S3Store

from .rgw import ACCESS_KEY, SECRET_KEY


def content(size: int) -> bytes:
    """The deterministic bytes both processes agree on."""
    return random.Random(size).randbytes(size)


async def _main(endpoint: str, bucket: str, prefix: str, ref: str, size: int, written: int) -> None:
    store = S3Store(
        bucket,
        prefix,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        create_bucket=True,
        part_size=5 << 20,
        lock_lease=3.0,
    )
    data = content(size)
    w = await store.writer(with_ref(ref))
    for i in range(0, written, 1 << 20):
        await w.write(data[i : min(i + (1 << 20), written)])
    await w._drain()
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    endpoint, bucket, prefix, ref, size, written = sys.argv[1:]
    anyio.run(_main, endpoint, bucket, prefix, ref, int(size), int(written))
