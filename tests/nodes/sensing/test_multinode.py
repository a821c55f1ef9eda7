"""Multi-node sensing updates, built the way RuView's server builds them (INTERFACES §9): each
node's frame comes once, with the time of the update that first carried it; a node that stops
while still listed turns stale (reported once) and fresh again when it sends."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from posecog.graph.testing import run_node
from posecog.nodes.items import CsiFrame
from posecog.nodes.kinds import http_poll
from tests.conftest import EXCERPT_B
from tests.fakes.live_source import LiveRun
from tests.fakes.sensing_server import FakeSensingServer, multinode_updates

ROWS = [json.loads(t) for t in EXCERPT_B.read_text().splitlines()]  # 60 frames, one node


def node_frames(n_nodes: int, period: float = 0.1, stop: dict[int, tuple[int, int]] | None = None):
    """Each node's 60 frames (the excerpt, scaled per node so they differ), interleaved in
    time; ``stop[node] = (a, b)`` leaves out that node's frames a..b-1 (it stopped sending)."""
    t0 = ROWS[0]["timestamp"]
    frames = []
    for i, row in enumerate(ROWS):
        for node in range(1, n_nodes + 1):
            a, b = (stop or {}).get(node, (0, 0))
            if a <= i < b:
                continue
            amps = [round(v * (1 + 0.1 * node), 4) for v in row["subcarriers"]]
            frames.append((t0 + i * period + node * period / (n_nodes + 1), node, amps))
    return frames


def given(frames):
    """``{node: [(ts, amplitudes)]}`` of the real frames."""
    out: dict[int, list] = {}
    for ts, node, amps in frames:
        out.setdefault(node, []).append((ts, amps))
    return out


def write_dump(tmp_path: Path, updates) -> Path:
    path = tmp_path / "dump.csi.jsonl"
    path.write_text("".join(json.dumps(u) + "\n" for u in updates))
    return path


def check_once(got: list[CsiFrame], frames) -> None:
    truth = given(frames)
    by_node: dict[int, list[CsiFrame]] = {}
    for f in got:
        by_node.setdefault(f.node_id, []).append(f)
    assert set(by_node) == set(truth)
    for node, real in truth.items():
        mine = by_node[node]
        assert len(mine) == len(real), node  # each real frame once, no stale copy
        assert [f.ts for f in mine] == pytest.approx([ts for ts, _ in real])
        for f, (_ts, amps) in zip(mine, real, strict=True):
            assert np.allclose(f.amplitude, np.asarray(amps, np.float32))


@pytest.mark.parametrize("n_nodes", [2, 4])
def test_a_variant_c_dump_gives_each_nodes_frame_once(registry, tmp_path, n_nodes):
    frames = node_frames(n_nodes)
    updates = multinode_updates(frames)
    listed = sum(len(u["nodes"]) for u in updates)
    run = run_node("jsonl_replay", {"path": str(write_dump(tmp_path, updates))}, registry=registry)
    check_once([x for x in run.values if isinstance(x, CsiFrame)], frames)
    drops = run.metrics.nodes["jsonl_replay"].drops
    assert drops["repeated_frame"] == listed - len(frames)  # counted quietly
    assert not [e for e in run.events if e.level == "warn"]


@pytest.mark.parametrize("n_nodes", [2, 4])
def test_http_polling_a_multinode_server_gives_each_nodes_frame_once(
    registry, monkeypatch, n_nodes
):
    frames = node_frames(n_nodes)
    fake = FakeSensingServer(multinode_updates(frames), repeat=1, no_data=0)
    monkeypatch.setattr(http_poll, "TRANSPORT", fake.mock_transport())
    config = {"url": fake.latest_url, "presence": False, "vitals": False, "backoff_jitter": 0}
    run = run_node("http_poll", config, registry=registry, until=0.04 * (len(frames) + 2))
    check_once(run.values, frames)
    assert not [e for e in run.events if e.event == "node.stale"]


def test_ws_from_a_4_node_server_gives_each_nodes_frame_once(registry):
    frames = node_frames(4)
    with FakeSensingServer(multinode_updates(frames), ws_interval_s=0.002) as fake:
        config = {"url": fake.ws_url, "presence": False, "vitals": False}
        with LiveRun(registry, "ws_sensing", config) as run:
            run.wait(lambda: len(run.of_type(CsiFrame)) >= len(frames), timeout=10)
    check_once(run.of_type(CsiFrame), frames)
    assert run.drops["repeated_frame"] > 0


