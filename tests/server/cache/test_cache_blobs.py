"""Pull-through cache, blobs: a miss is fetched once, streamed while stored, verified."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from starlette.types import Message

from aiocontent import FailedPreconditionError, Store

from .._oci import digest_of, error_codes, stored
from ._upstream import Cache, FakeUpstream, wait_until

DATA = bytes(range(256)) * 1200  # 300 KiB


async def _no_ingests(store: Store) -> bool:
    return not await store.list_statuses()


async def test_a_miss_is_fetched_from_the_upstream_and_stored(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-length"] == str(len(DATA))
    assert await stored(store, digest)
    assert upstream.count("GET", "/blobs/") == 1


async def test_a_hit_is_served_without_asking_the_upstream(
    cache: Cache, upstream: FakeUpstream
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    await cache.client.get(f"/v2/team/app/blobs/{digest}")
    before = len(upstream.requests)
    upstream.down = True
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
    assert response.content == DATA
    assert len(upstream.requests) == before


async def test_concurrent_clients_of_one_digest_cause_one_upstream_fetch(
    cache: Cache, upstream: FakeUpstream
) -> None:
    clients = 8
    digest = await upstream.api.push_blob("team/app", DATA)
    upstream.hold = anyio.Event()
    bodies: list[bytes] = []

    async def one() -> None:
        response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
        assert response.status_code == 200
        bodies.append(response.content)

    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(one)
        await wait_until(lambda: cache.entered == clients)
        await anyio.sleep(0.05)  # let them all reach the flight
        upstream.hold.set()
    assert bodies == [DATA] * clients
    assert upstream.count("GET", "/blobs/") == 1
    assert upstream.count("HEAD", "/blobs/") == 1


async def test_the_client_gets_bytes_before_the_upstream_has_sent_them_all(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    last_piece = upstream.trickle[digest] = anyio.Event()
    sent: list[Message] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_get, cache, f"/v2/team/app/blobs/{digest}", sent)
        await wait_until(lambda: bool(_body_of(sent)))
        # the client has the first piece while the last one has not left the upstream
        assert _body_of(sent) == DATA[: len(DATA) // 3]
        assert not await stored(store, digest)
        last_piece.set()
    assert _body_of(sent) == DATA
    assert await stored(store, digest)


async def test_a_digest_mismatch_cuts_the_response_short_and_commits_nothing(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    upstream.corrupt.add(digest)
    sent = await _exchange_tolerating_errors(cache, f"/v2/team/app/blobs/{digest}")
    assert len(_body_of(sent)) < len(DATA)  # never the whole (wrong) body
    assert not any(m.get("more_body") is False for m in sent)  # the body never ended
    assert not await stored(store, digest)
    assert await _no_ingests(store)


async def test_clients_waiting_on_a_fetch_that_does_not_verify_get_an_error_too(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    clients = 4
    digest = await upstream.api.push_blob("team/app", DATA)
    upstream.corrupt.add(digest)
    upstream.hold = anyio.Event()
    statuses: list[int] = []
    aborted: list[BaseException] = []

    async def one() -> None:
        try:
            statuses.append((await cache.client.get(f"/v2/team/app/blobs/{digest}")).status_code)
        except Exception as exc:  # the leader's response, cut short after it started
            aborted.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(one)
        await wait_until(lambda: cache.entered == clients)
        await anyio.sleep(0.05)  # let them all reach the flight
        upstream.hold.set()
    assert len(aborted) == 1
    assert statuses == [502] * (clients - 1)
    assert upstream.count("GET", "/blobs/") == 1
    assert not await stored(store, digest)
    assert await _no_ingests(store)


async def test_after_a_mismatch_the_blob_is_unknown_and_a_later_good_fetch_works(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    upstream.corrupt.add(digest)
    await _exchange_tolerating_errors(cache, f"/v2/team/app/blobs/{digest}")
    upstream.corrupt.clear()
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
    assert response.content == DATA
    assert await stored(store, digest)


async def test_a_broken_off_body_resumes_with_a_range_request(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    upstream.cut[digest] = 100_000
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
    assert response.content == DATA
    assert upstream.count("GET", "/blobs/") == 2
    assert await stored(store, digest)


async def test_a_blob_the_upstream_lacks_is_blob_unknown(
    cache: Cache, upstream: FakeUpstream
) -> None:
    digest = digest_of(b"nowhere")
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]
    assert upstream.count("GET", "/blobs/") == 0


async def test_a_miss_while_the_upstream_is_down_is_a_502(
    cache: Cache, upstream: FakeUpstream
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    upstream.down = True
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
    assert response.status_code == 502
    assert error_codes(response) == ["BLOB_UNKNOWN"]


async def test_head_of_a_miss_answers_from_the_upstream_without_downloading(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    response = await cache.client.head(f"/v2/team/app/blobs/{digest}")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(DATA))
    assert upstream.count("GET", "/blobs/") == 0
    assert not await stored(store, digest)


async def test_a_range_on_a_miss_is_served_from_the_stored_blob(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    response = await cache.client.get(
        f"/v2/team/app/blobs/{digest}", headers={"Range": "bytes=1000-1999"}
    )
    assert response.status_code == 206
    assert response.content == DATA[1000:2000]
    assert await stored(store, digest)


async def test_the_upstream_credentials_answer_its_basic_challenge(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    digest = await upstream.api.push_blob("team/app", DATA)
    upstream.credentials = ("mirror", "s3cret")
    cache = make_cache(credentials=("mirror", "s3cret"))
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
    assert response.content == DATA


async def test_pushes_to_a_cache_are_refused(cache: Cache, store: Store) -> None:
    response = await cache.client.post("/v2/team/app/blobs/uploads/")
    assert response.status_code == 405
    assert error_codes(response) == ["DENIED"]
    assert await _no_ingests(store)


def _body_of(sent: list[Message]) -> bytes:
    return b"".join(m["body"] for m in sent if m["type"] == "http.response.body")


def _causes(exc: BaseException | None) -> list[type[BaseException]]:
    out = []
    while exc is not None:
        out.append(type(exc))
        exc = exc.__cause__ or exc.__context__
    return out


async def _get(cache: Cache, path: str, sent: list[Message]) -> None:
    """Drive the cache app for one GET, appending each message it sends to ``sent``."""

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"cache.test")],
        "server": ("cache.test", 80),
        "client": ("127.0.0.1", 1),
    }
    await cache.app(scope, receive, send)


async def _exchange_tolerating_errors(cache: Cache, path: str) -> list[Message]:
    """One GET that fails after the response started (a server then aborts the
    connection); what the app sent before."""
    sent: list[Message] = []
    with pytest.raises(Exception) as failure:
        await _get(cache, path, sent)
    assert FailedPreconditionError in _causes(failure.value), failure.value
    return sent
