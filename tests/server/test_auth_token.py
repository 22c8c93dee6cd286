"""Bearer tokens: the signature, exp, nbf, issuer, audience and the access claim."""

from __future__ import annotations

import datetime
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from aiocontent import InvalidArgumentError, MemoryStore
from aiocontent.server import TokenAuth, create_app

from ._oci import digest_of, error_codes
from .conftest import BASE_URL

BLOB = b"a blob behind a token"
REALM = "http://auth.test/token"
SERVICE = "registry.test"
ISSUER = "auth.test"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(*keys: PrivateKey) -> bytes:
    return b"".join(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for key in keys
    )


def make_token(
    key: PrivateKey,
    access: list[dict[str, Any]],
    *,
    algorithm: str = "RS256",
    issuer: str = ISSUER,
    audience: str = SERVICE,
    lifetime: float = 300.0,
    not_before: float = -10.0,
) -> str:
    """A token as a distribution token server signs it."""
    now = time.time()
    claims = {
        "iss": issuer,
        "sub": "alice",
        "aud": audience,
        "exp": int(now + lifetime),
        "nbf": int(now + not_before),
        "iat": int(now),
        "access": access,
    }
    return jwt.encode(claims, key, algorithm=algorithm)


def repo_access(name: str, *actions: str) -> list[dict[str, Any]]:
    return [{"type": "repository", "name": name, "actions": list(actions)}]


Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> AsyncIterator[Client]:
    """Clients of one app trusting both keys; ``make_client(token)`` sends that Bearer token."""
    keyfile = tmp_path / "token.pem"
    keyfile.write_bytes(public_pem(rsa_key, ec_key))
    store = MemoryStore()
    clients: list[httpx.AsyncClient] = []

    def make(
        token: str | None = None, *, anonymous_pull: bool = False, read_only: bool = False
    ) -> httpx.AsyncClient:
        auth = TokenAuth(
            realm=REALM, service=SERVICE, issuer=ISSUER, keys=keyfile, anonymous_pull=anonymous_pull
        )
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(create_app(store, auth=auth, read_only=read_only)),
            base_url=BASE_URL,
            headers=headers,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def challenge(scope: str | None = None, error: str | None = None) -> str:
    value = f'Bearer realm="{REALM}",service="{SERVICE}"'
    if scope is not None:
        value += f',scope="{scope}"'
    if error is not None:
        value += f',error="{error}"'
    return value


def assert_unauthorized(response: httpx.Response, expected_challenge: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == expected_challenge
    assert error_codes(response) == ["UNAUTHORIZED"]


async def push_blob(client: httpx.AsyncClient, repo: str = "repo") -> httpx.Response:
    return await client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(BLOB)}, content=BLOB
    )


@pytest.fixture
async def pushed(make_client: Client, rsa_key: rsa.RSAPrivateKey) -> None:
    """``BLOB`` in ``repo``, pushed with a pull-and-push token."""
    response = await push_blob(
        make_client(make_token(rsa_key, repo_access("repo", "pull", "push")))
    )
    assert response.status_code == 201, response.text


async def test_base_endpoint_without_token_is_challenged_without_scope(
    make_client: Client,
) -> None:
    assert_unauthorized(await make_client().get("/v2/"), challenge())


