"""Output items render themselves as events; ``OUTPUT_ITEMS`` is what registered."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from posecog.graph.events import Event, to_json_line
from posecog.nodes.events import OUTPUT_ITEMS, item_event
from posecog.nodes.items import (
    CsiFrame,
    CsiWindow,
    Features,
    JoinedPose,
    Occupancy,
    Pose,
    Presence,
    Vitals,
    WasmEvents,
    output_item,
)


def test_the_output_items_are_those_that_render_themselves() -> None:
    assert set(OUTPUT_ITEMS) == {
        Pose,
        Vitals,
        Presence,
        WasmEvents,
        Features,
        JoinedPose,
        Occupancy,
    }
    assert all(callable(getattr(t, "event", None)) for t in OUTPUT_ITEMS)
    assert CsiFrame not in OUTPUT_ITEMS and CsiWindow not in OUTPUT_ITEMS


def test_registering_a_type_without_event_is_refused() -> None:
    @dataclass
    class Mute:
        ts: float

    with pytest.raises(TypeError, match="Mute has no event"):
        output_item(Mute)
    assert Mute not in OUTPUT_ITEMS


def test_an_item_that_does_not_render_is_a_type_error() -> None:
    frame = CsiFrame(1.0, 1, np.zeros(56, np.float32))
    with pytest.raises(TypeError, match="no output event for CsiFrame"):
        item_event(frame, 2.0)


def test_a_pose_line_keeps_the_reference_fields_byte_for_byte() -> None:
    kps = np.full((17, 2), 0.123456, np.float32)
    pose = Pose(10.5, 2, kps, 0.812345, seq=7, ts_start=9.5, arrived=100.0, backend="numpy")
    name, fields = pose.event(100.25, decimals=3)
    line = to_json_line(Event(name, fields, "info", 1.0))
    pair = "[0.123,0.123]"
    assert line == (
        '{"ts":1.0,"level":"info","event":"pose.frame","fields":{"tick":7,"n_persons":1,'
        f'"persons":[{{"keypoints":[{",".join([pair] * 17)}],"confidence":0.8123}}],'
        '"node_id":2,"ts_event":10.5,"ts_start":9.5,"latency_ms":250.0,"backend":"numpy"}}'
    )
    assert item_event(pose, 100.25, 3) == (name, fields)


def test_keypoint_confidence_follows_the_pose_confidence_and_changes_nothing_else() -> None:
    kps = np.full((17, 2), 0.123456, np.float32)
    plain = Pose(10.5, 2, kps, 0.812345, seq=7, ts_start=9.5, arrived=100.0, backend="numpy")
    per_kp = np.linspace(0.0, 1.0, 17, dtype=np.float32)
    scored = Pose(10.5, 2, kps, 0.812345, 7, 9.5, 100.0, "numpy", keypoint_confidence=per_kp)
    _, without = plain.event(100.25, decimals=3)
    _, fields = scored.event(100.25, decimals=3)
    person = fields["persons"][0]
    assert list(person) == ["keypoints", "confidence", "keypoint_confidence"]
    assert person["keypoint_confidence"] == [round(float(v), 4) for v in per_kp]
    del person["keypoint_confidence"]
    assert fields == without


def test_vitals_and_presence_give_their_set_fields() -> None:
    vitals = Vitals(5.0, 1, breathing_bpm=14.2, presence=True, extra={"rssi": -40.0})
    assert vitals.event(6.0) == (
        "vitals",
        {
            "node_id": 1,
            "breathing_bpm": 14.2,
            "presence": True,
            "ts_event": 5.0,
            "latency_ms": None,
            "rssi": -40.0,
        },
    )
    presence = Presence(5.0, 0, True, "present_still", arrived=5.5)
    assert presence.event(6.0) == (
        "presence",
        {
            "node_id": 0,
            "present": True,
            "motion_level": "present_still",
            "ts_event": 5.0,
            "latency_ms": 500.0,
        },
    )


def test_wasm_events_and_features_render_as_json_events() -> None:
    wasm = WasmEvents(5.0, 2, 7, ((1, 0.123456), (4, float("nan"))), arrived=4.5)
    line = to_json_line(Event(*wasm.event(5.0, decimals=3), "info", 1.0))
    assert line == (
        '{"ts":1.0,"level":"info","event":"wasm.events","fields":{"node_id":2,"module_id":7,'
        '"events":[{"event_type":1,"value":0.123},{"event_type":4,"value":null}],'
        '"ts_event":5.0,"latency_ms":500.0}}'
    )
    feats = Features(6.0, 3, "state", {"motion_score": 0.25, "presence_score": 1.0}, 9, 1234)
    assert feats.event(7.0) == (
        "features",
        {
            "node_id": 3,
            "kind": "state",
            "seq": 9,
            "node_time_us": 1234,
            "motion_score": 0.25,
            "presence_score": 1.0,
            "ts_event": 6.0,
            "latency_ms": None,
        },
    )
