"""Store `evaluate --json` results in a bundle's metadata (the held-out figures users can
reproduce) and write `<stem>.evaluation.json` beside it.

Usage: BUNDLE FRESH_JSON DESCRIPTION [SEED=CONFIDENCE_JSON ...]

FRESH_JSON gives the accuracy figures (`fresh_*` keys); each SEED=JSON the confidence figures
of one more held-out recording (`conf_s<seed>_*` keys), the informativeness that issue 11 asks
of the demo (Spearman of confidence against the error, the quarter ratio, garbage).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from posecog.nodes.model import load_bundle, save_bundle


def confidence_figures(result: dict[str, Any]) -> dict[str, float]:
    c = result["confidence"]
    return {
        "spearman_pose": round(c["spearman_pose_mpjpe"], 6),
        "spearman_keypoint_mean": round(c["spearman_keypoint_mean"], 6),
        "spearman_keypoint_worst": round(c["spearman_keypoint_worst"], 6),
        "quartile_mpjpe_ratio": round(c["quartile_mpjpe_ratio"], 6),
        "garbage_max": round(max(c["garbage"].values()), 6),
        "n_samples": float(c["n_samples"]),
    }


def main() -> None:
    bundle_path, eval_path, description = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    seeds = dict(arg.split("=", 1) for arg in sys.argv[4:])
    result = json.loads(eval_path.read_text())
    bundle = load_bundle(bundle_path)
    m, b = result["metrics"], result["baseline"]
    metrics = dict(bundle.metadata.metrics)
    metrics.update(
        {
            "fresh_pck@20": round(m["pck_at_20"] / 100, 6),
            "fresh_pck@50": round(m["pck_at_50"] / 100, 6),
            "fresh_mpjpe": round(m["mpjpe_normalized"], 6),
            "fresh_baseline_pck@20": round(b["pck_at_20"] / 100, 6),
            "fresh_baseline_pck@50": round(b["pck_at_50"] / 100, 6),
            "fresh_baseline_mpjpe": round(b["mpjpe_normalized"], 6),
            "fresh_n_samples": float(result["n_samples"]),
        }
    )
    confidence: dict[str, Any] = {}
    for seed, path in seeds.items():
        figures = confidence_figures(json.loads(Path(path).read_text()))
        metrics.update({f"conf_s{seed}_{k}": v for k, v in figures.items()})
        confidence[seed] = figures
    notes = json.loads(bundle.metadata.notes or "{}")
    notes["fresh_evaluation"] = {"data": description, "data_sha256": result["data_sha256"]}
    if seeds:
        notes["confidence_evaluation"] = {
            "data": "simulate --seed S --duration 300 --nodes 4 --paired, S in "
            + ", ".join(seeds)
            + " (recordings the model never saw); evaluate's default agreement: nodes",
            "data_sha256": {
                seed: json.loads(Path(p).read_text())["data_sha256"] for seed, p in seeds.items()
            },
            "keys": "conf_s<seed>_*: Spearman(confidence, per-frame MPJPE), per-joint Spearman "
            "mean and weakest, MPJPE most/least confident quarter, garbage windows' most",
        }
    meta = replace(bundle.metadata, metrics=metrics, notes=json.dumps(notes, sort_keys=True))
    save_bundle(bundle_path, bundle.weights, meta, input_norm=bundle.input_norm)
    summary = {
        "data": description,
        **{k: result[k] for k in ("n_samples", "data_sha256")},
        "metrics": m,
        "baseline": b,
        "confidence": result["confidence"],
        "confidence_by_seed": confidence,
    }
    bundle_path.with_suffix(".evaluation.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
