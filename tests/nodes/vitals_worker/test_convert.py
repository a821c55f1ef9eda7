"""Items <-> cognitum.vitals.v1 messages: lossless both ways, checked on the way in."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.rejection import Rejected
from posecog.nodes.vitals_worker.convert import (
    frame_item,
    frame_message,
    from_ns,
    to_ns,
    vitals_item,
    vitals_message,
)
from posecog.nodes.vitals_worker.v1 import vitals_pb2 as pb


def wire(msg):  # through the bytes, as a peer reads it
    return type(msg).FromString(msg.SerializeToString())


def test_a_frame_round_trips_bit_for_bit():
    amp = np.random.default_rng(1).random(56, dtype=np.float32) * 40
    frame = CsiFrame(1779210883.444, 3, amp, seq=2**32 + 5, rssi=-41.5, n_subcarriers=128)
    back = frame_item(wire(frame_message(frame)), arrived=7.0)
    assert back.ts == frame.ts and back.node_id == 3 and back.seq == 2**32 + 5
    assert back.amplitude.dtype == np.float32 and np.array_equal(back.amplitude, amp)
    assert back.rssi == -41.5 and back.n_subcarriers == 128 and back.arrived == 7.0


def test_unknown_seq_and_rssi_stay_unknown():
    msg = wire(frame_message(CsiFrame(1.7e9, 1, np.ones(56, np.float32))))
    assert not msg.HasField("seq") and not msg.HasField("rssi_dbm")
    back = frame_item(msg, 0.0)
    assert back.seq == -1 and back.rssi is None and back.n_subcarriers == 0


def test_vitals_round_trip_with_statuses_and_typed_extra():
    vitals = Vitals(
        1779210883.5, 2, breathing_bpm=14.25, heartrate_bpm=71.0, presence=True,
        fall_detected=False, motion=True, n_persons=2, motion_energy=1.5, presence_score=0.8,
        breathing_confidence=0.9, heartrate_confidence=0.4, signal_quality=0.75,
        breathing_status="valid", heartrate_status="degraded",
        extra={"rssi": -50, "mmwave_hr_bpm": 70.5, "mmwave": True, "subcarrier_count": 56},
    )  # fmt: skip
    back = vitals_item(wire(vitals_message(vitals)), arrived=vitals.arrived)
    assert back == vitals
    assert type(back.extra["rssi"]) is int and type(back.extra["mmwave"]) is bool


def test_vitals_with_nothing_set_come_back_with_nothing_set():
    vitals = Vitals(1.7e9, 1)
    msg = wire(vitals_message(vitals))
    assert not msg.HasField("breathing") and not msg.HasField("presence")
    assert vitals_item(msg, 0.0) == vitals


@given(st.floats(min_value=1.0e9, max_value=4.0e9))
def test_epoch_seconds_survive_nanoseconds(ts):
    assert from_ns(to_ns(ts)) == ts


@given(st.integers(min_value=1, max_value=2**62))
def test_nanoseconds_are_the_nearest(ns):
    assert abs(to_ns(from_ns(ns)) - ns) <= max(1, ns // 2**52)


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (pb.CsiFrame(node_id=1, ts_ns=5), "bad_frame"),  # no amplitudes
        (pb.CsiFrame(node_id=1, ts_ns=0, amplitude=[1.0]), "bad_time"),
        (pb.CsiFrame(node_id=1, ts_ns=5, amplitude=[1.0] * 56, subcarrier_count=52), "bad_frame"),
        (pb.CsiFrame(node_id=1, ts_ns=5, amplitude=[1.0, float("nan")]), "bad_frame"),
    ],
)
def test_frames_that_are_no_frames_are_rejected(msg, reason):
    with pytest.raises(Rejected) as info:
        frame_item(wire(msg), 0.0)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (pb.Vitals(node_id=1), "bad_time"),
        (pb.Vitals(node_id=1, ts_ns=5, breathing=pb.VitalEstimate(confidence=1.5)), "bad_vitals"),
        (pb.Vitals(node_id=1, ts_ns=5, heart_rate=pb.VitalEstimate(value_bpm=-3)), "bad_vitals"),
        (pb.Vitals(node_id=1, ts_ns=5, signal_quality=2.0), "bad_vitals"),
        (pb.Vitals(node_id=1, ts_ns=5, extra={"x": pb.ExtraValue()}), "bad_vitals"),
    ],
)
def test_vitals_that_are_no_vitals_are_rejected(msg, reason):
    with pytest.raises(Rejected) as info:
        vitals_item(wire(msg), 0.0)
    assert info.value.reason == reason


def test_an_unavailable_estimate_is_reported_as_such():
    msg = pb.Vitals(
        node_id=1, ts_ns=5, breathing=pb.VitalEstimate(status=pb.ESTIMATE_STATUS_UNAVAILABLE)
    )
    vitals = vitals_item(wire(msg), 0.0)
    assert vitals.breathing_bpm is None and vitals.breathing_status == "unavailable"
    assert vitals.event(0.0)[1]["breathing_status"] == "unavailable"
