"""Replay-path figures, measured side by side in one run (medians of repeats).

1. Windowing cost per frame: the `sliding_window` node (ring, inside ctx.process with drop
   accounting) vs reactivex's `buffer_with_count(20, 1)` on the same frames.
2. Inference cost per window: numpy and onnxruntime backends at batch 1 and batch 64.
3. End-to-end replay: frames/s through the whole `replay` pipeline (real runtime, threads and
   hops), on the real excerpt repeated to ~20k frames.

Usage: .venv/bin/python benchmarks/kernel_replay.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import reactivex  # noqa: E402
from reactivex import operators as ops  # noqa: E402
from reactivex.scheduler import ImmediateScheduler  # noqa: E402

from posecog.cog.pipelines import resolve_pipeline  # noqa: E402
from posecog.graph.context import BuildContext, RunServices  # noqa: E402
from posecog.graph.errors import LintError  # noqa: E402
from posecog.graph.events import EventStream  # noqa: E402
from posecog.graph.lint import lint_file  # noqa: E402
from posecog.graph.runtime import Runtime  # noqa: E402
from posecog.nodes.items import CsiFrame  # noqa: E402
from posecog.nodes.model import load_model  # noqa: E402
from posecog.nodes.registry import default_registry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RUVIEW = REPO.parent / "shared" / "data" / "ruview"


def median_of(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def frames(n: int) -> list[CsiFrame]:
    rng = np.random.default_rng(0)
    amps = rng.uniform(0, 30, (n, 56)).astype(np.float32)
    return [CsiFrame(0.05 * i, 1, amps[i], seq=i) for i in range(n)]


def bench_window(repeats: int) -> tuple[float, float]:
    """Both sides consume the same frames from ``reactivex.from_iterable`` synchronously."""
    data = frames(20000)
    kind = default_registry().get("sliding_window")

    def ours() -> float:
        services = RunServices(events=EventStream())
        ctx = BuildContext("window", "sliding_window", services, ImmediateScheduler())
        operator = kind.build(kind.config.model_validate({"size": 20}), ctx)
        got: list[object] = []
        t0 = time.perf_counter()
        operator(reactivex.from_iterable(data)).subscribe(got.append)
        dt = time.perf_counter() - t0
        assert len(got) == len(data) - 19
        return dt / len(data) * 1e6

    def rx_baseline() -> float:
        got: list[object] = []
        t0 = time.perf_counter()
        reactivex.from_iterable(data).pipe(
            ops.buffer_with_count(20, 1),
            ops.filter(lambda b: len(b) == 20),
            ops.map(lambda b: np.stack([f.amplitude for f in b])),
        ).subscribe(got.append)
        dt = time.perf_counter() - t0
        assert len(got) == len(data) - 19
        return dt / len(data) * 1e6

    def empty() -> float:  # the cost of the source itself, common to both
        t0 = time.perf_counter()
        reactivex.from_iterable(data).subscribe(lambda _x: None)
        return (time.perf_counter() - t0) / len(data) * 1e6

    a, b, e = (median_of(f, repeats) for f in (ours, rx_baseline, empty))
    print(
        f"window: sliding_window {a:.2f} us/frame; buffer_with_count(20,1)+stack {b:.2f} "
        f"us/frame; ratio {b / a:.0f}x (source alone {e:.2f} us/frame)"
    )
    return a, b


def bench_infer(repeats: int) -> None:
    rng = np.random.default_rng(1)
    for backend in ("numpy", "onnxruntime"):
        model = load_model(RUVIEW / "pose_v1.safetensors", backend)
        for batch in (1, 64):
            x = rng.uniform(0, 30, (batch, 20, 56)).astype(np.float32)
            model.infer(x)

            def once(model=model, x=x, batch=batch) -> float:
                t0 = time.perf_counter()
                for _ in range(max(1, 256 // batch)):
                    model.infer(x)
                return (time.perf_counter() - t0) / (max(1, 256 // batch) * batch) * 1e6

            print(
                f"infer: {backend:<11} batch {batch:>2}: {median_of(once, repeats):8.1f} us/window"
            )


def bench_replay(repeats: int) -> None:
    src = (RUVIEW / "pretrain-1775182186.excerpt.csi.jsonl").read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "long.jsonl"
        # repeat the excerpt, shifting time so windows keep sliding
        lines = []
        span = 3.0
        for k in range(40):
            for text in src:
                d = json.loads(text)
                d["timestamp"] += k * span
                lines.append(json.dumps(d))
        rec.write_text("\n".join(lines) + "\n")
        n_csi = sum('"raw_csi"' in t for t in lines)
        reg = default_registry()

        def once() -> float:
            spec, problems = lint_file(
                resolve_pipeline("replay"),
                reg,
                {
                    "recording": str(rec),
                    "model": str(RUVIEW / "pose_v1.safetensors"),
                    "min_confidence": 0,
                },
            )
            if problems:
                raise LintError(problems)
            sink = io.StringIO()
            rt = Runtime(spec, reg, EventStream(sink), stats_interval=0)
            t0 = time.perf_counter()
            assert rt.run() == 0
            return n_csi / (time.perf_counter() - t0)

        fps = median_of(once, repeats)
        print(
            f"replay: {n_csi} CSI frames end to end: {fps:,.0f} frames/s "
            f"({1e6 / fps:.1f} us/frame), stdout JSON included"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(
        f"# {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"python {sys.version.split()[0]}, numpy {np.__version__}"
    )
    bench_window(args.repeats)
    bench_infer(args.repeats)
    bench_replay(max(1, args.repeats // 2))


if __name__ == "__main__":
    main()
