"""skopeo and podman against ``aiocontent serve`` with auth: credentials in, refusals out.

More processes share ``target``'s store root: two with ``--htpasswd`` (one
with ``--anonymous-pull``), both knowing alice (may push) and bob
(``--pull-only``), and one with ``--token-*`` trusting a loopback token
server. What the refused pushes would have stored is looked up through
``target``, which needs no credentials.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest

from tests._services import service_unavailable
from tests.registry._server import PASSWORD, USER, TokenServer, TokenSigner
from tests.registry._server import serving as serving_thread

from .._process import serving
from ._clients import Podman, served_image, skopeo
from ._clients import skopeo_copy as copy
from ._images import Image, read_oci_layout, sha256, single, write_docker_archive, write_oci_layout
from .conftest import Target

ALICE = "alice:wonderland"
BOB = "bob:builder"


@pytest.fixture(scope="module")
def htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "htpasswd"
    lines = [
        f"{user}:".encode() + bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=6))
        for user, _, password in (ALICE.partition(":"), BOB.partition(":"))
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _auth_server(target: Target, name: str, *options: str) -> Iterator[Target]:
    """``aiocontent serve <options>`` on ``target``'s store root, for the block."""
    if target.root is None:
        pytest.skip(f"{target.name} is not aiocontent serve: no process with auth to add")
    args = ["--quiet", *options]
    log = target.root.parent / f"{name}.log"
    with serving(target.root, target.backend, log=log, args=args) as server:
        yield Target(f"{target.name}, {name}", server.listen, server.root, target.backend)


@pytest.fixture(scope="module")
def open_pull(target: Target, htpasswd: Path) -> Iterator[Target]:
    """Pulls need no credentials; pushes need alice's."""
    options = ("--htpasswd", str(htpasswd), "--pull-only=bob", "--anonymous-pull")
    yield from _auth_server(target, "htpasswd-anonymous-pull", *options)


@pytest.fixture(scope="module")
def closed(target: Target, htpasswd: Path) -> Iterator[Target]:
    """Every request needs credentials."""
    yield from _auth_server(target, "htpasswd", "--htpasswd", str(htpasswd), "--pull-only=bob")


def oci_source(tmp_path: Path, seed: int) -> tuple[Image, str]:
    image = single(seed)
    write_oci_layout(tmp_path / "source", image, "v1")
    return image, f"oci:{tmp_path / 'source'}:v1"


def stored(target: Target, tmp_path: Path, seed: int, repo: str) -> Image:
    """An image pushed to ``<repo>:v1`` through ``target``, which needs no credentials."""
    image, source = oci_source(tmp_path, seed)
    pushed = copy(source, f"docker://{target.host}/{repo}:v1")
    assert pushed.returncode == 0, pushed.stderr
    return image


def assert_nothing_stored(target: Target, repo: str, image: Image) -> None:
    assert httpx.get(f"{target.url}/v2/{repo}/manifests/v1", timeout=30).status_code == 404
    for digest in image.blobs:
        assert httpx.head(f"{target.url}/v2/{repo}/blobs/{digest}", timeout=30).status_code == 404


def test_server_challenges_without_credentials_and_answers_with_them(closed: Target) -> None:
    resp = httpx.get(f"{closed.url}/v2/", timeout=30)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == 'Basic realm="aiocontent"'
    assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"
    user, _, password = ALICE.partition(":")
    assert httpx.get(f"{closed.url}/v2/", auth=(user, password), timeout=30).status_code == 200


def test_skopeo_push_with_dest_creds_stores_the_image(
    target: Target, closed: Target, tmp_path: Path
) -> None:
    image, source = oci_source(tmp_path, 21)
    pushed = copy(source, f"docker://{closed.host}/auth/pushed:v1", f"--dest-creds={ALICE}")
    assert pushed.returncode == 0, pushed.stderr
    served = served_image(target.url, "auth/pushed", "v1")
    assert served.root == image.root
    assert served.blobs == image.blobs


def test_skopeo_pull_with_src_creds_of_a_pull_only_user(
    target: Target, closed: Target, tmp_path: Path
) -> None:
    image = stored(target, tmp_path, 22, "auth/pull")
    pulled = copy(
        f"docker://{closed.host}/auth/pull:v1", f"oci:{tmp_path / 'out'}:v1", f"--src-creds={BOB}"
    )
    assert pulled.returncode == 0, pulled.stderr
    out = read_oci_layout(tmp_path / "out", "v1")
    assert out.root == image.root
    assert out.blobs == image.blobs


def test_skopeo_inspect_with_creds_reads_the_digest(
    target: Target, closed: Target, tmp_path: Path
) -> None:
    image = stored(target, tmp_path, 23, "auth/inspect")
    result = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"--creds={BOB}",
        f"docker://{closed.host}/auth/inspect:v1",
    )
    assert sha256(result.stdout.encode()) == image.digest


def test_skopeo_pull_without_creds_is_refused_unless_anonymous_pull(
    target: Target, closed: Target, open_pull: Target, tmp_path: Path
) -> None:
    image = stored(target, tmp_path, 24, "auth/anonymous")
    refused = copy(f"docker://{closed.host}/auth/anonymous:v1", f"oci:{tmp_path / 'no'}:v1")
    assert refused.returncode != 0
    assert "authentication required" in refused.stderr.lower(), refused.stderr
    pulled = copy(f"docker://{open_pull.host}/auth/anonymous:v1", f"oci:{tmp_path / 'out'}:v1")
    assert pulled.returncode == 0, pulled.stderr
    assert read_oci_layout(tmp_path / "out", "v1").root == image.root


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), "authentication required"),
        (("--dest-creds=alice:not-her-password",), "authentication required"),
        (("--dest-creds=mallory:wonderland",), "authentication required"),
        ((f"--dest-creds={BOB}",), "denied"),
    ],
    ids=["no-creds", "wrong-password", "unknown-user", "pull-only-user"],
)
def test_skopeo_push_is_refused_and_stores_nothing(
    target: Target,
    open_pull: Target,
    tmp_path: Path,
    flags: tuple[str, ...],
    expected: str,
) -> None:
    image, source = oci_source(tmp_path, 25)
    repo = "auth/refused"
    result = copy(source, f"docker://{open_pull.host}/{repo}:v1", *flags)
    assert result.returncode != 0
    assert expected in result.stderr.lower(), result.stderr
    assert_nothing_stored(target, repo, image)


