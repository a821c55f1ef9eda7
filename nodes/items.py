"""The items that flow between nodes: small immutable records with numpy arrays inside.

Every item carries its **event time** ``ts`` (seconds since the epoch, from the sensor or the
recording: never the wall clock of this process) and ``arrived``, the processing-clock time
(``BuildContext.now()``) at which the source received the data it came from, so sinks can report
source-to-sink latency. ``arrived`` is 0.0 when unknown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "KEYPOINT_NAMES",
    "OUTPUT_ITEMS",
    "CsiFrame",
    "CsiWindow",
    "Features",
    "FloatArray",
    "JoinedPose",
    "Occupancy",
    "Pose",
    "Presence",
    "Vitals",
    "WasmEvents",
    "output_item",
]

FloatArray = npt.NDArray[np.float32]

#: The item types that render as output events (``stdout_events``, ``jsonl_file``), each by its
#: own ``event(now, decimals) -> (name, fields)``; filled by ``@output_item``.
OUTPUT_ITEMS: list[type] = []

_C = TypeVar("_C", bound=type)


def output_item(cls: _C) -> _C:
    """Register an item type that knows how to render itself as an event."""
    if not callable(getattr(cls, "event", None)):
        raise TypeError(f"{cls.__name__} has no event(now, decimals) method")
    OUTPUT_ITEMS.append(cls)
    return cls


def _latency_ms(arrived: float, now: float) -> float | None:
    return round((now - arrived) * 1e3, 3) if arrived else None


def _plain_fields(item: Any, now: float) -> dict[str, Any]:
    """The fields of a record-like item: every set field, ``ts`` as ``ts_event``."""
    fields = {k: v for k, v in asdict(item).items() if k != "arrived" and v is not None}
    fields["ts_event"] = fields.pop("ts")
    fields["latency_ms"] = _latency_ms(item.arrived, now)
    return fields


#: COCO-17 keypoint order of every ``Pose``, model bundle and ground truth.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class CsiFrame:
    """One CSI frame of one node: amplitudes of the selected subcarriers (56 for LLTF bins 0..55).

    ``seq`` orders frames of a source: the sensing-server's ``tick``, the ESP32 sequence number
    or the recording's line number; -1 when unknown. ``n_subcarriers`` is the size of the frame
    the sensor sent (64/128/192), which may exceed ``len(amplitude)``.
    """

    ts: float
    node_id: int
    amplitude: FloatArray
    seq: int = -1
    rssi: float | None = None
    n_subcarriers: int = 0
    arrived: float = 0.0


@dataclass(frozen=True, slots=True, eq=False)
class CsiWindow:
    """``frames[t, k]``: amplitude of subcarrier k in the t-th frame of the window (frame-major,
    in arrival order). The model bundle, not the window, decides how this maps onto its input.
    """

    ts_start: float
    ts_end: float
    node_id: int
    frames: FloatArray
    seq: int = -1
    arrived: float = 0.0

    @property
    def ts(self) -> float:
        return self.ts_end


@output_item
@dataclass(frozen=True, slots=True, eq=False)
class Pose:
    """One person's 17 COCO keypoints ``[17, 2]`` in [0, 1] image coordinates (x right, y down).

    ``keypoint_confidence`` (``[17]`` in [0, 1], or None when the producer has none) scores
    each keypoint; ``confidence`` scores the pose (``posecog.nodes.model.agreement`` says
    what both measure).

    Renders as ``pose.frame`` with the reference cog's fields (ADR-101: ``tick, n_persons,
    persons[{keypoints, confidence}]``) plus ``node_id``, ``ts_event`` (event time of the
    window's last frame, s), ``ts_start`` (its first frame), ``latency_ms`` (source arrival to
    the sink, processing time) and ``backend``; ``persons[0].keypoint_confidence`` (17 values,
    4 decimals, after ``confidence``) when the pose has them.
    """

    ts: float
    node_id: int
    keypoints: FloatArray
    confidence: float
    seq: int = -1
    ts_start: float = 0.0
    arrived: float = 0.0
    backend: str = ""
    keypoint_confidence: FloatArray | None = None

    def event(self, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
        # ndarray.round, not np.round (a Python-level wrapper): the same rounding, fewer calls
        kps = self.keypoints.astype(np.float64).round(decimals).tolist()
        person: dict[str, Any] = {"keypoints": kps, "confidence": round(self.confidence, 4)}
        if self.keypoint_confidence is not None:
            person["keypoint_confidence"] = (
                self.keypoint_confidence.astype(np.float64).round(4).tolist()
            )
        return "pose.frame", {
            "tick": self.seq,
            "n_persons": 1,
            "persons": [person],
            "node_id": self.node_id,
            "ts_event": self.ts,
            "ts_start": self.ts_start,
            "latency_ms": _latency_ms(self.arrived, now),
            "backend": self.backend,
        }


@output_item
@dataclass(frozen=True, slots=True)
class Vitals:
    """Vital signs of one node. Fields the sensor did not report are None; the confidences and
    signal quality are INTERFACES §7's (the sensing-server's ``vital_signs`` gives them).
    Renders as ``vitals`` (the set fields, ``extra`` flattened in)."""

    ts: float
    node_id: int
    breathing_bpm: float | None = None
    heartrate_bpm: float | None = None
    presence: bool | None = None
    fall_detected: bool | None = None
    motion: bool | None = None
    n_persons: int | None = None
    motion_energy: float | None = None
    presence_score: float | None = None
    #: INTERFACES §7: how far each rate can be trusted (0..1), where the source says.
    breathing_confidence: float | None = None
    heartrate_confidence: float | None = None
    signal_quality: float | None = None
    #: INTERFACES §7's estimate status of each rate ("valid", "degraded", "unreliable",
    #: "unavailable"), where the source says (the vitals worker's protocol does).
    breathing_status: str | None = None
    heartrate_status: str | None = None
    arrived: float = 0.0
    extra: dict[str, float | int | bool] = field(default_factory=dict)

    def event(self, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
        fields = _plain_fields(self, now)
        fields.update(fields.pop("extra", {}))
        return "vitals", fields


@output_item
@dataclass(frozen=True, slots=True)
class Presence:
    """Presence and motion of one node (from the server's classification or edge vitals).
    Renders as ``presence`` (the set fields)."""

    ts: float
    node_id: int
    present: bool
    motion_level: str = ""
    confidence: float | None = None
    n_persons: int | None = None
    arrived: float = 0.0

    def event(self, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
        return "presence", _plain_fields(self, now)


@output_item
@dataclass(frozen=True, slots=True)
class WasmEvents:
    """The output of a WASM module running on a node: ``events`` as ``(event_type, value)``
    pairs, in packet order. What an ``event_type`` means is the module's. Renders as
    ``wasm.events`` with ``events`` as ``[{"event_type", "value"}]``."""

    ts: float
    node_id: int
    module_id: int
    events: tuple[tuple[int, float], ...]
    arrived: float = 0.0

    def event(self, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
        return "wasm.events", {
            "node_id": self.node_id,
            "module_id": self.module_id,
            "events": [{"event_type": k, "value": round(v, decimals)} for k, v in self.events],
            "ts_event": self.ts,
            "latency_ms": _latency_ms(self.arrived, now),
        }


@output_item
@dataclass(frozen=True, slots=True)
class Features:
    """Features a node computed itself: ``kind`` ``"vector"`` (0xC5110003: 8 floats ``f0``..
    ``f7``) or ``"state"`` (0xC5110006: motion, presence, respiration, heartbeat, anomaly ...
    scores). ``seq`` is the node's own counter and ``node_time_us`` its own clock. Renders as
    ``features``."""

    ts: float
    node_id: int
    kind: str
    values: dict[str, float]
    seq: int = -1
    node_time_us: int = 0
    arrived: float = 0.0

    def event(self, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
        return "features", {
            "node_id": self.node_id,
            "kind": self.kind,
            "seq": self.seq,
            "node_time_us": self.node_time_us,
            **{k: round(v, decimals) for k, v in self.values.items()},
            "ts_event": self.ts,
            "latency_ms": _latency_ms(self.arrived, now),
        }


@output_item
@dataclass(frozen=True, slots=True, eq=False)
class JoinedPose:
    """A pose with the vitals and presence of its node as of its event time (the ``join``
    node). Renders as ``pose.frame``: every field of the pose, plus ``vitals`` and
    ``presence`` (their fields and ``age_s``, or null) and ``vitals_age_s`` /
    ``presence_age_s`` (the age of the newest item there was, even when too old; null: none)."""

    pose: Pose
    vitals: Vitals | None = None
    vitals_age_s: float | None = None
    presence: Presence | None = None
    presence_age_s: float | None = None

    @property
    def ts(self) -> float:
        return self.pose.ts

    @property
    def node_id(self) -> int:
        return self.pose.node_id

    def event(self, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
        name, fields = self.pose.event(now, decimals)
        for side, item, age in (
            ("vitals", self.vitals, self.vitals_age_s),
            ("presence", self.presence, self.presence_age_s),
        ):
            if item is None:
                fields[side] = None
            else:
                _, attached = item.event(now, decimals)
                attached.pop("latency_ms", None)
                fields[side] = {**attached, "age_s": round(age or 0.0, 6)}
            fields[f"{side}_age_s"] = None if age is None else round(age, 6)
        return name, fields


@output_item
@dataclass(frozen=True, slots=True, eq=False)
class Occupancy:
    """One room over one period, fused from its nodes (the ``occupancy`` node): ``present``
    (any node's presence; None: no node reported any), ``n_persons`` (the largest count a node
    reports) and ``nodes`` (node id -> its freshest joined pose). Renders as ``occupancy``."""

    ts: float
    room: str
    present: bool | None
    n_persons: int | None
    nodes: tuple[tuple[int, JoinedPose], ...]
    arrived: float = 0.0

    def event(self, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
        nodes = {}
        for node_id, joined in self.nodes:
            pose = joined.pose
            nodes[str(node_id)] = {
                "ts_event": pose.ts,
                "confidence": round(pose.confidence, 4),
                "keypoints": pose.keypoints.astype(np.float64).round(decimals).tolist(),
                "present": None if joined.presence is None else joined.presence.present,
            }
        return "occupancy", {
            "room": self.room,
            "present": self.present,
            "n_persons": self.n_persons,
            "nodes": nodes,
            "ts_event": self.ts,
        }
