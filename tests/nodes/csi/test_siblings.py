"""The sibling packets of the CSI port, decoded from the firmware's byte layouts."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import pytest

from posecog.nodes.csi.esp32 import (
    MAGIC_TYPE7,
    MAGIC_WASM_EVENTS,
    OtherPacket,
    parse_packet,
)
from posecog.nodes.csi.siblings import (
    FEATURE_STATE_NAMES,
    FUSED_VITALS_SIZE,
    FeatureStatePacket,
    FeatureVectorPacket,
    FusedVitalsPacket,
    MeshAnomaly,
    MeshHealth,
    MeshPacket,
    WasmPacket,
    encode_feature_state,
    encode_feature_vector,
    encode_fused_vitals,
    encode_mesh,
    encode_mesh_health,
    encode_wasm,
)
from posecog.nodes.rejection import Rejected

FUSED = FusedVitalsPacket(
    node_id=3,
    flags=0b1001,  # presence, mmWave present
    breathing_bpm=15.5,
    heartrate_bpm=72.25,
    rssi=-52,
    n_persons=1,
    mmwave_type=2,
    fusion_confidence=87,
    motion_energy=0.25,
    presence_score=0.75,
    timestamp_ms=123456,
    mmwave_hr_bpm=71.5,
    mmwave_br_bpm=15.0,
    mmwave_distance_cm=142.0,
    mmwave_targets=1,
    mmwave_confidence=90,
)


def test_fused_vitals_follow_the_firmware_struct_byte_for_byte() -> None:
    data = encode_fused_vitals(FUSED)
    assert len(data) == FUSED_VITALS_SIZE == 48
    # edge_fused_vitals_pkt_t, written out field by field as the firmware lays it out
    assert struct.unpack_from("<IBBHIbBBB", data) == (0xC5110004, 3, 9, 1550, 722500, -52, 1, 2, 87)
    assert struct.unpack_from("<ffI", data, 16) == (0.25, 0.75, 123456)
    assert struct.unpack_from("<fffBB", data, 28) == (71.5, 15.0, 142.0, 1, 90)
    assert data[42:] == bytes(6)
    got = parse_packet(data)
    assert got == FUSED and got.presence and got.mmwave_present and not got.fall_detected


def test_wasm_output_shares_the_magic_and_a_48_byte_packet_is_told_apart() -> None:
    three = WasmPacket(5, 9, ((1, 0.5), (2, -1.0), (7, 3.25)))
    assert parse_packet(encode_wasm(three)) == three  # 8 + 15 bytes: only WASM fits
    eight = WasmPacket(5, 9, tuple((i, float(i)) for i in range(8)))
    assert len(encode_wasm(eight)) == 48
    assert parse_packet(encode_wasm(eight)) == eight  # event_count 8: WASM
    # a fused packet whose breathing x100 happens to be 8 (0.08 BPM) reads as 8 events:
    # the rule INTERFACES §9 gives, the rare cost of two layouts under one magic
    odd = encode_fused_vitals(replace(FUSED, breathing_bpm=0.08))
    assert isinstance(parse_packet(odd), WasmPacket)


def test_newer_firmware_sends_wasm_output_as_0xc5110007() -> None:
    packet = WasmPacket(2, 1, ((4, 1.0),))
    data = encode_wasm(packet, magic=MAGIC_TYPE7)
    assert parse_packet(data) == packet
    other = struct.pack("<I", MAGIC_TYPE7) + bytes(52)  # a feature-state v7: not WASM's length
    assert parse_packet(other) == OtherPacket(MAGIC_TYPE7, other)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (struct.pack("<IBBH", MAGIC_WASM_EVENTS, 1, 1, 3) + bytes(14), "truncated"),
        (struct.pack("<IBBH", MAGIC_WASM_EVENTS, 1, 1, 1) + bytes(9), "size_mismatch"),
        (struct.pack("<IBBH", MAGIC_WASM_EVENTS, 1, 1, 60000), "bad_header"),
        (struct.pack("<IB", MAGIC_WASM_EVENTS, 1), "truncated"),
    ],
)
def test_broken_wasm_packets_are_refused_by_reason(data: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as err:
        parse_packet(data)
    assert err.value.reason == reason


def test_feature_vector_and_feature_state() -> None:
    vector = FeatureVectorPacket(4, 65535, -5, tuple(float(i) / 4 for i in range(8)))
    data = encode_feature_vector(vector)
    assert len(data) == 48 and parse_packet(data) == vector
    state = FeatureStatePacket(4, 2, 17, 10**12, tuple(i / 8 for i in range(9)), 0x0101)
    data = encode_feature_state(state)
    assert len(data) == 60 and parse_packet(data) == state
    assert len(FEATURE_STATE_NAMES) == 9
    # the CRC32 covers bytes 0..55: one flipped bit is refused
    flipped = bytearray(data)
    flipped[20] ^= 1
    with pytest.raises(Rejected) as err:
        parse_packet(bytes(flipped))
    assert err.value.reason == "bad_crc"


def test_mesh_health_and_anomaly_alert() -> None:
    health = MeshHealth(7, bytes([7]) + bytes(7), 1234567890, 2, 6, 20, -93, 42, 12, 0)
    data = encode_mesh_health(health, epoch=100)
    assert len(data) == 16 + 28 + 4  # header, rv_node_status_t, CRC32
    got = parse_packet(data)
    assert isinstance(got, MeshPacket)
    assert (got.type_name, got.epoch, got.body) == ("health", 100, health)
    alert = struct.pack("<8sQBBxxff", bytes([2]) + bytes(7), 99, 200, 3, 0.5, 0.25)
    got = parse_packet(encode_mesh(0x07, alert))
    assert isinstance(got, MeshPacket) and got.body == MeshAnomaly(
        2, bytes([2]) + bytes(7), 99, 200, 3, 0.5, 0.25
    )
    sync = parse_packet(encode_mesh(0x01, bytes(16)))
    assert isinstance(sync, MeshPacket) and sync.body is None and sync.type_name == "time_sync"


def test_broken_mesh_packets_are_refused_by_reason() -> None:
    data = encode_mesh_health(MeshHealth(1, b"", 0, 2, 6, 20, -90, 10, 0, 0))
    for cut, reason in ((data[:-1], "truncated"), (data + b"\0", "size_mismatch")):
        with pytest.raises(Rejected) as err:
            parse_packet(cut)
        assert err.value.reason == reason
    bad = data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]) ^ 1)
    with pytest.raises(Rejected) as err:
        parse_packet(bad)
    assert err.value.reason == "bad_crc"
