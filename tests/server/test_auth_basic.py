"""HTTP Basic against an htpasswd file: challenges, anonymous pull, pull-only users, the cache."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import bcrypt
import httpx
import pytest

from aiocontent import InvalidArgumentError, MemoryStore
from aiocontent.server import HtpasswdAuth, create_app
from aiocontent.server import _htpasswd as htpasswd_module

from ._oci import Api, digest_of, error_codes
from .conftest import BASE_URL

BLOB = b"a blob behind a password"
ALICE = ("alice", "wonderland")
BOB = ("bob", "builder")
CHALLENGE = 'Basic realm="test registry"'


def hashed(password: str, prefix: bytes = b"$2b$") -> bytes:
    """A cheap bcrypt hash of ``password`` (cost 4: the tests need speed, not strength)."""
    return prefix + bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))[4:]


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    """alice (may push) and bob (pull only), with ``$2y$`` hashes as ``htpasswd -B`` writes."""
    path = tmp_path / "htpasswd"
    path.write_bytes(
        b"# registry users\n"
        + b"alice:" + hashed(ALICE[1], b"$2y$") + b"\n\n"
        + b"bob:" + hashed(BOB[1], b"$2y$") + b"\n"
    )  # fmt: skip
    return path


Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(htpasswd: Path) -> AsyncIterator[Client]:
    """Clients of one app over a MemoryStore; ``make_client(auth=...)`` sets the credentials."""
    store = MemoryStore()
    clients: list[httpx.AsyncClient] = []

    def make(
        auth: tuple[str, str] | None = None, *, anonymous_pull: bool = False
    ) -> httpx.AsyncClient:
        checker = HtpasswdAuth(
            htpasswd, realm="test registry", anonymous_pull=anonymous_pull, pull_only=["bob"]
        )
        app = create_app(store, auth=checker)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL, auth=auth)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def bcrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The passwords bcrypt checks from now on, in order."""
    calls: list[bytes] = []
    real_check = htpasswd_module._check

    def counting_check(password: bytes, stored: bytes) -> bool:
        calls.append(password)
        return real_check(password, stored)

    monkeypatch.setattr(htpasswd_module, "_check", counting_check)
    return calls


def assert_challenged(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == CHALLENGE
    assert error_codes(response) == ["UNAUTHORIZED"]


async def test_base_endpoint_without_credentials_is_challenged(make_client: Client) -> None:
    assert_challenged(await make_client().get("/v2/"))


async def test_base_endpoint_with_valid_credentials_answers_200(make_client: Client) -> None:
    response = await make_client(ALICE).get("/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def test_wrong_password_is_challenged(make_client: Client) -> None:
    assert_challenged(await make_client(("alice", "looking-glass")).get("/v2/"))


async def test_unknown_user_is_challenged(make_client: Client) -> None:
    assert_challenged(await make_client(("mallory", "wonderland")).get("/v2/"))


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:pw").decode(),
        "Basic",
        "Bearer some.jwt.token",
        "Digest username=alice",
    ],
)
async def test_malformed_authorization_header_is_challenged(
    make_client: Client, header: str
) -> None:
    response = await make_client().get("/v2/", headers={"Authorization": header})
    assert_challenged(response)


