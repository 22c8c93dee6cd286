"""The 'serve' command: the store as an OCI registry over HTTP (uvicorn or hypercorn)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._errors import InvalidArgumentError
from ._app import Env, ExitCode, command, fail, store_command
from ._serve_auth import auth_options

if TYPE_CHECKING:
    from ..server import Auth, Upstream, _run

__all__ = ("COMMANDS", "serve_command")

_EXTRA_HINT = "install the server extra: pip install 'aiocontent[server]'"


@command("Serve the store as an OCI registry over HTTP (loopback by default).")
@click.option(
    "--listen",
    default="127.0.0.1:5000",
    metavar="HOST:PORT",
    show_default=True,
    help="Address to listen on: HOST:PORT or [IPV6]:PORT; port 0 picks a free one.",
)
@click.option("--read-only", is_flag=True, help="Refuse pushes and deletes (405 DENIED).")
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="After SIGTERM or Ctrl-C, how long requests in flight may take to finish.",
)
@click.option(
    "--upstream",
    metavar="URL",
    help="Be a read-only pull-through cache of this registry (http://host:port or https://host).",
)
@click.option(
    "--upstream-credentials",
    metavar="USER:PASS|FILE",
    envvar="AIOCONTENT_UPSTREAM_CREDENTIALS",
    help="Credentials for the upstream: USER:PASS, or a file whose first line is USER:PASS "
    "(also from $AIOCONTENT_UPSTREAM_CREDENTIALS).",
)
@click.option(
    "--tag-ttl",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="With --upstream: how long a cached tag is served before a HEAD upstream revalidates it.",
)
@click.option(
    "--use-interval",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    metavar="SECONDS",
    help="With --upstream: serving cached content records its use (for gc --max-size) "
    "at most this often per digest.",
)
@click.option(
    "--s3-bucket",
    metavar="BUCKET",
    help="Serve an S3Store in this bucket instead of --root (credentials from the environment).",
)
@click.option("--s3-endpoint", metavar="URL", help="The S3 service, e.g. http://127.0.0.1:7480.")
@click.option("--s3-prefix", default="", metavar="PREFIX", help="Key prefix in the bucket.")
@click.option("--s3-region", default="us-east-1", show_default=True, metavar="REGION")
@click.option(
    "--s3-lock-lease",
    type=click.FloatRange(min=2),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="How long the locks of a host that died (upload sessions, tag moves) stay held.",
)
@store_command
@auth_options
def serve_command(
    env: Env,
    listen: str,
    read_only: bool,
    shutdown_timeout: float,
    upstream: str | None,
    upstream_credentials: str | None,
    tag_ttl: float,
    use_interval: float,
    s3_bucket: str | None,
    s3_endpoint: str | None,
    s3_prefix: str,
    s3_region: str,
    s3_lock_lease: float,
    auth: Auth | None,
) -> None:
    """Serve the store under --root as an OCI Distribution registry (API v2).

    With --s3-bucket it serves an S3Store in that bucket instead, with the
    registry's tags and links in the bucket too: several processes or hosts
    given the same bucket and prefix serve one registry. Credentials come from
    the environment as botocore reads them (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...).

    Runs uvicorn with --backend asyncio (the default) or hypercorn with
    --backend trio, and writes one access-log line per request on stderr
    (--quiet drops them). SIGTERM or Ctrl-C stops accepting connections and
    lets requests in flight finish; an upload cut short stays resumable. A
    second signal stops at once. With --htpasswd every request needs HTTP Basic
    credentials (pulls too, unless --anonymous-pull).

    With --upstream it is a read-only pull-through cache: what it lacks is
    fetched from the upstream (same repository names), streamed to the client
    while it is verified and stored, and tags are revalidated after --tag-ttl
    (served from the cache while the upstream is down).

    \b
    Example:
      aiocontent serve --root /srv/registry --listen 127.0.0.1:5000
      skopeo copy --dest-tls-verify=false oci:img docker://127.0.0.1:5000/img:1
      aiocontent serve --s3-bucket registry --s3-endpoint http://127.0.0.1:7480
      aiocontent serve --htpasswd /etc/registry/htpasswd --anonymous-pull
      aiocontent serve --root /srv/mirror --upstream https://registry.example
    """
    try:
        from ..server import _run
    except ImportError as exc:  # starlette missing: the app cannot even be built
        missing = (exc.name or "starlette").partition(".")[0]
        fail(f"serve needs {missing}: {_EXTRA_HINT}", ExitCode.PROBLEM)
    server = "uvicorn" if env.backend == "asyncio" else "hypercorn"
    try:
        __import__(server)
    except ImportError:
        fail(f"serve --backend {env.backend} needs {server}: {_EXTRA_HINT}", ExitCode.PROBLEM)
    try:
        address = _run.parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--listen'") from None
    cache = None
    if upstream is not None:
        cache = _upstream(upstream, upstream_credentials, tag_ttl, use_interval)
    elif upstream_credentials is not None:
        raise click.UsageError("--upstream-credentials needs --upstream")
    options = _run.ServeOptions(
        root=env.root,
        listen=address,
        backend="trio" if env.backend == "trio" else "asyncio",
        read_only=read_only,
        auth=auth,
        shutdown_timeout=shutdown_timeout,
        access_log=not env.quiet,
        upstream=cache,
        s3=_s3_location(s3_bucket, s3_endpoint, s3_prefix, s3_region, s3_lock_lease),
    )
    _run.setup_logging(quiet=env.quiet)
    try:
        _run.run(options)
    except _run.ListenError as exc:
        fail(str(exc.strerror), ExitCode.IO_ERROR)


def _upstream(url: str, credentials: str | None, tag_ttl: float, use_interval: float) -> Upstream:
    """The --upstream options as an :class:`~aiocontent.server.Upstream`."""
    from ..server import Upstream

    creds = None
    if credentials is not None:
        if ":" not in credentials and Path(credentials).is_file():
            try:
                credentials = Path(credentials).read_text().splitlines()[0].strip()
            except (OSError, IndexError, UnicodeDecodeError) as exc:
                raise click.BadParameter(
                    f"cannot read {credentials!r}: {exc}", param_hint="'--upstream-credentials'"
                ) from None
        user, colon, password = credentials.partition(":")
        if not colon or not user:
            raise click.BadParameter(
                "expected USER:PASS or a file holding it", param_hint="'--upstream-credentials'"
            )
        creds = (user, password)
    try:
        return Upstream(url, credentials=creds, tag_ttl=tag_ttl, use_interval=use_interval)
    except InvalidArgumentError as exc:
        raise click.BadParameter(str(exc), param_hint="'--upstream'") from None


def _s3_location(
    bucket: str | None, endpoint: str | None, prefix: str, region: str, lease: float
) -> _run.S3Location | None:
    """The bucket to serve, or ``None`` for --root; S3 options without a bucket are an error."""
    from ..server import _run

    if bucket is None:
        if endpoint is not None or prefix:
            raise click.UsageError("--s3-endpoint and --s3-prefix need --s3-bucket")
        return None
    if not bucket:
        raise click.BadParameter("must not be empty", param_hint="'--s3-bucket'")
    try:
        __import__("aiobotocore")
    except ImportError:
        fail("serve --s3-bucket needs aiobotocore: pip install 'aiocontent[s3]'", ExitCode.PROBLEM)
    return _run.S3Location(bucket, endpoint, prefix, region, lease)


for _param in serve_command.params:
    if isinstance(_param, click.Option) and _param.name == "backend":
        _param.hidden = False  # shown here: it picks the HTTP server
        _param.help = "asyncio runs uvicorn, trio runs hypercorn."
        _param.show_default = True
del _param

COMMANDS = (serve_command,)
