"""http_poll against the fake sensing-server: in process (its answers through an
``httpx.MockTransport``) on virtual time where the pacing is ours (``run_node``), and over real
loopback HTTP on the real I/O loop where the connection itself is the point (``LiveRun``,
``Runtime``)."""

from __future__ import annotations

import io
import json
import socket
import threading
import time

import numpy as np
import pytest
from reactivex.testing import TestScheduler

from posecog.graph.context import BuildContext, RunServices
from posecog.graph.events import EventStream, to_json_line
from posecog.graph.lint import lint_file
from posecog.graph.runtime import Runtime
from posecog.graph.testing import run_node, virtual_io_loop
from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.kinds import http_poll
from posecog.nodes.kinds.http_poll import HttpPollConfig, build
from tests.conftest import EXCERPT_B
from tests.fakes.live_source import LiveRun
from tests.fakes.sensing_server import (
    Canned,
    FakeSensingServer,
    updates_from_excerpt,
    v1_updates_from_excerpt,
)

TOKEN = "tok-3f9a1c0d7e"  # never to be seen in any event or on stderr
ROWS = [json.loads(t) for t in EXCERPT_B.read_text().splitlines()]


@pytest.fixture(autouse=True)
def _no_token_in_env(monkeypatch):
    monkeypatch.delenv("RUVIEW_API_TOKEN", raising=False)


@pytest.fixture
def mock(monkeypatch):
    """Route http_poll's requests to a fake's in-process answers: ``mock(fake)``."""

    def use(fake):
        monkeypatch.setattr(http_poll, "TRANSPORT", fake.mock_transport())
        return fake

    return use


@pytest.fixture
def updates():
    return updates_from_excerpt(EXCERPT_B, vitals_every=20)  # 60 frames + 3 vitals-only


def poll(registry, fake, until, **config):
    """Poll ``fake`` (through the mock transport) on virtual time until ``until``."""
    config = {"url": fake.latest_url, "backoff_jitter": 0, **config}
    return run_node("http_poll", config, registry=registry, until=until)


def frames_of(run):
    return [x for x in run.values if isinstance(x, CsiFrame)]


def warnings(run, reason):
    return [e for e in run.events if e.event == "item.dropped" and e.fields["reason"] == reason]


def test_frames_are_the_recorded_updates_each_tick_once(registry, updates, mock):
    with FakeSensingServer(updates, repeat=3, no_data=2) as fake:
        mock(fake)
        n_polls = 2 + 3 * len(updates) + 5
        run = poll(registry, fake, until=0.04 * (n_polls - 1))
    frames = frames_of(run)
    assert [(f.node_id, f.ts) for f in frames] == [(1, r["timestamp"]) for r in ROWS]
    for f, r in zip(frames, ROWS, strict=True):
        assert np.array_equal(f.amplitude, np.asarray(r["subcarriers"], np.float32))
        assert f.amplitude.shape == (56,) and f.rssi is None and f.n_subcarriers == 64
    ticks = [f.seq for f in frames]
    assert len(set(ticks)) == len(ticks) == 60 and ticks == sorted(ticks)
    # the first new update is seen on poll 3 (after two "no data yet"), one every 3 polls
    assert [t for t, x in run.items if isinstance(x, CsiFrame)][:2] == pytest.approx([0.08, 0.2])
    presence = [x for x in run.values if isinstance(x, Presence)]
    vitals = [x for x in run.values if isinstance(x, Vitals)]
    assert len(presence) == len(vitals) == len(updates)  # vitals-only updates give them too
    g = run.metrics.nodes["http_poll"].gauges
    assert g["polls"] == n_polls
    assert g["duplicates"] == n_polls - 2 - len(updates)
    assert g["last_tick"] == updates[-1]["tick"] and g["connects"] == 1
    assert g["state"] == "closed" and g["up"] is False  # run_node disposed it at the end
    assert dict(run.metrics.nodes["http_poll"].drops) == {"no_data_yet": 2, "no_amplitude": 3}
    assert not [e for e in run.events if e.level == "warn"]


