"""The gRPC vitals worker on loopback: throughput through serve -> subscribe, and the latency
the worker hop adds to a live frame compared with reading the same UDP datagram directly.

**Latency (one run, both paths at once).** A sender process (``tests/fakes/esp32_sender.py``,
synthetic mode: N nodes at R Hz, 64/128/192-subcarrier frames) sends every datagram twice,
back to back, to two UDP ports, noting the send time (``perf_counter``: system-wide on Linux).
Direct: a real ``Runtime`` reads port A with ``udp_esp32``. Worker: a second ``Runtime`` runs
``live-udp-worker`` (``udp_esp32`` on port B -> ``grpc_serve``), a third ``appliance-grpc``'s
source (``grpc_vitals`` subscribed to it). Each frame's time is taken where it reaches the
pipeline thread (a tap on the source node, after its hop) of the direct run and of the
subscriber's run; added latency is the difference per frame (same node, same sequence).
(A pipeline needs a sink: the direct run and the subscriber run end in a ``grpc_serve`` on a
free port that nobody subscribes to, so both pay the same after the tap.)

**Throughput.** The project's worker (``VitalsHub`` + ``VitalsServer``, on its own loop)
publishes N synthetic frames in bursts of 256 to K subscribers that each run ``grpc_vitals``
in a real ``Runtime`` (block hop, a buffer big enough to drop nothing); frames/s is what the
subscribers' pipeline threads received from the first frame to the last.

Usage: .venv/bin/python benchmarks/grpc_worker.py [--seconds 20] [--nodes 4] [--rate 25]
       [--frames 50000] [--subscribers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing as mp
import os
import platform
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.fakes

import numpy as np  # noqa: E402

from posecog.graph.aio import IoLoop  # noqa: E402
from posecog.graph.events import EventStream  # noqa: E402
from posecog.graph.lint import lint_file  # noqa: E402
from posecog.graph.runtime import Runtime  # noqa: E402
from posecog.nodes.items import CsiFrame  # noqa: E402
from posecog.nodes.registry import default_registry  # noqa: E402
from posecog.nodes.vitals_worker.server import HubLimits, VitalsHub, VitalsServer  # noqa: E402
from tests.fakes.esp32_sender import Esp32Sender, synthetic_datagrams  # noqa: E402

DIRECT = """
name: direct
nodes:
  - {id: udp, type: udp_esp32, config: {bind: 127.0.0.1, port: 0}}
  - {id: sink, type: grpc_serve, inputs: [udp], config: {address: "127.0.0.1:0"}}
"""
WORKER = """
name: worker
nodes:
  - {id: udp, type: udp_esp32, config: {bind: 127.0.0.1, port: 0}}
  - {id: serve, type: grpc_serve, inputs: [udp], config: {address: "127.0.0.1:0"}}
"""
SUBSCRIBER = """
name: subscriber
nodes:
  - id: worker
    type: grpc_vitals
    HOP
    config: {address: "ADDRESS", buffer_size: BUFFER}
  - {id: sink, type: grpc_serve, inputs: [worker], config: {address: "127.0.0.1:0"}}
