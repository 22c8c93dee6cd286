"""Blob uploads: sessions as ingests, chunks checked against the offset, verified commits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from aiocontent import LocalStore, Store
from aiocontent.server import create_app

from ._oci import Api, asgi_exchange, digest_of, error_codes, stored
from .conftest import client_for

DATA = bytes(range(256)) * 12  # 3072 bytes


async def _chunks(*pieces: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
    """A body without Content-Length (chunked transfer), delivered piece by piece."""
    for piece in pieces:
        yield piece
        await anyio.sleep(pause)


class TestSession:
    async def test_post_opens_a_session_backed_by_an_ingest(self, api: Api, store: Store) -> None:
        response = await api.client.post("/v2/repo/blobs/uploads/")
        assert response.status_code == 202
        upload = response.headers["docker-upload-uuid"]
        assert response.headers["location"] == f"/v2/repo/blobs/uploads/{upload}"
        assert response.headers["range"] == "0-0"
        [status] = await store.list_statuses()
        assert status.ref == f"registry/uploads/repo/{upload}"

    async def test_chunked_upload_then_put_commits_the_blob(self, api: Api, store: Store) -> None:
        location = await api.start_upload("repo")
        for start in range(0, len(DATA), 1000):
            chunk = DATA[start : start + 1000]
            response = await api.client.patch(
                location,
                content=chunk,
                headers={"Content-Range": f"{start}-{start + len(chunk) - 1}"},
            )
            assert response.status_code == 202
            assert response.headers["range"] == f"0-{start + len(chunk) - 1}"
            location = response.headers["location"]
        digest = digest_of(DATA)
        response = await api.client.put(location, params={"digest": digest})
        assert response.status_code == 201
        assert response.headers["location"] == f"/v2/repo/blobs/{digest}"
        assert response.headers["docker-content-digest"] == digest
        assert (await api.client.get(f"/v2/repo/blobs/{digest}")).content == DATA
        assert await store.list_statuses() == []

    async def test_status_reports_the_last_byte_held(self, api: Api) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA[:100])
        response = await api.client.get(location)
        assert response.status_code == 204
        assert response.headers["range"] == "0-99"
        assert response.headers["location"] == location

    async def test_streamed_patches_without_content_range_append(self, api: Api) -> None:
        location = await api.start_upload("repo")
        for part in (DATA[:1000], DATA[1000:]):
            response = await api.client.patch(location, content=_chunks(part[:10], part[10:]))
            assert response.status_code == 202
        assert (await api.client.get(location)).headers["range"] == f"0-{len(DATA) - 1}"
        response = await api.client.put(location, params={"digest": digest_of(DATA)})
        assert response.status_code == 201

    async def test_put_may_carry_the_last_chunk(self, api: Api) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA[:1000], headers={"Content-Range": "0-999"})
        response = await api.client.put(
            location,
            params={"digest": digest_of(DATA)},
            content=DATA[1000:],
            headers={"Content-Range": f"1000-{len(DATA) - 1}"},
        )
        assert response.status_code == 201
        response = await api.client.get(f"/v2/repo/blobs/{digest_of(DATA)}")
        assert response.content == DATA

    async def test_sha512_upload_is_verified_and_served(self, api: Api) -> None:
        response = await api.client.post(
            "/v2/repo/blobs/uploads/", params={"digest-algorithm": "sha512"}
        )
        assert response.status_code == 202
        location = response.headers["location"]
        await api.client.patch(location, content=DATA)
        digest = digest_of(DATA, "sha512")
        assert (await api.client.put(location, params={"digest": digest})).status_code == 201
        assert (await api.client.get(f"/v2/repo/blobs/{digest}")).content == DATA

    async def test_unknown_digest_algorithm_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v2/repo/blobs/uploads/", params={"digest-algorithm": "md5"})
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]

    async def test_cancel_removes_the_session(self, api: Api, store: Store) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA)
        response = await api.client.delete(location)
        assert response.status_code == 204
        assert (await api.client.get(location)).status_code == 404
        assert await store.list_statuses() == []

    async def test_cancel_during_a_chunk_ends_that_request_with_404(self, api: Api) -> None:
        location = await api.start_upload("repo")
        writing = anyio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield b"A" * 100
            writing.set()
            await anyio.sleep(0.05)
            yield b"B" * 100

        async def patch() -> None:
            response = await api.client.patch(location, content=body())
            assert response.status_code == 404
            assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]

        async with anyio.create_task_group() as tg:
            tg.start_soon(patch)
            await writing.wait()
            assert (await api.client.delete(location)).status_code == 204
        assert (await api.client.get(location)).status_code == 404

    async def test_session_survives_a_restart(self, api: Api, store: Store) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA[:1000], headers={"Content-Range": "0-999"})
        if isinstance(store, LocalStore):
            async with LocalStore(store.root) as reopened, client_for(reopened) as again:
                await _finish_after_restart(again, location)
        else:
            async with client_for(store) as again:
                await _finish_after_restart(again, location)

    async def test_two_requests_on_one_session_never_interleave(self, api: Api) -> None:
        location = await api.start_upload("repo")
        first_started = anyio.Event()

        async def first() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"A" * 500
                first_started.set()
                await anyio.sleep(0.01)

        async def patch_first() -> None:
            response = await api.client.patch(location, content=first())
            assert response.status_code == 202

        async def patch_second() -> None:
            await first_started.wait()
            response = await api.client.patch(location, content=_chunks(*[b"B" * 500] * 4))
            assert response.status_code == 202

        async with anyio.create_task_group() as tg:
            tg.start_soon(patch_first)
            tg.start_soon(patch_second)
        expected = b"A" * 2000 + b"B" * 2000
        response = await api.client.put(location, params={"digest": digest_of(expected)})
        assert response.status_code == 201


async def _finish_after_restart(client: httpx.AsyncClient, location: str) -> None:
    response = await client.get(location)
    assert response.status_code == 204
    assert response.headers["range"] == "0-999"
    response = await client.patch(
        location, content=DATA[1000:], headers={"Content-Range": f"1000-{len(DATA) - 1}"}
    )
    assert response.status_code == 202
    assert (await client.put(location, params={"digest": digest_of(DATA)})).status_code == 201
    assert (await client.get(f"/v2/repo/blobs/{digest_of(DATA)}")).content == DATA


class TestHostileChunks:
    async def _offset(self, client: httpx.AsyncClient, location: str) -> str:
        return (await client.get(location)).headers["range"]

    async def test_out_of_order_chunk_is_416_and_keeps_the_session(self, api: Api) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA[:100], headers={"Content-Range": "0-99"})
        for bad in ("200-299", "0-99", "50-149"):
            response = await api.client.patch(
                location, content=DATA[:100], headers={"Content-Range": bad}
            )
            assert response.status_code == 416, bad
            assert error_codes(response) == ["BLOB_UPLOAD_INVALID"]
            assert response.headers["range"] == "0-99"
            assert response.headers["content-length"] == str(len(response.content))
        await api.client.patch(location, content=DATA[100:], headers={"Content-Range": "100-3071"})
        assert (
            await api.client.put(location, params={"digest": digest_of(DATA)})
        ).status_code == 201

    async def test_content_range_disagreeing_with_length_is_416(self, api: Api) -> None:
        location = await api.start_upload("repo")
        response = await api.client.patch(
            location, content=DATA[:50], headers={"Content-Range": "0-99"}
        )
        assert response.status_code == 416
        assert await self._offset(api.client, location) == "0-0"

    async def test_streamed_body_longer_than_its_range_applies_nothing(
        self, api: Api, store: Store
    ) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA[:10])
        # in pieces without Content-Length: the excess shows only while reading
        sent = await asgi_exchange(
            create_app(store),
            "PATCH",
            location,
            [DATA[10:60], DATA[60:200]],
            headers={"Content-Range": "10-59"},
        )
        assert sent[0]["status"] == 416
        assert await self._offset(api.client, location) == "0-9"

    async def test_streamed_body_shorter_than_its_range_applies_nothing(self, api: Api) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA[:10])
        response = await api.client.patch(
            location, content=_chunks(DATA[10:20]), headers={"Content-Range": "10-59"}
        )
        assert response.status_code == 416
        assert await self._offset(api.client, location) == "0-9"

    async def test_malformed_content_range_is_416(self, api: Api) -> None:
        location = await api.start_upload("repo")
        response = await api.client.patch(
            location, content=b"x", headers={"Content-Range": "bytes=zero-one"}
        )
        assert response.status_code == 416
        assert error_codes(response) == ["BLOB_UPLOAD_INVALID"]

    async def test_digest_mismatch_commits_nothing_and_ends_the_session(
        self, api: Api, store: Store
    ) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA)
        wrong = digest_of(b"something else")
        response = await api.client.put(location, params={"digest": wrong})
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]
        assert not await stored(store, digest_of(DATA))
        assert not await stored(store, wrong)
        assert await store.list_statuses() == []
        assert (await api.client.get(f"/v2/repo/blobs/{wrong}")).status_code == 404

    async def test_put_without_digest_is_400_and_keeps_the_session(self, api: Api) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA)
        response = await api.client.put(location)
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]
        assert await self._offset(api.client, location) == f"0-{len(DATA) - 1}"

    @pytest.mark.parametrize("method", ["PATCH", "PUT", "GET", "DELETE"])
    async def test_requests_after_completion_are_404(self, api: Api, method: str) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA)
        await api.client.put(location, params={"digest": digest_of(DATA)})
        response = await api.client.request(
            method, location, params={"digest": digest_of(DATA)}, content=b"more"
        )
        assert response.status_code == 404
        assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]

    @pytest.mark.parametrize("upload", ["0" * 32, "not-an-id", "A" * 32])
    async def test_unknown_session_is_404(self, client: httpx.AsyncClient, upload: str) -> None:
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            response = await client.request(method, f"/v2/repo/blobs/uploads/{upload}")
            assert response.status_code == 404
            assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]

    async def test_session_is_bound_to_its_repository(self, api: Api) -> None:
        location = await api.start_upload("one")
        response = await api.client.patch(location.replace("/one/", "/two/"), content=DATA)
        assert response.status_code == 404
        assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


class TestClientGone:
    async def _leave_mid_body(self, store: Store, location: str, **headers: str) -> None:
        sent = await asgi_exchange(
            create_app(store), "PATCH", location, [DATA[:50]], headers=headers, disconnect=True
        )
        assert sent[0]["status"] == 400

    async def test_ranged_chunk_cut_short_applies_nothing(self, api: Api, store: Store) -> None:
        location = await api.start_upload("repo")
        await api.client.patch(location, content=DATA[:10], headers={"Content-Range": "0-9"})
        await self._leave_mid_body(store, location, **{"Content-Range": "10-109"})
        assert (await api.client.get(location)).headers["range"] == "0-9"

    async def test_streamed_chunk_cut_short_keeps_what_arrived(
        self, api: Api, store: Store
    ) -> None:
        location = await api.start_upload("repo")
        await self._leave_mid_body(store, location)
        assert (await api.client.get(location)).headers["range"] == "0-49"
        await api.client.patch(location, content=DATA[50:])
        assert (
            await api.client.put(location, params={"digest": digest_of(DATA)})
        ).status_code == 201

    async def test_monolithic_push_cut_short_leaves_nothing(self, store: Store) -> None:
        path = f"/v2/repo/blobs/uploads/?digest={digest_of(DATA)}"
        sent = await asgi_exchange(
            create_app(store),
            "POST",
            path,
            [DATA[:50]],
            disconnect=True,
            headers={"Content-Length": str(len(DATA))},
        )
        assert sent[0]["status"] == 400
        assert await store.list_statuses() == []


class TestMonolithic:
    async def test_post_with_digest_stores_the_blob(self, api: Api) -> None:
        digest = digest_of(DATA)
        response = await api.client.post(
            "/v2/repo/blobs/uploads/", params={"digest": digest}, content=DATA
        )
        assert response.status_code == 201
        assert response.headers["location"] == f"/v2/repo/blobs/{digest}"
        assert (await api.client.get(f"/v2/repo/blobs/{digest}")).content == DATA

    async def test_digest_mismatch_stores_nothing(self, api: Api, store: Store) -> None:
        wrong = digest_of(b"other")
        response = await api.client.post(
            "/v2/repo/blobs/uploads/", params={"digest": wrong}, content=DATA
        )
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]
        assert not await stored(store, digest_of(DATA))
        assert await store.list_statuses() == []

    async def test_blob_already_stored_is_linked(self, api: Api) -> None:
        digest = await api.push_blob("one", DATA)
        await api.push_blob("two", DATA)
        assert (await api.client.get(f"/v2/two/blobs/{digest}")).content == DATA

    async def test_malformed_digest_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v2/repo/blobs/uploads/", params={"digest": "sha256:xyz"}, content=DATA
        )
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]


class TestMount:
    async def test_mount_from_a_repository_holding_the_blob_is_201(self, api: Api) -> None:
        digest = await api.push_blob("source", DATA)
        response = await api.client.post(
            "/v2/target/blobs/uploads/", params={"mount": digest, "from": "source"}
        )
        assert response.status_code == 201
        assert response.headers["location"] == f"/v2/target/blobs/{digest}"
        assert response.headers["docker-content-digest"] == digest
        assert (await api.client.get(f"/v2/target/blobs/{digest}")).content == DATA

    async def test_mount_from_a_repository_lacking_it_opens_a_session(self, api: Api) -> None:
        digest = await api.push_blob("elsewhere", DATA)
        response = await api.client.post(
            "/v2/target/blobs/uploads/", params={"mount": digest, "from": "source"}
        )
        assert response.status_code == 202
        assert "/v2/target/blobs/uploads/" in response.headers["location"]
        assert (await api.client.get(f"/v2/target/blobs/{digest}")).status_code == 404

    async def test_mount_without_from_links_a_stored_blob(self, api: Api) -> None:
        digest = await api.push_blob("source", DATA)
        response = await api.client.post("/v2/target/blobs/uploads/", params={"mount": digest})
        assert response.status_code == 201

    async def test_mount_of_an_unknown_blob_opens_a_session(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/v2/target/blobs/uploads/", params={"mount": digest_of(DATA), "from": "source"}
        )
        assert response.status_code == 202

    async def test_mount_from_an_invalid_name_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v2/target/blobs/uploads/", params={"mount": digest_of(DATA), "from": "../x"}
        )
        assert response.status_code == 400
        assert error_codes(response) == ["NAME_INVALID"]
