"""Several ``aiocontent serve --s3-bucket`` processes on one Ceph RGW bucket serve one registry.

Three real server processes (uvicorn, hypercorn, uvicorn), standing in for
hosts behind a load balancer, share one bucket and prefix: what one accepts,
the others serve; racing tag moves leave one winner and lose no manifest; an
upload session moves between them, and its ref lock makes a request on one
wait for the request holding the session on another.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ..s3._fixture import BUCKET, shared_rgw
from ._process import (
    OCI_MANIFEST,
    S3ServeProcess,
    begin_patch,
    image_manifest,
    patch_chunk,
    push_blob,
    push_image,
    sha256,
    start_upload,
    upload_offset,
)

pytestmark = [pytest.mark.ceph, pytest.mark.timeout(120)]

BACKENDS = ("asyncio", "trio", "asyncio")


@contextlib.contextmanager
def _hosts(
    folder: Path, backends: Sequence[str], args: Sequence[str] = ()
) -> Iterator[list[S3ServeProcess]]:
    """Server processes on one new prefix of the test gateway's bucket, stopped after."""
    gw = shared_rgw()
    prefix = f"serve-{uuid.uuid4().hex[:8]}"
    args = ["--s3-bucket", BUCKET, "--s3-endpoint", gw.endpoint, "--s3-prefix", prefix, *args]
    env = {"AWS_ACCESS_KEY_ID": gw.access_key, "AWS_SECRET_ACCESS_KEY": gw.secret_key}
    servers = [
        S3ServeProcess(folder, backend, log=folder / f"host-{i}.log", args=args, env=env)
        for i, backend in enumerate(backends)
    ]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[S3ServeProcess]]:
    """Three server processes on one bucket and prefix of the test gateway."""
    with _hosts(tmp_path_factory.mktemp("hosts"), BACKENDS) as servers:
        yield servers


