"""The live pipelines as processes, against real servers on loopback (started here)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import EXCERPT_A, EXCERPT_B, POSE_V1, REPO
from tests.fakes.esp32_sender import Esp32Sender, recording_datagrams
from tests.fakes.sensing_server import FakeSensingServer, updates_from_excerpt


class Cog:
    """``cog-pose-estimation run ...`` in a subprocess, its stdout events read on a thread."""

    def __init__(self, *args: str, cwd: Path = REPO) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "posecog.cog.cli", "run", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            # Not PYTHONUNBUFFERED: stdout is a pipe, as under the appliance's gateway, and
            # events must still come out as they happen.
            env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        )
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                with self._cond:
                    self.events.append(json.loads(line))
                    self._cond.notify_all()

    def named(self, name: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e["event"] == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(self.named_unlocked(name)) >= count or self.proc.poll() is not None,
                timeout,
            )
        got = self.named(name)
        assert ok and len(got) >= count, (name, len(got), self.proc.poll(), self.stderr())
        return got

    def named_unlocked(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        return code

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()


def test_live_http_against_a_sensing_server() -> None:
    with FakeSensingServer(updates_from_excerpt(EXCERPT_B), repeat=3) as fake:
        cog = Cog(
            "live-http",
            "--set",
            f"sensing_url={fake.latest_url}",
            "--set",
            "poll_ms=10",
            "--set",
            f"model={POSE_V1}",
            "--set",
            "min_confidence=0",
        )
        frames = cog.wait_for("pose.frame", 60 - 19)
        assert cog.stop() == 0
    ticks = [e["fields"]["tick"] for e in frames]
    assert ticks == sorted(set(ticks))  # each server tick once, in order, despite the repeats
    assert {e["fields"]["node_id"] for e in frames} == {1}
    finished = cog.named("run.finished")[0]["fields"]
    assert finished["reason"] == "stopped"


def test_appliance_config_json_runs_the_live_default(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    with FakeSensingServer(updates_from_excerpt(EXCERPT_B), repeat=2) as fake:
        config.write_text(
            json.dumps(
                {
                    "sensing_url": fake.latest_url,
                    "model_path": str(POSE_V1),
                    "poll_ms": 10,
                    "min_confidence": 0.0,
                }
            )
        )
        cog = Cog("--config", str(config))
        cog.wait_for("pose.frame", 10)
        assert cog.stop() == 0
    started = cog.named("run.started")[0]["fields"]
    assert started["pipeline"] == "appliance"
    assert started["parameters"]["sensing_url"] == fake.latest_url


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_live_udp_from_esp32_datagrams() -> None:
    port = free_udp_port()
    cog = Cog(
        "live-udp",
        "--set",
        f"port={port}",
        "--set",
        "bind=127.0.0.1",
        "--set",
        f"model={POSE_V1}",
        "--set",
        "min_confidence=0",
    )
    cog.wait_for("source.up")
    datagrams = recording_datagrams(EXCERPT_A)
    with Esp32Sender(port) as sender:
        sender.send_paced(datagrams, speed=4.0)
    lines = [json.loads(t) for t in EXCERPT_A.read_text().splitlines()]
    per_node = Counter(r["node_id"] for r in lines if r.get("type") == "raw_csi")
    expected = sum(c - 19 for c in per_node.values())
    frames = cog.wait_for("pose.frame", expected)
    vitals = cog.wait_for("vitals", 1)
    assert cog.stop() == 0
    assert Counter(e["fields"]["node_id"] for e in frames) == {
        n: c - 19 for n, c in per_node.items()
    }
    assert all(v["fields"]["node_id"] in per_node for v in vitals)
    finished = cog.named("run.finished")[0]["fields"]
    assert finished["nodes"]["sensing"].get("dropped", {}).get("overflow", 0) == 0


def test_live_ws_against_a_sensing_server() -> None:
    # 100 updates/s (the server sends 10): a live hop keeps the newest 40 frames, so a burst
    # faster than the graph's first (cold) windows would rightly be thinned out
    updates = updates_from_excerpt(EXCERPT_B)
    with FakeSensingServer(updates, ws_repeat=2, ws_interval_s=0.01) as fake:
        cog = Cog(
            "live-ws",
            "--set",
            f"ws_url={fake.ws_url}",
            "--set",
            f"model={POSE_V1}",
            "--set",
            "min_confidence=0",
            "--set",
            "vitals=true",
        )
        frames = cog.wait_for("pose.frame", 60 - 19)
        cog.wait_for("vitals", 1)  # edge_vitals routed by type to the same sink
        assert cog.stop() == 0
    ticks = [e["fields"]["tick"] for e in frames]
    assert ticks == sorted(set(ticks))
    finished = cog.named("run.finished")[0]["fields"]
    assert finished["nodes"]["sensing"].get("dropped", {}).get("overflow", 0) == 0
