from __future__ import annotations

import gzip
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from reactivex.testing import TestScheduler

from posecog.graph.context import BuildContext, RunServices
from posecog.graph.errors import ConfigError
from posecog.graph.events import EventStream
from posecog.nodes.csi.formats import FORMATS, MALFORMED, NO_FRAME_REASONS
from posecog.nodes.csi.frames import FORMATS_READ, FRAME_SKIPS
from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.kinds.jsonl_replay import JsonlReplayConfig, build
from posecog.nodes.registry import default_registry
from tests.conftest import EXCERPT_A, EXCERPT_B

SUBSCRIBED = 10.0  # virtual second at which TestScheduler.start subscribes


class Harness:
    def __init__(self, interactive: bool = False) -> None:
        self.sched = TestScheduler()
        self.events: list = []
        stream = EventStream()
        stream.listen(self.events.append)
        self.services = RunServices(
            events=stream, clock=lambda: self.sched.clock, interactive=interactive
        )
        self.ctx = BuildContext("replay", "jsonl_replay", self.services, self.sched)

    def build(self, **config):
        return build(JsonlReplayConfig(**config), self.ctx)

    def run(self, disposed: float = 1e9, **config):
        obs = self.build(**config)
        return self.sched.start(lambda: obs, created=1.0, subscribed=SUBSCRIBED, disposed=disposed)

    @property
    def drops(self) -> Counter:
        return self.ctx.metrics.drops


def items_of(observer) -> list[tuple[float, object]]:
    return [(m.time, m.value.value) for m in observer.messages if m.value.kind == "N"]


def frames_of(observer) -> list[tuple[float, CsiFrame]]:
    return [(t, v) for t, v in items_of(observer) if isinstance(v, CsiFrame)]


def completed(observer) -> bool:
    return any(m.value.kind == "C" for m in observer.messages)


