"""Live UDP path: ESP32 frames over loopback into the real runtime, source-to-sink latency.

A sender process (``tests/fakes/esp32_sender.py``, synthetic mode) plays N nodes at R Hz each
in real time (64/128/192-subcarrier frames interleaved, one vitals packet per node a second)
to 127.0.0.1; the real ``Runtime`` runs udp_esp32 -> sliding_window -> pose_infer (pose_v1,
numpy) -> stdout_events writing to an in-memory stream. Printed per run and as the median
over runs: frames sent and received, drops by reason (hop overflow included), source-to-sink
latency p50/p99/max from the run metrics (``arrived`` = right after ``recv``), the sink's
count, and where the time goes: taps on the pipeline thread give the time from ``recv`` to
the frame's delivery on the pipeline thread (the hop), to its window, and to its pose; the
sender's send times give wire-to-pose latency (perf_counter is system-wide on Linux). The taps
run on the pipeline thread and cost time themselves, so they are only set in one extra
diagnostic run (``--stages``); the headline runs have none.

Usage: .venv/bin/python benchmarks/udp_latency.py [--seconds 30] [--nodes 4] [--rate 25]
       [--repeats 3] [--backend numpy|onnxruntime] [--stub] [--floor] [--stages]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.fakes

import numpy as np  # noqa: E402

from posecog.graph.events import EventStream  # noqa: E402
from posecog.graph.lint import lint_file  # noqa: E402
from posecog.graph.runtime import Runtime  # noqa: E402
from posecog.nodes.csi.esp32 import CsiPacket, parse_packet  # noqa: E402
from posecog.nodes.csi.subcarriers import select_amplitudes  # noqa: E402
from posecog.nodes.items import CsiFrame  # noqa: E402
from posecog.nodes.model import load_model  # noqa: E402
from posecog.nodes.registry import default_registry  # noqa: E402
from tests.fakes.esp32_sender import Esp32Sender, synthetic_datagrams, wait_for  # noqa: E402

MODEL = REPO.parent / "shared" / "data" / "ruview" / "pose_v1.safetensors"

PIPELINE = """
name: udp_latency
nodes:
  - id: udp
    type: udp_esp32
    config: {bind: 127.0.0.1, port: 0}
  - id: window
    type: sliding_window
    inputs: [udp]
  - id: pose
    type: pose_infer
    inputs: [window]
    config: {model: MODEL, backend: BACKEND, min_confidence: 0}
  - id: out
    type: stdout_events
    inputs: [pose]
"""


def send_process(port: int, nodes: int, rate: float, seconds: float, out: Connection) -> None:
    """Child process: send the synthetic stream in real time; report send times per frame."""
    grams = synthetic_datagrams(nodes, rate, seconds, seed=7)
    sent: dict[tuple[int, int], float] = {}
    with Esp32Sender(port) as sender:
        start = time.perf_counter()
        for d in grams:
            ahead = start + d.t - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            now = time.perf_counter()
            sender.send(d.data)
            if d.kind == "csi":
                sent[(d.node_id, d.seq)] = now
    out.send(sent)
    out.close()


def pct(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1e3
    if not len(a):
        return {}
    p50, p99 = np.percentile(a, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(a.max())}


def start_sender(
    port: int, nodes: int, rate: float, seconds: float
) -> tuple[mp.process.BaseProcess, Connection]:
    """Start ``send_process`` in a fresh interpreter; its send times arrive on the connection."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    sender = ctx.Process(target=send_process, args=(port, nodes, rate, seconds, child))
    sender.start()
    return sender, parent


def one_run(
    seconds: float, nodes: int, rate: float, backend: str, model: str, taps: bool
) -> dict[str, Any]:
    reg = default_registry()
    text = PIPELINE.replace("MODEL", repr(model)).replace("BACKEND", backend)
    spec, problems = lint_file("udp_latency.yaml", reg, text=text)
    assert not problems, problems
    events: list[Any] = []
    stream = EventStream(io.StringIO())
    stream.listen(lambda e: events.append(e) if e.event.startswith("source.") else None)
    rt = Runtime(spec, reg, stream, stats_interval=0)
    clock = rt.services.clock
    stages: dict[str, list[float]] = {"hop": [], "window": [], "pose": []}
    pose_at: dict[tuple[int, int], float] = {}

    def tap(stage: str) -> Any:
        def record(item: Any) -> None:
            now = clock()
            stages[stage].append(now - item.arrived)
            if stage == "pose":
                pose_at[(item.node_id, item.seq)] = now

        return record

    for stage in stages if taps else ():  # taps run on the pipeline thread: they cost too
        rt.graph.tap({"hop": "udp", "window": "window", "pose": "pose"}[stage], tap(stage))
    runner = threading.Thread(target=rt.run, name="runtime")
    runner.start()
    wait_for(lambda: any(e.event == "source.up" for e in events), 10, "source.up")
    port = next(e.fields["port"] for e in events if e.event == "source.up")
    sender, parent = start_sender(port, nodes, rate, seconds)
    sent: dict[tuple[int, int], float] = parent.recv()  # blocks until the sender is done
    sender.join()
    gauges = rt.services.metrics.nodes["udp"].gauges
    wait_for(lambda: gauges["frames"] >= len(sent), 2, "every frame received")
    time.sleep(0.2)  # let the last poses reach the sink before stopping
    rt.stop()
    runner.join(15)
    snap = rt.stats()
    wire = [pose_at[k] - t for k, t in sent.items() if k in pose_at]
    return {
        "sent": len(sent),
        "received": gauges["frames"],
        "dropped": snap["dropped"],
        "latency": snap.get("latency", {}),
        "sink": snap["nodes"]["out"]["in"],
        "stages": {k: pct(v) for k, v in stages.items()},
        "wire_to_pose": pct(wire),
        "infer_ms": snap["nodes"]["pose"].get("latency", {}),
        "seq_gaps": gauges.get("seq_gaps", 0),
    }


