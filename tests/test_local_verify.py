"""LocalStore.verify: re-hashing blobs, reporting problems and quarantining them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from aiocontent import (
    Descriptor,
    Digest,
    Info,
    InvalidArgumentError,
    NotFoundError,
    with_labels,
    with_ref,
)
from aiocontent._local import LocalStore, Problem
from aiocontent._local import _hashing as hashing_module
from aiocontent._local import _verify as verify_module

GOOD = b"good blob"
BAD = b"will be corrupted"
GOOD_DGST = Digest.from_bytes(GOOD)
BAD_DGST = Digest.from_bytes(BAD)


async def _commit(cs: LocalStore, data: bytes, **labels: str) -> Digest:
    w = await cs.writer(with_ref(f"r-{data!r}"))
    await w.write(data)
    await w.commit(len(data), "", *([with_labels(labels)] if labels else []))
    return w.digest()


def _corrupt(root: Path, dgst: Digest) -> Path:
    path = root / "blobs" / dgst.algorithm / dgst.encoded
    path.chmod(0o644)
    path.write_bytes(b"bit rot")
    path.chmod(0o444)
    return path


async def test_clean_store_has_no_problems(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        await _commit(cs, GOOD)
        await _commit(cs, BAD)
        assert await cs.verify() == []
        assert await cs.verify(GOOD_DGST) == []


async def test_corrupt_blob_is_reported(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        await _commit(cs, GOOD)
        await _commit(cs, BAD)
        _corrupt(tmp_path, BAD_DGST)
        [problem] = await cs.verify()
        assert await cs.verify(BAD_DGST) == [problem]
        assert await cs.verify(GOOD_DGST) == []
    assert problem.digest == BAD_DGST
    assert problem.kind == "corrupt"
    assert Digest.from_bytes(b"bit rot") in problem.detail


async def test_quarantine_moves_the_bad_blob_and_its_labels(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        await _commit(cs, GOOD)
        await _commit(cs, BAD, keep="me")
        _corrupt(tmp_path, BAD_DGST)
        [problem] = await cs.verify(quarantine=True)
        assert "quarantine" in problem.detail
        with pytest.raises(NotFoundError):
            await cs.info(BAD_DGST)
        with pytest.raises(NotFoundError):
            await cs.reader_at(Descriptor(digest=BAD_DGST))
        seen: list[Info] = []
        await cs.walk(seen.append)
        assert [i.digest for i in seen] == [GOOD_DGST]
        assert await cs.verify() == []
    moved = tmp_path / "quarantine" / "sha256" / BAD_DGST.encoded
    assert moved.read_bytes() == b"bit rot"
    assert b'"keep":"me"' in moved.with_name(moved.name + ".meta").read_bytes()


async def test_misnamed_entries_are_reported_and_quarantined(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        await _commit(cs, GOOD)
        (tmp_path / "blobs" / "sha256" / "not-a-digest").write_bytes(b"x")
        (tmp_path / "blobs" / "sha256" / ("0" * 64)).mkdir()
        problems = await cs.verify(quarantine=True)
        assert await cs.verify() == []
    assert [(p.digest, p.kind) for p in problems] == [
        ("sha256:" + "0" * 64, "misnamed"),
        ("sha256:not-a-digest", "misnamed"),
    ]
    assert (tmp_path / "quarantine" / "sha256" / "not-a-digest").read_bytes() == b"x"


async def test_unknown_algorithm_folders_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "blobs" / "blake3").mkdir(parents=True)
    (tmp_path / "blobs" / "blake3" / "abc").write_bytes(b"x")
    async with LocalStore(tmp_path) as cs:
        assert await cs.verify(quarantine=True) == []
    assert (tmp_path / "blobs" / "blake3" / "abc").exists()


async def test_unreadable_blob_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise OSError(5, "Input/output error")

    async with LocalStore(tmp_path) as cs:
        await _commit(cs, GOOD)
        monkeypatch.setattr(verify_module, "hash_fd", broken)
        [problem] = await cs.verify(quarantine=True)
    assert (problem.digest, problem.kind) == (GOOD_DGST, "unreadable")
    assert "Input/output error" in problem.detail
    assert (tmp_path / "blobs" / "sha256" / GOOD_DGST.encoded).exists()


async def test_named_missing_digest_is_not_found_before_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[object] = []
    original = hashing_module.hash_fd

    def counting(*args: object) -> object:
        hashed.append(args)
        return original(*args)  # type: ignore[arg-type]

    async with LocalStore(tmp_path) as cs:
        await _commit(cs, GOOD)
        monkeypatch.setattr(verify_module, "hash_fd", counting)
        with pytest.raises(NotFoundError, match=BAD_DGST):
            await cs.verify(GOOD_DGST, BAD_DGST)
    assert hashed == []


async def test_named_malformed_digest_is_invalid(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        with pytest.raises(InvalidArgumentError):
            await cs.verify("sha256:nope")
        with pytest.raises(TypeError):
            await cs.verify(GOOD_DGST, quarantine="yes")  # type: ignore[arg-type]


def test_problem_is_frozen() -> None:
    problem = Problem(GOOD_DGST, "corrupt", "detail")
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.kind = "misnamed"  # type: ignore[misc]
