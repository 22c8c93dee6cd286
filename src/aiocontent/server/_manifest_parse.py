"""Reading a pushed manifest: JSON, media type, descriptors, and what it refers to."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .._digest import Digest
from .._registry._media import DOCKER_MANIFEST, INDEX_TYPES, OCI_INDEX, OCI_MANIFEST
from ._errors import RegistryError
from ._names import check_digest

__all__ = ("ACCEPTED_TYPES", "OCI_INDEX", "ParsedManifest", "parse_manifest")

#: the OCI 1.1 release candidates' artifact manifest (``blobs`` instead of config and layers)
OCI_ARTIFACT: Final = "application/vnd.oci.artifact.manifest.v1+json"
#: media type -> the field listing what it names
IMAGE_TYPES: Final = {OCI_MANIFEST: "layers", DOCKER_MANIFEST: "layers", OCI_ARTIFACT: "blobs"}
#: every media type a manifest PUT accepts
ACCEPTED_TYPES: Final = frozenset(IMAGE_TYPES) | INDEX_TYPES


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    """What the registry needs from a manifest body."""

    media_type: str
    artifact_type: str
    subject: Digest | None
    annotations: Mapping[str, str]
    #: blobs it names (config and layers), checked to be linked in the repository
    blobs: tuple[Digest, ...]
    #: manifests it names (an index's entries), checked to be in the repository
    manifests: tuple[Digest, ...]


def _invalid(reason: str, **detail: Any) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", {"reason": reason, **detail})


def _descriptor(value: object, where: str) -> Mapping[str, Any]:
    """``value`` checked as an OCI descriptor (mediaType, digest, size)."""
    if not isinstance(value, dict):
        raise _invalid(f"{where} is not a descriptor object")
    if not isinstance(value.get("mediaType"), str):
        raise _invalid(f"{where}.mediaType is missing or not a string")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size is not a non-negative integer", size=repr(size)[:64])
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise _invalid(f"{where}.digest is missing or not a string")
    check_digest(digest, code="MANIFEST_INVALID")
    return value


def _descriptors(doc: Mapping[str, Any], key: str, *, required: bool) -> list[Mapping[str, Any]]:
    value = doc.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise _invalid(f"{key} is missing or not a list")
    return [_descriptor(item, f"{key}[{i}]") for i, item in enumerate(value)]


def _annotations(doc: Mapping[str, Any]) -> dict[str, str]:
    value = doc.get("annotations", {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _invalid("annotations is not a map of strings")
    return dict(value)


def _media_type(doc: Mapping[str, Any], content_type: str) -> str:
    """The body's ``mediaType``, else the request's ``Content-Type``; they must agree."""
    declared = doc.get("mediaType")
    header = content_type.split(";", 1)[0].strip()
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType is not a string")
    if declared and header and header != declared and header != "application/json":
        raise _invalid("Content-Type differs from mediaType", mediaType=declared, header=header)
    media_type = declared or header
    if media_type not in ACCEPTED_TYPES:
        raise _invalid("unsupported manifest media type", mediaType=media_type[:128])
    return media_type


def parse_manifest(body: bytes, content_type: str) -> ParsedManifest:
    """Check a manifest body and extract its media type, subject and references.

    :raises RegistryError: MANIFEST_INVALID for anything that is not a well-formed
        OCI image manifest or index, Docker schema2 manifest or list, or OCI artifact.
    """
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _invalid("body is not JSON", error=str(exc)[:200]) from None
    if not isinstance(doc, dict):
        raise _invalid("body is not a JSON object")
    media_type = _media_type(doc, content_type)
    if media_type != OCI_ARTIFACT and doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion is not 2")
    artifact_type = doc.get("artifactType", "")
    if not isinstance(artifact_type, str):
        raise _invalid("artifactType is not a string")
    subject = None
    if doc.get("subject") is not None:
        subject = Digest(_descriptor(doc["subject"], "subject")["digest"])
    blobs: list[Digest] = []
    manifests: list[Digest] = []
    if media_type in INDEX_TYPES:
        manifests = [Digest(d["digest"]) for d in _descriptors(doc, "manifests", required=True)]
    else:
        field = IMAGE_TYPES[media_type]
        named = _descriptors(doc, field, required=field == "layers")
        if media_type != OCI_ARTIFACT:
            config = _descriptor(doc.get("config"), "config")
            named.insert(0, config)
            artifact_type = artifact_type or str(config["mediaType"])
        # foreign (non-distributable) layers live at their urls, not in the registry
        blobs = [Digest(d["digest"]) for d in named if not d.get("urls")]
    return ParsedManifest(
        media_type, artifact_type, subject, _annotations(doc), tuple(blobs), tuple(manifests)
    )
