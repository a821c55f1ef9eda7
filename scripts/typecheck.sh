#!/usr/bin/env bash
# Strict mypy over graph/ nodes/ cog/ as the installed namespace sees them: a throw-away view
# build/typecheck/posecog/* -> ../../../<folder>, so imports of posecog.* resolve to this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
view=build/typecheck/posecog
mkdir -p "$view"
for top in graph nodes pipelines cog; do ln -sfn "../../../$top" "$view/$top"; done
cd build/typecheck
exec "../../$PY" -m mypy --config-file ../../pyproject.toml -p posecog.graph -p posecog.nodes -p posecog.cog "$@"