def test_a_node_that_stops_while_listed_turns_stale_once_then_fresh(registry, tmp_path):
    # node 2 sends frames 0..19, stops for 3 s (frames 20..49), then sends 50..59
    frames = node_frames(2, stop={2: (20, 50)})
    run = run_node(
        "jsonl_replay",
        {"path": str(write_dump(tmp_path, multinode_updates(frames)))},
        registry=registry,
    )
    check_once([x for x in run.values if isinstance(x, CsiFrame)], frames)
    (stale,) = [e for e in run.events if e.event == "node.stale"]
    (fresh,) = [e for e in run.events if e.event == "node.fresh"]
    assert stale.level == "warn" and stale.fields["node_id"] == 2
    last_before = given(frames)[2][19][0]
    assert 2.0 < stale.fields["ts_event"] - last_before <= 2.2  # after 2 s of a frozen frame
    assert fresh.fields["node_id"] == 2
    assert fresh.fields["ts_event"] == pytest.approx(given(frames)[2][20][0])
    assert run.metrics.nodes["jsonl_replay"].gauges["stale_nodes"] == []


def test_all_nodes_stopping_gives_no_stale_copies(registry, tmp_path):
    frames = node_frames(2)
    updates = multinode_updates(frames)
    # the server keeps listing both nodes' last frames in its later updates (vitals-triggered)
    last = updates[-1]
    tail = [
        {**last, "tick": last["tick"] + k, "timestamp": last["timestamp"] + 0.5 * k}
        for k in range(1, 9)
    ]
    run = run_node(
        "jsonl_replay",
        {"path": str(write_dump(tmp_path, updates + tail))},
        registry=registry,
    )
    check_once([x for x in run.values if isinstance(x, CsiFrame)], frames)
    stale = [e.fields["node_id"] for e in run.events if e.event == "node.stale"]
    assert Counter(stale) == {1: 1, 2: 1}
    assert run.metrics.nodes["jsonl_replay"].gauges["stale_nodes"] == [1, 2]


def _http(registry, monkeypatch, updates, until):
    fake = FakeSensingServer(updates, repeat=1, no_data=0)
    monkeypatch.setattr(http_poll, "TRANSPORT", fake.mock_transport())
    config = {"url": fake.latest_url, "presence": False, "vitals": False, "backoff_jitter": 0}
    return run_node("http_poll", config, registry=registry, until=until)


def test_a_server_whose_updates_stop_changing_is_a_stale_source(registry, monkeypatch):
    frames = node_frames(2)[:20]
    run = _http(registry, monkeypatch, multinode_updates(frames), until=4.0)
    (stale,) = [e for e in run.events if e.event == "source.stale"]
    assert stale.level == "warn" and stale.fields["reason"] == "updates stopped changing"
    # 20 updates, one a poll (40 ms): the last new one at 0.76 s, stale 2 s after it
    assert 2.0 < stale.ts - 0.76 <= 2.1
    assert run.metrics.nodes["http_poll"].gauges["source_stale"] is True
    check_once(run.values, frames)


def test_the_offline_rebroadcast_is_a_stale_source_then_fresh_again(registry, monkeypatch):
    frames = node_frames(2)
    updates = multinode_updates(frames[:20])
    last = updates[-1]
    offline = [  # the server's rebroadcast once no frame came for 5 s: new ticks, frozen nodes
        {**last, "tick": last["tick"] + k, "timestamp": last["timestamp"] + 0.1 * k,
         "source": "esp32:offline"}
        for k in range(1, 71)
    ]  # fmt: skip
    back = multinode_updates(frames[20:], first_tick=offline[-1]["tick"] + 1)
    everything = updates + offline + back
    run = _http(registry, monkeypatch, everything, until=0.04 * (len(everything) + 2))
    (stale,) = [e for e in run.events if e.event == "source.stale"]
    assert stale.fields["reason"] == "esp32:offline"
    (fresh,) = [e for e in run.events if e.event == "source.fresh"]
    assert fresh.fields["stale_s"] > 2.0
    assert run.metrics.nodes["http_poll"].gauges["source_stale"] is False
    check_once(run.values, frames)  # no frozen frame given during the outage
