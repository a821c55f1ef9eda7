#!/usr/bin/env bash
# Rebuild the shipped demo model (pipelines/models/demo.safetensors) from scratch:
# simulate training data, train with the pose_v1 recipe, then evaluate on a freshly simulated
# recording of another seed and store those figures in the bundle and beside it.
# Needs the train extra (scripts/setup.sh train). Deterministic: same machine, same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
COG=.venv/bin/cog-pose-estimation
work=build/demo
out=pipelines/models/demo.safetensors
mkdir -p "$work" pipelines/models
$COG simulate --seed 2 --duration 600 --nodes 4 --out "$work/train.csi.jsonl.gz" \
  --paired "$work/train.paired.jsonl" > /dev/null
$COG simulate --seed 3 --duration 300 --nodes 4 --out "$work/heldout.csi.jsonl.gz" \
  --paired "$work/heldout.paired.jsonl" > /dev/null
time $COG train --data "$work/train.paired.jsonl" --out "$out" --layout subcarrier_major --seed 0
$COG evaluate --model "$out" --data "$work/heldout.paired.jsonl" --json > "$work/heldout.evaluation.json"
.venv/bin/python scripts/stamp_evaluation.py "$out" "$work/heldout.evaluation.json" \
  "simulate --seed 3 --duration 300 --nodes 4 --paired (a recording the model never saw)"
$COG evaluate --model "$out" --data "$work/heldout.paired.jsonl"
