"""Test-side registry machinery: registry process, image pushes, loopback proxy, token server.

Everything listens on 127.0.0.1 only. The proxy and the token server are
small threaded HTTP servers, so they serve whatever async backend the test
runs on.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import http.client
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx

from aiocontent._registry import _media

REGISTRY_BIN: Final = "docker-registry"
LAYER_TYPE: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER_TYPE: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
#: The password of ``USER`` in the htpasswd file: bcrypt (cost 4) of ``PASSWORD``.
USER: Final = "puller"
PASSWORD: Final = "pull-secret"
_HTPASSWD: Final = f"{USER}:$2b$04$ugZejBVb2A7ZOH7DzW.qXuwfhUa0NVugJhByglG3mUT9jDBdkFz4y\n"
_START_TIMEOUT: Final = 20.0
_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryProcess:
    """A ``docker-registry serve`` on 127.0.0.1 with a config written here.

    ``cache`` turns on the in-memory blob descriptor cache (Debian's default config has it).
    """

    def __init__(
        self,
        workdir: Path,
        storage: Path,
        auth: dict[str, Any] | None = None,
        *,
        cache: bool = False,
    ) -> None:
        self.workdir = workdir
        self.storage = storage
        self.auth = auth
        self.cache = cache
        self.port = free_port()
        self.log = workdir / "registry.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> None:
        binary = shutil.which(REGISTRY_BIN)
        if binary is None:
            raise FileNotFoundError(
                f"{REGISTRY_BIN} not installed (apt-get install docker-registry)"
            )
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": "aiocontent-test-secret"},
        }
        if self.auth is not None:
            config["auth"] = self.auth
        if self.cache:
            config["storage"]["cache"] = {"blobdescriptor": "inmemory"}
        path = self.workdir / "config.yml"
        path.write_text(json.dumps(config))  # YAML is a superset of JSON
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                [binary, "serve", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                resp = httpx.get(f"{self.url}/v2/", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if resp.status_code in (200, 401):
                return
        self.stop()
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{REGISTRY_BIN} did not start on {self.host}: {tail}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def basic_auth_config(workdir: Path) -> dict[str, Any]:
    path = workdir / "htpasswd"
    path.write_text(_HTPASSWD)
    return {"htpasswd": {"realm": "aiocontent-test", "path": str(path)}}


# -- pushing ----------------------------------------------------------------------


def push_blob(client: httpx.Client, base: str, repo: str, data: bytes, *, chunked: bool) -> str:
    """Upload a blob: POST, then one monolithic PUT, or PATCH chunks and a closing PUT."""
    digest = digest_of(data)
    resp = client.post(f"{base}/v2/{repo}/blobs/uploads/")
    resp.raise_for_status()
    location = urllib.parse.urljoin(base, resp.headers["Location"])
    if not chunked:
        resp = client.put(
            httpx.URL(location).copy_merge_params({"digest": digest}),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        resp.raise_for_status()
        return digest
    step = 1 << 20
    for start in range(0, len(data), step):
        part = data[start : start + step]
        resp = client.patch(
            location,
            content=part,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(part) - 1}",
            },
        )
        resp.raise_for_status()
        location = urllib.parse.urljoin(base, resp.headers["Location"])
    resp = client.put(httpx.URL(location).copy_merge_params({"digest": digest}))
    resp.raise_for_status()
    return digest


def push_manifest(
    client: httpx.Client, base: str, repo: str, ref: str, media_type: str, body: bytes
) -> str:
    resp = client.put(
        f"{base}/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": media_type}
    )
    resp.raise_for_status()
    return digest_of(body)


@dataclasses.dataclass
class Image:
    """An image pushed to the test registry: its root and every blob under it."""

    repo: str
    tag: str
    root: str
    root_type: str
    #: every blob by digest (indexes, manifests, configs, layers)
    blobs: dict[str, bytes]
    #: the manifest digest of each platform ("linux/amd64": ...)
    manifests: dict[str, str]
    #: config and layers of each manifest digest
    children: dict[str, list[str]]


def _layer(seed: int, size: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def _config(arch: str, variant: str = "") -> bytes:
    cfg: dict[str, Any] = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers"}}
    if variant:
        cfg["variant"] = variant
    return json.dumps(cfg, sort_keys=True).encode()


def _desc(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


#: The big layer both test images share (a few MiB).
SHARED_LAYER: Final = _layer(1, 3 << 20)


def push_multi(client: httpx.Client, base: str, repo: str = "test/multi") -> Image:
    """An OCI index with linux/amd64 and linux/arm64/v8 manifests sharing a 3 MiB layer."""
    blobs: dict[str, bytes] = {}
    manifests: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    entries = []
    for seed, (arch, variant) in enumerate((("amd64", ""), ("arm64", "v8")), start=10):
        config = _config(arch, variant)
        own = _layer(seed, 64 << 10)
        for data in (config, SHARED_LAYER, own):
            blobs[push_blob(client, base, repo, data, chunked=False)] = data
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": _media.OCI_MANIFEST,
                "config": _desc(_media.OCI_CONFIG, config),
                "layers": [_desc(LAYER_TYPE, SHARED_LAYER), _desc(LAYER_TYPE, own)],
            }
        ).encode()
        digest = push_manifest(
            client, base, repo, digest_of(manifest), _media.OCI_MANIFEST, manifest
        )
        blobs[digest] = manifest
        platform = {
            "architecture": arch,
            "os": "linux",
            **({"variant": variant} if variant else {}),
        }
        manifests["linux/" + arch + (f"/{variant}" if variant else "")] = digest
        children[digest] = [digest_of(config), digest_of(SHARED_LAYER), digest_of(own)]
        entries.append(_desc(_media.OCI_MANIFEST, manifest, platform=platform))
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": _media.OCI_INDEX, "manifests": entries}
    ).encode()
    root = push_manifest(client, base, repo, "v1", _media.OCI_INDEX, index)
    blobs[root] = index
    return Image(repo, "v1", root, _media.OCI_INDEX, blobs, manifests, children)


def push_single(client: httpx.Client, base: str, repo: str = "test/single") -> Image:
    """A Docker v2 manifest (no index) sharing the big layer, uploaded in chunks."""
    config = _config("amd64")
    own = _layer(20, 512 << 10)
    blobs = {push_blob(client, base, repo, d, chunked=True): d for d in (config, SHARED_LAYER, own)}
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": _media.DOCKER_MANIFEST,
            "config": _desc(_media.DOCKER_CONFIG, config),
            "layers": [_desc(DOCKER_LAYER_TYPE, SHARED_LAYER), _desc(DOCKER_LAYER_TYPE, own)],
        }
    ).encode()
    root = push_manifest(client, base, repo, "v1", _media.DOCKER_MANIFEST, manifest)
    blobs[root] = manifest
    children = {root: [digest_of(config), digest_of(SHARED_LAYER), digest_of(own)]}
    return Image(repo, "v1", root, _media.DOCKER_MANIFEST, blobs, {}, children)


# -- the loopback proxy -------------------------------------------------------------


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _send_empty(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _forward(self) -> None:
        proxy = self.server
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        with proxy.lock:
            proxy.seen.append(seen)
            fail = next((k for k in proxy.fail if k in self.path and proxy.fail[k]), None)
            status_override = proxy.fail[fail].pop(0) if fail else None
        target = next((d for d in proxy.targets() if d in self.path), None)
        if status_override is not None:
            seen.status = status_override
            self._send_empty(status_override, {})
            return
        if proxy.redirect_blobs and "/blobs/" in self.path and self.command == "GET":
            seen.status = 307
            self._send_empty(307, {"Location": f"http://127.0.0.1:{proxy.upstream}{self.path}"})
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if proxy.ignore_range:
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=30)
        try:
            conn.request(self.command, self.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            resp_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
            status = resp.status
        finally:
            conn.close()
        seen.status = status
        ok = status in (200, 206)
        if ok and target in proxy.corrupt and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        cut = None
        if ok and target is not None and self.command == "GET":
            with proxy.lock:
                cut = proxy.cut.pop(target, None)
        self.send_response(status)
        for key, value in resp_headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


class ProxyServer(http.server.ThreadingHTTPServer):
    """Forwards to the registry, recording requests; can cut, corrupt, fail or redirect.

    ``cut[digest] = n`` ends the next response carrying ``digest`` after ``n``
    body bytes (the connection is closed); ``corrupt`` flips the first byte of
    bodies of those digests; ``fail[path_part]`` is a list of statuses answered
    (one per request) before forwarding again; ``ignore_range`` drops Range
    headers; ``redirect_blobs`` answers blob GETs with a 307 to the registry.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.cut: dict[str, int] = {}
        self.corrupt: set[str] = set()
        self.fail: dict[str, list[int]] = {}
        self.ignore_range = False
        self.redirect_blobs = False

    def targets(self) -> list[str]:
        with self.lock:
            return [*self.cut, *self.corrupt]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def blob_gets(self, digest: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == "GET" and f"/blobs/{digest}" in s.path]


@contextlib.contextmanager
def serving(server: http.server.HTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- the token server ---------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenSigner:
    """An RSA key and self-signed certificate (made with openssl) that sign registry JWTs."""

    def __init__(self, workdir: Path, issuer: str, service: str) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise FileNotFoundError("openssl not installed (apt-get install openssl)")
        self.openssl = openssl
        self.key = workdir / "token.key"
        self.cert = workdir / "token.pem"
        self.issuer = issuer
        self.service = service
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
             "-out", str(self.cert), "-days", "2", "-subj", "/CN=aiocontent-test-token"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        der = subprocess.run(
            [openssl, "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True, capture_output=True, timeout=60,
        ).stdout  # fmt: skip
        self.x5c = base64.b64encode(der).decode("ascii")

    def token(self, subject: str, access: list[dict[str, Any]]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": f"{now}-{subject}-{threading.get_ident()}",
            "access": access,
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = subprocess.run(
            [self.openssl, "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True, timeout=60,
        ).stdout  # fmt: skip
        return f"{signing_input}.{_b64url(signature)}"


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TokenServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        with self.server.lock:
            self.server.requests.append(query)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            return
        access = []
        for scope in query.get("scope", "").split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        token = self.server.signer.token(USER, access)
        self._reply(200, {"token": token, "expires_in": 300})


class TokenServer(http.server.ThreadingHTTPServer):
    """Hands out tokens to ``USER``/``PASSWORD`` (Basic) for the scopes asked; records queries."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, signer: TokenSigner) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        self.signer = signer
        self.lock = threading.Lock()
        self.requests: list[dict[str, str]] = []

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/token"
