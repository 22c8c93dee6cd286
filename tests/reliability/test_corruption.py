"""Corruption: a damaged blob is reported by ``verify`` and quarantine stops serving it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from aiocontent import Descriptor, Digest, NotFoundError, with_labels, with_ref, write_blob
from aiocontent._local import LocalStore

from ._fs import blob_problems

GOOD = b"a healthy blob" * 100
BAD = b"a blob about to be damaged" * 100
GOOD_DGST = Digest.from_bytes(GOOD)
BAD_DGST = Digest.from_bytes(BAD)


def _flip_byte(path: Path) -> None:
    with path.open("r+b") as f:
        f.seek(len(BAD) // 2)
        byte = f.read(1)
        f.seek(len(BAD) // 2)
        f.write(bytes([byte[0] ^ 0x01]))


def _truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(len(BAD) - 1)


DAMAGE: dict[str, Callable[[Path], None]] = {"flipped-byte": _flip_byte, "truncated": _truncate}


@pytest.fixture(params=sorted(DAMAGE))
async def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalStore]:
    """A store with a good blob and a damaged one (made writable, changed, read-only again)."""
    root = tmp_path / "content"
    async with LocalStore(root) as cs:
        for ref, data in (("good", GOOD), ("bad", BAD)):
            async with await cs.writer(with_ref(ref)) as w:
                await w.write(data)
                await w.commit(len(data), Digest.from_bytes(data), with_labels({"ref": ref}))
        path = root / "blobs" / "sha256" / BAD_DGST.encoded
        os.chmod(path, 0o644)
        DAMAGE[request.param](path)
        os.chmod(path, 0o444)
        yield cs


async def test_verify_reports_the_damaged_blob_as_corrupt(damaged: LocalStore) -> None:
    problems = await damaged.verify()
    assert [(p.digest, p.kind) for p in problems] == [(BAD_DGST, "corrupt")]
    assert "blobs/sha256/" in problems[0].detail


async def test_verify_of_named_digests_checks_only_those(damaged: LocalStore) -> None:
    assert await damaged.verify(GOOD_DGST) == []
    assert [p.kind for p in await damaged.verify(BAD_DGST, GOOD_DGST)] == ["corrupt"]


async def test_quarantine_stops_serving_the_damaged_blob(damaged: LocalStore) -> None:
    problems = await damaged.verify(quarantine=True)
    assert [p.digest for p in problems] == [BAD_DGST]
    with pytest.raises(NotFoundError):
        await damaged.info(BAD_DGST)
    with pytest.raises(NotFoundError):
        await damaged.reader_at(Descriptor(digest=BAD_DGST))
    seen: list[Digest] = []
    await damaged.walk(lambda i: seen.append(i.digest))
    assert seen == [GOOD_DGST]
    assert await damaged.verify() == []
    assert blob_problems(damaged.root) == []
    assert any((damaged.root / "quarantine" / "sha256").iterdir())


async def test_quarantine_leaves_healthy_blobs_and_their_labels(damaged: LocalStore) -> None:
    await damaged.verify(quarantine=True)
    info = await damaged.info(GOOD_DGST)
    assert (info.size, info.labels) == (len(GOOD), {"ref": "good"})


async def test_quarantined_blob_can_be_written_again(damaged: LocalStore) -> None:
    await damaged.verify(quarantine=True)
    await write_blob(damaged, "again", BAD, Descriptor(digest=BAD_DGST, size=len(BAD)))
    async with await damaged.reader_at(Descriptor(digest=BAD_DGST)) as ra:
        assert await ra.read_at(len(BAD), 0) == BAD
    assert (await damaged.info(BAD_DGST)).labels == {}
    assert await damaged.verify() == []


async def test_verify_without_quarantine_changes_nothing(damaged: LocalStore) -> None:
    await damaged.verify()
    assert (await damaged.info(BAD_DGST)).labels == {"ref": "bad"}


async def test_misnamed_file_under_blobs_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "content"
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "blobs" / "sha256" / "not-a-digest").write_bytes(b"stray")
    async with LocalStore(root) as cs:
        problems = await cs.verify(quarantine=True)
        assert [(p.digest, p.kind) for p in problems] == [("sha256:not-a-digest", "misnamed")]
    assert not (root / "blobs" / "sha256" / "not-a-digest").exists()
