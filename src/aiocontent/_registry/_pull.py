"""Pulling an image from a registry into a store: resolve, pick a platform, fetch, label.

Children are stored before their parents (layers and config, then the
manifest, then the index), so a parent in the store means its children are
there too, and a pull run again after a crash downloads only what is missing:
committed blobs are skipped and unfinished ones resume from their ingest with
an HTTP ``Range`` request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol, TypeAlias

import anyio
import httpx

from .._digest import Digest
from .._errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from .._helpers import exists, open_writer, read_blob, write_blob
from .._interfaces import Store, SupportsSingleFlight, Writer
from .._types import Descriptor, Info, with_descriptor, with_labels, with_ref
from . import _media
from ._client import Credentials, RegistryClient
from ._errors import RegistryError
from ._reference import Platform, Reference, default_platform, parse_platform, parse_reference

__all__ = (
    "LABEL_GC_ROOT",
    "LABEL_IMAGE_NAME",
    "Progress",
    "ProgressEvent",
    "ProgressState",
    "pull",
)

#: Marks a blob as a root for garbage collection (set on the root only when asked).
LABEL_GC_ROOT: Final = "containerd.io/gc.root"
#: Prefix of the labels a parent uses to point at its children.
LABEL_GC_REF_CONTENT: Final = "containerd.io/gc.ref.content"
#: Prefix of ``<prefix>.<host>=<repo>[,<repo>...]``: where a blob was pulled from.
LABEL_DISTRIBUTION_SOURCE: Final = "containerd.io/distribution.source"
#: The full image reference, recorded on the root.
LABEL_IMAGE_NAME: Final = "io.containerd.image.name"

#: Largest manifest or index accepted (the distribution registry's own limit).
MAX_MANIFEST_SIZE: Final = 4 << 20
_CHUNK: Final = 256 << 10

ProgressState: TypeAlias = Literal["exists", "waiting", "resuming", "downloading", "done"]


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """What happened to one blob of a pull.

    ``state`` is ``"exists"`` (already in the store, skipped), ``"waiting"``
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


class _ShortBody(Exception):
    """A blob body ended early without a transport error (retried with Range)."""


def _ref_key(desc: Descriptor) -> str:
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