@pytest.fixture
def clients(hosts: list[S3ServeProcess]) -> Iterator[list[httpx.Client]]:
    """One HTTP client per host, closed after the test."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(httpx.Client(base_url=h.url, timeout=30.0)) for h in hosts]


def test_each_host_announces_the_bucket(hosts: list[S3ServeProcess]) -> None:
    for host in hosts:
        assert f"serving s3://{BUCKET}/serve-" in host.log_text()


def test_a_push_through_one_host_is_pulled_through_another(clients: list[httpx.Client]) -> None:
    pusher, puller, lister = clients
    layer = b"layer bytes " * 1000
    digest = push_image(pusher, "team/app", "v1", layer)
    got = puller.get("/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200
    assert got.headers["docker-content-digest"] == digest
    for descriptor in [json.loads(got.content)["config"], *json.loads(got.content)["layers"]]:
        blob = puller.get(f"/v2/team/app/blobs/{descriptor['digest']}")
        assert blob.status_code == 200
        assert sha256(blob.content) == descriptor["digest"]
    assert lister.get("/v2/team/app/tags/list").json()["tags"] == ["v1"]
    assert "team/app" in lister.get("/v2/_catalog").json()["repositories"]


def test_sixteen_racing_pushes_to_one_tag_leave_one_winner_and_lose_nothing(
    clients: list[httpx.Client],
) -> None:
    config = push_blob(clients[0], "race/app", b"{}")
    layers = [f"layer {i}".encode() for i in range(16)]
    manifests = [
        image_manifest(config, [(push_blob(clients[i % 3], "race/app", b), len(b))])
        for i, b in enumerate(layers)
    ]
    barrier = threading.Barrier(16)

    def put(i: int) -> int:
        barrier.wait()
        return (
            clients[i % 3]
            .put(
                "/v2/race/app/manifests/latest",
                content=manifests[i],
                headers={"Content-Type": OCI_MANIFEST},
            )
            .status_code
        )

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(put, range(16)))
    assert statuses == [201] * 16
    digests = {sha256(m) for m in manifests}
    for client in clients:
        tagged = client.head("/v2/race/app/manifests/latest", headers={"Accept": OCI_MANIFEST})
        assert tagged.headers["docker-content-digest"] in digests
    winner = {
        c.head("/v2/race/app/manifests/latest").headers["docker-content-digest"] for c in clients
    }
    assert len(winner) == 1
    for i, manifest in enumerate(manifests):
        got = clients[(i + 1) % 3].get(f"/v2/race/app/manifests/{sha256(manifest)}")
        assert got.status_code == 200
        assert got.content == manifest


def test_an_upload_started_on_one_host_continues_on_the_others(clients: list[httpx.Client]) -> None:
    first, second, third = clients
    data = bytes(range(256)) * 4096  # 1 MiB
    location = start_upload(first, "moving/upload")
    assert patch_chunk(second, location, 0, data[: 1 << 19]).status_code == 202
    assert upload_offset(third, location) == 1 << 19
    assert patch_chunk(first, location, 1 << 19, data[1 << 19 :]).status_code == 202
    done = third.put(location, params={"digest": sha256(data)})
    assert done.status_code == 201, done.text
    assert second.get(f"/v2/moving/upload/blobs/{sha256(data)}").content == data


def test_a_patch_on_one_host_waits_for_the_session_held_by_another(
    hosts: list[S3ServeProcess], clients: list[httpx.Client]
) -> None:
    first, second, _ = clients
    chunk = b"x" * (1 << 16)
    location = start_upload(first, "handoff/upload")
    connection = begin_patch(hosts[0], location, 0, len(chunk))
    try:
        connection.send(chunk[: len(chunk) // 2])
        _wait_for_lock(hosts[0], location)  # host 0 holds the session's ref lock
        with ThreadPoolExecutor(1) as pool:
            follower = pool.submit(patch_chunk, second, location, len(chunk), chunk)
            assert not _done_within(follower, 1.0), "the second PATCH did not wait for the lock"
            connection.send(chunk[len(chunk) // 2 :])
            assert connection.getresponse().status == 202
            resp = follower.result(timeout=30)
    finally:
        connection.close()
    assert resp.status_code == 202, resp.text
    assert resp.headers["range"] == f"0-{2 * len(chunk) - 1}"
    data = chunk * 2
    assert first.put(location, params={"digest": sha256(data)}).status_code == 201


def test_a_session_held_by_a_host_that_died_continues_on_another_after_the_lease(
    tmp_path: Path,
) -> None:
    lease = 3.0
    with (
        _hosts(tmp_path, ("asyncio", "trio"), ["--s3-lock-lease", str(lease)]) as (dying, heir),
        httpx.Client(base_url=heir.url, timeout=30.0) as client,
    ):
        first = b"a" * (1 << 16)
        location = start_upload(client, "crash/upload")
        assert patch_chunk(client, location, 0, first).status_code == 202
        connection = begin_patch(dying, location, len(first), 1 << 16)
        try:
            connection.send(b"b" * (1 << 15))
            _wait_for_lock(dying, location)
            dying.kill()  # SIGKILL while it holds the session's ref lock
        finally:
            connection.close()
        killed_at = time.monotonic()
        offset = upload_offset(client, location)
        assert offset == len(first)  # the chunk cut off applied not at all
        rest = b"c" * (1 << 16)
        resp = patch_chunk(client, location, offset, rest)  # waits out the dead host's lease
        waited = time.monotonic() - killed_at
        assert resp.status_code == 202, resp.text
        assert lease - 1 <= waited < lease + 15
        data = first + rest
        assert client.put(location, params={"digest": sha256(data)}).status_code == 201
        assert client.get(f"/v2/crash/upload/blobs/{sha256(data)}").content == data


def _wait_for_lock(host: S3ServeProcess, location: str, timeout: float = 10.0) -> None:
    """Wait until the ref lock object of the upload session at ``location`` exists."""
    import botocore.session  # type: ignore[import-untyped]

    gw = shared_rgw()
    name, _, upload_id = location.removeprefix("/v2/").partition("/blobs/uploads/")
    ref = f"registry/uploads/{name}/{upload_id}"
    prefix = host.args[host.args.index("--s3-prefix") + 1]
    key = f"{prefix}/locks/{hashlib.sha256(ref.encode()).hexdigest()}"
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=gw.endpoint,
        aws_access_key_id=gw.access_key,
        aws_secret_access_key=gw.secret_key,
        region_name="us-east-1",
    )
    deadline = time.monotonic() + timeout
    try:
        while "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix=key):
            assert time.monotonic() < deadline, f"no lock object {key} after {timeout}s"
            time.sleep(0.02)
    finally:
        client.close()


def _done_within(future: object, seconds: float) -> bool:
    from concurrent.futures import Future, TimeoutError

    assert isinstance(future, Future)
    try:
        future.result(timeout=seconds)
    except TimeoutError:
        return False
    return True