def test_presence_and_vitals_can_be_turned_off(registry, updates, mock):
    with FakeSensingServer(updates[:5], repeat=1, no_data=0) as fake:
        mock(fake)
        run = poll(registry, fake, until=0.2, presence=False, vitals=False)
    assert run.values and all(isinstance(x, CsiFrame) for x in run.values)


def test_401_without_a_token_is_a_warning_naming_it_and_no_frames(registry, updates, capfd, mock):
    with FakeSensingServer(updates, token=TOKEN) as fake:
        mock(fake)
        run = poll(registry, fake, until=1.0)
    assert not run.values
    (warn,) = warnings(run, "unauthorized")
    assert "401" in warn.fields["detail"] and "check the token" in warn.fields["detail"]
    assert "no token" in warn.fields["detail"]
    assert not [e for e in run.events if e.event == "source.down"]  # the server is up
    # a refused poll backs off: polls at 0, 0.1, 0.3, 0.7 s
    assert run.metrics.nodes["http_poll"].drops["unauthorized"] == 4


@pytest.mark.parametrize("where", ["config", "env", "wrong"])
def test_the_token_is_sent_and_never_shown(registry, updates, monkeypatch, capfd, where, mock):
    config: dict = {}
    if where == "config":
        config["token"] = TOKEN
    elif where == "env":
        monkeypatch.setenv("POSE_TEST_TOKEN", TOKEN)
        config["token_env"] = "POSE_TEST_TOKEN"
    else:
        config["token"] = TOKEN + "-wrong"
    with FakeSensingServer(updates, token=TOKEN, repeat=1) as fake:
        mock(fake)
        run = poll(registry, fake, until=1.0, **config)
    if where == "wrong":
        assert not run.values and warnings(run, "unauthorized")
        assert "a token from config 'token'" in warnings(run, "unauthorized")[0].fields["detail"]
    else:
        assert len(frames_of(run)) > 10
    lines = "\n".join(to_json_line(e) for e in run.events)
    out, err = capfd.readouterr()
    for text in (lines, out, err, repr(HttpPollConfig(token=TOKEN))):
        assert TOKEN not in text


def test_host_not_allowed_is_reported_and_an_allowed_host_works(registry, updates, mock):
    with FakeSensingServer(updates, allowed_hosts=("sensor.local",), repeat=1) as fake:
        mock(fake)
        bad = poll(registry, fake, until=0.5, host_header="attacker.example:3000")
        good = poll(registry, fake, until=0.5, host_header="sensor.local:3000")
    assert not bad.values
    (warn,) = warnings(bad, "host_rejected")
    assert "421" in warn.fields["detail"] and "Host header not allowed" in warn.fields["detail"]
    assert frames_of(good)


def test_garbage_is_counted_by_reason_and_good_updates_still_come(registry, updates, mock):
    good = updates[0]
    renamed = {("node_list" if k == "nodes" else k): v for k, v in good.items()}
    with FakeSensingServer(updates, repeat=1, no_data=0) as fake:
        mock(fake)
        fake.inject(
            "<html><body>502 Bad Gateway</body></html>",
            {**good, "tick": "7"},
            renamed,
            [1, 2, 3],
            {**good, "tick": 0, "nodes": [{**good["nodes"][0], "amplitude": [1.0] * 64}]},
            Canned(b"teapot", 418, "text/plain"),
        )
        run = poll(registry, fake, until=4.0)
    drops = dict(run.metrics.nodes["http_poll"].drops)
    assert drops == {
        "bad_json": 1,
        "bad_type": 1,
        "missing_field": 1,
        "unknown_record": 1,
        "bad_length": 1,
        "http_status": 1,
        "no_amplitude": 3,  # quiet: the vitals-triggered updates
    }
    warned = {e.fields["reason"] for e in run.events if e.level == "warn"}
    assert warned == set(drops) - {"no_amplitude"}
    assert [f.ts for f in frames_of(run)] == [r["timestamp"] for r in ROWS]
    assert run.error is None