class _Puller:
    def __init__(
        self,
        store: Store,
        client: RegistryClient,
        platform: Platform,
        concurrency: int,
        progress: Progress | None,
    ) -> None:
        self.store = store
        self.client = client
        self.ref = client.ref
        self.platform = platform
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.progress = progress
        self.source_key = f"{LABEL_DISTRIBUTION_SOURCE}.{self.ref.host}"

    def report(self, desc: Descriptor, state: ProgressState, offset: int = 0) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(desc, state, min(offset, desc.size)))

    # -- manifests ---------------------------------------------------------------

    async def fetch_manifest(
        self, obj: str, expected: Descriptor | None
    ) -> tuple[Descriptor, bytes]:
        """GET a manifest or index by tag or digest and verify it."""
        what = f"manifest {obj}"
        async with (
            self.limiter,
            self.client.stream(
                "GET", f"{self.client.base}/manifests/{obj}", {"Accept": _media.MANIFEST_ACCEPT}
            ) as resp,
        ):
            if resp.status_code != 200:
                await self.client.raise_for_status(resp, what)
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_MANIFEST_SIZE:
                    raise RegistryError(
                        f"{self.ref}: {what} is larger than {MAX_MANIFEST_SIZE} bytes: "
                        f"{RegistryError.kind_text}"
                    )
            content_type = resp.headers.get("Content-Type", "")
            header_digest = resp.headers.get("Docker-Content-Digest", "")
        data = bytes(body)
        pinned = expected.digest if expected is not None else self.ref.digest
        check = pinned or header_digest
        algorithm = Digest(check).algorithm if check and ":" in check else None
        try:
            actual = Digest.from_bytes(data, algorithm) if algorithm else Digest.from_bytes(data)
        except InvalidArgumentError:
            actual = Digest.from_bytes(data)
        if check and actual != check:
            raise FailedPreconditionError(
                f"{self.ref}: {what}: content digest {actual} does not match "
                f"{'expected' if pinned else 'Docker-Content-Digest'} {check}: "
                f"{FailedPreconditionError.kind_text}"
            )
        if expected is not None and expected.size and expected.size != len(data):
            raise FailedPreconditionError(
                f"{self.ref}: {what}: size {len(data)} does not match expected "
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

    def parse(self, data: bytes, what: str) -> dict[str, Any]:
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise RegistryError(
                f"{self.ref}: {what} is not JSON: {exc}: {RegistryError.kind_text}"
            ) from exc
        if not isinstance(parsed, dict):
            raise RegistryError(
                f"{self.ref}: {what} is not a JSON object: {RegistryError.kind_text}"
            )
        return parsed

    def children(self, parsed: Mapping[str, Any], key: str, what: str) -> list[Descriptor]:
        raw = parsed.get(key)
        items = [raw] if key == "config" else raw
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise RegistryError(
                f"{self.ref}: {what} has no valid {key!r}: {RegistryError.kind_text}"
            )
        out = []
        for item in items:
            try:
                desc = Descriptor.from_dict(item)
                desc.digest.validate()
            except InvalidArgumentError as exc:
                raise RegistryError(
                    f"{self.ref}: {what} has an invalid {key!r} entry: {exc}: "
                    f"{RegistryError.kind_text}"
                ) from exc
            out.append(desc)
        return out

    async def node(self, desc: Descriptor, data: bytes, root_labels: Mapping[str, str]) -> None:
        """Pull everything under ``desc`` (whose bytes are ``data``), then store it."""
        what = f"{desc.media_type or 'manifest'} {desc.digest}"
        parsed = self.parse(data, what)
        labels = {self.source_key: self.ref.repository, **root_labels}
        if desc.media_type in _media.INDEX_TYPES:
            child = self.pick(self.children(parsed, "manifests", what), what)
            if await exists(self.store, child):
                child_data = await read_blob(self.store, child)
            else:
                child, child_data = await self.fetch_manifest(str(child.digest), child)
            await self.node(child, child_data, {})
            labels[f"{LABEL_GC_REF_CONTENT}.m.0"] = str(child.digest)
        elif desc.media_type in _media.MANIFEST_TYPES:
            config = self.children(parsed, "config", what)[0]
            layers = self.children(parsed, "layers", what)
            unique = {d.digest: d for d in (config, *layers)}
            await self.blobs(list(unique.values()))
            labels[f"{LABEL_GC_REF_CONTENT}.config"] = str(config.digest)
            for i, layer in enumerate(layers):
                labels[f"{LABEL_GC_REF_CONTENT}.l.{i}"] = str(layer.digest)
        else:
            raise RegistryError(
                f"{self.ref}: {what}: unsupported media type {desc.media_type!r}: "
                f"{RegistryError.kind_text}"
            )
        await write_blob(self.store, _ref_key(desc), data, desc, with_labels(labels))
        await self.ensure_labels(desc.digest, labels)
        self.report(desc, "done", desc.size)

    def pick(self, manifests: list[Descriptor], what: str) -> Descriptor:
        """The manifest of the wanted platform (the best variant match, first on ties)."""
        matching = [m for m in manifests if self.platform.matches(m.platform)]
        if not matching:
            available = sorted(
                {
                    str(
                        Platform(
                            str(p.get("os", "")),
                            str(p.get("architecture", "")),
                            str(p.get("variant", "") or ""),
                        )
                    )
                    for m in manifests
                    if (p := m.platform)
                }
            )
            raise NotFoundError(
                f"{self.ref}: {what}: no manifest for platform {self.platform} "
                f"(available: {', '.join(available) or 'none'}): {NotFoundError.kind_text}"
            )
        return min(matching, key=lambda m: self.platform.rank(m.platform))

    # -- labels ------------------------------------------------------------------

    async def ensure_labels(self, digest: Digest, labels: Mapping[str, str]) -> None:
        """Set ``labels`` on a committed blob, adding to its distribution sources."""
        info = await self.store.info(digest)
        changed: dict[str, str] = {}
        for key, value in labels.items():
            if key.startswith(LABEL_DISTRIBUTION_SOURCE + "."):
                repos = {r for r in info.labels.get(key, "").split(",") if r}
                value = ",".join(sorted(repos | {value}))
            if info.labels.get(key) != value:
                changed[key] = value
        if changed:
            await self.store.update(
                Info(digest=digest, labels=changed), *(f"labels.{k}" for k in changed)
            )

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
        if await exists(self.store, desc):
            self.report(desc, "exists", desc.size)
        elif isinstance(self.store, SupportsSingleFlight):
            flights = self.store.flights
            if flights.leading(desc.digest):
                self.report(desc, "waiting")
            async with flights.lead(desc.digest) as must_write:
                if must_write:
                    await self.download(desc, labels)
        else:
            await self.download(desc, labels)
        await self.ensure_labels(desc.digest, labels)
        self.report(desc, "done", desc.size)

    async def download(self, desc: Descriptor, labels: Mapping[str, str]) -> None:
        """Download one blob into its ingest (resuming it) and commit it verified.

        Transient failures resume from the ingest's offset, up to the client's
        retries. A digest or size mismatch removes the ingest; when the bad
        bytes may come from an earlier attempt (the download had resumed), the
        blob is fetched once more from the start before giving up.
        """
        ref = _ref_key(desc)
        attempt = 0
        restarted = False
        async with self.limiter:
            while True:
                try:
                    cw = await open_writer(self.store, with_ref(ref), with_descriptor(desc))
                except AlreadyExistsError:
                    return
                resumed = False
                try:
                    offset = (await cw.status()).offset
                    if offset > desc.size:
                        await cw.truncate(0)
                        offset = 0
                    resumed = offset > 0
                    if offset < desc.size or desc.size == 0:
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
                except (httpx.TransportError, _ShortBody) as exc:
                    if attempt >= self.client.retries:
                        raise RegistryError(
                            f"{self.ref}: blob {desc.digest}: download interrupted "
                            f"({type(exc).__name__}: {exc}) after {attempt + 1} attempts; "
                            f"the ingest {ref!r} keeps what arrived: {RegistryError.kind_text}"
                        ) from exc
                    await self.client.backoff(attempt)
                    attempt += 1
                finally:
                    with anyio.CancelScope(shield=True):
                        await cw.aclose()

    async def receive(self, cw: Writer, desc: Descriptor, offset: int) -> bool:
        """Write the blob's bytes from ``offset`` on; ``True`` when a Range was honoured.

        :raises FailedPreconditionError: the registry sends more than ``desc.size``.
        :raises _ShortBody: the body ended cleanly before ``desc.size``.
        """
        url = f"{self.client.base}/blobs/{desc.digest}"
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
            written = offset
            self.report(desc, "downloading", written)
            async for chunk in resp.aiter_bytes(_CHUNK):
                if desc.size and written + len(chunk) > desc.size:
                    raise FailedPreconditionError(
                        f"{self.ref}: blob {desc.digest}: registry sent more than its "
                        f"size {desc.size}: {FailedPreconditionError.kind_text}"
                    )
                await cw.write(chunk)
                written += len(chunk)
                self.report(desc, "downloading", written)
        if desc.size and written < desc.size:
            raise _ShortBody(f"body ended at {written} of {desc.size} bytes")
        return resumed


def _range_start(resp: httpx.Response) -> int | None:
    value = resp.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    start, dash, _ = rest.partition("-")
    if unit.lower() != "bytes" or not dash or not start.isdigit():
        return None
    return int(start)


async def pull(
    store: Store,
    reference: str,
    *,
    platform: str | Platform | None = None,
    concurrency: int = 4,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    plain_http: bool = False,
    gc_root: bool = False,
    retries: int = 4,
    http_timeout: float = 60.0,
    http: httpx.AsyncClient | None = None,
) -> Descriptor:
    """Pull the image ``reference`` from its registry into ``store``.

    Resolves ``host[:port]/repo[:tag|@digest]`` (Docker Hub defaults for names
    without a host), fetches the manifest or index, picks ``platform`` from an
    index, then downloads the config and layers, at most ``concurrency`` at a
    time. Every blob goes through a store writer that verifies its size and
    digest before commit; blobs already in the store are not downloaded, and
    unfinished ones resume from their ingest with an HTTP ``Range`` request.
    Concurrent pulls into one store object that offers single-flight download
    a shared blob once.

    Labels, as containerd sets them: a manifest gets
    ``containerd.io/gc.ref.content.config`` and ``containerd.io/gc.ref.content.l.<i>``;
    an index ``containerd.io/gc.ref.content.m.<i>`` for the manifests pulled;
    every blob ``containerd.io/distribution.source.<host>=<repo>``; the root
    ``io.containerd.image.name=<reference>``, and ``containerd.io/gc.root``
    (the time, RFC 3339) only with ``gc_root=True``.

    :param store: where the blobs go.
    :param reference: the image, e.g. ``registry.example:5000/team/app:1.2``.
    :param platform: ``os/arch[/variant]`` to pick from an index; the running
        machine's platform when ``None``.
    :param concurrency: the most blob downloads at once (at least 1).
    :param progress: called with a :class:`ProgressEvent` as each blob advances.
    :param credentials: ``(username, password)``, or a function of the
        registry host returning them or ``None``; used for Basic challenges
        and to obtain Bearer tokens.
    :param plain_http: use HTTP instead of HTTPS (for loopback registries).
    :param gc_root: label the root ``containerd.io/gc.root``.
    :param retries: extra attempts after a connection error, an interrupted
        body or a 5xx/429 answer, with exponential backoff.
    :param http_timeout: seconds allowed for connecting and for each read
        (bound the whole pull with ``anyio.fail_after``).
    :param http: an ``httpx.AsyncClient`` to send requests with (not closed).
    :return: the root descriptor (the index or manifest the reference names).
    :raises ~aiocontent.InvalidArgumentError: malformed reference, platform or
        ``concurrency``.
    :raises ~aiocontent.NotFoundError: the registry has no such manifest or
        blob, or the index has no manifest for the platform.
    :raises ~aiocontent.FailedPreconditionError: content that does not match
        its digest or size; nothing of it is committed.
    :raises RegistryAuthError: the registry refused the credentials (or wants some).
    :raises RegistryError: the registry failed for good (connection errors,
        5xx/429 or interrupted bodies past the retries, unusable answers).

    .. versionadded:: 0.1
    """
    ref: Reference = parse_reference(reference)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be an int, not {type(concurrency).__name__}")
    if concurrency < 1:
        raise InvalidArgumentError(
            f"concurrency {concurrency} must be at least 1: invalid argument"
        )
    if platform is None:
        wanted = default_platform()
    elif isinstance(platform, Platform):
        wanted = platform
    else:
        wanted = parse_platform(platform)
    async with RegistryClient(
        ref,
        credentials=credentials,
        plain_http=plain_http,
        retries=retries,
        timeout=http_timeout,
        http=http,
    ) as client:
        puller = _Puller(store, client, wanted, concurrency, progress)
        root, data = await puller.fetch_manifest(ref.object, None)
        root_labels = {LABEL_IMAGE_NAME: str(ref)}
        if gc_root:
            root_labels[LABEL_GC_ROOT] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await puller.node(root, data, root_labels)
    return root
