"""The vitals worker end to end: a replay served through grpc_serve and read back through
grpc_vitals gives the replay's own poses; `run appliance-grpc` against the project's own
worker (live-udp-worker fed by ESP32 datagrams) prints poses and vitals of every node."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from posecog.cog.pipelines import shipped_pipelines
from tests.conftest import EXCERPT_A, REPO
from tests.fakes.esp32_sender import Esp32Sender, synthetic_datagrams
from tests.fakes.live_source import LivePipeline

SERVED = f"""
name: replay-served
nodes:
  - id: replay
    type: jsonl_replay
    config: {{path: {EXCERPT_A}}}
  - id: worker
    type: grpc_serve
    inputs: [replay]
    config: {{address: "127.0.0.1:0", wait_for_subscribers: 1, queue: 65536,
              max_buffer_size: 65536}}
"""

READ_BACK = """
name: read-back
nodes:
  - id: worker
    type: grpc_vitals
    hop: {policy: block, capacity: 64}
    config: {address: "ADDRESS", buffer_size: 65536, backoff_min_s: 0.02, backoff_max_s: 0.05}
  - id: window
    type: sliding_window
    inputs: [worker]
    config: {size: 20, step: 1}
  - id: pose
    type: pose_infer
    inputs: [window]
    config: {model: MODEL, min_confidence: 0}
  - id: out
    type: stdout_events
    inputs: [pose]
"""


def finished(run, timeout=30.0):
    run.wait(lambda: run.named("run.finished"), timeout)
    return run.named("run.finished")[0].fields


def test_a_replay_served_and_read_back_gives_the_replays_poses():
    replay = shipped_pipelines()["replay"]
    alone = LivePipeline(replay, {"recording": str(EXCERPT_A), "min_confidence": 0}, taps=("pose",))
    with alone:
        finished(alone)
    model = alone.runtime.spec.values["model"]
    with LivePipeline(None, text=SERVED) as served:
        (up,) = served.wait(lambda: served.named("sink.up"))
        text = READ_BACK.replace("ADDRESS", up.fields["address"]).replace("MODEL", model)
        with LivePipeline(None, text=text, taps=("pose",)) as back:
            published = finished(served)["nodes"]["worker"]["published"]
            back.wait(lambda: len(back.taps["pose"]) >= len(alone.taps["pose"]), timeout=30)
    want, got = alone.taps["pose"], back.taps["pose"]
    assert len(want) > 100 and len(got) == len(want)
    assert [(p.node_id, p.seq, p.ts, p.ts_start) for p in got] == [
        (p.node_id, p.seq, p.ts, p.ts_start) for p in want
    ]
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-6)
        assert abs(b.confidence - a.confidence) < 1e-6
    reader = back.named("run.finished")[0].fields["nodes"]["worker"]
    assert reader["frames"] + reader["vitals"] == published and reader["duplicates"] == 0


def test_run_appliance_grpc_against_the_projects_own_worker(tmp_path):
    worker = LivePipeline(
        shipped_pipelines()["live-udp-worker"],
        {"port": 0, "bind": "127.0.0.1", "listen": "127.0.0.1:0"},
    )
    with worker:
        (udp,) = worker.wait(lambda: worker.named("source.up"))
        (grpc_up,) = worker.wait(lambda: worker.named("sink.up"))
        config = tmp_path / "config.json"
        config.write_text(
            json.dumps({"pipeline": "appliance-grpc", "worker": grpc_up.fields["address"]})
        )
        cog = subprocess.Popen(
            [sys.executable, "-m", "posecog.cog.cli", "run", "--config", str(config),
             "--set", "min_confidence=0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        events: list[dict] = []
        seen = threading.Event()

        def read():
            for line in cog.stdout:
                events.append(json.loads(line))
                kinds = {(e["event"], e["fields"].get("node_id")) for e in events}
                if {("pose.frame", 1), ("pose.frame", 2), ("vitals", 1), ("vitals", 2)} <= kinds:
                    seen.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            worker.wait(lambda: worker.named("subscriber.joined"), timeout=30)
            with Esp32Sender(udp.fields["port"]) as sender:
                deadline = time.monotonic() + 20
                for _ in range(8):  # 2 s of 2 nodes at 25 Hz, with a vitals packet a second
                    sender.send_paced(synthetic_datagrams(2, 25, 2.0, seed=len(events)), speed=4)
                    if seen.wait(0.5) or time.monotonic() > deadline:
                        break
            assert seen.is_set(), [e["event"] for e in events][-20:]
        finally:
            cog.send_signal(signal.SIGTERM)
            code = cog.wait(15)
            reader.join(5)
    assert code == 0, cog.stderr.read()
    started = next(e for e in events if e["event"] == "run.started")
    assert started["fields"]["pipeline"] == "appliance-grpc"
    assert started["fields"]["parameters"]["worker"] == grpc_up.fields["address"]
    assert events[-1]["event"] == "run.finished" and events[-1]["fields"]["reason"] == "stopped"
