"""Batch-1 inference latency per window: numpy vs onnxruntime vs native, warm and at live cadence.

Each figure is ``PoseModel.infer`` on one real window of the variant-B excerpt with the
published pose_v1 weights: the layout mapping, the forward pass and the per-window confidence,
i.e. what ``pose_infer`` pays per window live. Two regimes:

1. tight loop: calls back to back (caches, branch predictors and CPU clocks warm);
2. live cadence: one call every ``--sleep-ms`` (10 ms: one CSI node at 100 Hz, or four at
   25 Hz), the three backends taking turns, so the vCPU idles between calls as it does live.

p50 and p99 of per-call wall time (``perf_counter_ns``), then the ratios to native.

Usage: .venv/bin/python benchmarks/native_kernel.py [--calls 3000] [--live-calls 600]
       [--sleep-ms 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from posecog.nodes.model import PoseModel, load_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.nodes.model._data import POSE_V1, excerpt_b_windows  # noqa: E402

BACKENDS = ("numpy", "onnxruntime", "native")


def percentiles(ns: list[int]) -> tuple[float, float]:
    """(p50, p99) in microseconds."""
    a = np.asarray(ns, dtype=np.float64) / 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def tight(model: PoseModel, windows: list[np.ndarray], calls: int) -> list[int]:
    for w in windows[:200]:  # warm-up
        model.infer(w)
    out: list[int] = []
    clock = time.perf_counter_ns
    for i in range(calls):
        w = windows[i % len(windows)]
        t0 = clock()
        model.infer(w)
        out.append(clock() - t0)
    return out


def live(
    models: dict[str, PoseModel], windows: list[np.ndarray], calls: int, sleep_s: float
) -> dict[str, list[int]]:
    """Round robin: sleep, one call of one backend, sleep, the next backend, ..."""
    out: dict[str, list[int]] = {name: [] for name in models}
    clock = time.perf_counter_ns
    for i in range(calls):
        w = windows[i % len(windows)]
        for name, model in models.items():
            time.sleep(sleep_s)
            t0 = clock()
            model.infer(w)
            out[name].append(clock() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3000, help="calls per backend, tight loop")
    p.add_argument("--live-calls", type=int, default=600, help="calls per backend, live cadence")
    p.add_argument("--sleep-ms", type=float, default=10.0, help="idle time before each live call")
    args = p.parse_args()

    models = {name: load_model(POSE_V1, name) for name in BACKENDS}  # type: ignore[arg-type]
    windows = [w[None].copy() for w in excerpt_b_windows()]
    from posecog.nodes.model import _kernel

    uname = subprocess.run(
        ["uname", "-a"], check=True, capture_output=True, text=True
    ).stdout.strip()
    print(f"machine: {uname}")
    print(
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"onnxruntime {__import__('onnxruntime').__version__}, native kernel ISA {_kernel.ISA}"
    )
    print(
        "command: " + shlex.join([".venv/bin/python", "benchmarks/native_kernel.py", *sys.argv[1:]])
    )
    print(f"pose_v1, batch 1, PoseModel.infer (forward + confidence), {len(windows)} real windows")

    results: dict[str, dict[str, tuple[float, float]]] = {"tight": {}, "live": {}}
    for name, model in models.items():
        results["tight"][name] = percentiles(tight(model, windows, args.calls))
    for name, ns in live(models, windows, args.live_calls, args.sleep_ms / 1e3).items():
        results["live"][name] = percentiles(ns)

    labels = {
        "tight": f"tight loop ({args.calls} calls)",
        "live": f"one call every {args.sleep_ms:g} ms ({args.live_calls} calls)",
    }
    print()
    print(f"| us per window | {' | '.join(f'{b} p50 / p99' for b in BACKENDS)} |")
    print(f"|---|{'---|' * len(BACKENDS)}")
    for regime, label in labels.items():
        cells = " | ".join(f"{p50:.0f} / {p99:.0f}" for p50, p99 in results[regime].values())
        print(f"| {label} | {cells} |")
    print()
    print("| ratio to native (p50, p99) | numpy | onnxruntime |")
    print("|---|---|---|")
    for regime, label in labels.items():
        nat = results[regime]["native"]
        cells = " | ".join(
            f"{results[regime][b][0] / nat[0]:.1f}x, {results[regime][b][1] / nat[1]:.1f}x"
            for b in ("numpy", "onnxruntime")
        )
        print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
