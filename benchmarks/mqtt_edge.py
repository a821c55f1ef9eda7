"""The MQTT edge (issue 13's figures), through a real Mosquitto on loopback.

1. Items/s through ``mqtt_publish`` -> broker -> ``mqtt_subscribe`` (msgpack poses, QoS 0
   and 1): publisher and subscriber are two pipelines of one process (one GIL: a lower bound
   for two processes), timed from the publisher's start to the subscriber's last item.
2. Source-to-sink latency of the split pipeline (``edge-mqtt`` on the sample recording at
   realtime pacing -> broker -> ``hub-mqtt`` with ``arrived: source``, two processes) against
   the whole one (``replay-composed``, same pacing), same run: both processes read the same
   monotonic clock, so the hub's latency counts from the edge's source.

    .venv/bin/python benchmarks/mqtt_edge.py [--items 20000] [--speed 2]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from posecog.nodes.items import Pose  # noqa: E402
from tests.fakes.broker import Mosquitto  # noqa: E402
from tests.fakes.mqtt import publisher, subscriber, wait_for  # noqa: E402

CLI = [sys.executable, "-m", "posecog.cog.cli", "run"]


def throughput(url: str, n: int, qos: int, tmp: Path) -> float:
    kp = np.linspace(0, 1, 34, dtype=np.float32).reshape(17, 2)
    poses = [Pose(1000.0 + i / 25, 1, kp, 0.9, seq=i) for i in range(n)]
    name = f"bench{qos}"
    sub = subscriber(url, name, Path("/dev/null"), qos=qos).start()
    sub.wait(lambda: sub.named("source.up"))
    gauges = sub.runtime.services.metrics.node("sub", "mqtt_subscribe").gauges
    t0 = time.perf_counter()
    pub = publisher(url, poses, name, qos=qos, queue=100_000, when_full="wait").start()
    wait_for(lambda: gauges["items"] >= n or (qos == 0 and pub.status is not None), 300)
    elapsed = time.perf_counter() - t0
    got = gauges["items"]
    pub._thread.join(60)
    sub.stop()
    return got / elapsed


def _latency(lines: list[str]) -> dict[str, Any]:
    """p50/p99 of the pose.frame events' latency_ms (source arrival to the sink)."""
    ms = [
        e["fields"]["latency_ms"]
        for e in map(json.loads, lines)
        if e["event"] == "pose.frame" and e["fields"].get("latency_ms") is not None
    ]
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def split_latency(url: str, speed: float, tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    pipelines = REPO / "pipelines"
    whole = subprocess.run(
        [*CLI, "replay-composed", "--set", "pacing=realtime", "--set", f"speed={speed}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    hub_doc = yaml.safe_load((pipelines / "hub-mqtt.yaml").read_text())
    hub_doc["nodes"][0]["config"]["arrived"] = "source"
    (tmp / "hub.yaml").write_text(yaml.safe_dump(hub_doc, sort_keys=False))
    edge_doc = yaml.safe_load((pipelines / "edge-mqtt.yaml").read_text())
    edge_doc["nodes"][0] = {
        "id": "sensing",
        "type": "jsonl_replay",
        "config": {
            "path": str(pipelines / "samples" / "sample.csi.jsonl.gz"),
            "pacing": "realtime",
            "speed": speed,
        },
    }
    edge_doc["parameters"]["model"]["default"] = str(pipelines / "models" / "demo.safetensors")
    (tmp / "edge.yaml").write_text(yaml.safe_dump(edge_doc, sort_keys=False))
    hub = subprocess.Popen(
        [*CLI, str(tmp / "hub.yaml"), "--set", f"broker={url}"], stdout=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    assert hub.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(hub.stdout or ()), daemon=True)
    reader.start()
    wait_for(lambda: any('"source.up"' in x for x in lines), 30)
    subprocess.run(
        [*CLI, str(tmp / "edge.yaml"), "--set", f"broker={url}"], capture_output=True, check=True
    )
    n = sum('"pose.frame"' in x for x in whole.stdout.splitlines())
    wait_for(lambda: sum('"pose.frame"' in x for x in lines) >= n, 60)
    hub.send_signal(signal.SIGINT)
    hub.wait(30)
    reader.join(10)
    return _latency(whole.stdout.splitlines()), _latency(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--speed", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        broker = Mosquitto(tmp / "broker").start()
        try:
            for qos in (0, 1):
                rate = throughput(broker.url, args.items, qos, tmp)
                print(f"edge throughput, msgpack poses, QoS {qos}: {rate:,.0f} items/s")
            whole, split = split_latency(broker.url, args.speed, tmp)
        finally:
            broker.stop()
    for name, lat in (("whole (replay-composed)", whole), ("split (edge -> hub)", split)):
        print(
            f"source-to-sink latency, {name}: p50 {lat['p50_ms']:.2f} ms, "
            f"p99 {lat['p99_ms']:.2f} ms (n={lat['n']})"
        )
    print(
        f"added by the split: p50 {split['p50_ms'] - whole['p50_ms']:+.2f} ms, "
        f"p99 {split['p99_ms'] - whole['p99_ms']:+.2f} ms"
    )


if __name__ == "__main__":
    main()
