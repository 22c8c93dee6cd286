"""The blobs of one pull: fetched a few at a time, each downloaded into its ingest and committed.

A blob already in the store is only labelled; a missing one is downloaded into
its ingest (one download per digest across the store's pulls, when the store
offers single flight), resumed with an HTTP ``Range`` after an interruption,
read to exactly its descriptor's size and committed verified.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import anyio
import httpx

from .._digest import Digest
from .._errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from .._helpers import open_writer
from .._interfaces import Store, SupportsSingleFlight, Writer
from .._types import Descriptor, with_descriptor, with_labels, with_ref
from ._body import Interrupted
from ._client import RegistryClient
from ._events import Progress, ProgressEvent, ProgressState, ref_key
from ._labels import label_used, source_label_key
from ._reference import Platform

__all__ = ("BlobPuller",)


def _range_start(resp: httpx.Response) -> int | None:
    value = resp.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    start, dash, _ = rest.partition("-")
    if unit.lower() != "bytes" or not dash or not start.isdigit():
        return None
    return int(start)


class BlobPuller:
    """The blob side of one pull of ``client.ref`` into ``store``."""

    def __init__(
        self,
        store: Store,
        client: RegistryClient,
        platform: Platform | None,
        concurrency: int,
        progress: Progress | None,
    ) -> None:
        self.store = store
        self.client = client
        self.ref = client.ref
        self.platform = platform
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.progress = progress
        self.source_key = source_label_key(self.ref.host)

    def report(self, desc: Descriptor, state: ProgressState, offset: int = 0) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(desc, state, min(offset, desc.size)))

    # -- labels ------------------------------------------------------------------

    async def ensure_labels(self, digest: Digest, labels: Mapping[str, str]) -> None:
        """:func:`~._labels.label_used` on this pull's store."""
        await label_used(self.store, digest, labels)

    # -- blobs -------------------------------------------------------------------

    async def blobs(self, descs: list[Descriptor]) -> None:
        """Fetch blobs concurrently; the first failure cancels the rest and is raised as is."""
        errors: list[Exception] = []

        async def one(desc: Descriptor, scope: anyio.CancelScope) -> None:
            try:
                await self.blob(desc)
            except Exception as exc:
                errors.append(exc)
                scope.cancel()

        async with anyio.create_task_group() as tg:
            for desc in descs:
                tg.start_soon(one, desc, tg.cancel_scope)
        if errors:
            raise errors[0]

    async def blob(self, desc: Descriptor) -> None:
        """Make sure the blob ``desc`` is in the store, downloading it when missing."""
        labels = {self.source_key: self.ref.repository}
        for _ in range(3):
            try:
                await self.store.info(desc.digest)
            except NotFoundError:
                if isinstance(self.store, SupportsSingleFlight):
                    flights = self.store.flights
                    if flights.leading(desc.digest):
                        self.report(desc, "waiting")
                    async with flights.lead(desc.digest) as must_write:
                        if must_write:
                            await self.download(desc, labels)
                else:
                    await self.download(desc, labels)
            else:
                self.report(desc, "exists", desc.size)
            try:
                await self.ensure_labels(desc.digest, labels)
            except NotFoundError:
                continue  # collected between the check and the labels: fetch it again
            break
        self.report(desc, "done", desc.size)

    async def download(self, desc: Descriptor, labels: Mapping[str, str]) -> None:
        """Download one blob into its ingest (resuming it) and commit it verified.

        An interrupted body keeps what arrived and resumes with ``Range``; an
        attempt that stored new bytes does not use up a retry (the retry budget
        still bounds the waits). A digest or size mismatch removes the ingest;
        when the bad bytes may come from an earlier attempt (the download had
        resumed), the blob is fetched once more from the start before giving up.
        """
        ref = ref_key(desc)
        attempt = 0
        restarted = False
        async with self.limiter:
            while True:
                started = anyio.current_time()
                try:
                    cw = await open_writer(self.store, with_ref(ref), with_descriptor(desc))
                except AlreadyExistsError:
                    return
                resumed = False
                before = 0
                delay: float | None = None
                try:
                    offset = before = (await cw.status()).offset
                    if offset > desc.size:
                        await cw.truncate(0)
                        offset = before = 0
                    resumed = offset > 0
                    if offset < desc.size:
                        resumed = await self.receive(cw, desc, offset)
                    await cw.commit(desc.size, desc.digest, with_labels(labels))
                    return
                except AlreadyExistsError:
                    return
                except FailedPreconditionError:
                    with contextlib.suppress(NotFoundError):
                        await self.store.abort(ref)
                    if resumed and not restarted:
                        restarted = True
                        continue
                    raise
                except Interrupted as exc:
                    now = (await cw.status()).offset
                    if now > before:
                        attempt = 0  # progress: a flaky network still gets there
                    delay = self.client.retry_delay(attempt, None if now > before else started)
                    if delay is None:
                        raise self.client.gave_up(
                            f"{self.ref}: blob {desc.digest}: download interrupted",
                            f"{exc}; the ingest {ref!r} keeps the {now} bytes that arrived",
                            attempt,
                        ) from exc
                finally:
                    with anyio.CancelScope(shield=True):
                        await cw.aclose()
                await anyio.sleep(delay)
                attempt += 1

    async def receive(self, cw: Writer, desc: Descriptor, offset: int) -> bool:
        """Write the blob's bytes from ``offset`` on as they arrive; ``True`` when a Range
        was honoured.

        :raises FailedPreconditionError: the registry sends more than ``desc.size``.
        :raises Interrupted: the body broke off or ended before ``desc.size``.
        """
        url = f"{self.client.base}/blobs/{desc.digest}"
        what = f"{self.ref}: blob {desc.digest}"
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        async with self.client.stream("GET", url, headers) as resp:
            resumed = False
            if offset and resp.status_code == 206 and _range_start(resp) == offset:
                resumed = True
                self.report(desc, "resuming", offset)
            elif offset and resp.status_code in (200, 206, 416):
                # Range ignored or not usable: start over from the first byte.
                await cw.truncate(0)
                if resp.status_code != 200:
                    await resp.aclose()
                    return await self.receive(cw, desc, 0)
                offset = 0
            elif resp.status_code != 200:
                await self.client.raise_for_status(resp, f"blob {desc.digest}")

            def over() -> FailedPreconditionError:
                return FailedPreconditionError(
                    f"{what}: registry sent more than its size {desc.size}: "
                    f"{FailedPreconditionError.kind_text}"
                )

            written = offset
            self.report(desc, "downloading", written)
            async for chunk in self.client.body(resp, desc.size - offset, over, what):
                await cw.write(chunk)
                written += len(chunk)
                self.report(desc, "downloading", written)
        if written < desc.size:
            raise Interrupted(f"body ended at {written} of {desc.size} bytes")
        return resumed
