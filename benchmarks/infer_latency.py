"""Inference latency and throughput of the pose model, measured side by side in one run.

1. **Live cadence, batch 1** (issue 11's latency budget): one call every ``--period-ms``
   (40 ms: one node at 25 Hz), ``--calls`` calls per series, the series taking turns so that
   every call comes after the same idle pause (cold caches and clocks, as live). Series:

   * ``PoseModel.infer + Agreement.score``: what ``pose_infer`` pays per window live, the
     forward pass and every confidence (the window quality in ``PoseModel.infer``, then the
     agreement with the other nodes' latest poses: four nodes taking turns, 10 ms apart);
   * ``PoseModel.infer``: onnxruntime, the forward pass and the window quality;
   * ``session.run``: a bare ``run`` of the forward pass alone on the same session (same
     options, same inputs, same order): the floor;
   * ``OnnxBackend.forward``: what ``PoseModel.infer`` calls for the keypoints (the plumbing
     around ``session.run``);
   * ``session.run + IO binding``: the same with preallocated, bound input and output buffers
     (the copy in and out included): does binding pay?
   * ``window_confidence``: the confidence alone, on the keypoints the model gave.

   p50 and p99 of each, and the ratios to ``session.run`` (goal <= 1.5).
2. **Batch 64 throughput**: windows/s of ``PoseModel.infer`` (and of the forward pass
   alone) for numpy and onnxruntime, rounds interleaved, medians.
3. **Batch sweep** (``--no-sweep`` skips it): microseconds per window of the forward pass at
   batch 1..64 for each onnxruntime graph optimisation level (the backend's other session
   options unchanged), for the former graph (plain Conv1d over ``[batch, C, T]``, rebuilt here
   for comparison) and for numpy: what the graph, the level and ``max_batch`` are chosen by.

Inputs: the real windows of both RuView excerpts (``--model``: pose_v1 by default).

Usage: .venv/bin/python benchmarks/infer_latency.py [--model M] [--calls 600]
       [--period-ms 40] [--rounds 15] [--no-sweep]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from posecog.nodes.csi.recording import read_recording  # noqa: E402
from posecog.nodes.items import CsiFrame  # noqa: E402
from posecog.nodes.model import (  # noqa: E402
    ModelBundle,
    PoseModel,
    load_bundle,
    load_model,
    to_model_input,
    window_confidence,
)
from posecog.nodes.model.agreement import Agreement  # noqa: E402
from posecog.nodes.model.numpy_backend import CONV_LAYERS  # noqa: E402
from posecog.nodes.model.onnx_backend import INPUT, OUTPUT, session_options  # noqa: E402
from posecog.nodes.model.onnx_graph import build_onnx  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RUVIEW = REPO.parent / "shared" / "data" / "ruview"
EXCERPTS = (
    RUVIEW / "pretrain-1775182186.excerpt.csi.jsonl",
    RUVIEW / "rec_1772470567081.excerpt.csi.jsonl",
)
LEVELS = {
    "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
BATCHES = (1, 2, 4, 8, 16, 32, 64)


def real_windows() -> np.ndarray:
    """Every sliding window of every node of both excerpts, ``float32[N, 20, 56]``."""
    windows = []
    for path in EXCERPTS:
        per_node: dict[int, list[np.ndarray]] = defaultdict(list)
        for entry in read_recording(path):
            if isinstance(entry.value, CsiFrame):
                per_node[entry.value.node_id].append(entry.value.amplitude)
        for frames in per_node.values():
            a = np.array(frames, dtype=np.float32)
            windows += [a[i : i + 20] for i in range(len(a) - 19)]
    return np.stack(windows)


def pct(ns: list[int]) -> tuple[float, float]:
    """(p50, p99) in microseconds."""
    a = np.asarray(ns, dtype=np.float64) / 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def live(
    model: PoseModel, windows: np.ndarray, calls: int, period_s: float
) -> dict[str, tuple[float, float]]:
    session = model._runner.session  # type: ignore[attr-defined]
    forward = model._runner.forward  # type: ignore[attr-defined]
    one = [np.ascontiguousarray(w[None]) for w in windows[:calls]]
    while len(one) < calls:
        one += one[: calls - len(one)]
    keypoints = [model.infer(x)[0] for x in one]
    inp = np.empty_like(one[0])
    out = np.empty((1, 17, 2), dtype=np.float32)
    binding = session.io_binding()
    binding.bind_input(INPUT, "cpu", 0, np.float32, list(inp.shape), inp.ctypes.data)
    binding.bind_output(OUTPUT, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
    outputs = [OUTPUT]

    def bound(x: np.ndarray) -> np.ndarray:
        np.copyto(inp, x)
        session.run_with_iobinding(binding)
        return out.copy()  # poses keep their keypoints: a bound output must be copied out

    agreement = Agreement()

    def full(i: int) -> Any:
        kp, quality = model.infer(one[i])
        return agreement.score(i % 4, i * 0.01, kp[0], float(quality[0]))

    series: dict[str, Callable[[int], Any]] = {
        "PoseModel.infer + Agreement.score": full,
        "PoseModel.infer": lambda i: model.infer(one[i]),
        "session.run": lambda i: session.run(outputs, {INPUT: one[i]}),
        "OnnxBackend.forward": lambda i: forward(one[i]),
        "session.run + IO binding": lambda i: bound(one[i]),
        "window_confidence": lambda i: window_confidence(one[i], keypoints[i]),
    }
    for i in range(20):  # first calls (allocations) out of the figures
        for fn in series.values():
            fn(i)
    times: dict[str, list[int]] = {name: [] for name in series}
    deadline = time.perf_counter()
    for i in range(calls):
        for name, fn in series.items():
            deadline += period_s
            pause = deadline - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            t0 = time.perf_counter_ns()
            fn(i)
            times[name].append(time.perf_counter_ns() - t0)
    return {name: pct(t) for name, t in times.items()}


def throughput(models: dict[str, PoseModel], windows: np.ndarray, rounds: int) -> None:
    batch = np.ascontiguousarray(np.resize(windows, (64, *windows.shape[1:])))
    runs: dict[str, list[float]] = defaultdict(list)
    calls: dict[str, Callable[[], Any]] = {}
    for name, model in models.items():
        calls[f"{name} PoseModel.infer"] = lambda m=model: m.infer(batch)
        calls[f"{name} forward only"] = lambda m=model: m._runner.forward(batch)
    for fn in calls.values():
        fn()
    for _ in range(rounds):
        for name, fn in calls.items():
            reps = 8
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            runs[name].append(reps * 64 / (time.perf_counter() - t0))
    print(f"\n## batch 64 throughput (windows/s, median of {rounds} interleaved rounds)")
    med = {name: float(np.median(v)) for name, v in runs.items()}
    for name, v in med.items():
        print(f"  {name:<32} {v:9.0f}  ({1e6 / v:6.1f} us/window)")
    for what in ("PoseModel.infer", "forward only"):
        ratio = med[f"onnxruntime {what}"] / med[f"numpy {what}"]
        print(f"  ratio onnxruntime / numpy, {what}: {ratio:.2f}")


def conv1d_graph(bundle: ModelBundle) -> bytes:
    """The former graph for comparison: ``csi[B, n_sc, T]`` (model layout) through Conv1d
    layers, mean over time, the head (no normalisation: for bundles without one)."""
    from onnx import TensorProto, helper, numpy_helper

    assert bundle.input_norm is None, "the Conv1d reference graph takes raw-input bundles only"
    w = bundle.weights
    inits = [numpy_helper.from_array(a, name) for name, a in w.items()]
    inits.append(numpy_helper.from_array(np.array([-1, 17, 2], dtype=np.int64), "out_shape"))
    nodes, prev = [], "csi"
    for i, (prefix, pad, dil) in enumerate(CONV_LAYERS, start=1):
        nodes.append(
            helper.make_node(
                "Conv", [prev, f"{prefix}.weight", f"{prefix}.bias"], [f"conv{i}"],
                kernel_shape=[3], pads=[pad, pad], dilations=[dil],
            )
        )  # fmt: skip
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
        prev = f"relu{i}"
    nodes += [
        helper.make_node("ReduceMean", [prev], ["pooled"], axes=[2], keepdims=0),
        helper.make_node("Gemm", ["pooled", "head.fc1.weight", "head.fc1.bias"], ["fc1"], transB=1),
        helper.make_node("Relu", ["fc1"], ["fc1r"]),
        helper.make_node("Gemm", ["fc1r", "head.fc2.weight", "head.fc2.bias"], ["fc2"], transB=1),
        helper.make_node("Sigmoid", ["fc2"], ["flat"]),
        helper.make_node("Reshape", ["flat", "out_shape"], ["keypoints"]),
    ]
    meta = bundle.metadata
    graph = helper.make_graph(
        nodes, "conv1d",
        [helper.make_tensor_value_info("csi", TensorProto.FLOAT, ["b", meta.n_subcarriers, 20])],
        [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, ["b", 17, 2])],
        initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    out: bytes = model.SerializeToString()
    return out


def sweep(model_path: Path, windows: np.ndarray, rounds: int) -> None:
    bundle = load_bundle(model_path)
    proto = build_onnx(bundle, input_name=INPUT).SerializeToString()
    runners: dict[str, Callable[[np.ndarray], Any]] = {}
    for level_name, level in LEVELS.items():
        opts = session_options(ort)
        opts.graph_optimization_level = level
        s = ort.InferenceSession(proto, opts, providers=["CPUExecutionProvider"])
        runners[f"ort {level_name}"] = lambda x, s=s: s.run([OUTPUT], {INPUT: x})
    if bundle.input_norm is None:
        s = ort.InferenceSession(
            conv1d_graph(bundle), session_options(ort), providers=["CPUExecutionProvider"]
        )
        layout = bundle.metadata.layout
        runners["ort all, Conv1d"] = lambda x, s=s: s.run(
            ["keypoints"], {"csi": to_model_input(x, layout)}
        )
    numpy_model = load_model(model_path, "numpy")
    runners["numpy"] = numpy_model._runner.forward  # type: ignore[attr-defined]
    inputs = {b: np.ascontiguousarray(np.resize(windows, (b, *windows.shape[1:]))) for b in BATCHES}
    per_window: dict[tuple[str, int], list[float]] = defaultdict(list)
    for fn in runners.values():
        for x in inputs.values():
            fn(x)
    for _ in range(rounds):
        for b, x in inputs.items():
            reps = max(2, 128 // b)
            for name, fn in runners.items():
                t0 = time.perf_counter_ns()
                for _ in range(reps):
                    fn(x)
                per_window[(name, b)].append((time.perf_counter_ns() - t0) / (reps * b) / 1e3)
    print(
        f"\n## forward pass, us per window by batch size (median of {rounds} interleaved "
        "rounds, tight loop)"
    )
    print(f"  {'':<18}" + "".join(f"{b:>8}" for b in BATCHES))
    for name in runners:
        row = "".join(f"{np.median(per_window[(name, b)]):8.1f}" for b in BATCHES)
        print(f"  {name:<18}{row}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=RUVIEW / "pose_v1.safetensors")
    ap.add_argument("--calls", type=int, default=600)
    ap.add_argument("--period-ms", type=float, default=40.0)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--no-sweep", action="store_true")
    args = ap.parse_args()
    uname = subprocess.run(["uname", "-srm"], check=False, capture_output=True, text=True)
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    print(f"# {uname.stdout.strip()}, {cpu}, nproc {os.cpu_count()}")
    print(
        f"# python {platform.python_version()}, numpy {np.__version__}, onnxruntime "
        f"{ort.__version__}; load average at start {os.getloadavg()[0]:.2f}"
    )
    print(f"# command: .venv/bin/python benchmarks/infer_latency.py {shlex.join(sys.argv[1:])}")
    windows = real_windows()
    models = {name: load_model(args.model, name) for name in ("numpy", "onnxruntime")}  # type: ignore[arg-type]
    print(f"# model {args.model.name}, {len(windows)} real windows")

    n_series = 6
    total_s = args.calls * n_series * args.period_ms / 1e3
    print(
        f"\n## batch 1 at live cadence: one call every {args.period_ms:g} ms, {n_series} series "
        f"taking turns, {args.calls} calls each (~{total_s:.0f} s)"
    )
    res = live(models["onnxruntime"], windows, args.calls, args.period_ms / 1e3)
    for name, (p50, p99) in res.items():
        print(f"  {name:<34} p50 {p50:7.1f} us   p99 {p99:7.1f} us")
    bare = res["session.run"]
    for name in ("PoseModel.infer + Agreement.score", "PoseModel.infer"):
        print(
            f"  ratio {name} / session.run: p50 {res[name][0] / bare[0]:.2f}, "
            f"p99 {res[name][1] / bare[1]:.2f} (goal <= 1.5)"
        )
    binding = res["session.run + IO binding"]
    print(
        f"  ratio IO binding / session.run: p50 {binding[0] / bare[0]:.2f}, "
        f"p99 {binding[1] / bare[1]:.2f}"
    )
    print(f"  load average now {os.getloadavg()[0]:.2f}")

    throughput(models, windows, args.rounds)
    if not args.no_sweep:
        sweep(args.model, windows, max(3, args.rounds // 3))
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
