"""Every Python example in docs/ and README.md runs as printed, under asyncio and trio.

Each ```` ```python ```` block is one example, run in a fresh directory with
``anyio.run`` bound to the backend under test. A marker comment on the line
before a block (``<!-- docs-example: KIND (why) -->``) says what it needs:

- ``no-run``: only compiled, and its imports resolved (a server that runs until
  interrupted, a pytest module);
- ``s3``: ``S3Store`` is given an in-memory S3 service through ``session=``;
- ``substitute TEXT``: TEXT (a path) names a LocalStore root holding one blob.

An example naming ``127.0.0.1:5000`` pulls from an ``aiocontent serve`` process
started on a free loopback port, holding the image ``team/app:1.2``.

Also here: every public name has a place in the API reference.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

import aiocontent

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(
    r"(?:<!-- docs-example: (?P<marker>[^\n]*?) -->\n)?```python\n(?P<code>.*?)```", re.S
)
REGISTRY = "127.0.0.1:5000"
PUBLIC_MODULES = (
    "aiocontent",
    "aiocontent.gc",
    "aiocontent.registry",
    "aiocontent.server",
    "aiocontent.testing",
)


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    code: str
    kind: str  # "", "no-run", "s3" or "substitute"
    argument: str = ""

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _examples() -> list[Example]:
    found = []
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            marker = re.sub(r"\s*\(.*\)$", "", m.group("marker") or "", flags=re.S)
            kind, _, argument = marker.partition(" ")
            assert kind in ("", "no-run", "s3", "substitute"), f"{path}: marker {marker!r}"
            line = text.count("\n", 0, m.start("code"))
            page = str(path.relative_to(ROOT))
            found.append(Example(page, line, m.group("code"), kind, argument.strip()))
    return found


EXAMPLES = _examples()
RUNNABLE = [e for e in EXAMPLES if e.kind != "no-run"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a loopback ``aiocontent serve`` holding ``team/app:1.2``."""
    from tests.server._process import push_image, serving

    root = tmp_path_factory.mktemp("registry") / "root"
    with serving(root, "asyncio") as server, httpx.Client(base_url=server.url) as client:
        push_image(client, "team/app", "1.2", b"a layer of the docs' example image\n" * 100)
        yield server.url.removeprefix("http://")


@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    """``aiocontent.S3Store`` on one in-memory S3 service, unless given a session."""
    from tests.s3._fake_client import FakeS3

    service = FakeS3()
    real = aiocontent.S3Store

    class InMemoryS3Store(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("session", service.session())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(aiocontent, "S3Store", InMemoryS3Store)


def _filled_store(root: Path) -> None:
    data = b"a blob the example finds\n"
    desc = aiocontent.Descriptor(
        digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data)
    )

    async def fill() -> None:
        async with aiocontent.LocalStore(root) as store:
            await aiocontent.write_blob(store, "fill", data, desc)

    anyio.run(fill)


def _run(code: str, name: str, backend: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run ``code`` as ``__main__`` with ``anyio.run`` on ``backend``; what it printed."""
    monkeypatch.setattr(anyio, "run", functools.partial(anyio.run, backend=backend))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, name, "exec"), {"__name__": "__main__"})
    return out.getvalue()


@pytest.mark.parametrize("example", RUNNABLE, ids=[e.id for e in RUNNABLE])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_example_runs(
    example: Example,
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.chdir(tmp_path)
    code = example.code
    if REGISTRY in code:
        code = code.replace(REGISTRY, request.getfixturevalue("registry"))
    if example.kind == "s3":
        request.getfixturevalue("fake_s3")
    if example.kind == "substitute":
        _filled_store(tmp_path / "substituted")
        code = code.replace(example.argument, str(tmp_path / "substituted"))
    printed = _run(code, example.id, backend, monkeypatch)
    assert printed.strip(), f"{example.id} printed nothing"


def test_readme_example_prints_the_blob_it_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = next(e for e in EXAMPLES if e.page == "README.md")
    assert _run(first.code, first.id, "asyncio", monkeypatch) == (
        "b'hello, content-addressed world\\n'\n"
    )
    assert (tmp_path / "content-root" / "blobs" / "sha256").is_dir()


def test_pull_example_stores_the_image(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pulling = next(e for e in EXAMPLES if e.page == "docs/guides/pulling.md")
    printed = _run(pulling.code.replace(REGISTRY, registry), pulling.id, "trio", monkeypatch)
    digest, media_type = printed.split()
    assert media_type == "application/vnd.oci.image.manifest.v1+json"
    blob = tmp_path / "content-root" / "blobs" / "sha256" / digest.removeprefix("sha256:")
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest.removeprefix("sha256:")


NO_RUN = [e for e in EXAMPLES if e.kind == "no-run"]


@pytest.mark.parametrize("example", NO_RUN, ids=[e.id for e in NO_RUN])
def test_example_not_run_compiles_and_imports(example: Example) -> None:
    tree = ast.parse(example.code, example.id)
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"


def test_every_example_is_seen() -> None:
    """The pattern finds every python block, so none escapes the tests."""
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        seen = sum(e.page == str(path.relative_to(ROOT)) for e in EXAMPLES)
        assert seen == text.count("```python\n"), path


def _documented() -> set[str]:
    names: set[str] = set()
    for page in (ROOT / "docs" / "reference").glob("*.md"):
        for target in re.findall(r"^::: (\S+)", page.read_text(encoding="utf-8"), re.M):
            names.add(target)
            if target in PUBLIC_MODULES:
                module = importlib.import_module(target)
                names.update(f"{target}.{name}" for name in module.__all__)
    return names


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_is_in_the_api_reference(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = {f"{module_name}.{n}" for n in module.__all__} - _documented()
    assert not missing, f"add to a page in docs/reference/: {sorted(missing)}"