def write_minute(path: Path, n: int = 61) -> list[float]:
    """A variant B recording: one frame a second for a minute, irregular fractions."""
    stamps = [1_700_000_000.0 + k + (0.013 * k) % 0.4 for k in range(n)]
    rows = [{"timestamp": ts, "subcarriers": [float(k)] * 56} for k, ts in enumerate(stamps)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return stamps


def test_max_pacing_replays_every_frame_and_counts_the_rest():
    lines = [json.loads(t) for t in EXCERPT_A.read_text().splitlines()]
    raw = Counter(d["node_id"] for d in lines if d.get("type") == "raw_csi")
    other = Counter(d.get("type", "untyped") for d in lines if d.get("type") != "raw_csi")
    h = Harness()

    out = h.run(path=str(EXCERPT_A))

    frames = [f for _, f in frames_of(out)]
    assert Counter(f.node_id for f in frames) == raw
    assert completed(out)
    assert [f.ts for f in frames] == [d["timestamp"] for d in lines if d.get("type") == "raw_csi"]
    assert all(f.arrived == SUBSCRIBED for f in frames)  # stamped by the processing clock
    assert h.drops == {"feature_line": other["feature"], "compressed_csi": other["untyped"]}
    vitals = [v for _, v in items_of(out) if isinstance(v, Vitals)]
    assert len(vitals) == other["vitals"] and {v.node_id for v in vitals} == {1, 2}
    (finished,) = [e for e in h.events if e.event == "source.finished"]
    assert finished.fields["frames"] == len(frames)
    assert finished.fields["vitals"] == len(vitals)
    assert finished.fields["lines"] == len(lines)
    assert finished.fields["skipped"] == dict(h.drops)
    # these lines are normal in a raw recording: counted, but no WARN
    assert [e for e in h.events if e.event == "item.dropped"] == []


def test_realtime_pacing_keeps_the_recorded_gaps_in_virtual_time(tmp_path):
    stamps = write_minute(tmp_path / "minute.jsonl")
    h = Harness()
    t0 = time.perf_counter()

    out = h.run(path=str(tmp_path / "minute.jsonl"), pacing="realtime")

    assert time.perf_counter() - t0 < 1.0  # a minute of event time, no wall time
    got = frames_of(out)
    assert [f.ts for _, f in got] == stamps
    assert [t for t, _ in got] == pytest.approx(
        [SUBSCRIBED + ts - stamps[0] for ts in stamps], abs=1e-5
    )
    assert completed(out)


def test_realtime_speed_two_halves_the_gaps(tmp_path):
    stamps = write_minute(tmp_path / "minute.jsonl")
    out = Harness().run(path=str(tmp_path / "minute.jsonl"), pacing="realtime", speed=2.0)
    assert [t for t, _ in frames_of(out)] == pytest.approx(
        [SUBSCRIBED + (ts - stamps[0]) / 2 for ts in stamps], abs=1e-5
    )
    assert [f.ts for _, f in frames_of(out)] == stamps  # event time is untouched


def test_realtime_on_a_real_recording():
    stamps = [json.loads(t)["timestamp"] for t in EXCERPT_B.read_text().splitlines()]
    out = Harness().run(path=str(EXCERPT_B), pacing="realtime", speed=4.0)
    assert [t for t, _ in frames_of(out)] == pytest.approx(
        [SUBSCRIBED + (ts - stamps[0]) / 4 for ts in stamps], abs=1e-5
    )


def open_paths() -> set[str]:
    fds = Path("/proc/self/fd")
    return {os.path.realpath(fd) for fd in fds.iterdir()} if fds.is_dir() else set()


def test_disposal_stops_a_realtime_replay_and_closes_the_file(tmp_path):
    path = tmp_path / "minute.jsonl"
    stamps = write_minute(path)
    h = Harness()
    obs = h.build(path=str(path), pacing="realtime")
    seen: list[float] = []
    subscription = obs.subscribe(lambda f: seen.append(f.ts))
    assert str(path) in open_paths() or not Path("/proc/self/fd").is_dir()
    h.sched.advance_to(30.5)
    subscription.dispose()
    h.sched.start()  # nothing left to run: the next step was cancelled
    assert seen == [ts for ts in stamps if ts - stamps[0] <= 30.5]
    assert str(path) not in open_paths()
    assert not any(e.event == "source.finished" for e in h.events)


def test_disposal_stops_a_max_replay_between_two_lines():
    h = Harness()
    obs = h.build(path=str(EXCERPT_A))
    seen: list[CsiFrame] = []

    def on_next(frame: CsiFrame) -> None:
        seen.append(frame)
        if len(seen) == 5:
            subscription.dispose()

    subscription = obs.subscribe(on_next)
    h.sched.start()
    assert len(seen) == 5
    assert str(EXCERPT_A) not in open_paths()


def test_node_filter_keeps_the_chosen_nodes():
    lines = [json.loads(t) for t in EXCERPT_A.read_text().splitlines()]
    n_node2 = sum(d.get("type") == "raw_csi" and d["node_id"] == 2 for d in lines)
    h = Harness()
    out = h.run(path=str(EXCERPT_A), nodes=[1])
    assert {f.node_id for _, f in frames_of(out)} == {1}
    assert h.drops["node_not_selected"] == n_node2


def test_loop_continues_event_time_and_seq(tmp_path):
    path = tmp_path / "three.jsonl"
    rows = [{"timestamp": 100.0 + k, "subcarriers": [1.0] * 56} for k in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = Harness().run(path=str(path), pacing="realtime", loop=True, disposed=SUBSCRIBED + 8.5)
    got = frames_of(out)
    assert [f.ts for _, f in got] == [100.0 + k for k in range(9)]
    assert [f.seq for _, f in got] == [1, 2, 3, 5, 6, 7, 9, 10, 11]
    assert [t for t, _ in got] == pytest.approx([SUBSCRIBED + k for k in range(9)], abs=1e-5)
    assert not completed(out)


def test_gzip_recording(tmp_path):
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress(EXCERPT_B.read_bytes()))
    out = Harness().run(path=str(gz))
    assert len(frames_of(out)) == 60


def test_bad_lines_are_dropped_by_reason(tmp_path):
    good = EXCERPT_B.read_text().splitlines()[:3]
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good[0]}\nnot json\n{good[1]}\n{good[2][:40]}")
    h = Harness()
    out = h.run(path=str(path))
    assert len(frames_of(out)) == 2
    assert h.drops == {"bad_json": 1, "truncated_line": 1}


