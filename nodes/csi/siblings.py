"""The ESP32's other packets on the CSI port (INTERFACES §9; firmware ``edge_processing.h``,
``rv_feature_state.h``, ``rv_mesh.h``): decode and encode. All little-endian.

* ``0xC5110004``, two layouts under one magic: **fused vitals** (48 bytes,
  ``edge_fused_vitals_pkt_t``, sent instead of the 32-byte vitals packet when the node has an
  mmWave sensor) and **WASM output** (``[magic][node u8][module u8][event_count u16]`` then 5
  bytes an event: ``event_type u8, value f32``). A 48-byte packet fits both (8 events make 48):
  it is fused vitals unless its ``event_count`` field (the fused breathing rate x100) is 8.
  Servers after RuView issue #928 moved WASM output to ``0xC5110007``; a ``0xC5110007`` packet
  whose length is exactly ``8 + 5 * event_count`` is read as WASM output too.
* ``0xC5110003`` **feature vector** (48 bytes: node, reserved, seq u16, timestamp_us i64, 8 f32).
* ``0xC5110006`` **feature state** (60 bytes, ``rv_feature_state_t``, CRC32 over bytes 0..55).
* ``0xC5118100`` **mesh envelope**: a 16-byte header (magic, version, type, sender_role,
  auth_class, epoch u32, payload_len u16, reserved), the payload and a CRC32 of both. Type 0x06
  HEALTH carries ``rv_node_status_t`` (28 bytes), 0x07 ANOMALY_ALERT ``rv_anomaly_alert_t``.

The firmware's fused layout is 28 bytes of vitals (the 32-byte packet's trailing reserved word
is not there) then 20 bytes of mmWave fields; §9's field list sums to more than 48, the
``_Static_assert`` in the firmware to 48, and the firmware is what nodes send.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from posecog.nodes.rejection import Rejected

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_STATE_NAMES",
    "FUSED_VITALS_SIZE",
    "MESH_ANOMALY_ALERT",
    "MESH_HEALTH",
    "FeatureStatePacket",
    "FeatureVectorPacket",
    "FusedVitalsPacket",
    "MeshAnomaly",
    "MeshHealth",
    "MeshPacket",
    "VitalsFlags",
    "WasmPacket",
    "check_size",
    "encode_feature_state",
    "encode_feature_vector",
    "encode_fused_vitals",
    "encode_mesh",
    "encode_mesh_health",
    "encode_wasm",
    "parse_feature_state",
    "parse_feature_vector",
    "parse_magic_c5110004",
    "parse_mesh",
    "parse_wasm",
    "wasm_event_count",
]

# magic, node, flags, breathing (BPM*100), heartrate (BPM*10000), rssi, n_persons, mmwave_type,
# fusion_confidence, motion_energy, presence_score, timestamp_ms, mmwave_hr, mmwave_br,
# mmwave_distance (cm), mmwave_targets, mmwave_confidence, 6 reserved
_FUSED = struct.Struct("<IBBHIbBBBffIfffBB6x")
FUSED_VITALS_SIZE = _FUSED.size  # 48
_WASM_HEAD = struct.Struct("<IBBH")
_WASM_EVENT = struct.Struct("<Bf")
# magic, node, reserved, seq, timestamp_us, 8 features
_FEATURES = struct.Struct("<IBxHq8f")
# magic, node, mode, seq, ts_us, 9 scores, quality_flags, reserved, crc32
_FEATURE_STATE = struct.Struct("<IBBHQ9fHxxI")
# magic, version, type, sender_role, auth_class, epoch, payload_len, reserved
_MESH_HEAD = struct.Struct("<IBBBBIH2x")
# node identity (8 bytes), local_time_us, role, channel, bandwidth (MHz), noise floor (dBm),
# pkt_yield (CSI callbacks/s), sync_error_us, health_flags, reserved
_MESH_HEALTH = struct.Struct("<8sQBBBbHHH2x")
# node identity, ts_us, severity, reason, reserved, anomaly_score, motion_score
_MESH_ANOMALY = struct.Struct("<8sQBBxxff")

MESH_HEALTH = 0x06
MESH_ANOMALY_ALERT = 0x07
_MESH_TYPES = {
    0x01: "time_sync",
    0x02: "role_assign",
    0x03: "channel_plan",
    0x04: "calibration_start",
    0x05: "feature_delta",
    MESH_HEALTH: "health",
    MESH_ANOMALY_ALERT: "anomaly_alert",
}
_MAX_WASM_EVENTS = 64  # a datagram of the firmware's WASM runtime holds far fewer

#: The 8 floats of a feature vector, in wire order (ADR-069's ``edge_feature_pkt_t``).
FEATURE_NAMES: tuple[str, ...] = tuple(f"f{i}" for i in range(8))
#: The 9 scores of a feature state, in wire order.
FEATURE_STATE_NAMES: tuple[str, ...] = (
    "motion_score",
    "presence_score",
    "respiration_bpm",
    "respiration_conf",
    "heartbeat_bpm",
    "heartbeat_conf",
    "anomaly_score",
    "env_shift_score",
    "node_coherence",
)


class VitalsFlags:
    """The flag bits the vitals and fused vitals packets share (bit 0 presence, 1 fall,
    2 motion); a mixin for a dataclass with a ``flags`` field."""

    __slots__ = ()
    flags: int

    @property
    def presence(self) -> bool:
        return bool(self.flags & 1)

    @property
    def fall_detected(self) -> bool:
        return bool(self.flags & 2)

    @property
    def motion(self) -> bool:
        return bool(self.flags & 4)


@dataclass(frozen=True, slots=True)
class FusedVitalsPacket(VitalsFlags):
    """A decoded 48-byte fused vitals packet (CSI vitals fused with an mmWave sensor's)."""

    node_id: int
    flags: int
    breathing_bpm: float
    heartrate_bpm: float
    rssi: int
    n_persons: int
    mmwave_type: int
    fusion_confidence: int  # 0..100
    motion_energy: float
    presence_score: float
    timestamp_ms: int
    mmwave_hr_bpm: float
    mmwave_br_bpm: float
    mmwave_distance_cm: float
    mmwave_targets: int
    mmwave_confidence: int  # 0..100

    @property
    def mmwave_present(self) -> bool:
        return bool(self.flags & 8)


@dataclass(frozen=True, slots=True)
class WasmPacket:
    """A WASM module's output: ``events`` as ``(event_type, value)`` pairs."""

    node_id: int
    module_id: int
    events: tuple[tuple[int, float], ...]


@dataclass(frozen=True, slots=True)
class FeatureVectorPacket:
    node_id: int
    seq: int
    timestamp_us: int
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class FeatureStatePacket:
    node_id: int
    mode: int
    seq: int
    ts_us: int
    values: tuple[float, ...]  # FEATURE_STATE_NAMES
    quality_flags: int


@dataclass(frozen=True, slots=True)
class MeshHealth:
    """``rv_node_status_t``: a node's radio health, every 30 s. ``node_id`` is byte 0 of the
    8-byte identity (the CSI node id, by the firmware's convention)."""

    node_id: int
    identity: bytes
    local_time_us: int
    role: int
    channel: int
    bandwidth_mhz: int
    noise_floor_dbm: int
    pkt_yield: int  # CSI callbacks per second
    sync_error_us: int
    flags: int


@dataclass(frozen=True, slots=True)
class MeshAnomaly:
    node_id: int
    identity: bytes
    ts_us: int
    severity: int
    reason: int
    anomaly_score: float
    motion_score: float


@dataclass(frozen=True, slots=True)
class MeshPacket:
    """A mesh envelope; ``body`` is the decoded HEALTH or ANOMALY_ALERT payload, else None."""

    version: int
    type: int
    sender_role: int
    epoch: int
    payload: bytes
    body: MeshHealth | MeshAnomaly | None

    @property
    def type_name(self) -> str:
        return _MESH_TYPES.get(self.type, f"type_0x{self.type:02x}")


# -- decoders: each raises Rejected -------------------------------------------------------------


def check_size(kind: str, data: bytes, expected: int) -> None:
    """``truncated`` when ``data`` is shorter than ``expected``, ``size_mismatch`` if longer."""
    got = len(data)
    if got < expected:
        raise Rejected("truncated", f"{kind} packet needs {expected} bytes; got {got}")
    if got > expected:
        raise Rejected("size_mismatch", f"{kind} packet should be {expected} bytes; got {got}")


def _crc_ok(data: bytes, end: int) -> bool:
    crc: int = struct.unpack_from("<I", data, end)[0]
    return zlib.crc32(data[:end]) == crc


def wasm_event_count(data: bytes) -> int:
    """The ``event_count`` field of a WASM header (bytes 6..7)."""
    return int(struct.unpack_from("<H", data, 6)[0]) if len(data) >= 8 else -1


def parse_magic_c5110004(data: bytes) -> FusedVitalsPacket | WasmPacket:
    """Fused vitals or WASM output, as the module docstring says they are told apart."""
    if len(data) == FUSED_VITALS_SIZE and wasm_event_count(data) != 8:
        return parse_fused_vitals(data)
    return parse_wasm(data)


def parse_fused_vitals(data: bytes) -> FusedVitalsPacket:
    check_size("fused vitals", data, FUSED_VITALS_SIZE)
    f = _FUSED.unpack(data)
    return FusedVitalsPacket(f[1], f[2], f[3] / 100.0, f[4] / 10000.0, *f[5:])


def parse_wasm(data: bytes) -> WasmPacket:
    if len(data) < _WASM_HEAD.size:
        raise Rejected("truncated", f"WASM packet needs a {_WASM_HEAD.size}-byte header")
    _, node, module, count = _WASM_HEAD.unpack_from(data)
    if count > _MAX_WASM_EVENTS:
        raise Rejected("bad_header", f"WASM packet claims {count} events")
    check_size("WASM", data, _WASM_HEAD.size + _WASM_EVENT.size * count)
    body = data[_WASM_HEAD.size :]
    events = tuple((int(kind), float(value)) for kind, value in _WASM_EVENT.iter_unpack(body))
    return WasmPacket(node, module, events)


def parse_feature_vector(data: bytes) -> FeatureVectorPacket:
    check_size("feature vector", data, _FEATURES.size)
    _, node, seq, ts_us, *values = _FEATURES.unpack(data)
    return FeatureVectorPacket(node, seq, ts_us, tuple(values))


def parse_feature_state(data: bytes) -> FeatureStatePacket:
    check_size("feature state", data, _FEATURE_STATE.size)
    if not _crc_ok(data, _FEATURE_STATE.size - 4):
        raise Rejected("bad_crc", "feature state packet: CRC32 does not match")
    _, node, mode, seq, ts_us, *rest = _FEATURE_STATE.unpack(data)
    return FeatureStatePacket(node, mode, seq, ts_us, tuple(rest[:9]), rest[9])


def parse_mesh(data: bytes) -> MeshPacket:
    least = _MESH_HEAD.size + 4
    if len(data) < least:
        raise Rejected("truncated", f"mesh packet needs {least} bytes; got {len(data)}")
    _, version, kind, role, _auth, epoch, length = _MESH_HEAD.unpack_from(data)
    check_size("mesh", data, _MESH_HEAD.size + length + 4)
    if not _crc_ok(data, _MESH_HEAD.size + length):
        raise Rejected("bad_crc", "mesh packet: CRC32 does not match")
    payload = bytes(data[_MESH_HEAD.size : _MESH_HEAD.size + length])
    body: MeshHealth | MeshAnomaly | None = None
    if kind == MESH_HEALTH and length >= _MESH_HEALTH.size:
        ident, t_us, r, ch, bw, noise, yield_, sync, flags = _MESH_HEALTH.unpack_from(payload)
        body = MeshHealth(ident[0], ident, t_us, r, ch, bw, noise, yield_, sync, flags)
    elif kind == MESH_ANOMALY_ALERT and length >= _MESH_ANOMALY.size:
        ident, t_us, severity, reason, anomaly, motion = _MESH_ANOMALY.unpack_from(payload)
        body = MeshAnomaly(ident[0], ident, t_us, severity, reason, anomaly, motion)
    return MeshPacket(version, kind, role, epoch, payload, body)


# -- encoders (for tests, simulators and tools) -------------------------------------------------


def encode_fused_vitals(p: FusedVitalsPacket, magic: int = 0xC5110004) -> bytes:
    return _FUSED.pack(
        magic,
        p.node_id,
        p.flags,
        round(p.breathing_bpm * 100),
        round(p.heartrate_bpm * 10000),
        p.rssi,
        p.n_persons,
        p.mmwave_type,
        p.fusion_confidence,
        p.motion_energy,
        p.presence_score,
        p.timestamp_ms,
        p.mmwave_hr_bpm,
        p.mmwave_br_bpm,
        p.mmwave_distance_cm,
        p.mmwave_targets,
        p.mmwave_confidence,
    )


def encode_wasm(p: WasmPacket, magic: int = 0xC5110004) -> bytes:
    head = _WASM_HEAD.pack(magic, p.node_id, p.module_id, len(p.events))
    return head + b"".join(_WASM_EVENT.pack(kind, value) for kind, value in p.events)


def encode_feature_vector(p: FeatureVectorPacket) -> bytes:
    return _FEATURES.pack(0xC5110003, p.node_id, p.seq, p.timestamp_us, *p.values)


def encode_feature_state(p: FeatureStatePacket) -> bytes:
    body = _FEATURE_STATE.pack(
        0xC5110006, p.node_id, p.mode, p.seq, p.ts_us, *p.values, p.quality_flags, 0
    )[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def encode_mesh(kind: int, payload: bytes, *, role: int = 2, epoch: int = 1) -> bytes:
    body = _MESH_HEAD.pack(0xC5118100, 1, kind, role, 0, epoch, len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def encode_mesh_health(h: MeshHealth, *, epoch: int = 1) -> bytes:
    ident = h.identity or bytes([h.node_id]) + bytes(7)
    payload = _MESH_HEALTH.pack(
        ident,
        h.local_time_us,
        h.role,
        h.channel,
        h.bandwidth_mhz,
        h.noise_floor_dbm,
        h.pkt_yield,
        h.sync_error_us,
        h.flags,
    )
    return encode_mesh(MESH_HEALTH, payload, role=h.role, epoch=epoch)
