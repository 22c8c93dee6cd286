"""The authentication options of 'serve': they become one ``auth`` argument of the command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
        help="With --htpasswd: pulls need no credentials (pushes and deletes still do).",
    ),
    click.option(
        "--pull-only",
        multiple=True,
        metavar="USER",
        help="With --htpasswd: this user may only pull (repeatable).",
    ),
)


def auth_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Add the authentication options; ``fn`` receives them as ``auth`` (``None``: none).

    Options that need ``--htpasswd`` without it, or an htpasswd file that is
    not all bcrypt, are usage errors naming the option.
    """

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        htpasswd: Path | None,
        realm: str,
        anonymous_pull: bool,
        pull_only: tuple[str, ...],
        **kwargs: Any,
    ) -> None:
        auth: Auth | None = None
        if htpasswd is not None:
            auth = _htpasswd_auth(htpasswd, realm, anonymous_pull, pull_only)
        else:
            ctx = click.get_current_context()
            for name in ("realm", "anonymous_pull", "pull_only"):
                if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                    flag = "--" + name.replace("_", "-")
                    raise click.UsageError(f"{flag} needs --htpasswd")
        fn(*args, auth=auth, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def _htpasswd_auth(
    path: Path, realm: str, anonymous_pull: bool, pull_only: tuple[str, ...]
) -> Auth:
    from .._errors import InvalidArgumentError

    try:
        from ..server import HtpasswdAuth
    except ImportError as exc:
        missing = (exc.name or "bcrypt").partition(".")[0]
        hint = "install the server extra: pip install 'aiocontent[server]'"
        raise click.UsageError(f"--htpasswd needs {missing}: {hint}") from None
    try:
        return HtpasswdAuth(path, realm=realm, anonymous_pull=anonymous_pull, pull_only=pull_only)
    except (InvalidArgumentError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="'--htpasswd'") from None