def test_5xx_is_an_outage_reported_once_then_recovered(registry, updates, mock):
    with FakeSensingServer(updates, repeat=1, no_data=0) as fake:
        mock(fake)
        fake.inject(Canned(b"down", 503, "text/plain"), Canned(b"down", 502, "text/plain"))
        run = poll(registry, fake, until=1.0)
    (down,) = [e for e in run.events if e.event == "source.down"]
    (up,) = [e for e in run.events if e.event == "source.up"]
    assert down.fields["reason"] == "HTTP 503 Service Unavailable" and down.level == "warn"
    assert up.fields["down_s"] == pytest.approx(0.3) and up.fields["retries"] == 2
    assert frames_of(run)[0].ts == ROWS[0]["timestamp"]


class Virtual:
    """http_poll on virtual time (its I/O loop's clock is the scheduler's), advanced step by
    step."""

    def __init__(self, **config):
        self.sched = TestScheduler()
        self.events: list = []
        stream = EventStream(wall_clock=lambda: self.sched.clock)
        stream.listen(self.events.append)
        self.io = virtual_io_loop(self.sched)
        services = RunServices(events=stream, clock=lambda: self.sched.clock, io=self.io)
        self.ctx = BuildContext("sensing", "http_poll", services, self.sched)
        self.items: list = []
        obs = build(HttpPollConfig(backoff_jitter=0, **config), self.ctx)
        self.sub = obs.subscribe(lambda x: self.items.append((self.sched.clock, x)))

    def advance_to(self, t):
        self.io.run_until(t)

    def named(self, name):
        return [e for e in self.events if e.event == name]

    def close(self):
        self.sub.dispose()
        self.io.close()


def test_server_down_at_start_then_frames_once_it_starts(updates, mock):
    fake = mock(FakeSensingServer(updates, repeat=1, no_data=0))
    fake.offline = True  # refused, as a closed port refuses
    v = Virtual(url=fake.latest_url, backoff_min_s=0.1, backoff_max_s=0.4)
    try:
        v.advance_to(2.0)
        (down,) = v.named("source.down")
        assert "ConnectError" in down.fields["reason"] and "refused" in down.fields["reason"]
        assert down.fields["retry_in_s"] == 0.1
        assert v.ctx.metrics.gauges["polls"] == 7  # at 0, .1, .3, .7, 1.1, 1.5, 1.9
        assert not v.items and v.ctx.metrics.gauges["up"] is False
        assert v.ctx.metrics.gauges["state"] == "down"
        fake.offline = False
        v.advance_to(2.4)
        (up,) = v.named("source.up")
        assert up.fields["down_s"] == pytest.approx(2.3)  # recovered at the poll of 2.3 s
        assert up.fields["retries"] == 7
        assert v.items[0][0] == pytest.approx(2.3)
        assert len(v.named("source.down")) == 1
        assert v.ctx.metrics.gauges["state"] == "up"
        assert v.ctx.metrics.gauges["down_s_total"] == pytest.approx(2.3)
    finally:
        v.close()


def test_killed_and_restarted_mid_run_resumes_within_a_poll(registry, updates):
    poll_s, backoff_max = 0.01, 0.02
    config = {"poll_ms": 10, "backoff_min_s": 0.01, "backoff_max_s": backoff_max}
    fake = FakeSensingServer(updates, repeat=1, no_data=0, loop=True)
    with fake, LiveRun(registry, "http_poll", {"url": fake.latest_url, **config}) as run:
        run.wait(lambda: len(run.of_type(CsiFrame)) >= 5)
        fake.stop()
        run.wait(lambda: run.named("source.down"))
        polls = run.gauges["polls"]
        run.wait(lambda: run.gauges["polls"] >= polls + 3)  # retrying while it is gone
        fake.start()
        back = time.monotonic()
        first = run.wait(lambda: next((t for t, _ in run.items if t > back), None))
        run.wait(lambda: run.named("source.up"))
    assert first - back < backoff_max + poll_s + 0.05  # scheduling slack on a busy machine
    assert len(run.named("source.down")) == 1
    first_up, up = run.named("source.up")  # on connecting, and after the outage
    assert "down_s" not in first_up.fields
    assert up.fields["down_s"] > 0 and up.fields["retries"] >= 3
    ticks = [f.seq for f in run.of_type(CsiFrame)]
    assert ticks == sorted(set(ticks))  # no frame given twice across the outage
    assert run.error is None


