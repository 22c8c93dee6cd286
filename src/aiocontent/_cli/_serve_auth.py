"""The authentication options of 'serve': they become one ``auth`` argument of the command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    from ..server import Auth

__all__ = ("auth_options",)

_OPTIONS: tuple[Callable[[Callable[..., Any]], Callable[..., Any]], ...] = (
    click.option(
        "--htpasswd",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Require HTTP Basic credentials from this htpasswd file (bcrypt, htpasswd -B).",
    ),
    click.option(
        "--realm",
        default="aiocontent",
        show_default=True,
        metavar="NAME",
        help="The realm of the Basic challenge (clients show it when asking for a password).",
    ),
    click.option(
        "--anonymous-pull",
        is_flag=True,
        help="Pulls need no credentials (pushes and deletes still do).",
    ),
    click.option(
        "--pull-only",
        multiple=True,
        metavar="USER",
        help="With --htpasswd: this user may only pull (repeatable).",
    ),
    click.option(
        "--token-realm",
        metavar="URL",
        help="Require Bearer tokens from this token server (with the other --token-* options).",
    ),
    click.option("--token-service", metavar="NAME", help="This registry's name: a token's aud."),
    click.option("--token-issuer", metavar="NAME", help="The iss a token must carry."),
    click.option(
        "--token-key",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="PEM",
        help="The token server's public keys or certificates (RSA or EC).",
    ),
)
_TOKEN: Final = ("token_realm", "token_service", "token_issuer", "token_key")


def auth_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Add the authentication options; ``fn`` receives them as ``auth`` (``None``: none).

    ``--htpasswd`` gives :class:`~aiocontent.server.HtpasswdAuth`, the four
    ``--token-*`` options :class:`~aiocontent.server.TokenAuth`. Options that
    need another one without it, both kinds at once, or an htpasswd or key
    file the server cannot use are usage errors naming the option.
    """

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        htpasswd: Path | None,
        realm: str,
        anonymous_pull: bool,
        pull_only: tuple[str, ...],
        token_realm: str | None,
        token_service: str | None,
        token_issuer: str | None,
        token_key: Path | None,
        **kwargs: Any,
    ) -> None:
        ctx = click.get_current_context()
        given = {
            name
            for name in ("realm", "anonymous_pull", "pull_only", *_TOKEN)
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
        }
        token = [name for name in _TOKEN if name in given]
        if htpasswd is not None and token:
            raise click.UsageError(f"--htpasswd and {_flag(token[0])} exclude each other")
        if token and len(token) < len(_TOKEN):
            missing = ", ".join(_flag(name) for name in _TOKEN if name not in given)
            raise click.UsageError(f"{_flag(token[0])} also needs {missing}")
        for name in ("realm", "pull_only"):
            if name in given and htpasswd is None:
                raise click.UsageError(f"{_flag(name)} needs --htpasswd")
        if anonymous_pull and htpasswd is None and not token:
            raise click.UsageError("--anonymous-pull needs --htpasswd or the --token-* options")
        auth: Auth | None = None
        if htpasswd is not None:
            auth = _build(
                "--htpasswd",
                "HtpasswdAuth",
                htpasswd,
                realm=realm,
                anonymous_pull=anonymous_pull,
                pull_only=pull_only,
            )
        elif token:
            auth = _build(
                "--token-key",
                "TokenAuth",
                realm=token_realm,
                service=token_service,
                issuer=token_issuer,
                keys=token_key,
                anonymous_pull=anonymous_pull,
            )
        fn(*args, auth=auth, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _build(option: str, kind: str, *args: Any, **kwargs: Any) -> Auth:
    """``aiocontent.server.<kind>(*args, **kwargs)``; its errors are usage errors of ``option``."""
    from .._errors import InvalidArgumentError

    try:
        from .. import server
    except ImportError as exc:
        missing = (exc.name or "starlette").partition(".")[0]
        hint = "install the server extra: pip install 'aiocontent[server]'"
        raise click.UsageError(f"{option} needs {missing}: {hint}") from None
    try:
        auth: Auth = getattr(server, kind)(*args, **kwargs)
    except (InvalidArgumentError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None
    return auth
