#!/usr/bin/env bash
# The main job on a fresh machine: install, then run a pipeline (default: replay, on the
# shipped sample recording and model). Arguments go to `cog-pose-estimation run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec .venv/bin/cog-pose-estimation run "$@"
