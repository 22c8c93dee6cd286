"""How registry metadata is named and encoded, shared by the local and the S3 metadata.

Repository names become one folder (or key) name each, tags must be one plain
file name, and a :class:`~._metadata.ManifestRecord` is stored as compact JSON.
"""

from __future__ import annotations

import json
from typing import Final
from urllib.parse import unquote_to_bytes

from .._digest import Digest
from .._errors import InvalidArgumentError
from ._metadata import ManifestRecord

__all__ = (
    "decode_record",
    "encode_record",
    "repo_folder_name",
    "repo_from_folder_name",
    "tag_file_name",
)

_SAFE: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_NAME_MAX: Final = 255


def _invalid(what: str, value: object, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{what} {value!r} {why}: {InvalidArgumentError.kind_text}")


def repo_folder_name(repo: str) -> str:
    """The folder name of repository ``repo`` (see :mod:`._metadata_local`).

    :raises TypeError: ``repo`` is not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: the name is empty, absolute, has an
        empty, ``.`` or ``..`` component or a NUL, or is too long for one folder name.
    """
    if not isinstance(repo, str):
        raise TypeError(f"repository name must be a str, not {type(repo).__name__}")
    if not repo or "\x00" in repo:
        raise _invalid("repository name", repo, "is empty or holds a NUL")
    if any(part in ("", ".", "..") for part in repo.split("/")):
        raise _invalid("repository name", repo, "is absolute or has an empty, '.' or '..' part")
    out: list[str] = []
    for i, ch in enumerate(repo):
        if ch == "/":
            out.append("+")
        elif ch in _SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    name = "".join(out)
    if len(name) > _NAME_MAX:
        raise _invalid("repository name", repo, f"is longer than {_NAME_MAX} bytes once stored")
    return name


def repo_from_folder_name(name: str) -> str | None:
    """The repository a folder name stands for; ``None`` for hidden names."""
    if name.startswith("."):
        return None
    return unquote_to_bytes(name.replace("+", "/")).decode("utf-8", "surrogatepass")


def tag_file_name(tag: str) -> str:
    """``tag`` as a file name.

    :raises TypeError: ``tag`` is not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: it is empty, starts with ``.``, holds
        ``/`` or a NUL, or is too long for one file name.
    """
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a str, not {type(tag).__name__}")
    if not tag or tag.startswith(".") or "/" in tag or "\x00" in tag:
        raise _invalid("tag", tag, "is not a plain file name (empty, leading '.', '/' or NUL)")
    if len(tag.encode("utf-8", "surrogatepass")) > _NAME_MAX:
        raise _invalid("tag", tag, f"is longer than {_NAME_MAX} bytes")
    return tag


def encode_record(record: ManifestRecord) -> bytes:
    """The JSON a record is stored as (keys sorted, empty optional fields left out)."""
    doc: dict[str, object] = {
        "digest": str(record.digest),
        "mediaType": record.media_type,
        "size": record.size,
    }
    if record.artifact_type:
        doc["artifactType"] = record.artifact_type
    if record.subject is not None:
        doc["subject"] = str(record.subject)
    if record.annotations:
        doc["annotations"] = dict(record.annotations)
    if record.references:
        doc["references"] = [str(d) for d in record.references]
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def decode_record(raw: bytes, digest: Digest) -> ManifestRecord:
    """The record stored as ``raw`` under ``digest``.

    :raises ValueError: ``raw`` is not such a record, or names another digest.
    """
    doc = json.loads(raw)
    if not isinstance(doc, dict) or doc.get("digest") != digest:
        raise ValueError(f"not the record of {digest}")
    media_type, size = doc.get("mediaType"), doc.get("size")
    artifact_type, subject = doc.get("artifactType", ""), doc.get("subject")
    annotations, references = doc.get("annotations", {}), doc.get("references", [])
    if not (
        isinstance(media_type, str)
        and isinstance(size, int)
        and isinstance(artifact_type, str)
        and (subject is None or isinstance(subject, str))
        and isinstance(annotations, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())
        and isinstance(references, list)
        and all(isinstance(r, str) for r in references)
    ):
        raise ValueError("a field has the wrong type")
    return ManifestRecord(
        digest=Digest(digest),
        media_type=media_type,
        size=size,
        artifact_type=artifact_type,
        subject=None if subject is None else Digest(subject),
        annotations=annotations,
        references=tuple(Digest(r) for r in references),
    )