@pytest.fixture
def podman_home() -> Iterator[Path]:
    """A short directory under /tmp for podman homes (podman refuses long run roots)."""
    base = Path(tempfile.mkdtemp(prefix="pod-auth-", dir="/tmp"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def login(podman: Podman, host: str, credentials: str) -> subprocess.CompletedProcess[str]:
    """``podman login`` into ``podman``'s own auth file, whatever its exit status."""
    user, _, password = credentials.partition(":")
    return podman(
        "login",
        f"--authfile={podman.base / 'auth.json'}",
        "--tls-verify=false",
        f"--username={user}",
        f"--password={password}",
        host,
        check=False,
    )


def test_podman_login_push_and_pull_round_trip(
    target: Target, closed: Target, podman_home: Path, tmp_path: Path
) -> None:
    image = single(26, docker=True)
    write_docker_archive(tmp_path / "image.tar", image, "localhost/auth/source:v1")
    pusher = Podman(podman_home / "pusher", closed.host)
    assert login(pusher, closed.host, ALICE).returncode == 0
    pusher("load", pusher.policy, "--quiet", "--input", str(tmp_path / "image.tar"))
    reference = f"{closed.host}/auth/podman:v1"
    authfile = f"--authfile={pusher.base / 'auth.json'}"
    pusher("push", pusher.policy, authfile, "--quiet", "localhost/auth/source:v1", reference)
    assert served_image(target.url, "auth/podman", "v1").config == image.config

    puller = Podman(podman_home / "puller", closed.host)
    assert login(puller, closed.host, BOB).returncode == 0
    puller("pull", puller.policy, f"--authfile={puller.base / 'auth.json'}", "--quiet", reference)
    assert puller.inspect(reference)["Id"] == sha256(image.config).removeprefix("sha256:")


def test_podman_login_with_a_wrong_password_fails(closed: Target, podman_home: Path) -> None:
    podman = Podman(podman_home / "wrong", closed.host)
    result = login(podman, closed.host, "alice:not-her-password")
    assert result.returncode != 0
    assert "unauthorized" in result.stderr.lower() or "invalid" in result.stderr.lower(), (
        result.stderr
    )
    assert (
        not (podman.base / "auth.json").exists()
        or "alice" not in (podman.base / "auth.json").read_text()
    )


# ------------------------------------------------------------------ Bearer tokens

TOKEN_ISSUER = "aiocontent-test-issuer"
TOKEN_SERVICE = "aiocontent-test-registry"


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TokenSigner, TokenServer]]:
    """A loopback token server handing ``USER`` tokens for any scope it asks, signed RS256."""
    try:
        signer = TokenSigner(tmp_path_factory.mktemp("token"), TOKEN_ISSUER, TOKEN_SERVICE)
    except FileNotFoundError as exc:
        service_unavailable(str(exc))
    server = TokenServer(signer)
    with serving_thread(server):
        yield signer, server


@pytest.fixture(scope="module")
def token_target(target: Target, tokens: tuple[TokenSigner, TokenServer]) -> Iterator[Target]:
    """``aiocontent serve --token-*`` trusting the token server's certificate."""
    signer, server = tokens
    options = (
        f"--token-realm={server.realm}",
        f"--token-service={TOKEN_SERVICE}",
        f"--token-issuer={TOKEN_ISSUER}",
        f"--token-key={signer.cert}",
    )
    yield from _auth_server(target, "token", *options)


def test_skopeo_push_and_pull_with_a_token_from_the_token_server(
    target: Target, token_target: Target, tokens: tuple[TokenSigner, TokenServer], tmp_path: Path
) -> None:
    image, source = oci_source(tmp_path, 27)
    creds = f"{USER}:{PASSWORD}"
    pushed = copy(source, f"docker://{token_target.host}/auth/token:v1", f"--dest-creds={creds}")
    assert pushed.returncode == 0, pushed.stderr
    assert served_image(target.url, "auth/token", "v1").root == image.root
    out = f"oci:{tmp_path / 'out'}:v1"
    pulled = copy(f"docker://{token_target.host}/auth/token:v1", out, f"--src-creds={creds}")
    assert pulled.returncode == 0, pulled.stderr
    assert read_oci_layout(tmp_path / "out", "v1").blobs == image.blobs
    scopes = {query.get("scope") for query in tokens[1].requests}
    assert "repository:auth/token:pull,push" in scopes
    assert all(query.get("service") == TOKEN_SERVICE for query in tokens[1].requests)


def test_skopeo_push_with_credentials_the_token_server_refuses_fails(
    target: Target, token_target: Target, tmp_path: Path
) -> None:
    image, source = oci_source(tmp_path, 28)
    flags = (f"--dest-creds={USER}:wrong",)
    result = copy(source, f"docker://{token_target.host}/auth/token-refused:v1", *flags)
    assert result.returncode != 0
    assert_nothing_stored(target, "auth/token-refused", image)
