"""ws_sensing against a real WebSocket server on loopback (the fake sensing-server), on a real
I/O loop (``LiveRun``) in real time: the connection itself is the point, so no virtual time
here. Every wait is bounded."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
from pydantic import ValidationError

from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.kinds.ws_sensing import WsSensingConfig
from tests.conftest import EXCERPT_B
from tests.fakes.live_source import LiveRun
from tests.fakes.sensing_server import (
    FakeSensingServer,
    updates_from_excerpt,
    v1_updates_from_excerpt,
)

ROWS = [json.loads(t) for t in EXCERPT_B.read_text().splitlines()]
FAST = {"backoff_min_s": 0.01, "backoff_max_s": 0.02}  # default jitter: delays only shorter


@pytest.fixture
def updates():
    return updates_from_excerpt(EXCERPT_B, vitals_every=20)  # 60 frames + 3 vitals-only


def test_frames_vitals_and_presence_from_the_stream(registry, updates):
    n = len(updates)
    expected_messages = 2 * n + n // 10 + n // 15  # repeats, edge_vitals, wasm_event
    fake = FakeSensingServer(updates, ws_repeat=2)
    with fake, LiveRun(registry, "ws_sensing", {"url": fake.ws_url}) as run:
        run.wait(lambda: run.gauges.get("messages") == expected_messages)
        assert run.gauges["up"] is True and run.gauges["state"] == "up"
    frames = run.of_type(CsiFrame)
    assert [(f.node_id, f.ts) for f in frames] == [(1, r["timestamp"]) for r in ROWS]
    for f, r in zip(frames, ROWS, strict=True):
        assert np.array_equal(f.amplitude, np.asarray(r["subcarriers"], np.float32))
        assert f.rssi is None and f.n_subcarriers == 64 and f.arrived > 0
    assert [f.seq for f in frames] == sorted({f.seq for f in frames})
    assert run.gauges["duplicates"] == n and run.gauges["last_tick"] == updates[-1]["tick"]
    edge = [v for v in run.of_type(Vitals) if v.node_id == 1]
    assert len(edge) == n // 10 and edge[0].heartrate_bpm == 72.0
    assert edge[0].ts == updates[9]["timestamp"]  # no timestamp: the update it precedes
    assert len([v for v in run.of_type(Vitals) if v.node_id == 0]) == n  # vital_signs
    levels = {p.motion_level for p in run.of_type(Presence) if p.node_id == 1}
    assert levels <= {"present_still", "present_moving"} and levels
    assert run.drops == {"no_amplitude": 3, "wasm_event": n // 15}
    assert not [ev for ev in run.named("item.dropped") if ev.level == "warn"]
    (up,) = run.named("source.up")  # on connecting: no outage before it
    assert up.fields["url"] == fake.ws_url and "down_s" not in up.fields
    assert run.gauges["connects"] == 1 and run.gauges["outages"] == 0
    assert not run.named("source.down") and run.error is None


def test_unknown_binary_and_broken_frames_are_counted_and_warned(registry, updates):
    fake = FakeSensingServer(updates[:10], ws_repeat=1, edge_vitals_every=0, wasm_every=0)
    fake.inject_ws(
        '{"type": "pose_update", "persons": []}',
        b"\x00\x01\x02",
        "definitely not json",
        json.dumps({**updates[0], "tick": "one"}),
        json.dumps({**updates[0], "tick": 0, "nodes": [{"node_id": 1, "amplitude": [1.0]}]}),
    )
    with fake, LiveRun(registry, "ws_sensing", {"url": fake.ws_url}) as run:
        run.wait(lambda: len(run.of_type(CsiFrame)) == 10)
    assert run.drops == {
        "unknown_type": 1,
        "binary_frame": 1,
        "bad_json": 1,
        "bad_type": 1,
        "bad_length": 1,
    }
    assert run.gauges["messages"] == 15  # every frame is a message, skipped or not
    warned = {ev.fields["reason"] for ev in run.named("item.dropped")}
    assert warned == set(run.drops)
    details = {ev.fields["reason"]: ev.fields["detail"] for ev in run.named("item.dropped")}
    assert "pose_update" in details["unknown_type"]
    assert details["binary_frame"].endswith("a binary frame of 3 bytes")
    assert not run.named("source.down") and run.error is None


def test_server_down_at_start_then_frames_once_it_starts(registry, updates):
    fake = FakeSensingServer(updates[:5]).start()
    fake.stop()  # the port is known, nothing listens on it
    with LiveRun(registry, "ws_sensing", {"url": fake.ws_url, **FAST}) as run:
        run.wait(lambda: run.named("source.down"))
        (down,) = run.named("source.down")
        assert down.level == "warn" and "ConnectionRefusedError" in down.fields["reason"]
        assert 0 < down.fields["retry_in_s"] <= FAST["backoff_min_s"]
        assert run.gauges["up"] is False and not run.named("source.up")
        with fake:
            run.wait(lambda: len(run.of_type(CsiFrame)) == 5)
            (up,) = run.wait(lambda: run.named("source.up"))
            assert up.fields["down_s"] > 0 and up.fields["retries"] >= 1
            assert len(run.named("source.down")) == 1  # once per outage, however many retries
            assert run.gauges["outages"] == 1 and run.gauges["connects"] == 1
            run.stop()  # before the fake stops: its leaving would be an outage


def test_killed_and_restarted_mid_run_reconnects_within_the_backoff(registry, updates):
    fake = FakeSensingServer(updates, loop=True, ws_interval_s=0.002)
    with fake, LiveRun(registry, "ws_sensing", {"url": fake.ws_url, **FAST}) as run:
        run.wait(lambda: len(run.of_type(CsiFrame)) >= 5)
        fake.stop()  # closes the connection (1001), then nothing listens
        run.wait(lambda: run.named("source.down"))
        fake.start()
        back = time.monotonic()
        first = run.wait(
            lambda: next((t for t, x in run.items if t > back and isinstance(x, CsiFrame)), None)
        )
        run.wait(lambda: len(run.named("source.up")) == 2)
    # jitter only shortens the delays: backoff_max_s bounds the wait; + handshake, scheduling
    assert first - back < FAST["backoff_max_s"] + 0.1
    (down,) = run.named("source.down")
    assert "connection closed" in down.fields["reason"] and "1001" in down.fields["reason"]
    first_up, up = run.named("source.up")
    assert "down_s" not in first_up.fields and up.fields["down_s"] > 0
    assert run.gauges["connects"] == 2 and run.gauges["outages"] == 1
    assert fake.ws_close_codes[0] == 1001  # the client answered the server's close
    ticks = [f.seq for f in run.of_type(CsiFrame)]
    assert ticks == sorted(set(ticks)) and run.error is None


def test_dispose_closes_with_a_close_handshake_promptly_and_leaves_no_thread(registry, updates):
    fake = FakeSensingServer(updates[:3], edge_vitals_every=0, wasm_every=0)
    with fake:
        before = set(threading.enumerate())
        with LiveRun(registry, "ws_sensing", {"url": fake.ws_url}) as run:
            run.wait(lambda: len(run.of_type(CsiFrame)) == 3)  # now waiting in recv: no more
            run.wait(lambda: fake.ws_clients == 1)
            assert not run.idle(0.1)  # the read task waits for the next frame
            t0 = time.monotonic()
            run.stop()  # a task cancellation
            assert run.idle(1.0)  # the task has ended: the connection is closed
            assert time.monotonic() - t0 < 1.0
            run.wait(lambda: fake.ws_clients == 0)  # the server saw the connection end
            assert fake.ws_close_codes in ([1000], [1001])  # with a close frame: cleanly
            assert run.gauges["state"] == "closed" and run.gauges["up"] is False
        # the I/O loop's thread is joined, the fake's thread of the connection has ended
        run.wait(lambda: set(threading.enumerate()) <= before, timeout=2.0)
    assert not run.named("source.down") and run.error is None


def test_dispose_cuts_a_hanging_handshake(registry):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/ws/sensing"
        with LiveRun(registry, "ws_sensing", {"url": url, "open_timeout_s": 30}) as run:
            silent.settimeout(2.0)
            conn, _ = silent.accept()
            with conn:
                conn.settimeout(2.0)
                assert conn.recv(65536).startswith(b"GET /ws/sensing")  # in the handshake
                assert not run.idle(0.1)
                t0 = time.monotonic()
                run.stop()
                assert run.idle(1.0)
                assert conn.recv(65536) == b""  # EOF: the client closed its socket
                assert time.monotonic() - t0 < 1.0
    assert not run.named("source.down") and not run.named("source.up")


def test_config_rejects_other_schemes_and_backoff_order():
    with pytest.raises(ValidationError, match="ws:// or wss://"):
        WsSensingConfig(url="http://127.0.0.1:3001/ws/sensing")
    with pytest.raises(ValidationError, match="backoff_min_s must be <= backoff_max_s"):
        WsSensingConfig(backoff_min_s=2, backoff_max_s=1)


def test_the_v1_python_server_without_ticks_gives_its_frames_once(registry):
    """The v1 server's messages (no tick, node sequence, extra node fields), each sent twice."""
    updates = v1_updates_from_excerpt(EXCERPT_B)
    fake = FakeSensingServer(updates, ws_repeat=2, edge_vitals_every=0, wasm_every=0)
    with fake, LiveRun(registry, "ws_sensing", {"url": fake.ws_url}) as run:
        run.wait(lambda: len(run.of_type(CsiFrame)) >= len(updates), timeout=10)
    frames = run.of_type(CsiFrame)
    assert [(f.node_id, f.ts) for f in frames] == [(1, r["timestamp"]) for r in ROWS]
    assert [f.seq for f in frames] == [1000 + k for k in range(len(ROWS))]  # the sequence
    assert run.gauges["duplicates"] == len(updates)  # each repeat told apart by its time
    assert not [e for _t, e in run.events if e.level == "warn"]  # nothing it sends is an error
