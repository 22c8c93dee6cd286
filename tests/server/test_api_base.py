"""The base endpoint, routing, name grammar, error bodies and the read-only switch."""

from __future__ import annotations

import httpx
import pytest

from aiocontent import Info, LocalStore, MemoryStore, Store, UnavailableError
from aiocontent.server import MemoryMetadata, create_app

from ._oci import Api, digest_of, error_codes, raw_request
from .conftest import BASE_URL, client_for

BLOB = b"some blob"


async def test_base_endpoint_answers_200_with_the_api_version(client: httpx.AsyncClient) -> None:
    for path in ("/v2/", "/v2"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def test_head_on_base_endpoint_answers_200(client: httpx.AsyncClient) -> None:
    response = await client.head("/v2/")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "Upper/case",
        "a/../b",
        "..",
        "a//b",
        "a/",
        "-leading",
        "trailing-",
        "a..b",
        "a___b",
        "x" * 256,
        "a/" * 128 + "b",
        "ünïcode",
        "a b",
    ],
)
async def test_invalid_repository_names_are_name_invalid(
    client: httpx.AsyncClient, store: Store, name: str
) -> None:
    path = f"/v2/{name}/blobs/uploads/?digest={digest_of(BLOB)}"
    response = await raw_request(client, "POST", path, BLOB)
    assert response.status_code == 400
    assert error_codes(response) == ["NAME_INVALID"]
    assert await store.list_statuses() == []
    assert (await client.get("/v2/_catalog")).json() == {"repositories": []}


@pytest.mark.parametrize("name", ["a", "a/b/c", "a.b_c__d---e", "x" * 255, "0/1"])
async def test_valid_repository_names_are_accepted(api: Api, name: str) -> None:
    digest = await api.push_blob(name, BLOB)
    response = await api.client.get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == BLOB


async def test_error_body_has_code_message_and_detail(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["code"] == "BLOB_UNKNOWN"
    assert error["message"] == "blob unknown to registry"
    assert error["detail"] == {"digest": digest_of(BLOB)}


async def test_head_errors_have_no_body(client: httpx.AsyncClient) -> None:
    response = await client.head(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert response.status_code == 404
    assert response.content == b""


async def test_unknown_path_is_404_name_unknown(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/repo/nothing-here")
    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]


async def test_method_a_route_lacks_is_405_unsupported(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert response.status_code == 405
    assert error_codes(response) == ["UNSUPPORTED"]


async def test_paths_outside_v2_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).status_code == 404
    assert (await client.get("/v1/repo/tags/list")).status_code == 404


async def test_explicit_metadata_is_used(store: Store) -> None:
    metadata = MemoryMetadata()
    app = create_app(store, metadata=metadata)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        digest = await Api(c).push_blob("repo", BLOB)
    assert await metadata.blob_linked("repo", digest)  # type: ignore[arg-type]


class TestReadOnly:
    async def test_reads_are_served(self, api: Api, store: Store) -> None:
        digest = await api.push_blob("repo", BLOB)
        async with client_for(store, read_only=True) as ro:
            assert (await ro.get("/v2/")).status_code == 200
            response = await ro.get(f"/v2/repo/blobs/{digest}")
            assert response.content == BLOB

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/v2/repo/blobs/uploads/"),
            ("PATCH", "/v2/repo/blobs/uploads/" + "0" * 32),
            ("PUT", "/v2/repo/blobs/uploads/" + "0" * 32),
            ("DELETE", "/v2/repo/blobs/uploads/" + "0" * 32),
            ("PUT", "/v2/repo/manifests/latest"),
            ("DELETE", "/v2/repo/manifests/latest"),
            ("DELETE", f"/v2/repo/blobs/{digest_of(BLOB)}"),
        ],
    )
    async def test_every_write_is_405_denied_and_stores_nothing(
        self, store: Store, method: str, path: str
    ) -> None:
        async with client_for(store, read_only=True) as ro:
            response = await ro.request(
                method, path, params={"digest": digest_of(BLOB)}, content=BLOB
            )
            assert response.status_code == 405
            assert error_codes(response) == ["DENIED"]
            assert (await ro.get("/v2/_catalog")).json() == {"repositories": []}
        assert await store.list_statuses() == []
        blobs: list[object] = []
        await store.walk(blobs.append)
        assert blobs == []


async def test_garbage_requests_never_answer_500(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/v2/repo/blobs/sha256:zz"),
        ("GET", "/v2/repo/manifests/sha256:"),
        ("GET", "/v2/repo/manifests/" + "t" * 300),
        ("PATCH", "/v2/repo/blobs/uploads/../../etc"),
        ("GET", "/v2/repo/referrers/nodigest"),
        ("GET", "/v2/_catalog?n=-1"),
        ("PUT", "/v2/repo/manifests/latest"),
        ("POST", "/v2/repo/blobs/uploads/?mount=sha256:x&from=Bad"),
    ]:
        response = await raw_request(client, method, path, b"\xff\x00")
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        assert error_codes(response), (method, path)


class _BusyStore(MemoryStore):
    """A store whose lookups fail as a store under contention would."""

    async def info(self, dgst: str) -> Info:
        raise UnavailableError(f"content {dgst}: unavailable")


async def test_store_errors_no_handler_expects_become_oci_errors() -> None:
    store = _BusyStore()
    async with client_for(store) as client:
        digest = await Api(client).push_blob("repo", BLOB)
        response = await client.get(f"/v2/repo/blobs/{digest}")
    assert response.status_code == 429
    assert error_codes(response) == ["TOOMANYREQUESTS"]
    assert response.headers["retry-after"] == "1"


async def test_a_new_app_over_the_same_storage_sees_the_registry(api: Api, store: Store) -> None:
    digest, body = await api.push_image("repo", "v1")
    if isinstance(store, LocalStore):  # another process would open the root afresh
        async with LocalStore(store.root) as reopened, client_for(reopened) as again:
            response = await again.get("/v2/repo/manifests/v1")
    else:  # MemoryMetadata lives as long as its store object
        async with client_for(store) as again:
            response = await again.get("/v2/repo/manifests/v1")
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["docker-content-digest"] == digest
