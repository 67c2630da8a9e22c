#!/usr/bin/env bash
# Installs vigil with its test tools, then runs the checks: ruff, mypy and the whole test suite,
# end-to-end tests included (those need root: real eBPF programs and real runc containers).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install.sh --dev

echo "==> ruff"
.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
echo "==> mypy"
.venv/bin/mypy
echo "==> import-linter"
.venv/bin/lint-imports
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
