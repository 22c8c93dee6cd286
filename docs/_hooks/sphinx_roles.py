"""A griffe extension: the docstrings' Sphinx markup, rendered as Markdown.

The docstrings are written for Sphinx (``:param:`` fields, ``:class:`X``` roles,
``.. versionadded::``). mkdocstrings parses the fields itself (``docstring_style:
sphinx``); this turns the rest into Markdown before it renders:

- a role naming ``aiocontent.*`` becomes a cross-reference, which must resolve
  (``mkdocs build --strict`` fails on a broken one);
- a role with a short name (``:meth:`commit```) is resolved in the docstring's
  scope and linked when it lands on a public object; a name outside the package
  (``AssertionError``, ``anyio.abc.ByteReceiveStream``) or a private one stays code;
- an exception named ``~aiocontent.X`` in a ``:raises:`` field loses its
  ``~``, and is parsed as a name so that it links;
- ``.. versionadded:: X`` becomes a sentence before the fields, and a literal
  block's ``::`` a plain colon.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|exc|attr|data|mod|obj):`(~?)\.?([^`]+)`")
VERSION = re.compile(r"^[ \t]*\.\. versionadded:: *(\S+)[ \t]*\n?", re.M)
FIELD = re.compile(r"^:[a-z]", re.M)
PUBLIC_MODULES = ("aiocontent", "aiocontent.registry", "aiocontent.server", "aiocontent.testing")


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "aiocontent":
            return
        public = _public_paths(pkg)
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj, obj.docstring.value, public)
                if ":raises " in obj.docstring.value:
                    _link_raises(obj.docstring, public)


def _link_raises(docstring: griffe.Docstring, public: dict[str, str]) -> None:
    """Make the exception of each ``:raises:`` field a name, so that it links."""
    for section in docstring.parsed:
        if section.kind is not griffe.DocstringSectionKind.raises:
            continue
        for item in section.value:
            if not isinstance(item.annotation, str):
                continue
            if item.annotation.startswith("aiocontent."):
                path = _public(item.annotation, public) or item.annotation
                module, _, name = path.rpartition(".")
                item.annotation = griffe.ExprName(name, parent=module)
            else:
                item.annotation = griffe.parse_docstring_annotation(item.annotation, docstring)


def _public_paths(pkg: griffe.Module) -> dict[str, str]:
    """Canonical path of each exported object -> the path it is documented under."""
    found: dict[str, str] = {}
    for name in PUBLIC_MODULES:
        module = pkg if name == "aiocontent" else pkg.get_member(name.split(".", 1)[1])
        for export in module.exports or ():
            member = module.get_member(str(export))
            target = member.final_target.path if member.is_alias else member.path
            found.setdefault(target, f"{name}.{export}")
    return found


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)  # type: ignore[arg-type]


def _public(path: str, public: dict[str, str]) -> str | None:
    """The documented path of ``path`` (or of the class holding it), if public."""
    head, _, tail = path, "", ""
    while head:
        if head in public:
            return public[head] + tail
        if head in public.values():
            return head + tail
        head, _, last = head.rpartition(".")
        tail = f".{last}{tail}"
    return None


def _link(obj: griffe.Object, tilde: str, name: str, public: dict[str, str]) -> str:
    label = name.rpartition(".")[2] if tilde else name
    if name.startswith("aiocontent."):
        return f"[`{label}`][{_public(name, public) or name}]"  # a wrong name fails the build
    scope = obj if obj.is_class or obj.is_module else obj.parent
    first, _, rest = name.partition(".")
    try:
        resolved = scope.resolve(first) if scope is not None else first
    except griffe.NameResolutionError:
        return f"`{label}`"
    target = _public(resolved + (f".{rest}" if rest else ""), public)
    return f"[`{label}`][{target}]" if target else f"`{label}`"


def _rewrite(obj: griffe.Object, text: str, public: dict[str, str]) -> str:
    versions = VERSION.findall(text)
    text = VERSION.sub("", text).rstrip()
    if versions:
        note = f"*Added in version {versions[0]}.*\n\n"
        field = FIELD.search(text)
        at = field.start() if field else len(text)
        text = text[:at].rstrip() + "\n\n" + note + text[at:]
    text = re.sub(r"^(:raises) ~", r"\1 ", text, flags=re.M)
    text = re.sub(r"^[ \t]*::[ \t]*$", "", text, flags=re.M)
    text = re.sub(r"(\S)::[ \t]*$", r"\1:", text, flags=re.M)
    return ROLE.sub(lambda m: _link(obj, m.group(1), m.group(2), public), text).strip()