#: Linux's SO_TIMESTAMPNS and its ``struct timespec`` (as nodes/kinds/udp_esp32.py reads them).
SO_TIMESTAMPNS = 35
TIMESPEC = struct.Struct("@ll")


def floor_run(seconds: float, nodes: int, rate: float, backend: str, model: str) -> dict[str, Any]:
    """The same per-frame work without the graph, as the floor of this machine: one thread
    blocks in ``recv``, then decodes, keeps a 20-frame ring per node, runs the model (batch
    1, confidence included) and writes one JSON line; latency from the kernel's receive time
    of the datagram (``SO_TIMESTAMPNS``, as ``udp_esp32`` measures it) to the write."""
    pose_model = load_model(model or None, backend)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    ancillary = socket.CMSG_SPACE(TIMESPEC.size)
    sender, parent = start_sender(sock.getsockname()[1], nodes, rate, seconds)
    rings: dict[int, deque[Any]] = {}
    out = io.StringIO()
    latencies: list[float] = []
    while True:
        try:
            data, anc, _flags, _addr = sock.recvmsg(4096, ancillary)
        except TimeoutError:
            if parent.poll():  # the sender is done: it reports its send times last
                break
            continue
        wall, t0 = time.time(), time.perf_counter()
        for _level, _kind, payload in anc:
            sec, nsec = TIMESPEC.unpack_from(payload)
            t0 -= max(0.0, wall - (sec + nsec * 1e-9))  # from the kernel's receive time
        packet = parse_packet(data)
        if not isinstance(packet, CsiPacket):
            continue
        ring = rings.setdefault(packet.node_id, deque(maxlen=20))
        ring.append(select_amplitudes(packet.iq, packet.n_subcarriers, "lltf56"))
        if len(ring) < 20:
            continue
        keypoints, conf = pose_model.infer(np.stack(ring)[None])
        fields = {
            "tick": packet.sequence,
            "n_persons": 1,
            "persons": [
                {"keypoints": np.round(keypoints[0], 4).tolist(), "confidence": float(conf[0])}
            ],
            "node_id": packet.node_id,
        }
        line = json.dumps(
            {"ts": time.time(), "level": "info", "event": "pose.frame", "fields": fields}
        )
        out.write(line + "\n")
        latencies.append(time.perf_counter() - t0)
    parent.recv()
    sender.join()
    sock.close()
    return {"latency": pct(latencies), "n": len(latencies)}


def bench_decode(n: int = 20000) -> float:
    """µs per datagram of the source's decode (parse, 56 amplitudes, CsiFrame), no socket."""
    grams = [d.data for d in synthetic_datagrams(4, 25, n / 100, seed=1, vitals=False)]
    t0 = time.perf_counter()
    for data in grams:
        p = parse_packet(data)
        assert isinstance(p, CsiPacket)
        CsiFrame(time.time(), p.node_id, select_amplitudes(p.iq, p.n_subcarriers, "lltf56"))
    return (time.perf_counter() - t0) / len(grams) * 1e6


def bench_cold(n: int = 200) -> dict[str, tuple[float, float]]:
    """What this machine charges for code that last ran 10 ms ago: µs of a tiny call, p50,
    right after a 10 ms sleep vs back to back (the live path runs once every ~10 ms)."""
    x = np.ones(56, dtype=np.float32)
    calls: dict[str, Any] = {
        "no-op Python call": lambda: None,
        "np.sqrt of 56 floats": lambda: np.sqrt(x),
    }
    out: dict[str, tuple[float, float]] = {}
    for name, fn in calls.items():
        cold, warm = [], []
        for _ in range(n):
            time.sleep(0.01)
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            fn()
            t2 = time.perf_counter()
            cold.append(t1 - t0)
            warm.append(t2 - t1)
        out[name] = (statistics.median(cold) * 1e6, statistics.median(warm) * 1e6)
    return out


