"""The ingest side of :class:`~._store.S3Store` on the bucket: state objects, offsets, removal."""

from __future__ import annotations

from .._messages import ingest_not_found
from .._types import Status
from ._client import S3Client
from ._layout import IngestState, Layout

__all__ = ("ingest_dirs", "read_state", "remove_ingest", "stored_status")


async def read_state(client: S3Client, layout: Layout, ref: str) -> IngestState | None:
    """The ingest's ``state`` object; ``None`` when missing or another ref's."""
    got = await client.get(layout.state(ref))
    if got is None:
        return None
    st = IngestState.loads(got[0])
    return st if st is not None and st.ref == ref else None


async def stored_status(client: S3Client, layout: Layout, ref: str) -> Status:
    """The status of an ingest no writer of this store object holds.

    :raises ~aiocontent.NotFoundError: no such ingest.
    """
    st = await read_state(client, layout, ref)
    if st is None:
        raise ingest_not_found(ref)
    offset = st.length
    if st.upload is not None:
        parts = await client.list_parts(layout.data(ref), st.upload)
        if parts is not None:
            offset = sum(p.size for p in parts)
    return Status(
        ref=ref,
        offset=offset,
        total=st.total,
        expected=st.expected,
        started_at=st.started_at,
        updated_at=st.updated_at,
    )


async def ingest_dirs(client: S3Client, layout: Layout) -> list[str]:
    """The key prefix of every ingest, ``ingest/<hex>/``."""
    base = layout.ingests()
    dirs: list[str] = []
    token: str | None = None
    while True:
        _, prefixes, token = await client.list_page(base, token, delimiter="/")
        dirs.extend(prefixes)
        if token is None:
            return dirs


async def remove_ingest(client: S3Client, layout: Layout, ref: str) -> bool:
    """Delete everything of the ingest; ``False`` when there was nothing."""
    d = layout.ingest(ref)
    uploads = await client.list_uploads(d)
    for key, upload in uploads:
        await client.abort_upload(key, upload)
    objects = await client.list_all(d)
    await client.delete_many([o.key for o in objects])
    return bool(objects or uploads)