async def test_head_challenge_has_the_header_and_no_body(make_client: Client) -> None:
    response = await make_client().head(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.content == b""


async def test_pull_without_credentials_is_challenged_when_anonymous_pull_is_off(
    make_client: Client,
) -> None:
    await Api(make_client(ALICE)).push_blob("repo", BLOB)
    assert_challenged(await make_client().get(f"/v2/repo/blobs/{digest_of(BLOB)}"))
    assert_challenged(await make_client().get("/v2/_catalog"))


async def test_anonymous_pull_serves_blobs_manifests_tags_and_catalog(make_client: Client) -> None:
    digest, body = await Api(make_client(ALICE)).push_image("repo", "v1")
    anonymous = make_client(anonymous_pull=True)
    assert (await anonymous.get("/v2/repo/manifests/v1")).content == body
    assert (await anonymous.head(f"/v2/repo/manifests/{digest}")).status_code == 200
    assert (await anonymous.get("/v2/repo/tags/list")).json()["tags"] == ["v1"]
    assert (await anonymous.get("/v2/_catalog")).json() == {"repositories": ["repo"]}


async def test_anonymous_pull_accepts_empty_basic_credentials(make_client: Client) -> None:
    await Api(make_client(ALICE)).push_blob("repo", BLOB)
    empty = make_client(("", ""), anonymous_pull=True)
    assert (await empty.get(f"/v2/repo/blobs/{digest_of(BLOB)}")).content == BLOB


async def test_anonymous_pull_still_challenges_the_base_endpoint(make_client: Client) -> None:
    assert_challenged(await make_client(anonymous_pull=True).get("/v2/"))


async def test_anonymous_push_is_challenged_and_stores_nothing(make_client: Client) -> None:
    anonymous = make_client(anonymous_pull=True)
    response = await anonymous.post(
        "/v2/repo/blobs/uploads/", params={"digest": digest_of(BLOB)}, content=BLOB
    )
    assert_challenged(response)
    alice = make_client(ALICE)
    assert (await alice.head(f"/v2/repo/blobs/{digest_of(BLOB)}")).status_code == 404
    assert (await alice.get("/v2/_catalog")).json() == {"repositories": []}


async def test_anonymous_delete_is_challenged(make_client: Client) -> None:
    digest, _ = await Api(make_client(ALICE)).push_image("repo", "v1")
    anonymous = make_client(anonymous_pull=True)
    assert_challenged(await anonymous.delete(f"/v2/repo/manifests/{digest}"))
    assert (await anonymous.get(f"/v2/repo/manifests/{digest}")).status_code == 200


async def test_wrong_password_is_challenged_even_with_anonymous_pull(make_client: Client) -> None:
    await Api(make_client(ALICE)).push_blob("repo", BLOB)
    wrong = make_client(("alice", "nope"), anonymous_pull=True)
    assert_challenged(await wrong.get(f"/v2/repo/blobs/{digest_of(BLOB)}"))


async def test_user_may_push_and_pull_back(make_client: Client) -> None:
    alice = make_client(ALICE)
    digest, body = await Api(alice).push_image("repo", "v1")
    response = await alice.get(f"/v2/repo/manifests/{digest}")
    assert response.status_code == 200
    assert response.content == body


async def test_pull_only_user_may_pull(make_client: Client) -> None:
    await Api(make_client(ALICE)).push_blob("repo", BLOB)
    response = await make_client(BOB).get(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert response.content == BLOB


async def test_pull_only_user_may_list_the_catalog_and_tags(make_client: Client) -> None:
    await Api(make_client(ALICE)).push_image("repo", "v1")
    bob = make_client(BOB)
    assert (await bob.get("/v2/_catalog")).json() == {"repositories": ["repo"]}
    assert (await bob.get("/v2/repo/tags/list")).json()["tags"] == ["v1"]


async def test_push_by_pull_only_user_is_denied_and_stores_nothing(make_client: Client) -> None:
    bob = make_client(BOB)
    response = await bob.post(
        "/v2/repo/blobs/uploads/", params={"digest": digest_of(BLOB)}, content=BLOB
    )
    assert response.status_code == 403
    assert error_codes(response) == ["DENIED"]
    assert "www-authenticate" not in response.headers
    assert response.json()["errors"][0]["detail"] == {
        "user": "bob",
        "access": ["repository:repo:push"],
    }
    assert (await bob.head(f"/v2/repo/blobs/{digest_of(BLOB)}")).status_code == 404


async def test_delete_by_pull_only_user_is_denied(make_client: Client) -> None:
    digest, _ = await Api(make_client(ALICE)).push_image("repo", "v1")
    response = await make_client(BOB).delete(f"/v2/repo/manifests/{digest}")
    assert response.status_code == 403
    assert error_codes(response) == ["DENIED"]
    assert (await make_client(BOB).get("/v2/repo/manifests/v1")).status_code == 200


async def test_read_only_refuses_a_push_with_valid_credentials(htpasswd: Path) -> None:
    app = create_app(MemoryStore(), read_only=True, auth=HtpasswdAuth(htpasswd))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, auth=ALICE) as alice:
        response = await alice.post(
            "/v2/repo/blobs/uploads/", params={"digest": digest_of(BLOB)}, content=BLOB
        )
        assert response.status_code == 405
        assert error_codes(response) == ["DENIED"]
        assert (await alice.get("/v2/")).status_code == 200


async def test_realm_with_quotes_is_escaped_in_the_challenge(htpasswd: Path) -> None:
    app = create_app(MemoryStore(), auth=HtpasswdAuth(htpasswd, realm='the "main" one'))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        response = await c.get("/v2/")
    assert response.headers["www-authenticate"] == r'Basic realm="the \"main\" one"'


async def test_many_requests_with_one_credential_run_bcrypt_once(
    make_client: Client, bcrypt_calls: list[bytes]
) -> None:
    alice = make_client(ALICE)
    statuses: list[int] = []

    async def ping() -> None:
        statuses.append((await alice.get("/v2/")).status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(ping)
    for _ in range(10):
        await ping()
    assert statuses == [200] * 30
    assert bcrypt_calls == [ALICE[1].encode()]


async def test_failed_checks_are_not_cached(make_client: Client, bcrypt_calls: list[bytes]) -> None:
    wrong = make_client(("alice", "nope"))
    for _ in range(3):
        assert (await wrong.get("/v2/")).status_code == 401
    assert len(bcrypt_calls) == 3
    assert (await make_client(ALICE).get("/v2/")).status_code == 200


async def test_unknown_user_costs_a_bcrypt_check_as_a_known_one_does(
    make_client: Client, bcrypt_calls: list[bytes]
) -> None:
    assert (await make_client(("mallory", "wonderland")).get("/v2/")).status_code == 401
    assert bcrypt_calls == [b"wonderland"]


async def test_cached_credential_expires(htpasswd: Path, bcrypt_calls: list[bytes]) -> None:
    app = create_app(MemoryStore(), auth=HtpasswdAuth(htpasswd, cache_seconds=0.0))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, auth=ALICE) as alice:
        for _ in range(3):
            assert (await alice.get("/v2/")).status_code == 200
    assert len(bcrypt_calls) == 3


# ------------------------------------------------------------------ loading the file


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        (b"carol:$apr1$abcdefgh$0123456789abcdefghijkl", "MD5 ($apr1$)"),
        (b"carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1 ({SHA})"),
        (b"carol:plaintext", "plain-text"),
        (b"carol:$6$salt$hash", "'6' crypt"),
        (b"carol:$2y$10$tooshort", "malformed bcrypt"),
    ],
)
def test_non_bcrypt_entries_are_refused_at_load(tmp_path: Path, entry: bytes, kind: str) -> None:
    path = tmp_path / "htpasswd"
    path.write_bytes(b"alice:" + hashed("x") + b"\n" + entry + b"\n")
    with pytest.raises(InvalidArgumentError) as caught:
        HtpasswdAuth(path)
    message = str(caught.value)
    assert f"{path}:2" in message
    assert "'carol'" in message
    assert kind in message
    assert entry.partition(b":")[2].decode() not in message


def test_line_without_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_bytes(b":" + hashed("x") + b"\n")
    with pytest.raises(InvalidArgumentError, match=f"{path}:1"):
        HtpasswdAuth(path)


def test_duplicate_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_bytes(b"alice:" + hashed("x") + b"\nalice:" + hashed("y") + b"\n")
    with pytest.raises(InvalidArgumentError, match="'alice' appears twice"):
        HtpasswdAuth(path)


def test_pull_only_user_must_be_in_the_file(htpasswd: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="carol"):
        HtpasswdAuth(htpasswd, pull_only=["carol"])


def test_users_are_read_from_the_file(htpasswd: Path) -> None:
    assert HtpasswdAuth(htpasswd).users == {"alice", "bob"}


def test_auth_classes_are_published_under_aiocontent_server() -> None:
    import aiocontent.server

    for name in ("HtpasswdAuth", "TokenAuth", "Auth", "Access"):
        assert getattr(aiocontent.server, name).__module__ == "aiocontent.server"
