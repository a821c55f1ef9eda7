"""Items <-> ``cognitum.vitals.v1`` messages: ``CsiFrame`` and ``Vitals`` both ways.

Lossless for what the items carry: amplitudes are float32 on both sides, optional fields stay
unset (None), ``extra`` keeps its value types, and event time crosses as integer nanoseconds
since the epoch (``to_ns``/``from_ns``): an epoch timestamp in seconds (a double, spaced about
240 ns apart today) comes back as the same double; times below about 50 days after the epoch
(synthetic tests) are kept to the nanosecond. ``arrived`` (the processing clock of one
process) is not sent: the receiver stamps its own.

Messages from the network are checked (``frame_item``, ``vitals_item``): a message that is no
usable frame or vitals raises ``Rejected`` with the reason the source counts it under.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.rejection import Rejected

from .v1 import vitals_pb2 as pb

__all__ = [
    "STATUS_NAMES",
    "frame_item",
    "frame_message",
    "from_ns",
    "to_ns",
    "vitals_item",
    "vitals_message",
]

_NS = 1_000_000_000

#: Estimate status <-> ``Vitals.breathing_status`` / ``heartrate_status`` (UNSPECIFIED: None).
STATUS_NAMES: dict[int, str] = {
    pb.ESTIMATE_STATUS_VALID: "valid",
    pb.ESTIMATE_STATUS_DEGRADED: "degraded",
    pb.ESTIMATE_STATUS_UNRELIABLE: "unreliable",
    pb.ESTIMATE_STATUS_UNAVAILABLE: "unavailable",
}
_STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}

#: ``Vitals`` fields that map one to one onto optional message fields of the same name.
_PLAIN = (
    "presence",
    "n_persons",
    "motion_energy",
    "signal_quality",
    "fall_detected",
    "motion",
    "presence_score",
)


def to_ns(ts: float) -> int:
    """Seconds since the epoch -> integer nanoseconds, the nearest (the whole seconds are
    split off first, so the fraction keeps its precision)."""
    whole = math.floor(ts)
    return whole * _NS + round((ts - whole) * _NS)


def from_ns(ns: int) -> float:
    """Integer nanoseconds -> seconds (Python's int division rounds correctly)."""
    return ns / _NS


# -- items -> messages ------------------------------------------------------------------------


def frame_message(frame: CsiFrame) -> pb.CsiFrame:
    msg = pb.CsiFrame(
        node_id=frame.node_id,
        ts_ns=to_ns(frame.ts),
        subcarrier_count=frame.n_subcarriers,
    )
    msg.amplitude.extend(frame.amplitude.tolist())
    if frame.seq >= 0:
        msg.seq = frame.seq
    if frame.rssi is not None:
        msg.rssi_dbm = frame.rssi
    return msg


def vitals_message(vitals: Vitals) -> pb.Vitals:
    msg = pb.Vitals(node_id=vitals.node_id, ts_ns=to_ns(vitals.ts))
    v = vitals
    for estimate, value, confidence, status in (
        (msg.breathing, v.breathing_bpm, v.breathing_confidence, v.breathing_status),
        (msg.heart_rate, v.heartrate_bpm, v.heartrate_confidence, v.heartrate_status),
    ):
        if value is not None:
            estimate.value_bpm = value
        if confidence is not None:
            estimate.confidence = confidence
        if status is not None:
            estimate.status = _STATUS_CODES.get(status, pb.ESTIMATE_STATUS_UNSPECIFIED)  # type: ignore[assignment]
    for name in _PLAIN:
        value = getattr(vitals, name)
        if value is not None:
            setattr(msg, name, value)
    extra = dict(vitals.extra)
    subcarriers = extra.pop("subcarrier_count", None)
    if isinstance(subcarriers, int) and not isinstance(subcarriers, bool) and subcarriers > 0:
        msg.subcarrier_count = subcarriers
    elif subcarriers is not None:
        extra["subcarrier_count"] = subcarriers
    for key, value in extra.items():
        slot = msg.extra[key]
        if isinstance(value, bool):
            slot.flag = value
        elif isinstance(value, int):
            slot.integer = value
        else:
            slot.number = float(value)
    return msg


# -- messages -> items (checked) ------------------------------------------------------------------


def frame_item(msg: pb.CsiFrame, arrived: float) -> CsiFrame:
    """The frame of ``msg``; ``Rejected`` (``bad_frame``, ``bad_time``) when it is not one."""
    if msg.ts_ns <= 0:
        raise Rejected("bad_time", f"node {msg.node_id}: frame event time {msg.ts_ns} ns")
    amplitude = np.array(msg.amplitude, dtype=np.float32)
    n = amplitude.size
    if n == 0:
        raise Rejected("bad_frame", f"node {msg.node_id}: a frame with no amplitudes")
    if msg.subcarrier_count and msg.subcarrier_count < n:
        raise Rejected(
            "bad_frame",
            f"node {msg.node_id}: {n} amplitudes of a {msg.subcarrier_count}-subcarrier frame",
        )
    if not np.isfinite(amplitude).all():
        raise Rejected("bad_frame", f"node {msg.node_id}: non-finite amplitudes")
    return CsiFrame(
        ts=from_ns(msg.ts_ns),
        node_id=msg.node_id,
        amplitude=amplitude,
        seq=msg.seq if msg.HasField("seq") else -1,
        rssi=msg.rssi_dbm if msg.HasField("rssi_dbm") else None,
        n_subcarriers=msg.subcarrier_count,
        arrived=arrived,
    )


def _estimate(msg: pb.VitalEstimate, what: str, node: int) -> tuple[Any, Any, Any]:
    value = msg.value_bpm if msg.HasField("value_bpm") else None
    confidence = msg.confidence if msg.HasField("confidence") else None
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise Rejected("bad_vitals", f"node {node}: {what} rate {value}")
    if confidence is not None and not 0 <= confidence <= 1:
        raise Rejected("bad_vitals", f"node {node}: {what} confidence {confidence} not in 0..1")
    return value, confidence, STATUS_NAMES.get(msg.status)


def vitals_item(msg: pb.Vitals, arrived: float) -> Vitals:
    """The vitals of ``msg``; ``Rejected`` (``bad_vitals``, ``bad_time``) when they are not."""
    node = msg.node_id
    if msg.ts_ns <= 0:
        raise Rejected("bad_time", f"node {node}: vitals event time {msg.ts_ns} ns")
    breathing, b_conf, b_status = _estimate(msg.breathing, "breathing", node)
    heart, h_conf, h_status = _estimate(msg.heart_rate, "heart", node)
    fields: dict[str, Any] = {}
    for name in _PLAIN:
        if msg.HasField(name):
            fields[name] = getattr(msg, name)
    for name in ("motion_energy", "presence_score", "signal_quality"):
        value = fields.get(name)
        if value is not None and not math.isfinite(value):
            raise Rejected("bad_vitals", f"node {node}: {name} {value}")
    quality = fields.get("signal_quality")
    if quality is not None and not 0 <= quality <= 1:
        raise Rejected("bad_vitals", f"node {node}: signal_quality {quality} not in 0..1")
    extra: dict[str, float | int | bool] = {}
    for key, slot in msg.extra.items():
        kind = slot.WhichOneof("value")
        if kind is None:
            raise Rejected("bad_vitals", f"node {node}: extra {key!r} has no value")
        extra[key] = getattr(slot, kind)
    if msg.subcarrier_count:
        extra["subcarrier_count"] = msg.subcarrier_count
    return Vitals(
        ts=from_ns(msg.ts_ns),
        node_id=node,
        breathing_bpm=breathing,
        heartrate_bpm=heart,
        breathing_confidence=b_conf,
        heartrate_confidence=h_conf,
        breathing_status=b_status,
        heartrate_status=h_status,
        arrived=arrived,
        extra=extra,
        **fields,
    )
