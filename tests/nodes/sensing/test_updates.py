from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.rejection import Rejected
from posecog.nodes.sensing.updates import QUIET, SensingDecoder
from tests.conftest import EXCERPT_B
from tests.fakes.sensing_server import edge_vitals, updates_from_excerpt, wasm_event


def split(results):
    frames = [r for r in results if isinstance(r, CsiFrame)]
    skips = Counter(r.reason for r in results if isinstance(r, Rejected))
    others = [r for r in results if not isinstance(r, CsiFrame | Rejected)]
    return frames, skips, others


def test_updates_give_the_recorded_frames_once_per_tick():
    rows = [json.loads(t) for t in EXCERPT_B.read_text().splitlines()]
    updates = updates_from_excerpt(EXCERPT_B, vitals_every=20)
    dec = SensingDecoder(presence=False, vitals=False)
    results = []
    for u in updates:
        for _ in range(3):  # each update polled three times
            results += dec.body(json.dumps(u))
    frames, skips, others = split(results)
    assert [(f.node_id, f.ts) for f in frames] == [(1, r["timestamp"]) for r in rows]
    for f, r in zip(frames, rows, strict=True):
        assert f.amplitude.dtype == np.float32
        assert np.array_equal(f.amplitude, np.asarray(r["subcarriers"], np.float32))
        assert f.rssi is None and f.n_subcarriers == 64
    assert [f.seq for f in frames] == sorted({f.seq for f in frames})
    assert skips == {"no_amplitude": 3}  # the vitals-triggered updates, once each
    assert dec.duplicates == 2 * len(updates)
    assert dec.last_tick == updates[-1]["tick"]
    assert not others


def test_new_updates_give_presence_and_vitals_of_node_0():
    (u,) = updates_from_excerpt(EXCERPT_B)[:1]
    frames, skips, others = split(SensingDecoder().body(json.dumps(u)))
    assert len(frames) == 1 and not skips
    presence, vitals = others
    assert presence == Presence(u["timestamp"], 0, True, "present_still", 0.8, n_persons=1)
    assert vitals == Vitals(
        u["timestamp"],
        0,
        breathing_bpm=14.0,
        heartrate_bpm=None,
        breathing_confidence=0.7,
        heartrate_confidence=0.0,
        signal_quality=0.9,
    )


def test_vitals_triggered_updates_still_give_presence():
    u = updates_from_excerpt(EXCERPT_B, vitals_every=1)[1]
    assert u["nodes"][0]["amplitude"] == []
    frames, skips, others = split(SensingDecoder().body(json.dumps(u)))
    assert not frames and skips == {"no_amplitude": 1} and "no_amplitude" in QUIET
    assert [type(o) for o in others] == [Presence, Vitals]


def test_a_broken_node_is_skipped_alone_and_reported_once():
    u = updates_from_excerpt(EXCERPT_B)[0]
    good = u["nodes"][0]
    u["nodes"] = [good, {**good, "node_id": 2, "amplitude": [1.0] * 64}]
    dec = SensingDecoder(presence=False, vitals=False)
    frames, skips, _ = split(dec.body(json.dumps(u)) + dec.body(json.dumps(u)))
    assert [f.node_id for f in frames] == [1]
    assert skips == {"bad_length": 1}  # 64 values are not cut down to 56; the repeat is quiet
    assert dec.duplicates == 1


def base():
    return updates_from_excerpt(EXCERPT_B)[0]


def renamed(obj, old, new):
    return {(new if k == old else k): v for k, v in obj.items()}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"status": "no data yet"}', "no_data_yet"),
        ("<html>502 Bad Gateway</html>", "bad_json"),
        (b"\xff\xfe\x00garbage", "bad_json"),
        ("[1, 2]", "unknown_record"),
        (json.dumps(renamed(base(), "type", "kind")), "missing_field"),
        (json.dumps({**base(), "type": "edge_vitals"}), "unexpected_type"),
        (json.dumps(renamed(base(), "nodes", "node_list")), "missing_field"),
        # (no tick at all is the v1 Python server's update, read: see test_ws_sensing)
        (json.dumps({**base(), "tick": "12"}), "bad_type"),
        (json.dumps({**base(), "timestamp": "now"}), "bad_type"),
        (json.dumps({**base(), "nodes": {"1": {}}}), "bad_type"),
        (
            json.dumps({**base(), "nodes": [renamed(base()["nodes"][0], "amplitude", "amp")]}),
            "missing_field",
        ),
    ],
)
def test_drift_is_a_named_skip(body, reason):
    dec = SensingDecoder()
    out = dec.body(body)
    (skip,) = [r for r in out if isinstance(r, Rejected)]
    assert not any(isinstance(r, CsiFrame) for r in out)
    assert isinstance(skip, Rejected) and skip.reason == reason and skip.detail
    good = split(dec.body(json.dumps({**base(), "tick": 999})))[0]
    assert len(good) == 1  # a later good update still comes through


def test_classification_drift_keeps_the_frames():
    u = {**base(), "classification": {"presence": "yes"}, "vital_signs": [1]}
    frames, skips, others = split(SensingDecoder().body(json.dumps(u)))
    assert len(frames) == 1 and not others
    assert skips == {"bad_type": 2}


def test_websocket_frames():
    updates = updates_from_excerpt(EXCERPT_B)[:2]
    dec = SensingDecoder()
    out = dec.message(json.dumps(updates[0])) + dec.message(json.dumps(updates[0]))
    ev = edge_vitals(updates[1])  # motion False: tick 2 is even -> motion True
    held = dec.message(json.dumps({**ev, "motion": False}))
    assert held == []  # it precedes the update its packet triggers: it waits for it
    out += dec.message(json.dumps(updates[1]))
    out += dec.message(json.dumps(wasm_event(updates[0])))
    out += dec.message('{"type": "pose_update", "persons": []}')
    out += dec.message("not json")
    frames, skips, others = split(out)
    assert len(frames) == 2
    assert skips == {"wasm_event": 1, "unknown_type": 1, "bad_json": 1}
    vitals = [o for o in others if isinstance(o, Vitals) and o.node_id == 1]
    presence = [o for o in others if isinstance(o, Presence) and o.node_id == 1]
    ev_vitals = [v for v in vitals if v.extra]  # the edge vitals (rssi in extra)
    assert ev_vitals[0].ts == updates[1]["timestamp"]  # stamped with the update it precedes
    assert ev_vitals[0].breathing_bpm == 15.0 and ev_vitals[0].extra == {"rssi": -41.0}
    assert Presence(updates[1]["timestamp"], 1, True, "present_still", 0.9, 1) in presence


def test_flags_off_give_frames_only():
    dec = SensingDecoder(presence=False, vitals=False)
    u = base()
    assert all(isinstance(r, CsiFrame) for r in dec.message(json.dumps(u)))
    assert dec.message(json.dumps(edge_vitals(u))) == []