def test_100ms_repeats_on_the_server_clock_give_each_tick_once(registry, updates):
    with FakeSensingServer(updates, interval_s=0.1, no_data=0) as fake:
        config = {"url": fake.latest_url, "poll_ms": 20, "presence": False, "vitals": False}
        with LiveRun(registry, "http_poll", config) as run:
            run.wait(lambda: len(run.of_type(CsiFrame)) >= 4)
    ticks = [f.seq for f in run.of_type(CsiFrame)]
    assert ticks == sorted(set(ticks))
    assert run.gauges["duplicates"] >= 2 * (len(ticks) - 1)  # ~5 polls per update


def test_dispose_returns_a_request_in_flight_at_once(registry):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api/v1/sensing/latest"
        with LiveRun(registry, "http_poll", {"url": url, "timeout_s": 30}) as run:
            run.wait(lambda: run.gauges.get("polls") == 1)
            conn, _ = silent.accept()  # the request is in flight, never to be answered
            t0 = time.monotonic()
            run.stop()  # a task cancellation: the request is abandoned, the client closed
            assert run.closed(1.0)
            conn.settimeout(2.0)
            assert conn.recv(65536, socket.MSG_PEEK) is not None
            while conn.recv(65536):  # the request's bytes, then EOF: the socket was closed
                pass
            assert time.monotonic() - t0 < 1.0
            conn.close()
    assert not run.named("source.down")


PIPELINE = """
name: live-presence
nodes:
  - id: sensing
    type: http_poll
    config: {{url: "{url}", poll_ms: 10}}
  - id: out
    type: stdout_events
    inputs: [sensing]
"""


def test_runs_in_the_runtime_and_stops_promptly(registry, updates):
    with FakeSensingServer(updates, repeat=1, no_data=0) as fake:
        spec, problems = lint_file("live.yaml", registry, text=PIPELINE.format(url=fake.latest_url))
        assert not problems
        seen = threading.Event()
        out = io.StringIO()
        events = EventStream(out=out)
        events.listen(lambda e: seen.set() if e.event == "vitals" else None)
        runtime = Runtime(spec, registry, events, stats_interval=0)
        status: list[int] = []
        thread = threading.Thread(target=lambda: status.append(runtime.run()))
        thread.start()
        assert seen.wait(3.0)
        runtime.stop()
        thread.join(3.0)
    assert not thread.is_alive() and status == [0]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    names = {line["event"] for line in lines}
    assert {"presence", "vitals", "run.finished"} <= names
    first = next(line for line in lines if line["event"] == "presence")
    assert first["fields"]["ts_event"] == ROWS[0]["timestamp"]


def test_updates_without_ticks_are_read_too(registry, mock):
    """The v1 Python server's updates (no tick): each new one once, repeats told apart by time."""
    updates = v1_updates_from_excerpt(EXCERPT_B)
    fake = mock(FakeSensingServer(updates, repeat=2, no_data=0))
    run = poll(registry, fake, until=0.04 * (2 * len(updates) + 2))
    frames = frames_of(run)
    assert [(f.node_id, f.ts) for f in frames] == [(1, r["timestamp"]) for r in ROWS]
    assert [f.seq for f in frames] == [1000 + k for k in range(len(ROWS))]
    assert not [e for e in run.events if e.level == "warn"]
