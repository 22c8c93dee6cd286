"""``pull``: an image from a registry into a store, bounded in memory and time."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import anyio
import httpx

from .._errors import InvalidArgumentError
from .._interfaces import Store
from .._types import Descriptor
from ._client import Credentials, RegistryClient
from ._errors import RegistryError
from ._events import Progress, ProgressEvent, ProgressState
from ._puller import Puller
from ._reference import Platform, Reference, default_platform, parse_platform, parse_reference

__all__ = (
    "ALL_PLATFORMS",
    "LABEL_GC_ROOT",
    "LABEL_IMAGE_NAME",
    "Progress",
    "ProgressEvent",
    "ProgressState",
    "pull",
)

#: Marks a blob as a root for garbage collection (set on the root only when asked).
LABEL_GC_ROOT: Final = "containerd.io/gc.root"
ALL_PLATFORMS: Final = "all"
"""``platform=ALL_PLATFORMS`` pulls every manifest of an index."""
#: The full image reference, recorded on the root.
LABEL_IMAGE_NAME: Final = "io.containerd.image.name"


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
    http_timeout: float = 30.0,
    retry_budget: float = 60.0,
    deadline: float | None = None,
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

    What the registry sends is bounded before it is read: a manifest to 4 MiB
    (and to its descriptor's size), a blob to its descriptor's size (exact: a
    byte more fails), a token answer to 1 MiB, ``Content-Encoding`` (gzip and
    deflate; others are refused) decoded a step at a time, nested indexes to 16.
    Credentials go only to the registry's own host (a function given as
    ``credentials`` is asked with whichever host challenges).

    Labels, as containerd 1.6 sets them: a manifest gets
    ``containerd.io/gc.ref.content.config`` and ``containerd.io/gc.ref.content.l.<i>``
    (its i-th layer); an index ``containerd.io/gc.ref.content.m.<i>`` for the i-th
    manifest it lists, pulled or not, so pulls of several platforms add up;
    every blob ``containerd.io/distribution.source.<host>=<repo>`` (the host
    without its port, as containerd writes it), and every blob the pull uses,
    even one already there, gets a new ``updated_at`` (garbage collection
    reads it as "last used"); the root
    ``io.containerd.image.name=<reference>``, and ``containerd.io/gc.root``
    (the time, RFC 3339) only with ``gc_root=True``.

    :param store: where the blobs go.
    :param reference: the image, e.g. ``registry.example:5000/team/app:1.2``.
    :param platform: ``os/arch[/variant]`` to pick from an index; the running
        machine's platform when ``None``; :data:`ALL_PLATFORMS` (``"all"``)
        pulls every manifest the index lists.
    :param concurrency: the most blob downloads at once (at least 1).
    :param progress: called with a :class:`ProgressEvent` as each blob
        (manifests and indexes included) advances.
    :param credentials: ``(username, password)`` for the registry's host, or a
        function of the challenging host (``host[:port]``) returning them or
        ``None``; used for Basic challenges and to obtain Bearer tokens.
    :param plain_http: use HTTP instead of HTTPS (for loopback registries).
    :param gc_root: label the root ``containerd.io/gc.root``.
    :param retries: extra attempts after a connection error, a timeout, an
        interrupted body or a 5xx/429 answer, with exponential backoff
        (``Retry-After`` up to 30 s; a longer one fails at once). A download
        that stored new bytes before breaking off does not use one up.
    :param http_timeout: seconds allowed to connect and get an answer's headers,
        and the window over which a body must average 1 KiB/s.
    :param retry_budget: seconds that all retries of the pull together may
        take (the failed attempts and the waits); past it a failure is final.
    :param deadline: seconds the whole pull may take, or ``None`` for no limit.
    :param http: an ``httpx.AsyncClient`` to send requests with (not closed).
    :return: the root descriptor (the index or manifest the reference names).
    :raises TypeError: an argument of the wrong type.
    :raises ~aiocontent.InvalidArgumentError: malformed reference or platform;
        ``concurrency`` below 1; ``http_timeout``, ``retry_budget`` or
        ``deadline`` not a positive number of seconds.
    :raises ~aiocontent.NotFoundError: the registry has no such manifest or
        blob, or the index has no manifest for the platform.
    :raises ~aiocontent.FailedPreconditionError: content that does not match
        its digest or size; nothing of it is committed.
    :raises RegistryAuthError: the registry refused the credentials (or wants some).
    :raises RegistryError: the registry failed for good (connection errors,
        timeouts, 5xx/429 or interrupted bodies past the retries or their
        budget, redirect loops, oversized or unusable answers), or the
        ``deadline`` passed.

    .. versionadded:: 0.1
    """
    ref: Reference = parse_reference(reference)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be an int, not {type(concurrency).__name__}")
    if concurrency < 1:
        raise InvalidArgumentError(
            f"concurrency {concurrency} must be at least 1: invalid argument"
        )
    _check_seconds("http_timeout", http_timeout)
    _check_seconds("retry_budget", retry_budget)
    if deadline is not None:
        _check_seconds("deadline", deadline)
    wanted: Platform | None
    if platform is None:
        wanted = default_platform()
    elif platform == ALL_PLATFORMS:
        wanted = None
    elif isinstance(platform, Platform):
        wanted = platform
    else:
        wanted = parse_platform(platform)
    client = RegistryClient(
        ref,
        credentials=credentials,
        plain_http=plain_http,
        retries=retries,
        timeout=http_timeout,
        retry_budget=retry_budget,
        http=http,
    )
    with anyio.move_on_after(math.inf if deadline is None else deadline):
        async with client:
            puller = Puller(store, client, wanted, concurrency, progress)
            root, data = await puller.root()
            root_labels = {LABEL_IMAGE_NAME: str(ref)}
            if gc_root:
                root_labels[LABEL_GC_ROOT] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            await puller.walk(root, data, root_labels)
            return root
    raise RegistryError(
        f"{ref}: the pull did not finish within its deadline of {deadline:g} s; "
        f"what arrived stays in the store's ingests: {RegistryError.kind_text}"
    )


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidArgumentError(
            f"{name} {value!r} must be a positive number of seconds: invalid argument"
        )