"""


class Run:
    """A pipeline text in a real ``Runtime`` on a thread, a tap on one node, its events."""

    def __init__(self, text: str, tap: str | None = None) -> None:
        reg = default_registry()
        spec, problems = lint_file("bench.yaml", reg, text=text)
        assert not problems, problems
        self.events: list[Any] = []
        stream = EventStream(io.StringIO())
        stream.listen(self.events.append)
        self.rt = Runtime(spec, reg, stream, stats_interval=0)
        self.seen: dict[tuple[int, int], float] = {}
        self.count = 0
        if tap:
            self.rt.graph.tap(tap, self._record)
        self.thread = threading.Thread(target=self.rt.run, daemon=True)

    def _record(self, item: Any) -> None:
        if isinstance(item, CsiFrame):
            self.seen[(item.node_id, item.seq)] = time.perf_counter()
            self.count += 1

    def start(self) -> Run:
        self.thread.start()
        return self

    def field(self, event: str, name: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in list(self.events):
                if ev.event == event and name in ev.fields:
                    return ev.fields[name]
            time.sleep(0.01)
        raise TimeoutError(f"no {event}.{name}")

    def stop(self) -> dict[str, Any]:
        self.rt.stop()
        self.thread.join(15)
        return next(ev.fields for ev in self.events if ev.event == "run.finished")


def send_process(
    ports: tuple[int, int], nodes: int, rate: float, seconds: float, out: Connection
) -> None:
    """Child: each datagram to both ports, paced in real time; send times per (node, seq)."""
    grams = synthetic_datagrams(nodes, rate, seconds, seed=7)
    sent: dict[tuple[int, int], float] = {}
    with Esp32Sender(ports[0]) as a, Esp32Sender(ports[1]) as b:
        start = time.perf_counter()
        for d in grams:
            ahead = start + d.t - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            now = time.perf_counter()
            a.send(d.data)
            b.send(d.data)
            if d.kind == "csi":
                sent[(d.node_id, d.seq)] = now
    out.send(sent)
    out.close()


def pct(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1e3
    p50, p99 = np.percentile(a, [50, 99])
    return {"p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3)}


def latency(seconds: float, nodes: int, rate: float) -> dict[str, Any]:
    direct = Run(DIRECT, tap="udp").start()
    worker = Run(WORKER).start()
    port_a = direct.field("source.up", "port")
    port_b = worker.field("source.up", "port")
    address = worker.field("sink.up", "address")
    sub = Run(SUBSCRIBER.replace("ADDRESS", address).replace("BUFFER", "256").replace("HOP", ""),
              tap="worker").start()  # fmt: skip
    sub.field("source.up", "url")
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=send_process, args=((port_a, port_b), nodes, rate, seconds, child))
    proc.start()
    sent = parent.recv()
    proc.join()
    time.sleep(0.5)  # the last frames through both paths
    stats = {"direct": direct.stop(), "worker": worker.stop(), "subscriber": sub.stop()}
    both = [k for k in sent if k in direct.seen and k in sub.seen]
    d = [direct.seen[k] - sent[k] for k in both]
    g = [sub.seen[k] - sent[k] for k in both]
    drops = {name: {n: s.get("dropped", {}) for n, s in st["nodes"].items() if s.get("dropped")}
             for name, st in stats.items()}  # fmt: skip
    return {
        "frames_sent": len(sent),
        "direct_received": len(direct.seen),
        "worker_received": len(sub.seen),
        "udp_direct": pct(d),
        "via_worker": pct(g),
        "added": pct([b - a for a, b in zip(d, g, strict=True)]),
        "drops": drops,
    }


def throughput(frames: int, subscribers: int) -> dict[str, Any]:
    loop = IoLoop("bench-worker")
    limits = HubLimits(buffer_size=frames + 16, max_buffer_size=frames + 16)
    hub = VitalsHub(limits)
    server = VitalsServer(hub, "127.0.0.1:0")
    port = asyncio.run_coroutine_threadsafe(server.start(), loop.loop).result(5)
    text = SUBSCRIBER.replace("ADDRESS", f"127.0.0.1:{port}").replace("BUFFER", str(frames + 16))
    text = text.replace("HOP", "hop: {policy: block, capacity: 1024}")
    subs = [Run(text, tap="worker").start() for _ in range(subscribers)]
    for s in subs:
        s.field("source.up", "url")
    while asyncio.run_coroutine_threadsafe(_count(hub), loop.loop).result(5) < subscribers:
        time.sleep(0.01)
    rng = np.random.default_rng(0)
    amp = rng.random((256, 56), dtype=np.float32) * 40
    items = [CsiFrame(1.78e9 + k * 0.04, 1 + k % 4, amp[k % 256], seq=k, n_subcarriers=64)
             for k in range(frames)]  # fmt: skip
    t0 = time.perf_counter()
    for i in range(0, frames, 256):
        chunk = items[i : i + 256]
        loop.loop.call_soon_threadsafe(lambda c=chunk: [hub.publish(x) for x in c])
    asyncio.run_coroutine_threadsafe(_count(hub), loop.loop).result(30)
    published = time.perf_counter() - t0
    deadline = time.monotonic() + 120
    while any(s.count < frames for s in subs) and time.monotonic() < deadline:
        time.sleep(0.01)
    rates = []
    for s in subs:
        times = sorted(s.seen.values())
        rates.append((len(times) - 1) / (times[-1] - times[0]))
        s.stop()
    asyncio.run_coroutine_threadsafe(server.stop(0.5), loop.loop).result(5)
    loop.close()
    return {
        "frames": frames,
        "subscribers": subscribers,
        "received": [s.count for s in subs],
        "publish_us_per_frame": round(published / frames * 1e6, 2),
        "frames_per_s_per_subscriber": [round(r) for r in rates],
    }


async def _count(hub: VitalsHub) -> int:
    return hub.subscribers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--rate", type=float, default=25.0)
    p.add_argument("--frames", type=int, default=50_000)
    p.add_argument("--subscribers", type=int, default=1)
    args = p.parse_args()
    import grpc

    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "latency": latency(args.seconds, args.nodes, args.rate),
        "throughput": throughput(args.frames, args.subscribers),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
