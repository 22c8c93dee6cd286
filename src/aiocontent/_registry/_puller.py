"""The walk of one pull: fetch the manifests, pick a platform, download the blobs, store.

Children are stored before their parents (layers and config, then the
manifest, then the index), so a parent in the store means its children are
there too, and a pull run again after a crash downloads only what is missing:
committed blobs are skipped and unfinished ones resume from their ingest with
an HTTP ``Range`` request.

Every read of the registry is bounded before it happens: a manifest to its
descriptor's size (or :data:`MAX_MANIFEST_SIZE` for the root), a blob to its
descriptor's size, which is exact (one byte more fails), and the graph to
:data:`MAX_DEPTH` nested indexes, walked without recursion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import anyio

from .._digest import Digest
from .._errors import (
    ContentError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from .._helpers import read_blob, write_blob
from .._types import Descriptor, with_labels
from . import _media
from ._blob_puller import BlobPuller
from ._body import Interrupted
from ._errors import RegistryError
from ._events import ref_key
from ._labels import (
    LABEL_DISTRIBUTION_SOURCE,
    LABEL_GC_REF_CONTENT,
    child_gc_labels,
)
from ._reference import Platform

__all__ = (
    "LABEL_DISTRIBUTION_SOURCE",
    "LABEL_GC_REF_CONTENT",
    "MAX_DEPTH",
    "MAX_MANIFEST_SIZE",
    "Puller",
)

#: Largest manifest or index accepted (the distribution registry's own limit).
MAX_MANIFEST_SIZE: Final = 4 << 20
#: The most indexes nested inside one another.
MAX_DEPTH: Final = 16
_MANIFEST_ENCODINGS: Final = "gzip, deflate"
_PLATFORMS_SHOWN: Final = 20


def _media_of(content_type: str, body: Mapping[str, Any]) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _media.INDEX_TYPES or media in _media.MANIFEST_TYPES:
        return media
    declared = body.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if "manifests" in body:
        return _media.OCI_INDEX
    if "layers" in body or "config" in body:
        return _media.OCI_MANIFEST
    return media


class Puller(BlobPuller):
    """One pull of ``client.ref`` into ``store``: the manifests walked, then the blobs."""

    # -- manifests ---------------------------------------------------------------

    async def root(self) -> tuple[Descriptor, bytes]:
        """Fetch the manifest or index the reference names."""
        desc, data = await self.fetch_manifest(self.ref.object, None)
        await self.report_fetched(desc)
        return desc, data

    async def report_fetched(self, desc: Descriptor) -> None:
        try:
            await self.store.info(desc.digest)
        except NotFoundError:
            self.report(desc, "downloading", 0)
            self.report(desc, "downloading", desc.size)
        else:
            self.report(desc, "exists", desc.size)

    async def fetch_manifest(
        self, obj: str, expected: Descriptor | None
    ) -> tuple[Descriptor, bytes]:
        """GET a manifest or index by tag or digest, at most its size, and verify it."""
        what = f"{self.ref}: manifest {obj}"
        limit = MAX_MANIFEST_SIZE if expected is None else expected.size

        def over() -> ContentError:
            if expected is not None:
                return FailedPreconditionError(
                    f"{what}: registry sent more than its size {expected.size}: "
                    f"{FailedPreconditionError.kind_text}"
                )
            return RegistryError(
                f"{what} is larger than {MAX_MANIFEST_SIZE} bytes: {RegistryError.kind_text}"
            )

        url = f"{self.client.base}/manifests/{obj}"
        headers = {"Accept": _media.MANIFEST_ACCEPT, "Accept-Encoding": _MANIFEST_ENCODINGS}
        attempt = 0
        while True:
            started = anyio.current_time()
            try:
                async with self.limiter, self.client.stream("GET", url, headers) as resp:
                    if resp.status_code != 200:
                        await self.client.raise_for_status(resp, f"manifest {obj}")
                    length = resp.headers.get("Content-Length", "")
                    encoded = resp.headers.get("Content-Encoding", "identity") != "identity"
                    if length.isdigit() and int(length) > limit and not encoded:
                        raise over()
                    body = bytearray()
                    async for chunk in self.client.body(resp, limit, over, what):
                        body += chunk
                    content_type = resp.headers.get("Content-Type", "")
                    header_digest = resp.headers.get("Docker-Content-Digest", "")
                break
            except Interrupted as exc:
                delay = self.client.retry_delay(attempt, started)
                if delay is None:
                    raise self.client.gave_up(what, str(exc), attempt) from exc
            await anyio.sleep(delay)
            attempt += 1
        data = bytes(body)
        pinned = expected.digest if expected is not None else self.ref.digest
        check = pinned or header_digest
        try:
            algorithm = Digest(check).algorithm if check and ":" in check else None
            actual = Digest.from_bytes(data, algorithm) if algorithm else Digest.from_bytes(data)
        except InvalidArgumentError:
            actual = Digest.from_bytes(data)
        if check and actual != check:
            raise FailedPreconditionError(
                f"{what}: content digest {actual} does not match "
                f"{'expected' if pinned else 'Docker-Content-Digest'} {check[:200]}: "
                f"{FailedPreconditionError.kind_text}"
            )
        if expected is not None and expected.size != len(data):
            raise FailedPreconditionError(
                f"{what}: size {len(data)} does not match expected "
                f"{expected.size}: {FailedPreconditionError.kind_text}"
            )
        parsed = self.parse(data, what)
        media = expected.media_type if expected and expected.media_type else ""
        desc = Descriptor(
            media_type=media or _media_of(content_type, parsed),
            digest=actual,
            size=len(data),
        )
        return desc, data

    async def child_manifest(self, child: Descriptor, what: str) -> tuple[Descriptor, bytes]:
        """The manifest an index entry names: from the store when there, else fetched."""
        types = _media.INDEX_TYPES | _media.MANIFEST_TYPES
        if child.media_type and child.media_type not in types:
            raise RegistryError(
                f"{what}: entry {child.digest} has unsupported media type "
                f"{child.media_type[:200]!r}: {RegistryError.kind_text}"
            )
        if child.size > MAX_MANIFEST_SIZE:
            raise RegistryError(
                f"{what}: entry {child.digest} has size {child.size}, larger than the "
                f"{MAX_MANIFEST_SIZE} bytes a manifest may have: {RegistryError.kind_text}"
            )
        try:
            info = await self.store.info(child.digest)
        except NotFoundError:
            desc, data = await self.fetch_manifest(str(child.digest), child)
            await self.report_fetched(desc)
            return desc, data
        if info.size != child.size:
            raise FailedPreconditionError(
                f"{what}: entry {child.digest} has size {child.size}, the stored blob "
                f"{info.size}: {FailedPreconditionError.kind_text}"
            )
        data = await read_blob(self.store, child)
        if not child.media_type:
            child = Descriptor(
                media_type=_media_of("", self.parse(data, what)),
                digest=child.digest,
                size=child.size,
            )
        self.report(child, "exists", child.size)
        return child, data

    def parse(self, data: bytes, what: str) -> dict[str, Any]:
        try:
            parsed = json.loads(data)
        except RecursionError as exc:
            raise RegistryError(
                f"{what} is not usable JSON: nested too deeply: {RegistryError.kind_text}"
            ) from exc
        except ValueError as exc:
            raise RegistryError(f"{what} is not JSON: {exc}: {RegistryError.kind_text}") from exc
        if not isinstance(parsed, dict):
            raise RegistryError(f"{what} is not a JSON object: {RegistryError.kind_text}")
        return parsed

    def children(self, parsed: Mapping[str, Any], key: str, what: str) -> list[Descriptor]:
        raw = parsed.get(key)
        items = [raw] if key == "config" else raw
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise RegistryError(f"{what} has no valid {key!r}: {RegistryError.kind_text}")
        out = []
        for item in items:
            try:
                desc = Descriptor.from_dict(item)
                desc.digest.validate()
            except InvalidArgumentError as exc:
                raise RegistryError(
                    f"{what} has an invalid {key!r} entry: {exc}: {RegistryError.kind_text}"
                ) from exc
            out.append(desc)
        return out

    async def walk(self, desc: Descriptor, data: bytes, root_labels: Mapping[str, str]) -> None:
        """Pull everything under ``desc`` (whose bytes are ``data``), then store it all.

        A loop over a stack, not a recursion. An index is labelled with every
        manifest it lists (as containerd does, so pulling another platform later
        adds nothing and drops nothing) and walked into the wanted platform's,
        or into all of them when no platform is wanted. Parents are stored after
        their children; then every blob the new parents name is checked to be
        there still (a garbage collection may have removed one that was found
        present) and fetched again if not.
        """
        order: list[tuple[Descriptor, bytes, dict[str, str]]] = []
        leaves: dict[Digest, Descriptor] = {}
        stack: list[tuple[Descriptor, bytes, Mapping[str, str], int]] = [
            (desc, data, root_labels, 1)
        ]
        seen: set[Digest] = set()
        while stack:
            desc, data, extra, depth = stack.pop()
            what = f"{self.ref}: {desc.media_type or 'manifest'} {desc.digest}"
            parsed = self.parse(data, what)
            labels = {self.source_key: self.ref.repository, **extra}
            order.append((desc, data, labels))
            if desc.media_type in _media.INDEX_TYPES:
                if depth > MAX_DEPTH:
                    raise RegistryError(
                        f"{what}: indexes nested more than {MAX_DEPTH} deep: "
                        f"{RegistryError.kind_text}"
                    )
                entries = self.children(parsed, "manifests", what)
                labels.update(child_gc_labels(entries))
                types = _media.INDEX_TYPES | _media.MANIFEST_TYPES
                if self.platform is None:
                    picked = [e for e in entries if e.media_type in types or not e.media_type]
                    others = [e for e in entries if e not in picked]
                    await self.blobs(list({e.digest: e for e in others}.values()))
                    leaves.update((e.digest, e) for e in others)
                else:
                    picked = [self.pick(entries, self.platform, what)]
                for child in reversed(picked):
                    if child.digest in seen:
                        continue
                    seen.add(child.digest)
                    child_desc, child_data = await self.child_manifest(child, what)
                    stack.append((child_desc, child_data, {}, depth + 1))
                continue
            if desc.media_type not in _media.MANIFEST_TYPES:
                raise RegistryError(
                    f"{what}: unsupported media type {desc.media_type[:200]!r}: "
                    f"{RegistryError.kind_text}"
                )
            config = self.children(parsed, "config", what)[0]
            layers = self.children(parsed, "layers", what)
            unique = {d.digest: d for d in (config, *layers)}
            await self.blobs(list(unique.values()))
            leaves.update(unique)
            labels.update(child_gc_labels([config, *layers]))
        for node, node_data, node_labels in reversed(order):
            await write_blob(self.store, ref_key(node), node_data, node, with_labels(node_labels))
            await self.ensure_labels(node.digest, node_labels)
            self.report(node, "done", node.size)
        missing = []
        for leaf in leaves.values():
            try:
                await self.store.info(leaf.digest)
            except NotFoundError:
                missing.append(leaf)
        if missing:
            await self.blobs(missing)

    def pick(self, manifests: list[Descriptor], platform: Platform, what: str) -> Descriptor:
        """The manifest of ``platform`` (the best variant match, first on ties)."""
        matching = [m for m in manifests if platform.matches(m.platform)]
        if not matching:
            available = sorted(
                {
                    str(
                        Platform(
                            str(p.get("os", ""))[:50],
                            str(p.get("architecture", ""))[:50],
                            str(p.get("variant", "") or "")[:50],
                        )
                    )
                    for m in manifests
                    if (p := m.platform)
                }
            )
            shown = ", ".join(available[:_PLATFORMS_SHOWN]) or "none"
            if len(available) > _PLATFORMS_SHOWN:
                shown += f" and {len(available) - _PLATFORMS_SHOWN} more"
            raise NotFoundError(
                f"{what}: no manifest for platform {platform} "
                f"(available: {shown}): {NotFoundError.kind_text}"
            )
        return min(matching, key=lambda m: platform.rank(m.platform))
