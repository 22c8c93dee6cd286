"""Every failure of a hostile or broken registry is a typed error naming what was wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import anyio
import httpx
import pytest

from aiocontent import FailedPreconditionError, InvalidArgumentError, NotFoundError, read_blob
from aiocontent._memory import MemoryStore
from aiocontent._registry import _media
from aiocontent.registry import RegistryAuthError, RegistryError

from ._fake import FakeRegistry, desc, digest_of, index_for, pull_from


def always(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


async def test_redirect_loop_is_a_registry_error(store: MemoryStore) -> None:
    fake = FakeRegistry()
    loop = fake.url("manifests", "v1")
    fake.routes[loop] = lambda _: always(302, Location=f"http://{loop}")
    with pytest.raises(RegistryError, match="more than 10 redirects"):
        await pull_from(fake, store, retries=0)
    assert len(fake.requests) == 11


@pytest.mark.parametrize(
    ("location", "why"),
    [("ftp://registry.test/x", "not an http"), ("http://[:::]/x", "Invalid IPv6 address")],
)
async def test_unusable_redirect_is_a_registry_error(
    store: MemoryStore, location: str, why: str
) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: always(307, Location=location)
    with pytest.raises(RegistryError, match=why) as info:
        await pull_from(fake, store)
    assert location.partition("/x")[0].removeprefix("http://") in str(info.value)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("[:::]:5000/a:b", r"host '\[:::\]:5000': ':::' is not an IPv6 address"),
        ("127.0.0.1:99999/a:b", "host '127.0.0.1:99999': port 99999 is not between 1 and 65535"),
        ("127.0.0.1:0/a:b", "port 0 is not between"),
        ("[::1]:70000/a:b", "port 70000"),
    ],
)
async def test_unusable_registry_host_is_an_invalid_argument(
    store: MemoryStore, reference: str, why: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        await pull_from(FakeRegistry(), store, reference)


async def test_deeply_nested_manifest_json_is_a_registry_error(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.manifest(b"[" * 100_000, _media.OCI_MANIFEST, "v1")
    with pytest.raises(RegistryError, match="nested too deeply"):
        await pull_from(fake, store)


async def test_index_nested_1500_deep_is_a_registry_error(store: MemoryStore) -> None:
    fake = FakeRegistry()
    manifest = fake.image(b"layer", tag="leaf")
    child = desc(manifest.media_type, b"")
    child.update(digest=str(manifest.digest), size=manifest.size)
    for _ in range(1500):
        child["platform"] = {"os": "linux", "architecture": "amd64"}
        top = fake.manifest(index_for(child), _media.OCI_INDEX)
        child = top.to_dict()
    fake.manifest(index_for(child | {"platform": {"os": "linux", "architecture": "amd64"}}),
                  _media.OCI_INDEX, "v1")  # fmt: skip
    with pytest.raises(RegistryError, match="indexes nested more than 16 deep"):
        await pull_from(fake, store)
    assert len(fake.paths("/manifests/")) <= 17
    assert await store.list_statuses() == []


async def test_retry_after_nan_falls_back_to_backoff(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.image(b"layer")
    serve = fake.routes[fake.url("manifests", "v1")]
    answers = iter([always(503, **{"Retry-After": "nan"})])
    fake.routes[fake.url("manifests", "v1")] = lambda r: next(answers, None) or serve(r)
    root = await pull_from(fake, store)
    assert await read_blob(store, root)
    assert len(fake.paths("/manifests/v1")) == 2


async def test_retry_after_as_http_date_is_honoured(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.image(b"layer")
    serve = fake.routes[fake.url("manifests", "v1")]
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    answers = iter([always(429, **{"Retry-After": past})])
    fake.routes[fake.url("manifests", "v1")] = lambda r: next(answers, None) or serve(r)
    await pull_from(fake, store)
    assert len(fake.paths("/manifests/v1")) == 2


async def test_retry_after_an_hour_fails_at_once(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: always(429, **{"Retry-After": "3600"})
    began = anyio.current_time()
    with pytest.raises(RegistryError, match="retry after 3600 s, longer than the 30 s") as info:
        await pull_from(fake, store)
    assert anyio.current_time() - began < 1
    assert info.value.status == 429
    assert len(fake.requests) == 1


async def test_retries_stop_when_their_budget_is_spent(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: always(503, **{"Retry-After": "0.2"})
    began = anyio.current_time()
    with pytest.raises(RegistryError, match="HTTP 503") as info:
        await pull_from(fake, store, retries=100, retry_budget=0.5)
    assert anyio.current_time() - began < 0.5 + 0.3
    assert len(fake.requests) == 3  # two waits of 0.2 s fit in the budget, a third does not
    assert info.value.status == 503


async def test_connection_errors_past_the_retries_are_a_registry_error(
    store: MemoryStore,
) -> None:
    fake = FakeRegistry()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake.routes[fake.url("manifests", "v1")] = refuse
    with pytest.raises(
        RegistryError, match=r"ConnectError: connection refused \(after 3 attempts\)"
    ):
        await pull_from(fake, store, retries=2)
    assert len(fake.requests) == 3


async def test_manifest_body_broken_off_is_retried(store: MemoryStore) -> None:
    fake = FakeRegistry()
    manifest = fake.image(b"layer")
    serve = fake.routes[fake.url("manifests", "v1")]

    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield b'{"schemaVersion"'
            raise httpx.RemoteProtocolError("peer closed connection")

    answers = iter([httpx.Response(200, stream=Broken())])
    fake.routes[fake.url("manifests", "v1")] = lambda r: next(answers, None) or serve(r)
    assert await pull_from(fake, store) == manifest
    assert len(fake.paths("/manifests/v1")) == 2


async def test_token_answer_without_token_is_a_registry_error(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: always(
        401, **{"WWW-Authenticate": 'Bearer realm="http://auth.test/token"'}
    )
    fake.routes["auth.test/token"] = lambda _: httpx.Response(200, content=b"[" * 100_000)
    with pytest.raises(RegistryError, match=r"auth\.test/token: HTTP 200: answer has no token"):
        await pull_from(fake, store)


async def test_forbidden_without_challenge_is_an_auth_error(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: always(403)
    with pytest.raises(RegistryAuthError, match=r"HTTP 403: access denied for registry\.test"):
        await pull_from(fake, store)


async def test_missing_platform_lists_a_few_of_many(store: MemoryStore) -> None:
    fake = FakeRegistry()
    entries = [
        desc(_media.OCI_MANIFEST, str(i).encode(), platform={"os": "os", "architecture": f"a{i}"})
        for i in range(15_000)
    ]
    fake.manifest(index_for(*entries), _media.OCI_INDEX, "v1")
    with pytest.raises(NotFoundError, match="and 14980 more") as info:
        await pull_from(fake, store)
    assert len(str(info.value)) < 1000


async def test_index_entry_of_a_layer_type_is_refused_before_fetching(store: MemoryStore) -> None:
    fake = FakeRegistry()
    entry = desc("application/vnd.oci.image.layer.v1.tar", b"x", platform={"os": "linux",
                 "architecture": "amd64"})  # fmt: skip
    fake.manifest(index_for(entry), _media.OCI_INDEX, "v1")
    with pytest.raises(RegistryError, match="unsupported media type"):
        await pull_from(fake, store)
    assert fake.paths(digest_of(b"x")) == []


async def test_manifest_digest_pinned_in_the_reference_is_checked(store: MemoryStore) -> None:
    fake = FakeRegistry()
    manifest = fake.image(b"layer")
    wrong = digest_of(b"other")
    fake.routes[fake.url("manifests", wrong)] = fake.routes[fake.url("manifests", "v1")]
    with pytest.raises(FailedPreconditionError, match=f"does not match expected {wrong}"):
        await pull_from(fake, store, f"registry.test/test/app@{wrong}")
    with pytest.raises(NotFoundError):
        await store.info(manifest.digest)
