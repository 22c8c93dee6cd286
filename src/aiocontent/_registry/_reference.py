"""Image references (``host[:port]/repo[:tag|@digest]``) and platforms."""

from __future__ import annotations

import dataclasses
import ipaddress
import platform as _platform
import re
from collections.abc import Mapping
from typing import Any, Final

from .._digest import Digest
from .._errors import InvalidArgumentError

__all__ = (
    "DOCKER_HUB",
    "Platform",
    "Reference",
    "default_platform",
    "parse_platform",
    "parse_reference",
)

#: The host a reference without one names (Docker Hub).
DOCKER_HUB: Final = "docker.io"
#: Where Docker Hub's registry API actually answers.
_DOCKER_HUB_API: Final = "registry-1.docker.io"
_DEFAULT_TAG: Final = "latest"
_MAX_NAME: Final = 255

_COMPONENT: Final = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HOST: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reference:
    """A parsed image reference.

    ``host`` is the registry (``docker.io`` when the reference names none),
    ``repository`` the path inside it (``library/`` is prepended for one-word
    Docker Hub names), ``tag`` the tag (``latest`` when neither tag nor digest
    is given) and ``digest`` the pinned digest, if any.
    """

    host: str
    repository: str
    tag: str = ""
    digest: Digest | None = None

    @property
    def object(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return str(self.digest) if self.digest else self.tag

    @property
    def api_host(self) -> str:
        """The host that serves the registry API (``registry-1.docker.io`` for Docker Hub)."""
        return _DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    def __str__(self) -> str:
        out = f"{self.host}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(reference: str) -> Reference:
    """Parse ``[host[:port]/]repo[:tag][@digest]`` with Docker's defaults.

    A first path component counts as a host when it contains ``.`` or ``:`` or
    is ``localhost``; otherwise the host is ``docker.io`` and a one-component
    repository gets the ``library/`` prefix.

    :raises TypeError: ``reference`` is not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: the reference is malformed (the
        message names it and the part at fault).
    """
    if not isinstance(reference, str):
        raise TypeError(f"reference must be a str, not {type(reference).__name__}")

    def bad(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"reference {reference[:300]!r}: {why}: invalid argument")

    name, at, digest_text = reference.partition("@")
    digest: Digest | None = None
    if at:
        try:
            digest = Digest.parse(digest_text)
        except InvalidArgumentError as exc:
            raise bad(f"invalid digest {digest_text[:200]!r}") from exc
    host = DOCKER_HUB
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.fullmatch(first):
            raise bad(f"invalid registry host {first!r}")
        if why := _host_problem(first):
            raise bad(f"invalid registry host {first!r}: {why}")
        host, name = first, rest
    tag = ""
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise bad(f"invalid tag {tag!r}")
    if not name:
        raise bad("empty repository name")
    for component in name.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise bad(
                f"invalid repository component {component!r} "
                "(lower-case letters, digits and separators . _ __ - only)"
            )
    if host == DOCKER_HUB and "/" not in name:
        name = f"library/{name}"
    if len(host) + 1 + len(name) > _MAX_NAME:
        raise bad(f"name longer than {_MAX_NAME} characters")
    if not tag and digest is None:
        tag = _DEFAULT_TAG
    return Reference(host=host, repository=name, tag=tag, digest=digest)


def _host_problem(host: str) -> str:
    """What is wrong with a host the pattern accepted: its port or IPv6 address."""
    name, port = host, ""
    if host.startswith("["):
        name, _, after = host[1:].partition("]")
        port = after.removeprefix(":")
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return f"{name!r} is not an IPv6 address"
    elif ":" in host:
        name, _, port = host.partition(":")
    if port and not 0 < int(port) <= 65535:
        return f"port {port} is not between 1 and 65535"
    return ""


@dataclasses.dataclass(frozen=True)
class Platform:
    """An OCI platform to pick from an index: ``os``, ``architecture``, ``variant``."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        return f"{out}/{self.variant}" if self.variant else out

    def matches(self, spec: Mapping[str, Any] | None) -> bool:
        """Whether an index entry's ``platform`` mapping is this platform.

        Architecture names and the ``arm64``/``v8`` variant are normalised first;
        an entry without a variant matches a wanted variant only for ``arm64``.
        """
        if not spec:
            return False
        other = _normalise(
            str(spec.get("os", "")),
            str(spec.get("architecture", "")),
            str(spec.get("variant", "") or ""),
        )
        if (other.os, other.architecture) != (self.os, self.architecture):
            return False
        return not self.variant or other.variant == self.variant

    def rank(self, spec: Mapping[str, Any] | None) -> int:
        """How well a matching entry fits: 0 for an exact variant, 1 otherwise."""
        if spec is None:
            return 1
        variant = _normalise(
            str(spec.get("os", "")),
            str(spec.get("architecture", "")),
            str(spec.get("variant", "") or ""),
        ).variant
        return 0 if variant == self.variant else 1


_ARCH_ALIASES: Final = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
}
_ARM_MACHINE: Final = re.compile(r"armv([5-8])\w*")


def _normalise(os_name: str, arch: str, variant: str) -> Platform:
    os_name = os_name.lower()
    arch = arch.lower()
    variant = variant.lower()
    if arch in _ARCH_ALIASES:
        arch, implied = _ARCH_ALIASES[arch]
        variant = variant or implied
    elif m := _ARM_MACHINE.fullmatch(arch):
        arch, variant = "arm", variant or f"v{m.group(1)}"
    if arch == "arm64" and variant == "v8":
        variant = ""
    if arch == "arm" and not variant:
        variant = "v7"
    return Platform(os_name, arch, variant)


def parse_platform(text: str) -> Platform:
    """Parse ``os/arch[/variant]`` (or a bare ``arch``, on the running OS).

    :raises TypeError: ``text`` is not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: empty parts or too many of them.
    """
    if not isinstance(text, str):
        raise TypeError(f"platform must be a str, not {type(text).__name__}")
    parts = text.split("/")
    if len(parts) == 1:
        parts = [default_platform().os, *parts]
    if len(parts) > 3 or not all(re.fullmatch(r"[A-Za-z0-9_.-]+", p) for p in parts):
        raise InvalidArgumentError(
            f"platform {text[:100]!r} is not os/arch[/variant]: invalid argument"
        )
    return _normalise(*parts) if len(parts) == 3 else _normalise(parts[0], parts[1], "")


def default_platform() -> Platform:
    """The platform of the running machine (``linux/amd64`` on a usual PC)."""
    return _normalise(_platform.system() or "linux", _platform.machine() or "amd64", "")
