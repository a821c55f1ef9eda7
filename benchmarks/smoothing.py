"""Smoothing against the raw stream, on held-out simulated recordings with truth, side by side.

For each seed (recordings the demo model never saw: it was trained on seed 2 and evaluated on
seed 3), the simulator writes a recording and its ground truth; the shipped ``replay``
pipeline runs it raw and with ``one_euro`` at each setting of a small grid. Figures per run:

* jitter: mean frame-to-frame keypoint displacement of each node's consecutive poses during
  the still activities (standing, sitting), in image units;
* MPJPE: mean joint distance to the truth at the pose's event time (nearest truth step).

Prints one line per setting (medians over the seeds of the per-seed ratios to the raw stream)
and the shipped default's line; the issue's bar: jitter ratio <= 0.5 and MPJPE ratio <= 1.0.

Usage: .venv/bin/python benchmarks/smoothing.py [--seeds 21 22 23] [--duration 120]
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "posecog.cog.cli"]
STILL = {"standing", "sitting"}
GRID = [(0.1, 0.5), (0.5, 1.0), (1.0, 0.5), (1.0, 2.0), (0.3, 10.0)]


def simulate(seed: int, duration: float, nodes: int, out: Path) -> Path:
    subprocess.run(
        [*CLI, "simulate", "--seed", str(seed), "--duration", str(duration), "--nodes",
         str(nodes), "--out", str(out)],
        check=True, capture_output=True, cwd=REPO,
    )  # fmt: skip
    return out.with_name(out.name.replace(".csi.jsonl.gz", ".truth.jsonl.gz"))


def poses(recording: Path, *sets: str) -> list[dict[str, Any]]:
    args = [*CLI, "run", "replay", "--set", f"recording={recording}", "--set", "backend=numpy"]
    for s in sets:
        args += ["--set", s]
    proc = subprocess.run(args, check=False, capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args[2:])}: exit {proc.returncode}: {proc.stderr[-500:]}")
    out = proc.stdout
    return [json.loads(x)["fields"] for x in out.splitlines() if '"pose.frame"' in x]


def figures(frames: list[dict[str, Any]], truth: list[dict[str, Any]]) -> tuple[float, float]:
    stamps = [t["timestamp"] for t in truth]

    def at(ts: float) -> dict[str, Any]:
        k = bisect.bisect_left(stamps, ts)
        k = min(range(max(0, k - 1), min(len(truth), k + 1)), key=lambda i: abs(stamps[i] - ts))
        return truth[k]

    errors, steps = [], []
    last: dict[int, tuple[float, np.ndarray]] = {}
    for f in frames:
        kp = np.asarray(f["persons"][0]["keypoints"])
        t = at(f["ts_event"])
        errors.append(float(np.linalg.norm(kp - np.asarray(t["kp"]), axis=1).mean()))
        prev = last.get(f["node_id"])
        if prev is not None and t["activity"] in STILL and f["ts_event"] - prev[0] < 0.2:
            steps.append(float(np.linalg.norm(kp - prev[1], axis=1).mean()))
        last[f["node_id"]] = (f["ts_event"], kp)
    return float(np.mean(steps)), float(np.mean(errors))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[21, 22, 23])
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--nodes", type=int, default=2)
    args = ap.parse_args()
    print(
        f"# {platform.machine()}, python {platform.python_version()}; seeds {args.seeds}, "
        f"{args.duration:g} s, {args.nodes} nodes, demo model, numpy backend"
    )
    ratios: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rec = Path(tmp) / f"s{seed}.csi.jsonl.gz"
            truth_path = simulate(seed, args.duration, args.nodes, rec)
            with gzip.open(truth_path, "rt") as f:
                truth = [json.loads(x) for x in f]
            raw_j, raw_e = figures(poses(rec), truth)
            print(f"seed {seed}: raw jitter {raw_j:.5f}, MPJPE {raw_e:.4f}")
            settings = [("default", ())] + [
                (f"min_cutoff {mc}, beta {b}", (f"smooth.min_cutoff={mc}", f"smooth.beta={b}"))
                for mc, b in GRID
            ]
            for name, sets in settings:
                j, e = figures(poses(rec, "smoothing=true", *sets), truth)
                ratios.setdefault(name, []).append((j / raw_j, e / raw_e))
                print(f"  {name:<24} jitter {j:.5f} ({j / raw_j:.2f}x), MPJPE {e:.4f} "
                      f"({e / raw_e:.3f}x)")  # fmt: skip
    print("\nmedian over seeds (ratio to raw; the bar: jitter <= 0.50x, MPJPE <= 1.000x)")
    for name, rs in ratios.items():
        jr = statistics.median(r[0] for r in rs)
        er = statistics.median(r[1] for r in rs)
        ok = "ok" if jr <= 0.5 and er <= 1.0 else "--"
        print(f"  {name:<24} jitter {jr:.2f}x  MPJPE {er:.3f}x  {ok}")


if __name__ == "__main__":
    main()
