#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what it needs, then lint, type-check, test.
# Arguments go to pytest (e.g. `scripts/test.sh -k lint -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test train  # train: the training tests need torch
echo "== ruff" && .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy (strict)" && scripts/typecheck.sh
echo "== pytest" && exec .venv/bin/python -m pytest "$@"
