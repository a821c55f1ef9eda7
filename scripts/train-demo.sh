#!/usr/bin/env bash
# Rebuild the shipped demo model (pipelines/models/demo.safetensors) from scratch:
# simulate training data, train with the pose_v1 recipe, then evaluate on freshly simulated
# recordings of other seeds and store those figures in the bundle and beside it: accuracy on
# seed 3, the confidence's informativeness on seeds 3, 4 and 5, the reliability plot of seed 3.
# Needs the train extra (scripts/setup.sh train). Deterministic: on the same machine and torch
# build, the same bytes (docs/model.md, "Reproducibility", says what may differ elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
COG=.venv/bin/cog-pose-estimation
work=build/demo
out=pipelines/models/demo.safetensors
mkdir -p "$work" pipelines/models
$COG simulate --seed 2 --duration 600 --nodes 4 --out "$work/train.csi.jsonl.gz" \
  --paired "$work/train.paired.jsonl" > /dev/null
for seed in 3 4 5; do
  $COG simulate --seed "$seed" --duration 300 --nodes 4 --out "$work/heldout$seed.csi.jsonl.gz" \
    --paired "$work/heldout$seed.paired.jsonl" > /dev/null
done
time $COG train --data "$work/train.paired.jsonl" --out "$out" --layout subcarrier_major --seed 0
for seed in 3 4 5; do
  $COG evaluate --model "$out" --data "$work/heldout$seed.paired.jsonl" --json \
    > "$work/heldout$seed.evaluation.json"
done
.venv/bin/python scripts/stamp_evaluation.py "$out" "$work/heldout3.evaluation.json" \
  "simulate --seed 3 --duration 300 --nodes 4 --paired (a recording the model never saw)" \
  3="$work/heldout3.evaluation.json" 4="$work/heldout4.evaluation.json" \
  5="$work/heldout5.evaluation.json"
$COG evaluate --model "$out" --data "$work/heldout3.paired.jsonl" \
  --plot pipelines/models/demo.reliability.png