def test_relative_path_resolves_against_the_base_dir(tmp_path):
    write_minute(tmp_path / "minute.jsonl", n=3)
    h = Harness()
    h.services.base_dir = tmp_path
    assert len(frames_of(h.run(path="minute.jsonl"))) == 3


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.path: .*\(nothing at "):
        Harness().build(path=str(tmp_path / "nope.jsonl"))
    with pytest.raises(ConfigError, match=r"config\.path: .*\(a folder at "):
        Harness().build(path=str(tmp_path))


def test_progress_line_only_when_interactive(tmp_path, capsys):
    write_minute(tmp_path / "minute.jsonl", n=3)
    Harness(interactive=False).run(path=str(tmp_path / "minute.jsonl"))
    assert capsys.readouterr().err == ""
    Harness(interactive=True).run(path=str(tmp_path / "minute.jsonl"))
    assert "minute.jsonl" in capsys.readouterr().err


def test_config_is_validated():
    with pytest.raises(ValidationError):
        JsonlReplayConfig(path="x", speed=0)
    with pytest.raises(ValidationError):
        JsonlReplayConfig(path="x", pacing="fast")
    with pytest.raises(ValidationError):
        JsonlReplayConfig(path="x", sped=2.0)
    with pytest.raises(ValidationError):
        JsonlReplayConfig()


def test_registered_as_a_blocking_csi_source_with_valid_examples():
    kind = default_registry().get("jsonl_replay")
    assert kind.gives == (CsiFrame, Vitals, Presence) and kind.hop == "block" and not kind.takes
    assert "pacing" in kind.doc
    for example in kind.examples:
        node = yaml.safe_load(example)
        assert node["type"] == "jsonl_replay"
        kind.config(**node["config"])
    for name, field in JsonlReplayConfig.model_fields.items():
        assert field.description, name


def test_the_docs_list_every_format_read_and_every_reason():
    """The docs (``cog-pose-estimation nodes jsonl_replay``) and the message of a file that gave
    no frame are made from one list of formats, so they name the same formats, A-legacy too."""
    doc = default_registry().get("jsonl_replay").doc
    assert "{" not in doc  # every placeholder filled
    for f in FORMATS:
        assert f"* variant {f.variant}, {f.what}:" in doc
        assert f"variant {f.variant}, {f.what}: {f.recognised}" in FORMATS_READ
    assert "variant A-legacy, " in FORMATS_READ and "'iq_hex' = packet bytes 8.." in FORMATS_READ
    for reason in MALFORMED | NO_FRAME_REASONS | FRAME_SKIPS:
        assert f"``{reason}``" in doc, reason
    assert max(len(line) for line in doc.splitlines()) <= 98


def test_a_server_dump_gives_its_presence_and_vitals_as_the_live_sources_do(tmp_path):
    from tests.fakes.sensing_server import edge_vitals, updates_from_excerpt

    updates = updates_from_excerpt(EXCERPT_B)[:10]
    lines = []
    for k, u in enumerate(updates):
        if k % 5 == 4:
            lines.append({**edge_vitals(u), "node_id": 3})  # sent before its update, no time
        lines.append(u)
    path = tmp_path / "dump.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = Harness().run(path=str(path))
    items = [v for _, v in items_of(out)]
    presence = [v for v in items if isinstance(v, Presence) and v.node_id == 0]  # server-wide
    vitals = [v for v in items if isinstance(v, Vitals)]
    assert len(presence) == 10
    # the edge vitals of node 3 report presence: its own Presence too, as the live sources give
    assert len([v for v in items if isinstance(v, Presence) and v.node_id == 3]) == 2
    assert [p.ts for p in presence] == [u["timestamp"] for u in updates]
    assert len([v for v in vitals if v.node_id == 0]) == 10
    edge = [v for v in vitals if v.node_id == 3]
    assert [v.ts for v in edge] == [updates[4]["timestamp"], updates[9]["timestamp"]]
    # frames only, when asked
    only = [v for _, v in items_of(Harness().run(path=str(path), vitals=False))]
    assert all(isinstance(v, CsiFrame) for v in only) and len(only) == 10


def test_realtime_pacing_does_not_wait_out_a_clock_jump(tmp_path):
    rows = [{"timestamp": 1_700_000_000.0 + k, "subcarriers": [1.0] * 56} for k in range(5)]
    rows.insert(3, {"timestamp": 1e15, "subcarriers": [2.0] * 56})  # far in the future
    path = tmp_path / "jump.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = Harness().run(path=str(path), pacing="realtime")
    frames = frames_of(out)
    assert len(frames) == 6 and completed(out)
    assert frames[-1][0] - frames[0][0] < 10  # seconds of (virtual) time, not 10^15
