"""Progress covers every blob of a pull: the index, the manifest, the config and the layers."""

from __future__ import annotations

from aiocontent._memory import MemoryStore
from aiocontent._registry import _media
from aiocontent.registry import ProgressEvent

from ._fake import FakeRegistry, index_for, pull_from


async def test_progress_reports_index_and_manifest_too(store: MemoryStore) -> None:
    fake = FakeRegistry()
    manifest = fake.image(b"layer one", b"layer two")
    entry = manifest.to_dict() | {"platform": {"os": "linux", "architecture": "amd64"}}
    index = fake.manifest(index_for(entry), _media.OCI_INDEX, "v1")
    events: list[ProgressEvent] = []
    await pull_from(fake, store, progress=events.append)
    done = {str(e.desc.digest) for e in events if e.state == "done"}
    assert done == {str(index.digest), str(manifest.digest), *fake.served_blobs()}
    assert len(done) == 5
    first = [(e.state, e.offset) for e in events if e.desc.digest == index.digest]
    assert first == [("downloading", 0), ("downloading", index.size), ("done", index.size)]

    again: list[ProgressEvent] = []
    await pull_from(fake, store, progress=again.append)
    assert {e.state for e in again} == {"exists", "done"}
    assert {str(e.desc.digest) for e in again if e.state == "exists"} == done
