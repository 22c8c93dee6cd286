"""The 'serve' command: the store as an OCI registry over HTTP (uvicorn or hypercorn)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._errors import InvalidArgumentError
from ._app import Env, ExitCode, command, fail, store_command
from ._serve_auth import auth_options

if TYPE_CHECKING:
    from ..server import Auth, Upstream

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
    auth: Auth | None,
) -> None:
    """Serve the store under --root as an OCI Distribution registry (API v2).

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
        cache = _upstream(upstream, upstream_credentials, tag_ttl)
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
    )
    _run.setup_logging(quiet=env.quiet)
    try:
        _run.run(options)
    except _run.ListenError as exc:
        fail(str(exc.strerror), ExitCode.IO_ERROR)


def _upstream(url: str, credentials: str | None, tag_ttl: float) -> Upstream:
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
        return Upstream(url, credentials=creds, tag_ttl=tag_ttl)
    except InvalidArgumentError as exc:
        raise click.BadParameter(str(exc), param_hint="'--upstream'") from None


for _param in serve_command.params:
    if isinstance(_param, click.Option) and _param.name == "backend":
        _param.hidden = False  # shown here: it picks the HTTP server
        _param.help = "asyncio runs uvicorn, trio runs hypercorn."
        _param.show_default = True
del _param

COMMANDS = (serve_command,)