def bench_infer(backend: str, n: int = 1000) -> dict[str, float]:
    """Bare batch-1 inference, for reference: the floor of the pose latency."""
    model = load_model(MODEL, backend)
    x = np.random.default_rng(0).uniform(0, 30, (1, 20, 56)).astype(np.float32)
    for _ in range(50):
        model.infer(x)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        model.infer(x)
        times.append(time.perf_counter() - t0)
    return pct(times)


def show(r: dict[str, Any], label: str) -> None:
    lat = r["latency"]
    print(
        f"{label}: sent {r['sent']} frames, received {r['received']}, sink {r['sink']} poses, "
        f"dropped {r['dropped'] or 'none'}, seq_gaps {r['seq_gaps']}"
    )
    print(
        f"  source-to-sink latency: p50 {lat.get('p50_ms', 0):.3f} ms, "
        f"p99 {lat.get('p99_ms', 0):.3f} ms, max {lat.get('max_ms', 0):.3f} ms (n {lat.get('n')})"
    )
    for stage, f in r["stages"].items():
        if not f:
            continue
        print(
            f"  recv -> {stage:<6}: p50 {f['p50_ms']:.3f}  p99 {f['p99_ms']:.3f}  max "
            f"{f['max_ms']:.3f} ms"
        )
    w = r["wire_to_pose"]
    if w:
        print(
            f"  send -> pose  : p50 {w['p50_ms']:.3f}  p99 {w['p99_ms']:.3f}  "
            f"max {w['max_ms']:.3f} ms"
        )
    i = r["infer_ms"]
    print(f"  pose_infer per window: p50 {i.get('p50_ms', 0):.3f}  p99 {i.get('p99_ms', 0):.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--rate", type=float, default=25.0, help="frames per second per node")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "onnxruntime"])
    ap.add_argument(
        "--floor",
        action="store_true",
        help="one more run of the same per-frame work without the graph (one thread, no "
        "Rx, no hop, no metrics): the floor this machine allows, and the pipeline's ratio to it",
    )
    ap.add_argument(
        "--stages",
        action="store_true",
        help="one more run with taps on the pipeline thread: where the time goes (the taps "
        "add their own cost, so the headline runs have none)",
    )
    ap.add_argument(
        "--stub", action="store_true", help="the stub model (no inference): the path's own cost"
    )
    args = ap.parse_args()
    uname = subprocess.run(["uname", "-a"], check=False, capture_output=True, text=True)
    print(
        f"# {uname.stdout.strip()}; nproc {os.cpu_count()}; python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
    print(f"# load average at start {os.getloadavg()[0]:.2f}")
    for name, (cold, warm) in bench_cold().items():
        print(f"{name}: {cold:.1f} us after a 10 ms pause vs {warm:.1f} us right after (p50)")
    print(f"source decode: {bench_decode():.1f} us/datagram (parse + lltf56 + CsiFrame)")
    b = bench_infer(args.backend)
    print(
        f"bare inference ({args.backend}, batch 1): p50 {b['p50_ms']:.3f}  "
        f"p99 {b['p99_ms']:.3f}  max {b['max_ms']:.3f} ms"
    )
    print(f"# {args.nodes} nodes x {args.rate:g} Hz for {args.seconds:g} s, {args.repeats} runs")
    runs = []
    for k in range(args.repeats):
        model = "" if args.stub else str(MODEL)
        runs.append(one_run(args.seconds, args.nodes, args.rate, args.backend, model, False))
        show(runs[-1], f"run {k + 1} (load average {os.getloadavg()[0]:.2f})")
    if len(runs) > 1:
        med = {
            key: statistics.median(r["latency"].get(key, 0) for r in runs)
            for key in ("p50_ms", "p99_ms", "max_ms")
        }
        lost = sum(r["sent"] - r["received"] for r in runs)
        drops = sum(sum(r["dropped"].values()) for r in runs)
        print(
            f"median of {len(runs)} runs: p50 {med['p50_ms']:.3f} ms, p99 {med['p99_ms']:.3f} "
            f"ms, max {med['max_ms']:.3f} ms; frames not received {lost}, dropped {drops}"
        )

    if args.floor:
        model = "" if args.stub else str(MODEL)
        f = floor_run(args.seconds, args.nodes, args.rate, args.backend, model)["latency"]
        print(
            f"floor (same work, no graph, one thread): p50 {f['p50_ms']:.3f} ms, "
            f"p99 {f['p99_ms']:.3f} ms, max {f['max_ms']:.3f} ms"
        )
        if runs:
            med = statistics.median(r["latency"].get("p99_ms", 0) for r in runs)
            p50 = statistics.median(r["latency"].get("p50_ms", 0) for r in runs)
            print(f"pipeline / floor: p50 {p50 / f['p50_ms']:.2f}x, p99 {med / f['p99_ms']:.2f}x")
    if args.stages:
        model = "" if args.stub else str(MODEL)
        r = one_run(args.seconds, args.nodes, args.rate, args.backend, model, True)
        show(r, "diagnostic run with taps (latency includes the taps' cost)")


if __name__ == "__main__":
    main()
