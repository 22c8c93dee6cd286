"""The public namespace: every API.md name, ``__all__``, ``__module__``, runtime Protocols."""

from __future__ import annotations
import __future__

import importlib
import inspect
import re
import subprocess
import sys
import typing

import pytest

import aiocontent

# Every name API.md lists, importable from the top-level package.
API_NAMES = (
    # errors
    "ContentError",
    "NotFoundError",
    "AlreadyExistsError",
    "UnavailableError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "ShortReadError",
    # digests
    "Digest",
    "Algorithm",
    "Digester",
    "SHA256",
    "SHA384",
    "SHA512",
    "CANONICAL",
    # records and options
    "Descriptor",
    "Info",
    "Status",
    "WriterOpts",
    "Opt",
    "WriterOpt",
    "WalkFunc",
    "with_labels",
    "with_ref",
    "with_descriptor",
    # interfaces
    "ReaderAt",
    "Writer",
    "Provider",
    "InfoProvider",
    "Ingester",
    "Manager",
    "IngestManager",
    "Store",
    # helpers
    "copy",
    "copy_reader",
    "copy_reader_at",
    "new_reader",
    "BlobReader",
    "read_blob",
    "write_blob",
    "open_writer",
    "exists",
    # stores
    "MemoryStore",
    "LocalStore",
    "Problem",
)

PROTOCOLS = (
    "ReaderAt",
    "Writer",
    "Provider",
    "InfoProvider",
    "Ingester",
    "Manager",
    "IngestManager",
    "Store",
    "SupportsSingleFlight",
    "SupportsLockWait",
    "SupportsSiblings",
)

TESTING_CHECKS = (
    "check_store",
    "check_writer",
    "check_update_status",
    "check_commit_exists",
    "check_resume",
    "check_resume_truncate",
    "check_resume_discard",
    "check_resume_copy",
    "check_resume_copy_seeker",
    "check_resume_copy_reader_at",
    "check_small_blob",
    "check_labels",
    "check_commit_error_state",
)


def _isort_key(name: str) -> tuple[int, list[int | str]]:
    """ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest; natural sort within."""
    if name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    parts: list[int | str] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
    return group, parts


def _public_names() -> set[str]:
    return {
        name
        for name, value in vars(aiocontent).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and value is not __future__.annotations
    }


@pytest.mark.parametrize("name", API_NAMES)
def test_api_name_imports_from_package(name: str) -> None:
    assert name in aiocontent.__all__
    assert getattr(aiocontent, name) is not None


def test_all_is_a_tuple() -> None:
    assert isinstance(aiocontent.__all__, tuple)


def test_all_is_sorted() -> None:
    assert list(aiocontent.__all__) == sorted(aiocontent.__all__, key=_isort_key)


def test_all_has_no_duplicates() -> None:
    assert len(set(aiocontent.__all__)) == len(aiocontent.__all__)


def test_all_equals_public_names() -> None:
    assert set(aiocontent.__all__) == _public_names()


CLASSES_AND_FUNCTIONS = tuple(
    name
    for name in aiocontent.__all__
    if inspect.isclass(getattr(aiocontent, name)) or inspect.isfunction(getattr(aiocontent, name))
)


def test_classes_and_functions_are_found() -> None:
    assert {"Digest", "Descriptor", "copy", "write_blob"} <= set(CLASSES_AND_FUNCTIONS)


@pytest.mark.parametrize("name", CLASSES_AND_FUNCTIONS)
def test_public_class_or_function_module_is_package(name: str) -> None:
    assert getattr(aiocontent, name).__module__ == "aiocontent"


@pytest.mark.parametrize("name", PROTOCOLS)
def test_protocol_is_runtime_checkable(name: str) -> None:
    proto = getattr(aiocontent, name)
    assert typing.Protocol in proto.__mro__
    assert isinstance(object(), proto) is False


@pytest.mark.parametrize("name", ["SHA256", "SHA384", "SHA512", "CANONICAL"])
def test_constant_is_algorithm_attribute(name: str) -> None:
    assert getattr(aiocontent, name) is getattr(aiocontent.Algorithm, name)


@pytest.mark.parametrize("name", TESTING_CHECKS)
def test_testing_exports_check(name: str) -> None:
    testing = importlib.import_module("aiocontent.testing")
    assert name in testing.__all__
    assert inspect.iscoroutinefunction(getattr(testing, name))


def _fresh_modules(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_package_import_does_not_load_testing() -> None:
    code = "import sys, aiocontent; print('aiocontent.testing' in sys.modules)"
    assert _fresh_modules(code) == "False"


def test_testing_does_not_import_pytest() -> None:
    code = "import sys, aiocontent.testing; print('pytest' in sys.modules)"
    assert _fresh_modules(code) == "False"


# The registry client's public names: in ``aiocontent.registry``, not in ``aiocontent``.
REGISTRY_NAMES = (
    "ALL_PLATFORMS",
    "Credentials",
    "Platform",
    "Progress",
    "ProgressEvent",
    "ProgressState",
    "Reference",
    "RegistryAuthError",
    "RegistryError",
    "parse_platform",
    "parse_reference",
    "pull",
)


def _registry() -> typing.Any:
    return importlib.import_module("aiocontent.registry")


@pytest.mark.parametrize("name", REGISTRY_NAMES)
def test_registry_name_imports_from_registry_module(name: str) -> None:
    assert name in _registry().__all__
    assert getattr(_registry(), name) is not None


@pytest.mark.parametrize("name", REGISTRY_NAMES)
def test_registry_name_is_not_in_package(name: str) -> None:
    assert name not in aiocontent.__all__
    assert name not in vars(aiocontent)


def test_registry_all_is_sorted_and_equals_public_names() -> None:
    registry = _registry()
    assert list(registry.__all__) == sorted(registry.__all__, key=_isort_key)
    public = {
        name
        for name, value in vars(registry).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and value is not __future__.annotations
    }
    assert set(registry.__all__) == public == set(REGISTRY_NAMES)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in REGISTRY_NAMES
        # type aliases and constants have no __module__ of theirs
        if n not in ("ALL_PLATFORMS", "Credentials", "ProgressState")
    ],
)
def test_registry_class_or_function_module_is_registry(name: str) -> None:
    assert getattr(_registry(), name).__module__ == "aiocontent.registry"


def test_registry_errors_are_content_errors() -> None:
    registry = _registry()
    assert issubclass(registry.RegistryAuthError, registry.RegistryError)
    assert issubclass(registry.RegistryError, aiocontent.ContentError)
