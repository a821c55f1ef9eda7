"""The ESP32 sensing node's UDP packets (firmware ``csi_collector.c``): decode and encode.

Every packet starts with a little-endian u32 magic. A CSI packet (``MAGIC_CSI``) is a 20-byte
header followed by the CSI buffer: per subcarrier two signed int8 bytes, **imaginary first**, then
real. Siblings on the same port (vitals, features, WASM events, compressed CSI, feature state)
share the magic prefix; ``parse_packet`` decodes vitals here and the other public layouts in
``siblings`` (fused vitals, WASM output, feature vector, feature state, mesh envelope), and hands
the rest back untouched as ``OtherPacket`` (compressed CSI, an unknown 0xC5110007) so a receiver
can count them, never mistake them for CSI.

Amplitudes follow the sensing-server: ``sqrt(re^2 + im^2)`` over the whole buffer, then the first
56 bins (``lltf56``), which are bins 0..55 of the LLTF block including its null bins 0 and 27..37.
This is the input pose_v1 was trained on.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from posecog.nodes.items import FloatArray
from posecog.nodes.rejection import Rejected

from .siblings import (
    FeatureStatePacket,
    FeatureVectorPacket,
    FusedVitalsPacket,
    MeshPacket,
    VitalsFlags,
    WasmPacket,
    check_size,
    parse_feature_state,
    parse_feature_vector,
    parse_magic_c5110004,
    parse_mesh,
    parse_wasm,
    wasm_event_count,
)

__all__ = [
    "CSI_HEADER_SIZE",
    "KNOWN_MAGICS",
    "LLTF_BINS",
    "MAGIC_COMPRESSED_CSI",
    "MAGIC_CSI",
    "MAGIC_FEATURES",
    "MAGIC_FEATURE_STATE",
    "MAGIC_MESH",
    "MAGIC_TYPE7",
    "MAGIC_VITALS",
    "MAGIC_WASM_EVENTS",
    "VITALS_SIZE",
    "CsiPacket",
    "OtherPacket",
    "Packet",
    "VitalsPacket",
    "amplitude",
    "decode_iq",
    "encode_csi_packet",
    "encode_iq",
    "encode_vitals_packet",
    "lltf56",
    "parse_packet",
]

MAGIC_CSI = 0xC5110001
MAGIC_VITALS = 0xC5110002
MAGIC_FEATURES = 0xC5110003
MAGIC_WASM_EVENTS = 0xC5110004
MAGIC_COMPRESSED_CSI = 0xC5110005
MAGIC_FEATURE_STATE = 0xC5110006
#: A proposed feature-state v7, and WASM output's magic after RuView #928: read as WASM output
#: when its length fits that layout, else counted as "other".
MAGIC_TYPE7 = 0xC5110007

#: The mesh envelope (INTERFACES §9): a 16-byte header (version, type: 0x06 HEALTH every 30 s,
#: 0x07 ANOMALY_ALERT, ...), a payload and a CRC32 (``siblings.parse_mesh``). Expected traffic
#: on the CSI port, never a warning.
MAGIC_MESH = 0xC5118100

#: Magic -> short name, for counting and messages.
KNOWN_MAGICS: dict[int, str] = {
    MAGIC_CSI: "csi",
    MAGIC_VITALS: "vitals",
    MAGIC_FEATURES: "features",
    MAGIC_WASM_EVENTS: "wasm_events",
    MAGIC_COMPRESSED_CSI: "compressed_csi",
    MAGIC_FEATURE_STATE: "feature_state",
    MAGIC_TYPE7: "type7",
    MAGIC_MESH: "mesh",
}

#: Bins the sensing-server (and so pose_v1) uses: 0..55 of the LLTF block.
LLTF_BINS = 56

# magic, node_id, n_antennas, n_subcarriers, freq_mhz, sequence, rssi, noise_floor, 2 reserved
_CSI_HEADER = struct.Struct("<IBBHIIbb2x")
CSI_HEADER_SIZE = _CSI_HEADER.size  # 20
# magic, node_id, flags, breathing (BPM*100), heartrate (BPM*10000), rssi, n_persons, 2 reserved,
# motion_energy, presence_score, timestamp_ms, 4 reserved
_VITALS = struct.Struct("<IBBHIbB2xffI4x")
VITALS_SIZE = _VITALS.size  # 32

_INT8 = np.dtype(np.int8)


@dataclass(frozen=True, slots=True)
class CsiPacket:
    """A decoded 0xC5110001 packet. ``iq`` is the raw CSI buffer (bytes 20..)."""

    node_id: int
    n_antennas: int
    n_subcarriers: int
    freq_mhz: int
    sequence: int
    rssi: int
    noise_floor: int
    iq: bytes

    def amplitude(self) -> FloatArray:
        """Amplitudes of all ``n_subcarriers`` bins (first antenna)."""
        return amplitude(self.iq, self.n_subcarriers)


@dataclass(frozen=True, slots=True)
class VitalsPacket(VitalsFlags):
    """A decoded 0xC5110002 packet (edge vitals computed on the node)."""

    node_id: int
    flags: int
    breathing_bpm: float
    heartrate_bpm: float
    rssi: int
    n_persons: int
    motion_energy: float
    presence_score: float
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class OtherPacket:
    """A known sibling packet this module does not decode; ``data`` is the whole packet."""

    magic: int
    data: bytes

    @property
    def name(self) -> str:
        return KNOWN_MAGICS[self.magic]


Packet = (
    CsiPacket
    | VitalsPacket
    | FusedVitalsPacket
    | WasmPacket
    | FeatureVectorPacket
    | FeatureStatePacket
    | MeshPacket
    | OtherPacket
)


def decode_iq(buf: bytes, n_subcarriers: int) -> tuple[FloatArray, FloatArray]:
    """``(re, im)`` of the first ``n_subcarriers`` pairs of a CSI buffer (imaginary byte first).

    Raises ``Rejected("truncated")`` when ``buf`` holds fewer than ``2 * n_subcarriers`` bytes.
    """
    pairs = _pairs(buf, n_subcarriers)
    return pairs[:, 1].astype(np.float32), pairs[:, 0].astype(np.float32)


def amplitude(buf: bytes, n_subcarriers: int) -> FloatArray:
    """``sqrt(re^2 + im^2)`` of the first ``n_subcarriers`` pairs of a CSI buffer, float32."""
    pairs = _pairs(buf, n_subcarriers).astype(np.float32)
    squared = pairs * pairs
    result: FloatArray = np.sqrt(squared[:, 0] + squared[:, 1])
    return result


def lltf56(amplitudes: FloatArray) -> FloatArray:
    """Bins 0..55 (the sensing-server's selection, null bins included), as a new array."""
    if len(amplitudes) < LLTF_BINS:
        raise Rejected(
            "too_few_subcarriers", f"need at least {LLTF_BINS} bins; got {len(amplitudes)}"
        )
    return amplitudes[:LLTF_BINS].copy()


def _pairs(buf: bytes, n_subcarriers: int) -> npt.NDArray[np.int8]:
    need = 2 * n_subcarriers
    if len(buf) < need:
        raise Rejected(
            "truncated", f"{n_subcarriers} subcarriers need {need} bytes; got {len(buf)}"
        )
    return np.frombuffer(buf, dtype=_INT8, count=need).reshape(n_subcarriers, 2)


def parse_packet(data: bytes) -> Packet:
    """Decode one UDP datagram by its magic.

    CSI packets must be exactly ``20 + 2 * n_antennas * n_subcarriers`` bytes and vitals packets
    exactly 32: shorter is ``truncated``, longer is ``size_mismatch``; the siblings likewise
    (``siblings``; ``bad_crc`` where they carry one). A magic outside ``KNOWN_MAGICS`` is
    ``bad_magic``. Compressed CSI (it cannot be decoded alone: it is XORed against a frame the
    receiver may never have seen) and an 0xC5110007 that is not WASM output come back as
    ``OtherPacket``.
    """
    if len(data) < 4:
        raise Rejected("truncated", f"a packet needs a 4-byte magic; got {len(data)} bytes")
    (magic,) = struct.unpack_from("<I", data)
    if magic == MAGIC_CSI:
        return _parse_csi(data)
    if magic == MAGIC_VITALS:
        return _parse_vitals(data)
    if magic == MAGIC_WASM_EVENTS:
        return parse_magic_c5110004(data)
    if magic == MAGIC_FEATURES:
        return parse_feature_vector(data)
    if magic == MAGIC_FEATURE_STATE:
        return parse_feature_state(data)
    if magic == MAGIC_MESH:
        return parse_mesh(data)
    if magic == MAGIC_TYPE7 and len(data) == 8 + 5 * wasm_event_count(data):
        return parse_wasm(data)  # WASM output's magic after RuView #928
    if magic in KNOWN_MAGICS:
        return OtherPacket(magic, bytes(data))
    raise Rejected("bad_magic", f"unknown magic 0x{magic:08X}")


def _parse_csi(data: bytes) -> CsiPacket:
    if len(data) < CSI_HEADER_SIZE:
        raise Rejected("truncated", f"CSI header needs {CSI_HEADER_SIZE} bytes; got {len(data)}")
    _, node_id, n_ant, n_sub, freq, seq, rssi, noise = _CSI_HEADER.unpack_from(data)
    if n_ant == 0 or n_sub == 0:
        raise Rejected(
            "bad_header", f"n_antennas and n_subcarriers must be > 0; got {n_ant}, {n_sub}"
        )
    expected = CSI_HEADER_SIZE + 2 * n_ant * n_sub
    if len(data) == expected + 1:
        # An odd-length CSI buffer: the firmware says n_subcarriers = len / 2 (rounded down)
        # and sends the whole buffer; its last byte is half a pair, not an error.
        data = data[:expected]
    check_size("CSI", data, expected)
    return CsiPacket(node_id, n_ant, n_sub, freq, seq, rssi, noise, bytes(data[CSI_HEADER_SIZE:]))


def _parse_vitals(data: bytes) -> VitalsPacket:
    check_size("vitals", data, VITALS_SIZE)
    _, node_id, flags, breathing, heart, rssi, n_persons, energy, score, ts_ms = _VITALS.unpack(
        data
    )
    return VitalsPacket(
        node_id, flags, breathing / 100.0, heart / 10000.0, rssi, n_persons, energy, score, ts_ms
    )


def encode_iq(re: npt.ArrayLike, im: npt.ArrayLike) -> bytes:
    """The CSI buffer for integer ``re``/``im`` values in -128..127 (imaginary byte first)."""
    re_a, im_a = np.asarray(re), np.asarray(im)
    if re_a.shape != im_a.shape or re_a.ndim != 1:
        raise ValueError(f"re and im must be 1-D of equal length; got {re_a.shape}, {im_a.shape}")
    pairs = np.stack([im_a, re_a], axis=1)
    if pairs.size and (pairs.min() < -128 or pairs.max() > 127):
        raise ValueError("re and im must fit in int8 (-128..127)")
    encoded: bytes = np.rint(pairs).astype(np.int8).tobytes()
    return encoded


def encode_csi_packet(
    *,
    node_id: int,
    sequence: int,
    re: npt.ArrayLike,
    im: npt.ArrayLike,
    freq_mhz: int = 2437,
    rssi: int = -40,
    noise_floor: int = -95,
) -> bytes:
    """A 0xC5110001 packet (one antenna) that ``parse_packet`` decodes back to these values."""
    iq = encode_iq(re, im)
    header = _CSI_HEADER.pack(
        MAGIC_CSI, node_id, 1, len(iq) // 2, freq_mhz, sequence, rssi, noise_floor
    )
    return header + iq


def encode_vitals_packet(packet: VitalsPacket) -> bytes:
    """The 32-byte 0xC5110002 packet of ``packet`` (BPM values rounded to the wire's units)."""
    return _VITALS.pack(
        MAGIC_VITALS,
        packet.node_id,
        packet.flags,
        round(packet.breathing_bpm * 100),
        round(packet.heartrate_bpm * 10000),
        packet.rssi,
        packet.n_persons,
        packet.motion_energy,
        packet.presence_score,
        packet.timestamp_ms,
    )
