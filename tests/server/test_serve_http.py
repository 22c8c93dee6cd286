"""The registry API over real HTTP: ``aiocontent serve`` on uvicorn and on hypercorn.

A representative request of each endpoint family against the real process
(the exhaustive cases run in process, in ``test_api_*``): what a server adds
on top of the app (streaming, headers through the server, the access log) is
what these check.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from ._process import (
    OCI_MANIFEST,
    SERVER_NAMES,
    SERVERS,
    ServeProcess,
    image_manifest,
    patch_chunk,
    push_blob,
    push_image,
    serving,
    sha256,
    start_upload,
    upload_offset,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=SERVERS, ids=SERVER_NAMES.get)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp(f"serve-{request.param}") / "store"
    with serving(root, request.param) as process:
        yield process


@pytest.fixture
def client(server: ServeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        yield c


def test_ping_answers_200_with_the_api_version(client: httpx.Client) -> None:
    resp = client.get("/v2/")
    assert resp.status_code == 200
    assert resp.headers["docker-distribution-api-version"] == "registry/2.0"


def test_monolithic_push_is_served_by_get_and_head(client: httpx.Client) -> None:
    data = b"monolithic blob"
    digest = push_blob(client, "http/mono", data)
    head = client.head(f"/v2/http/mono/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["docker-content-digest"] == digest
    assert head.content == b""
    get = client.get(f"/v2/http/mono/blobs/{digest}")
    assert (get.status_code, get.content) == (200, data)


def test_range_get_answers_206_and_416_beyond_the_end(client: httpx.Client) -> None:
    digest = push_blob(client, "http/range", bytes(range(256)))
    part = client.get(f"/v2/http/range/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.headers["content-range"] == "bytes 10-19/256"
    assert part.content == bytes(range(10, 20))
    beyond = client.get(f"/v2/http/range/blobs/{digest}", headers={"Range": "bytes=300-400"})
    assert beyond.status_code == 416


def test_large_blob_round_trips_through_chunked_upload(client: httpx.Client) -> None:
    data = os.urandom(24 * 1024 * 1024 + 5)
    location = start_upload(client, "http/large")
    step = 8 * 1024 * 1024
    for offset in range(0, len(data), step):
        resp = patch_chunk(client, location, offset, data[offset : offset + step])
        assert resp.status_code == 202, resp.text
        location = resp.headers["location"]
        assert upload_offset(client, location) == min(offset + step, len(data))
    done = client.put(location, params={"digest": sha256(data)})
    assert done.status_code == 201, done.text
    got = client.get(f"/v2/http/large/blobs/{sha256(data)}")
    assert got.status_code == 200
    assert sha256(got.content) == sha256(data)


def test_chunk_that_does_not_continue_the_session_is_416(client: httpx.Client) -> None:
    location = start_upload(client, "http/gap")
    assert patch_chunk(client, location, 0, b"abcd").status_code == 202
    resp = patch_chunk(client, location, 10, b"efgh")
    assert resp.status_code == 416
    assert upload_offset(client, location) == 4


def test_digest_mismatch_is_rejected_and_stores_nothing(client: httpx.Client) -> None:
    wrong = sha256(b"something else")
    resp = client.post(
        "/v2/http/mismatch/blobs/uploads/", params={"digest": wrong}, content=b"these bytes"
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert client.head(f"/v2/http/mismatch/blobs/{wrong}").status_code == 404
    assert client.head(f"/v2/http/mismatch/blobs/{sha256(b'these bytes')}").status_code == 404


def test_manifest_by_tag_and_digest_with_tags_list_and_catalog(client: httpx.Client) -> None:
    digest = push_image(client, "http/image", "v1", b"layer one")
    by_tag = client.get("/v2/http/image/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert by_tag.status_code == 200
    assert by_tag.headers["content-type"] == OCI_MANIFEST
    assert by_tag.headers["docker-content-digest"] == digest
    assert sha256(by_tag.content) == digest
    head = client.head(f"/v2/http/image/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(by_tag.content))
    assert client.get("/v2/http/image/tags/list").json() == {"name": "http/image", "tags": ["v1"]}
    assert "http/image" in client.get("/v2/_catalog").json()["repositories"]


def test_manifest_naming_a_missing_blob_is_manifest_blob_unknown(client: httpx.Client) -> None:
    config = push_blob(client, "http/missing", b"{}")
    manifest = image_manifest(config, [(sha256(b"never pushed"), 12)])
    resp = client.put(
        "/v2/http/missing/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert client.get("/v2/http/missing/manifests/v1").status_code == 404


def test_referrers_list_a_manifest_pushed_with_a_subject(client: httpx.Client) -> None:
    subject = push_image(client, "http/refs", "base", b"base layer")
    config = push_blob(client, "http/refs", b"{}")
    size = len(client.get(f"/v2/http/refs/manifests/{subject}").content)
    artifact = image_manifest(
        config,
        [],
        artifactType="application/vnd.example.sbom",
        subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
    )
    put = client.put(
        f"/v2/http/refs/manifests/{sha256(artifact)}",
        content=artifact,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text
    assert put.headers["oci-subject"] == subject
    listing = client.get(f"/v2/http/refs/referrers/{subject}")
    assert listing.status_code == 200
    manifests = listing.json()["manifests"]
    assert [(m["digest"], m["artifactType"]) for m in manifests] == [
        (sha256(artifact), "application/vnd.example.sbom")
    ]
    filtered = client.get(
        f"/v2/http/refs/referrers/{subject}", params={"artifactType": "application/other"}
    )
    assert filtered.json()["manifests"] == []
    assert filtered.headers["oci-filters-applied"] == "artifactType"


def test_deleted_manifest_and_blob_are_gone(client: httpx.Client) -> None:
    digest = push_image(client, "http/delete", "v1", b"doomed layer")
    assert client.delete(f"/v2/http/delete/manifests/{digest}").status_code == 202
    gone = client.get(f"/v2/http/delete/manifests/{digest}")
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    layer = sha256(b"doomed layer")
    assert client.delete(f"/v2/http/delete/blobs/{layer}").status_code == 202
    assert client.head(f"/v2/http/delete/blobs/{layer}").status_code == 404


@pytest.mark.parametrize("name", ["Upper/case", "a/../b", "a//b", "a/%2e%2e/b"])
def test_invalid_repository_name_is_rejected(server: ServeProcess, name: str) -> None:
    # http.client sends the path as written: httpx would resolve the dots first
    connection = http.client.HTTPConnection(server.listen, timeout=30)
    try:
        connection.request("POST", f"/v2/{name}/blobs/uploads/", body=b"")
        resp = connection.getresponse()
        body = json.loads(resp.read())
    finally:
        connection.close()
    assert (resp.status, body["errors"][0]["code"]) in (
        (400, "NAME_INVALID"),
        (404, "NAME_UNKNOWN"),
    )
    assert not any("blobs/uploads" in str(path) for path in (server.root / "ingest").glob("*/ref"))


def test_access_log_has_one_line_per_request(client: httpx.Client, server: ServeProcess) -> None:
    resp = client.get("/v2/http/access-log/tags/list")
    assert resp.status_code == 404
    lines = server.wait_for_log('"GET /v2/http/access-log/tags/list HTTP/1.1" 404 ')
    assert len(lines) == 1
    client_address, _, rest = lines[0].removeprefix("aiocontent: ").partition(" ")
    assert client_address.startswith("127.0.0.1:")
    sent, seconds = rest.rsplit(" ", 2)[1:]
    assert int(sent) == len(resp.content)
    assert float(seconds.removesuffix("s")) >= 0


@pytest.mark.slow
def test_an_idle_keep_alive_connection_outlives_the_servers_default(
    server: ServeProcess,
) -> None:
    # uvicorn and hypercorn close an idle connection after 5 s by default; a Go
    # client reusing it at that instant fails a PUT with "unexpected EOF".
    connection = http.client.HTTPConnection(server.listen, timeout=30)
    try:
        connection.request("GET", "/v2/")
        first = connection.getresponse()
        first.read()
        assert first.status == 200
        sock = connection.sock
        time.sleep(6.5)
        connection.request("GET", "/v2/")
        second = connection.getresponse()
        second.read()
        assert second.status == 200
        assert connection.sock is sock  # the same connection, not a reconnect
    finally:
        connection.close()
