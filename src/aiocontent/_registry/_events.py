"""What a pull reports as it goes: one :class:`ProgressEvent` per step of each blob."""

from __future__ import annotations

import dataclasses
from typing import Literal, Protocol, TypeAlias

from .._types import Descriptor
from . import _media

__all__ = ("Progress", "ProgressEvent", "ProgressState", "ref_key")

ProgressState: TypeAlias = Literal["exists", "waiting", "resuming", "downloading", "done"]


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """What happened to one blob of a pull (an index, a manifest, a config or a layer).

    ``state`` is ``"exists"`` (already in the store, not downloaded), ``"waiting"``
    (another pull of the same store object is downloading it), ``"resuming"``
    (a download continues from ``offset`` with a Range request),
    ``"downloading"`` (``offset`` bytes are in the store so far) or ``"done"``
    (committed or found committed). ``offset`` never exceeds ``desc.size``.

    .. versionadded:: 0.1
    """

    desc: Descriptor
    state: ProgressState
    offset: int = 0


class Progress(Protocol):
    """A callback told about each blob's progress; it must not block.

    .. versionadded:: 0.1
    """

    def __call__(self, event: ProgressEvent, /) -> None: ...


def ref_key(desc: Descriptor) -> str:
    """The ingest ref for a blob, by kind (containerd's ``remotes.MakeRefKey``)."""
    media = desc.media_type
    if media in _media.MANIFEST_TYPES:
        kind = "manifest"
    elif media in _media.INDEX_TYPES:
        kind = "index"
    elif media in (_media.OCI_CONFIG, _media.DOCKER_CONFIG) or media.endswith("config.v1+json"):
        kind = "config"
    elif "layer" in media or "rootfs" in media:
        kind = "layer"
    else:
        kind = "unknown"
    return f"{kind}-{desc.digest}"
