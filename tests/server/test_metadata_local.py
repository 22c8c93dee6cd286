"""LocalMetadata: its files, reopening, hostile names, and what each lookup costs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiocontent import Digest, InvalidArgumentError
from aiocontent.server import ManifestRecord
from aiocontent.server._metadata_local import LocalMetadata
from aiocontent.server._metadata_records import repo_folder_name, repo_from_folder_name

SUBJECT = Digest.from_bytes(b"subject")
BLOB = Digest.from_bytes(b"layer")
M1 = ManifestRecord(
    digest=Digest.from_bytes(b"m1"),
    media_type="application/vnd.oci.image.manifest.v1+json",
    size=2,
    artifact_type="application/vnd.example",
    subject=SUBJECT,
    annotations={"k": "v"},
    references=(BLOB,),
)
M2 = ManifestRecord(
    digest=Digest.from_bytes(b"m2", "sha512"),
    media_type="application/vnd.oci.image.index.v1+json",
    size=2,
)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _inodes(root: Path) -> dict[str, int]:
    return {p: os.stat(root / p).st_ino for p in _files(root)}


async def _fill(md: LocalMetadata) -> None:
    await md.link_blob("lib/app", BLOB)
    await md.put_manifest("lib/app", M1, ["v1", "latest"])
    await md.put_manifest("lib/app", M2, ["latest"])


async def test_a_reopened_root_sees_every_change(tmp_path: Path) -> None:
    await _fill(LocalMetadata(tmp_path))
    md = LocalMetadata(tmp_path)
    assert await md.blob_linked("lib/app", BLOB)
    assert await md.manifest("lib/app", M1.digest) == M1
    assert await md.manifest("lib/app", M2.digest) == M2
    assert await md.resolve_tag("lib/app", "latest") == M2.digest
    assert await md.resolve_tag("lib/app", "v1") == M1.digest
    assert await md.tags("lib/app") == ["latest", "v1"]
    assert await md.repositories() == ["lib/app"]
    assert await md.referrers("lib/app", SUBJECT) == [M1]


async def test_layout_is_one_small_file_per_link_record_tag_and_referrer(tmp_path: Path) -> None:
    await _fill(LocalMetadata(tmp_path))
    repo = tmp_path / "repositories" / "lib+app"
    assert _files(tmp_path / "repositories") == sorted(
        [
            f"lib+app/blobs/{BLOB}",
            f"lib+app/manifests/{M1.digest}",
            f"lib+app/manifests/{M2.digest}",
            f"lib+app/referrers/{SUBJECT}/{M1.digest}",
            "lib+app/tags/latest",
            "lib+app/tags/v1",
        ]
    )
    assert (repo / "tags" / "latest").read_text() == M2.digest
    assert (repo / "blobs" / BLOB).read_bytes() == b""
    assert json.loads((repo / "manifests" / M1.digest).read_text()) == {
        "digest": M1.digest,
        "mediaType": M1.media_type,
        "size": 2,
        "artifactType": "application/vnd.example",
        "subject": SUBJECT,
        "annotations": {"k": "v"},
        "references": [BLOB],
    }


def test_repository_folder_names_round_trip() -> None:
    for name in ("a", "a/b/c", "a__b.c-d/e", ".x/y", "Up/ä+%b"):
        folder = repo_folder_name(name)
        assert "/" not in folder and not folder.startswith(".")
        assert repo_from_folder_name(folder) == name
    assert repo_folder_name("library/ubuntu") == "library+ubuntu"
    assert repo_from_folder_name(".tmp-1-ab") is None


async def test_odd_repository_names_list_as_given(tmp_path: Path) -> None:
    md = LocalMetadata(tmp_path)
    names = ["Up/ä+%b", ".x/y", "a/b"]
    for name in names:
        await md.link_blob(name, BLOB)
    assert await md.repositories() == sorted(names)


BAD_REPOS = ["", "/abs", "a//b", "a/", "..", "../x", "a/../b", "a/./b", ".", "a\x00b", "x" * 256]
BAD_TAGS = ["", "..", ".hidden", "../x", "a/b", "t\x00", "x" * 256]


def _calls(md: LocalMetadata, repo: str, tag: str, digest: Any) -> list[Callable[[], Any]]:
    """Every method that takes a digest, on ``repo``, ``tag`` and ``digest``."""
    record = ManifestRecord(digest=digest, media_type="m", size=1)
    return [
        lambda: md.link_blob(repo, digest),
        lambda: md.blob_linked(repo, digest),
        lambda: md.unlink_blob(repo, digest),
        lambda: md.put_manifest(repo, record, [tag]),
        lambda: md.manifest(repo, digest),
        lambda: md.delete_manifest(repo, digest),
        lambda: md.referrers(repo, digest),
    ]


def _is_empty(folder: Path) -> bool:
    return not any(folder.iterdir())


@pytest.mark.parametrize("repo", BAD_REPOS)
async def test_a_repository_name_that_could_escape_is_refused(tmp_path: Path, repo: str) -> None:
    md = LocalMetadata(tmp_path / "registry")
    calls: list[Callable[[], Any]] = [
        *_calls(md, repo, "t", BLOB),
        lambda: md.resolve_tag(repo, "t"),
        lambda: md.delete_tag(repo, "t"),
        lambda: md.tags(repo),
        lambda: md.repository_exists(repo),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match="repository name"):
            await call()
    assert _is_empty(tmp_path)


@pytest.mark.parametrize("tag", BAD_TAGS)
async def test_a_tag_that_is_not_a_file_name_is_refused(tmp_path: Path, tag: str) -> None:
    md = LocalMetadata(tmp_path / "registry")
    with pytest.raises(InvalidArgumentError, match="tag"):
        await md.put_manifest("r", M1, ["ok", tag])
    with pytest.raises(InvalidArgumentError, match="tag"):
        await md.resolve_tag("r", tag)
    with pytest.raises(InvalidArgumentError, match="tag"):
        await md.delete_tag("r", tag)
    assert await md.manifest("r", M1.digest) is None
    assert _is_empty(tmp_path)


@pytest.mark.parametrize("digest", ["sha256:../../x", "../x", "sha256:" + "a" * 63, ""])
async def test_a_malformed_digest_is_refused(tmp_path: Path, digest: str) -> None:
    md = LocalMetadata(tmp_path / "registry")
    for call in _calls(md, "r", "t", digest):
        with pytest.raises(InvalidArgumentError):
            await call()
    assert _is_empty(tmp_path)


async def test_temporary_and_hidden_files_are_never_listed(tmp_path: Path) -> None:
    md = LocalMetadata(tmp_path)
    await _fill(md)
    repo = tmp_path / "repositories" / "lib+app"
    (repo / "tags" / ".tmp-1-abcdef").write_text(M1.digest)
    (tmp_path / "repositories" / ".tmp-2-abcdef").mkdir()
    (repo / "referrers" / SUBJECT / ".tmp-3-abcdef").write_text("")
    assert await md.tags("lib/app") == ["latest", "v1"]
    assert await md.repositories() == ["lib/app"]
    assert await md.referrers("lib/app", SUBJECT) == [M1]


async def test_damaged_files_read_as_absent(tmp_path: Path) -> None:
    md = LocalMetadata(tmp_path)
    await _fill(md)
    repo = tmp_path / "repositories" / "lib+app"
    (repo / "manifests" / M1.digest).write_text('{"digest": "sha256:other"}')
    (repo / "tags" / "v1").write_text("not a digest")
    assert await md.manifest("lib/app", M1.digest) is None
    assert await md.resolve_tag("lib/app", "v1") is None
    assert await md.referrers("lib/app", SUBJECT) == []


async def test_putting_the_same_record_again_rewrites_nothing(tmp_path: Path) -> None:
    md = LocalMetadata(tmp_path)
    await _fill(md)
    before = _inodes(tmp_path)
    await md.put_manifest("lib/app", M2, ["latest"])
    after = _inodes(tmp_path)
    assert after == before


async def test_a_dangling_referrer_entry_is_skipped_and_repaired(tmp_path: Path) -> None:
    md = LocalMetadata(tmp_path)
    await md.put_manifest("r", M1)
    (tmp_path / "repositories" / "r" / "manifests" / M1.digest).unlink()
    assert await md.referrers("r", SUBJECT) == []
    await md.put_manifest("r", M1)
    assert await md.referrers("r", SUBJECT) == [M1]


async def test_lookups_never_list_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    md = LocalMetadata(tmp_path)
    await _fill(md)

    def no_listing(*args: object) -> None:
        raise AssertionError("a lookup listed a folder")

    monkeypatch.setattr(os, "scandir", no_listing)
    monkeypatch.setattr(os, "listdir", no_listing)
    assert await md.blob_linked("lib/app", BLOB)
    assert await md.manifest("lib/app", M1.digest) == M1
    assert await md.resolve_tag("lib/app", "latest") == M2.digest
    await md.link_blob("lib/app", Digest.from_bytes(b"another"))
    await md.put_manifest("lib/app", M1, ["v3"])
    assert await md.delete_tag("lib/app", "v3")


async def test_tag_listing_keeps_only_a_page_in_memory(tmp_path: Path) -> None:
    md = LocalMetadata(tmp_path)
    tags = [f"t{i:04d}" for i in range(300)]
    await md.put_manifest("r", M1, tags)
    assert await md.tags("r", last="t0099", limit=3) == ["t0100", "t0101", "t0102"]
    assert await md.tags("r", limit=2) == ["t0000", "t0001"]
    assert len(await md.tags("r")) == 300
