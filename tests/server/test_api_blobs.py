"""Blob GET, HEAD and DELETE: digests, ETags, conditional requests and byte ranges."""

from __future__ import annotations

import httpx
import pytest

from aiocontent import Store
from aiocontent.server import create_app

from ._oci import Api, asgi_exchange, digest_of, error_codes

DATA = bytes(range(256)) * 40  # 10240 bytes


async def test_get_serves_the_bytes_with_digest_etag_and_length(api: Api) -> None:
    digest = await api.push_blob("repo", DATA)
    response = await api.client.get(f"/v2/repo/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["etag"] == f'"{digest}"'
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "application/octet-stream"


async def test_head_has_the_headers_and_no_body(api: Api) -> None:
    digest = await api.push_blob("repo", DATA)
    response = await api.client.head(f"/v2/repo/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["docker-content-digest"] == digest


async def test_a_large_blob_is_sent_in_bounded_pieces(api: Api, store: Store) -> None:
    data = bytes(range(251)) * 13000  # ~3.1 MiB, not a multiple of the read size
    digest = await api.push_blob("repo", data)
    sent = await asgi_exchange(create_app(store), "GET", f"/v2/repo/blobs/{digest}", [])
    pieces = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert b"".join(pieces) == data
    assert len(pieces) >= 4
    assert max(len(p) for p in pieces) <= 1 << 20


async def test_empty_blob_is_served(api: Api) -> None:
    digest = await api.push_blob("repo", b"")
    response = await api.client.get(f"/v2/repo/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == b""


async def test_sha512_blob_is_served_under_its_digest(api: Api) -> None:
    digest = await api.push_blob("repo", DATA, "sha512")
    response = await api.client.get(f"/v2/repo/blobs/{digest}")
    assert response.content == DATA
    assert response.headers["docker-content-digest"] == digest


async def test_unknown_blob_is_404_blob_unknown(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/repo/blobs/{digest_of(b'nothing')}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]


async def test_blob_of_another_repository_is_not_served(api: Api) -> None:
    digest = await api.push_blob("one", DATA)
    response = await api.client.get(f"/v2/two/blobs/{digest}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]


@pytest.mark.parametrize("bad", ["sha256:short", "md5:0123", "nocolon", "sha256:" + "G" * 64])
async def test_malformed_digest_is_400_digest_invalid(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get(f"/v2/repo/blobs/{bad}")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


class TestConditional:
    async def test_if_none_match_with_the_etag_is_304(self, api: Api) -> None:
        digest = await api.push_blob("repo", DATA)
        response = await api.client.get(
            f"/v2/repo/blobs/{digest}", headers={"If-None-Match": f'"{digest}"'}
        )
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == f'"{digest}"'

    async def test_if_none_match_with_another_etag_is_200(self, api: Api) -> None:
        digest = await api.push_blob("repo", DATA)
        response = await api.client.get(
            f"/v2/repo/blobs/{digest}", headers={"If-None-Match": '"sha256:other"'}
        )
        assert response.status_code == 200
        assert response.content == DATA


class TestRange:
    @pytest.mark.parametrize(
        ("header", "start", "end"),
        [
            ("bytes=0-0", 0, 0),
            ("bytes=10-19", 10, 19),
            ("bytes=10000-", 10000, 10239),
            ("bytes=-40", 10200, 10239),
            ("bytes=10200-99999", 10200, 10239),
            ("bytes=-99999", 0, 10239),
        ],
    )
    async def test_single_range_is_206_with_content_range(
        self, api: Api, header: str, start: int, end: int
    ) -> None:
        digest = await api.push_blob("repo", DATA)
        response = await api.client.get(f"/v2/repo/blobs/{digest}", headers={"Range": header})
        assert response.status_code == 206
        assert response.content == DATA[start : end + 1]
        assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
        assert response.headers["content-length"] == str(end - start + 1)

    async def test_head_with_range_reports_the_span(self, api: Api) -> None:
        digest = await api.push_blob("repo", DATA)
        response = await api.client.head(
            f"/v2/repo/blobs/{digest}", headers={"Range": "bytes=0-99"}
        )
        assert response.status_code == 206
        assert response.headers["content-length"] == "100"

    @pytest.mark.parametrize(
        "header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0", "bytes=500-0"]
    )
    async def test_unsatisfiable_range_is_416(self, api: Api, header: str) -> None:
        digest = await api.push_blob("repo", DATA)
        response = await api.client.get(f"/v2/repo/blobs/{digest}", headers={"Range": header})
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{len(DATA)}"
        assert response.content == b""

    @pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "garbage"])
    async def test_ranges_not_honoured_serve_the_whole_blob(self, api: Api, header: str) -> None:
        digest = await api.push_blob("repo", DATA)
        response = await api.client.get(f"/v2/repo/blobs/{digest}", headers={"Range": header})
        assert response.status_code == 200
        assert response.content == DATA


class TestDelete:
    async def test_delete_unlinks_the_blob_from_the_repository(self, api: Api) -> None:
        digest = await api.push_blob("repo", DATA)
        response = await api.client.delete(f"/v2/repo/blobs/{digest}")
        assert response.status_code == 202
        assert (await api.client.get(f"/v2/repo/blobs/{digest}")).status_code == 404

    async def test_other_repositories_keep_serving_it(self, api: Api, store: Store) -> None:
        digest = await api.push_blob("one", DATA)
        await api.push_blob("two", DATA)
        await api.client.delete(f"/v2/one/blobs/{digest}")
        response = await api.client.get(f"/v2/two/blobs/{digest}")
        assert response.content == DATA
        assert (await store.info(digest)).size == len(DATA)

    async def test_delete_of_unknown_blob_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.delete(f"/v2/repo/blobs/{digest_of(b'x')}")
        assert response.status_code == 404
        assert error_codes(response) == ["BLOB_UNKNOWN"]

    async def test_delete_with_malformed_digest_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.delete("/v2/repo/blobs/sha256:nope")
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]