async def test_base_endpoint_with_any_valid_token_answers_200(
    make_client: Client, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert (await make_client(make_token(rsa_key, [])).get("/v2/")).status_code == 200


async def test_pull_without_token_is_challenged_with_the_scope_it_needs(
    make_client: Client, pushed: None
) -> None:
    response = await make_client().get(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert_unauthorized(response, challenge("repository:repo:pull"))


async def test_push_without_token_is_challenged_with_push_scope(make_client: Client) -> None:
    assert_unauthorized(await push_blob(make_client()), challenge("repository:repo:push"))


async def test_rs256_token_with_pull_access_pulls(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    client = make_client(make_token(rsa_key, repo_access("repo", "pull")))
    assert (await client.get(f"/v2/repo/blobs/{digest_of(BLOB)}")).content == BLOB


async def test_es256_token_with_pull_access_pulls(
    make_client: Client, ec_key: ec.EllipticCurvePrivateKey, pushed: None
) -> None:
    client = make_client(make_token(ec_key, repo_access("repo", "pull"), algorithm="ES256"))
    assert (await client.get(f"/v2/repo/blobs/{digest_of(BLOB)}")).content == BLOB


async def test_wildcard_action_grants_push(make_client: Client, rsa_key: rsa.RSAPrivateKey) -> None:
    response = await push_blob(make_client(make_token(rsa_key, repo_access("repo", "*"))))
    assert response.status_code == 201


async def test_push_with_pull_only_token_is_insufficient_scope_and_stores_nothing(
    make_client: Client, rsa_key: rsa.RSAPrivateKey
) -> None:
    client = make_client(make_token(rsa_key, repo_access("repo", "pull")))
    response = await push_blob(client)
    assert_unauthorized(response, challenge("repository:repo:push", "insufficient_scope"))
    assert response.json()["errors"][0]["detail"] == {"missing": ["repository:repo:push"]}
    assert (await client.head(f"/v2/repo/blobs/{digest_of(BLOB)}")).status_code == 404


async def test_token_for_another_repository_is_insufficient_scope(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    client = make_client(make_token(rsa_key, repo_access("other", "pull", "push")))
    response = await client.get(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert_unauthorized(response, challenge("repository:repo:pull", "insufficient_scope"))


async def test_delete_needs_the_delete_action(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    path = f"/v2/repo/blobs/{digest_of(BLOB)}"
    pusher = make_client(make_token(rsa_key, repo_access("repo", "pull", "push")))
    response = await pusher.delete(path)
    assert_unauthorized(response, challenge("repository:repo:delete", "insufficient_scope"))
    deleter = make_client(make_token(rsa_key, repo_access("repo", "delete")))
    assert (await deleter.delete(path)).status_code == 202


async def test_mount_needs_pull_on_the_source_repository(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    client = make_client(make_token(rsa_key, repo_access("copy", "pull", "push")))
    params = {"mount": digest_of(BLOB), "from": "repo"}
    response = await client.post("/v2/copy/blobs/uploads/", params=params)
    scope = "repository:copy:push repository:repo:pull"
    assert_unauthorized(response, challenge(scope, "insufficient_scope"))
    assert (await client.head(f"/v2/copy/blobs/{digest_of(BLOB)}")).status_code == 404


async def test_mount_without_from_starts_a_session_instead_of_linking(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    client = make_client(make_token(rsa_key, repo_access("copy", "pull", "push")))
    response = await client.post("/v2/copy/blobs/uploads/", params={"mount": digest_of(BLOB)})
    assert response.status_code == 202, response.text
    assert "/v2/copy/blobs/uploads/" in response.headers["location"]
    assert (await client.head(f"/v2/copy/blobs/{digest_of(BLOB)}")).status_code == 404


async def test_mount_with_pull_on_the_source_links_the_blob(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    access = repo_access("copy", "pull", "push") + repo_access("repo", "pull")
    client = make_client(make_token(rsa_key, access))
    params = {"mount": digest_of(BLOB), "from": "repo"}
    assert (await client.post("/v2/copy/blobs/uploads/", params=params)).status_code == 201
    assert (await client.get(f"/v2/copy/blobs/{digest_of(BLOB)}")).content == BLOB


async def test_catalog_needs_registry_catalog_access(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    denied = make_client(make_token(rsa_key, repo_access("repo", "pull")))
    response = await denied.get("/v2/_catalog")
    assert_unauthorized(response, challenge("registry:catalog:*", "insufficient_scope"))
    catalog = [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    allowed = make_client(make_token(rsa_key, catalog))
    assert (await allowed.get("/v2/_catalog")).json() == {"repositories": ["repo"]}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"lifetime": -120.0}, "expired"),
        ({"not_before": 600.0}, "not valid yet"),
        ({"issuer": "someone-else"}, "another issuer"),
        ({"audience": "other-registry"}, "another service"),
    ],
    ids=["expired", "not-yet-valid", "wrong-issuer", "wrong-audience"],
)
async def test_invalid_token_claims_are_refused(
    make_client: Client,
    rsa_key: rsa.RSAPrivateKey,
    pushed: None,
    claims: dict[str, Any],
    reason: str,
) -> None:
    client = make_client(make_token(rsa_key, repo_access("repo", "pull"), **claims))
    response = await client.get(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert_unauthorized(response, challenge("repository:repo:pull", "invalid_token"))
    assert reason in response.json()["errors"][0]["detail"]


async def test_expired_token_within_the_leeway_is_accepted(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    client = make_client(make_token(rsa_key, repo_access("repo", "pull"), lifetime=-5.0))
    assert (await client.get(f"/v2/repo/blobs/{digest_of(BLOB)}")).status_code == 200


async def test_token_signed_by_an_unknown_key_is_refused(make_client: Client, pushed: None) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = make_client(make_token(stranger, repo_access("repo", "pull")))
    response = await client.get(f"/v2/repo/blobs/{digest_of(BLOB)}")
    assert_unauthorized(response, challenge("repository:repo:pull", "invalid_token"))
    assert "does not verify" in response.json()["errors"][0]["detail"]


async def test_unsigned_and_hmac_tokens_are_refused(
    make_client: Client, rsa_key: rsa.RSAPrivateKey, pushed: None
) -> None:
    claims = {
        "iss": ISSUER,
        "aud": SERVICE,
        "exp": int(time.time()) + 300,
        "access": repo_access("repo", "pull"),
    }
    unsigned = jwt.encode(claims, "", algorithm="none")
    hmac = jwt.encode(claims, "a secret shared with nobody, 32+ bytes", algorithm="HS256")
    for token in (unsigned, hmac):
        response = await make_client(token).get(f"/v2/repo/blobs/{digest_of(BLOB)}")
        assert_unauthorized(response, challenge("repository:repo:pull", "invalid_token"))


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", ""])
async def test_malformed_token_is_refused(make_client: Client, token: str) -> None:
    response = await make_client().get("/v2/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHORIZED"]
    assert response.headers["www-authenticate"].startswith(f'Bearer realm="{REALM}"')


async def test_basic_credentials_are_refused_by_token_auth(make_client: Client) -> None:
    response = await make_client().get("/v2/", headers={"Authorization": "Basic YTpi"})
    assert_unauthorized(response, challenge(error="invalid_request"))


async def test_malformed_access_claim_is_an_invalid_token(
    make_client: Client, rsa_key: rsa.RSAPrivateKey
) -> None:
    client = make_client(make_token(rsa_key, [{"type": "repository", "name": 3}]))
    assert_unauthorized(await client.get("/v2/"), challenge(error="invalid_token"))


async def test_anonymous_pull_needs_no_token_but_push_does(
    make_client: Client, pushed: None
) -> None:
    anonymous = make_client(anonymous_pull=True)
    assert (await anonymous.get(f"/v2/repo/blobs/{digest_of(BLOB)}")).content == BLOB
    assert_unauthorized(await push_blob(anonymous), challenge("repository:repo:push"))


async def test_read_only_refuses_a_push_token(
    make_client: Client, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = make_token(rsa_key, repo_access("repo", "pull", "push"))
    response = await push_blob(make_client(token, read_only=True))
    assert response.status_code == 405
    assert error_codes(response) == ["DENIED"]


# ------------------------------------------------------------------ the key file


def test_certificate_bundle_is_read_as_its_public_keys(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    path = tmp_path / "bundle.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    auth = TokenAuth(realm=REALM, service=SERVICE, issuer=ISSUER, keys=path)
    assert auth.realm == REALM


def test_private_key_file_is_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(InvalidArgumentError, match="private key; give the public key"):
        TokenAuth(realm=REALM, service=SERVICE, issuer=ISSUER, keys=path)


def test_file_without_pem_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("not a key\n")
    with pytest.raises(InvalidArgumentError, match="no PEM public key"):
        TokenAuth(realm=REALM, service=SERVICE, issuer=ISSUER, keys=path)
