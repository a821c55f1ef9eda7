"""The sensing-server's JSON (INTERFACES §3) as items, with schema-drift checks.

``SensingDecoder`` takes HTTP bodies of ``/api/v1/sensing/latest`` (``body``) and WebSocket
text frames of ``/ws/sensing`` (``message``) and gives items, or ``Rejected(reason, detail)`` for
what gives none. Frames come from ``RecordingParser.sensing_update``, the same code that
replays variant C recordings: one ``CsiFrame`` per node with ``ts`` = the update's
``timestamp``, ``seq`` = its ``tick``, the 56 amplitudes (any other length is skipped as
``bad_length``: a 64-value list is not cut down), ``n_subcarriers`` = ``subcarrier_count``
and ``rssi=None`` (the server reads it from the wrong byte on the raw-CSI path).

Repeats of the previous tick (the server re-sends its update every 100 ms, and a poll faster
than the data sees the same update again) give nothing and count in ``duplicates``. A new
update also gives, when enabled, a ``Presence`` from ``classification`` and ``Vitals`` from
``vital_signs``; both are the server's estimate over all its nodes, so they carry node id 0.
``edge_vitals`` frames give ``Vitals`` of their node and, when it reports presence, a
``Presence`` (motion level ``absent`` / ``present_still`` / ``present_moving`` from its flags).

Rejected reasons: those of the recording parser (``bad_json``, ``missing_field``, ``bad_type``,
``bad_length``, ``non_finite``, ``no_timestamp``, ``no_amplitude``), plus ``unknown_record``
(JSON that is not an object), ``unexpected_type`` (an HTTP body of another ``type``),
``unknown_type`` (a WebSocket frame of a type not listed above), ``no_data_yet`` (the server has
had no update yet) and ``wasm_event``. ``QUIET`` lists those that are normal operation.
"""

from __future__ import annotations

import json
import math
from typing import Any

from posecog.nodes.csi.recording import RecordingParser
from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.rejection import Rejected

__all__ = ["QUIET", "Item", "SensingDecoder", "presence_of", "update_items"]

Item = CsiFrame | Vitals | Presence

#: Rejected reasons of normal operation: counted without a warning.
QUIET = frozenset({"no_data_yet", "no_amplitude", "wasm_event", "repeated_frame"})

#: More persons than this in ``estimated_persons`` is not a count: left out.
_MAX_PERSONS = 255


