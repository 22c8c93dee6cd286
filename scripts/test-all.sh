#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite:
# a virtualenv with the project and its test tools, the Debian services the
# integration tests use (installed only when missing, as root), then
# ruff, mypy --strict, the strict docs build and pytest under branch coverage.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

# Services for the integration tests. Tests that need one skip where it is
# missing, but fail when CI=true, so a broken install step cannot hide.
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v radosgw >/dev/null 2>&1 || need+=(ceph-mon ceph-osd radosgw ceph-common)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v podman >/dev/null 2>&1 || need+=(podman)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "not root or no apt-get: integration tests needing ${need[*]} will skip" >&2
    fi
fi

.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy --strict src tests
.venv/bin/mypy --strict benchmarks
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet
export AIOCONTENT_CONTAINERD_TESTS=1
# Branch coverage of the library ([tool.coverage.*] in pyproject.toml). pytest's own exit
# status ends the script first (set -e): failures, and 5 when no test ran. The floor
# (fail_under) judges a whole run; a run narrowed by arguments prints the report only.
.venv/bin/coverage erase
.venv/bin/coverage run -m pytest -q "$@"
if [ "$#" -eq 0 ]; then
    .venv/bin/coverage report
else
    .venv/bin/coverage report --fail-under=0
fi
