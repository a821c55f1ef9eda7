"""A pipeline split over a real Mosquitto is the same pipeline (issue 13 point 4).

The same recording through ``replay-composed`` in one process, and through ``edge-mqtt``
(its sensing source replaced by that replay) -> broker -> ``hub-mqtt`` in two: the same
``pose.frame`` and ``occupancy`` events, field for field, in the same order. Only
``latency_ms`` (processing time) and the envelope's ``ts`` may differ.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from posecog.nodes.items import Pose
from tests.cog.conftest import cli
from tests.conftest import REPO
from tests.fakes.broker import broker
from tests.fakes.mqtt import publisher, subscriber, wait_for

PIPELINES = REPO / "pipelines"
ITEM_EVENTS = ("pose.frame", "occupancy")


def _items(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for line in lines:
        event = json.loads(line)
        if event["event"] not in ITEM_EVENTS:
            continue
        fields = event["fields"]
        fields.pop("latency_ms", None)
        for side in ("vitals", "presence"):
            if isinstance(fields.get(side), dict):
                fields[side].pop("latency_ms", None)
        out.append((event["event"], fields))
    return out


def _edge_on_the_recording(tmp_path: Path) -> Path:
    """edge-mqtt with its http_poll source replaced by replay-composed's replay node."""
    edge = yaml.safe_load((PIPELINES / "edge-mqtt.yaml").read_text())
    whole = yaml.safe_load((PIPELINES / "replay-composed.yaml").read_text())
    replay = next(n for n in whole["nodes"] if n["id"] == "replay")
    sensing = next(n for n in edge["nodes"] if n["id"] == "sensing")
    sensing["type"] = replay["type"]
    sensing["config"] = {
        "path": str(PIPELINES / "samples" / "sample.csi.jsonl.gz"),
        "pacing": "max",
        "speed": 1.0,
    }
    edge["parameters"]["model"]["default"] = str(PIPELINES / "models" / "demo.safetensors")
    path = tmp_path / "edge-replay.yaml"
    path.write_text(yaml.safe_dump(edge, sort_keys=False))
    return path


def test_edge_broker_hub_gives_the_events_of_the_whole_pipeline(tmp_path: Path) -> None:
    whole = cli(["run", "replay-composed", "--set", "backend=numpy"], timeout=120)
    assert whole.code == 0, whole.stderr
    expected = _items(whole.stdout.splitlines())
    assert len(expected) > 1000

    with broker(tmp_path / "b") as b:
        hub = subprocess.Popen(
            [sys.executable, "-m", "posecog.cog.cli", "run", "hub-mqtt", "--set",
             f"broker={b.url}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        lines: list[str] = []

        def read() -> None:
            assert hub.stdout is not None
            lines.extend(hub.stdout)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wait_for(lambda: any('"source.up"' in line for line in lines), 30)
            edge = cli(
                ["run", str(_edge_on_the_recording(tmp_path)), "--set", f"broker={b.url}",
                 "--set", "backend=numpy", "--set", "when_full=wait"],
                timeout=120,
            )  # fmt: skip
            assert edge.code == 0, edge.stderr
            finished = edge.named("run.finished")[0]["fields"]["nodes"]["publish"]
            assert finished["published"] == finished["acknowledged"] > 1000
            # every pose is out of the join (the last ones after its wait) before the stop;
            # the stop then completes the graph, which gives the room's last period
            n_poses = sum(1 for name, _ in expected if name == "pose.frame")
            wait_for(lambda: sum('"pose.frame"' in line for line in lines) >= n_poses, 60)
        finally:
            hub.send_signal(signal.SIGINT)
            hub.wait(30)
            reader.join(10)
        assert hub.returncode == 0, hub.stderr.read() if hub.stderr else ""

    got = _items(lines)
    assert len(got) == len(expected)
    for i, (a, b_) in enumerate(zip(got, expected, strict=True)):
        assert a == b_, f"event {i} differs"
    hub_edge = json.loads(lines[-1])["fields"]["nodes"]["edge"]
    assert hub_edge["items"] == finished["published"] and hub_edge["duplicates"] == 0


def _documented_bridge() -> str:
    text = (REPO / "docs" / "mqtt.md").read_text()
    blocks = re.findall(r"```conf\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/mqtt.md documents one bridge configuration"
    return textwrap.dedent(blocks[0])


def test_the_documented_bridge_carries_an_appliance_to_the_central_broker(
    tmp_path: Path,
) -> None:
    """edge -> its own broker -> the documented bridge -> central broker -> hub."""
    kp = np.zeros((17, 2), np.float32)
    poses = [Pose(1000.0 + i / 25, 1, kp, 0.9, seq=i) for i in range(50)]
    with broker(tmp_path / "central") as central:
        bridge = re.sub(
            r"^address .*$", f"address 127.0.0.1:{central.port}", _documented_bridge(), flags=re.M
        )
        with broker(tmp_path / "kitchen", extra=bridge) as local:
            hub = subscriber(
                central.url, "bridged", tmp_path / "out.jsonl", topic="sites/+/posecog/#"
            ).start()
            hub.wait(lambda: hub.named("source.up"))
            pub = publisher(local.url, poses, "bridged", topic="posecog/{type}/{node_id}")
            with pub:
                pub._thread.join(20)
            assert pub.status == 0
            hub.wait(lambda: len(hub.taps["sub"]) == len(poses), timeout=20)
            hub.stop()
    assert [p.seq for p in hub.taps["sub"]] == list(range(50))