def _opt_float(obj: dict[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected("bad_type", f"'{where}.{key}' must be a number; got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range (JSON allows 4,300 digits)
        number = math.inf
    if not math.isfinite(number):
        raise Rejected("non_finite", f"'{where}.{key}' must be finite; got {value!r:.40}")
    return number


def _object(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, dict):
        raise Rejected("bad_type", f"'{key}' must be an object; got {type(value).__name__}")
    return value


def _load(data: bytes | str) -> dict[str, Any] | Rejected:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        text = data[:60] if isinstance(data, str) else data[:60].decode("utf-8", "replace")
        return Rejected("bad_json", f"not JSON ({exc}): {text!r}")
    if not isinstance(obj, dict):
        return Rejected("unknown_record", f"expected a JSON object; got {type(obj).__name__}")
    return obj


class SensingDecoder:
    """One per connection history of a source (the dedupe state survives reconnects: a server
    that comes back with the same update must not give its frames twice). Not thread-safe."""

    def __init__(self, *, presence: bool = True, vitals: bool = True) -> None:
        self.presence = presence
        self.vitals = vitals
        self.parser = RecordingParser()
        #: Updates that repeated the previous tick.
        self.duplicates = 0
        #: The last update taken said ``source: "esp32:offline"`` (no frame for 5 s).
        self.offline = False

    @property
    def last_tick(self) -> int | None:
        return self.parser.last_tick

    def body(self, data: bytes | str) -> list[Item | Rejected]:
        """An HTTP body of ``GET /api/v1/sensing/latest``."""
        obj = _load(data)
        if isinstance(obj, Rejected):
            return [obj]
        kind = obj.get("type")
        if kind is None and obj.get("status") == "no data yet":
            return [Rejected("no_data_yet", "the server has had no update yet")]
        if kind is None:
            keys = sorted(obj)[:8]
            return [Rejected("missing_field", f"'type' is required (sensing_update); keys: {keys}")]
        if kind != "sensing_update":
            return [Rejected("unexpected_type", f"type {kind!r:.40}; expected 'sensing_update'")]
        return self.update(obj)

    def message(self, data: bytes | str) -> list[Item | Rejected]:
        """A text frame of ``/ws/sensing``."""
        obj = _load(data)
        if isinstance(obj, Rejected):
            return [obj]
        kind = obj.get("type")
        if kind == "sensing_update":
            return self.update(obj)
        if kind == "edge_vitals":
            return self.edge_vitals(obj)
        if kind == "wasm_event":
            return [Rejected("wasm_event", f"node {obj.get('node_id')!r:.20}")]
        return [Rejected("unknown_type", f"type {kind!r:.40} with keys {sorted(obj)[:8]}")]

    def update(self, obj: dict[str, Any]) -> list[Item | Rejected]:
        """A ``sensing_update`` object: its frames (or skips), and presence/vitals if new."""
        taken = self.parser.updates
        frames = self.parser.sensing_update(obj)
        if self.parser.updates == taken:  # a repeat, or a broken tick/timestamp/nodes
            if frames and isinstance(frames[0], Rejected) and frames[0].reason == "duplicate_tick":
                self.duplicates += 1
                return []
            return [*frames]
        self.offline = obj.get("source") == "esp32:offline"
        out: list[Item | Rejected] = self._edge_items(frames)  # held edge vitals first
        ts = float(obj["timestamp"])  # checked by the parser
        for wanted, make in ((self.presence, _classification), (self.vitals, _vital_signs)):
            if not wanted:
                continue
            try:
                item = make(obj, ts)
            except Rejected as drift:
                out.append(Rejected(drift.reason, f"tick {obj.get('tick')}: {drift.detail}"))
                continue
            if item is not None:
                out.append(item)
        return out

    def edge_vitals(self, obj: dict[str, Any]) -> list[Item | Rejected]:
        """An ``edge_vitals`` object: held until the update it precedes (see
        ``RecordingParser.edge_vitals``), then its items (``_edge_items``)."""
        return self._edge_items(self.parser.edge_vitals(obj))

    def _edge_items(self, results: list[Any]) -> list[Item | Rejected]:
        """Edge ``Vitals`` as ``Vitals`` (if wanted) and, if they report presence,
        ``Presence``; anything else as it is."""
        out: list[Item | Rejected] = []
        for vitals in results:
            if not isinstance(vitals, Vitals):
                out.append(vitals)
                continue
            if self.vitals:
                out.append(vitals)
            presence = presence_of(vitals) if self.presence else None
            if presence is not None:
                out.append(presence)
        return out


def presence_of(vitals: Vitals) -> Presence | None:
    """The ``Presence`` a node's own vitals report (motion level ``absent`` /
    ``present_still`` / ``present_moving`` from its flags), or None when they say nothing."""
    if vitals.presence is None:
        return None
    if not vitals.presence:
        level = "absent"
    elif vitals.motion is None:
        level = ""
    else:
        level = "present_moving" if vitals.motion else "present_still"
    return Presence(
        ts=vitals.ts,
        node_id=vitals.node_id,
        present=vitals.presence,
        motion_level=level,
        confidence=vitals.presence_score,
        n_persons=vitals.n_persons,
        arrived=vitals.arrived,
    )


def _classification(obj: dict[str, Any], ts: float) -> Presence | None:
    cls = _object(obj, "classification")
    if cls is None:  # the v1 Python server sends none
        return None
    present = cls.get("presence")
    if present is None:
        raise Rejected(
            "missing_field", f"'classification.presence' is required; keys {sorted(cls)}"
        )
    if not isinstance(present, bool):
        got = type(present).__name__
        raise Rejected("bad_type", f"'classification.presence' must be a boolean; got {got}")
    level = cls.get("motion_level", "")
    if not isinstance(level, str):
        got = type(level).__name__
        raise Rejected("bad_type", f"'classification.motion_level' must be a string; got {got}")
    persons = obj.get("estimated_persons")
    return Presence(
        ts=ts,
        node_id=0,
        present=present,
        motion_level=level,
        confidence=_opt_float(cls, "confidence", "classification"),
        n_persons=persons if type(persons) is int and 0 <= persons <= _MAX_PERSONS else None,
    )


def _vital_signs(obj: dict[str, Any], ts: float) -> Vitals | None:
    vs = _object(obj, "vital_signs")  # optional in the server's schema
    if vs is None:
        return None
    return Vitals(
        ts=ts,
        node_id=0,
        breathing_bpm=_opt_float(vs, "breathing_rate_bpm", "vital_signs"),
        heartrate_bpm=_opt_float(vs, "heart_rate_bpm", "vital_signs"),
        breathing_confidence=_opt_float(vs, "breathing_confidence", "vital_signs"),
        heartrate_confidence=_opt_float(vs, "heartbeat_confidence", "vital_signs"),
        signal_quality=_opt_float(vs, "signal_quality", "vital_signs"),
    )


def update_items(obj: dict[str, Any], ts: float, where: str) -> list[Presence | Vitals | Rejected]:
    """The presence (``classification``) and vitals (``vital_signs``) of one new sensing
    update, for a replay of a variant C dump (``RecordingParser(update_items=...)``): what the
    live sources give from the same update. A broken one is a ``Rejected`` beside the frames."""
    out: list[Presence | Vitals | Rejected] = []
    for make in (_classification, _vital_signs):
        try:
            item = make(obj, ts)
        except Rejected as drift:
            out.append(Rejected(drift.reason, f"{where}: {drift.detail}"))
            continue
        if item is not None:
            out.append(item)
    return out
