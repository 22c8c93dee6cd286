"""The 'serve' command: the store as an OCI registry over HTTP (uvicorn or hypercorn)."""

from __future__ import annotations

import click

from ._app import Env, ExitCode, command, fail, store_command

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
@store_command
def serve_command(env: Env, listen: str, read_only: bool, shutdown_timeout: float) -> None:
    """Serve the store under --root as an OCI Distribution registry (API v2).

    Runs uvicorn with --backend asyncio (the default) or hypercorn with
    --backend trio, and writes one access-log line per request on stderr
    (--quiet drops them). SIGTERM or Ctrl-C stops accepting connections and
    lets requests in flight finish; an upload cut short stays resumable. A
    second signal stops at once.

    \b
    Example:
      aiocontent serve --root /srv/registry --listen 127.0.0.1:5000
      skopeo copy --dest-tls-verify=false oci:img docker://127.0.0.1:5000/img:1
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
    options = _run.ServeOptions(
        root=env.root,
        listen=address,
        backend="trio" if env.backend == "trio" else "asyncio",
        read_only=read_only,
        shutdown_timeout=shutdown_timeout,
        access_log=not env.quiet,
    )
    _run.setup_logging(quiet=env.quiet)
    try:
        _run.run(options)
    except _run.ListenError as exc:
        fail(str(exc.strerror), ExitCode.IO_ERROR)


for _param in serve_command.params:
    if isinstance(_param, click.Option) and _param.name == "backend":
        _param.hidden = False  # shown here: it picks the HTTP server
        _param.help = "asyncio runs uvicorn, trio runs hypercorn."
        _param.show_default = True
del _param

COMMANDS = (serve_command,)
