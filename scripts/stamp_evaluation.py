"""Store an `evaluate --json` result in a bundle's metadata (the held-out figures users can
reproduce) and write `<stem>.evaluation.json` beside it. Usage: BUNDLE EVAL_JSON DESCRIPTION"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from posecog.nodes.model import load_bundle, save_bundle


def main() -> None:
    bundle_path, eval_path, description = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
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
    notes = json.loads(bundle.metadata.notes or "{}")
    notes["fresh_evaluation"] = {"data": description, "data_sha256": result["data_sha256"]}
    meta = replace(bundle.metadata, metrics=metrics, notes=json.dumps(notes, sort_keys=True))
    save_bundle(bundle_path, bundle.weights, meta, input_norm=bundle.input_norm)
    summary = {
        "data": description,
        **{k: result[k] for k in ("n_samples", "data_sha256")},
        "metrics": m,
        "baseline": b,
    }
    bundle_path.with_suffix(".evaluation.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
