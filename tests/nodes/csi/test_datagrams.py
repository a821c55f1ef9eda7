"""DatagramDecoder on its own: items, counts and drop reasons, and the sequence-change hook."""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Any

import numpy as np

from posecog.nodes.csi.datagrams import DatagramDecoder
from posecog.nodes.csi.esp32 import (
    MAGIC_COMPRESSED_CSI,
    MAGIC_FEATURES,
    VitalsPacket,
    encode_vitals_packet,
)
from posecog.nodes.csi.siblings import (
    FeatureStatePacket,
    FusedVitalsPacket,
    MeshHealth,
    WasmPacket,
    encode_feature_state,
    encode_fused_vitals,
    encode_mesh,
    encode_mesh_health,
    encode_wasm,
)
from posecog.nodes.items import CsiFrame, Features, Vitals, WasmEvents
from tests.fakes.esp32_sender import csi_datagram, features_packet


class Drops:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, bool]] = []

    def __call__(self, reason: str, detail: str = "", count: int = 1, warn: bool = True) -> None:
        self.seen.append((reason, count, warn))


def _decoder(selection: Any = "lltf56") -> tuple[DatagramDecoder, Drops, dict, list[int]]:
    drops, gauges, changes = Drops(), {}, []
    dec = DatagramDecoder(selection, drops, gauges, lambda: changes.append(1))
    return dec, drops, gauges, changes


def test_frames_vitals_and_counts() -> None:
    dec, drops, _, changes = _decoder()
    iq = bytes([3, 4] * 64)  # imaginary 3, real 4: amplitude 5 on every bin
    frame = dec.decode(csi_datagram(7, 100, iq, rssi=-50), ts=12.5, arrived=1.0)
    assert isinstance(frame, CsiFrame)
    assert (frame.node_id, frame.seq, frame.ts, frame.rssi, frame.n_subcarriers) == (
        7,
        100,
        12.5,
        -50.0,
        64,
    )
    np.testing.assert_array_equal(frame.amplitude, np.full(56, 5.0, dtype=np.float32))
    vitals = VitalsPacket(7, 1, 14.0, 70.0, -40, 1, 0.5, 0.9, 1234)
    assert isinstance(dec.decode(encode_vitals_packet(vitals), ts=13.0, arrived=2.0), Vitals)
    assert dec.counts() == {
        "datagrams": 2,
        "frames": 1,
        "vitals": 1,
        "fused_vitals": 0,
        "wasm_packets": 0,
        "features": 0,
    }
    assert drops.seen == [] and changes == [1]  # the new node was a sequence change


def test_every_refusal_is_counted_by_reason() -> None:
    dec, drops, gauges, _ = _decoder("htltf56")
    compressed = struct.pack("<I", MAGIC_COMPRESSED_CSI) + bytes(60)
    inputs = [
        b"",  # truncated
        struct.pack("<I", 0xDEADBEEF),  # unknown magic
        csi_datagram(1, 1, bytes(128))[:-1],  # truncated CSI
        csi_datagram(1, 1, bytes(128)) + b"xy",  # longer than it says (one odd byte is fine)
        csi_datagram(1, 2, bytes(128)),  # 64 subcarriers: no HT-LTF block under htltf56
        compressed,
        struct.pack("<I", MAGIC_FEATURES) + bytes(40),  # a feature vector 4 bytes short
    ]
    assert [dec.decode(d, 0.0, 0.0) for d in inputs] == [None] * len(inputs)
    assert [(r, w) for r, _, w in drops.seen] == [
        ("truncated", True),
        ("unknown_magic", True),
        ("truncated", True),
        ("size_mismatch", True),
        ("no_htltf", False),
        ("compressed_csi_packet", False),
        ("truncated", True),
    ]
    assert gauges["datagrams"] == len(inputs) and gauges["frames"] == 0


def test_a_gap_calls_the_sequence_hook_and_is_published() -> None:
    dec, _, gauges, changes = _decoder()
    for seq in (1, 2, 6):
        dec.decode(csi_datagram(1, seq, bytes(128)), 0.0, 0.0)
    assert len(changes) == 2  # the new node, then the gap
    assert gauges["seq_gaps"] == 1 and gauges["seq_lost"] == 3


def _decoder_with_events() -> tuple[DatagramDecoder, Drops, dict, list]:
    drops, gauges, events = Drops(), {}, []
    dec = DatagramDecoder("lltf56", drops, gauges, emit=lambda *a: events.append(a))
    return dec, drops, gauges, events


def test_every_sibling_packet_gives_its_item_and_none_warns() -> None:
    dec, drops, gauges, events = _decoder_with_events()
    fused = FusedVitalsPacket(
        3, 9, 15.5, 72.25, -52, 1, 2, 87, 0.25, 0.75, 1, 71.5, 15.0, 142.0, 1, 90
    )
    got = [
        dec.decode(encode_fused_vitals(fused), 10.0, 1.0),
        dec.decode(encode_wasm(WasmPacket(3, 9, ((1, 0.5),))), 11.0, 1.0),
        dec.decode(features_packet(3, 70000, range(8), ts_us=5), 12.0, 1.0),
        dec.decode(encode_feature_state(FeatureStatePacket(3, 1, 9, 8, (0.5,) * 9, 3)), 13.0, 1.0),
    ]
    vitals, wasm, vector, state = got
    assert isinstance(vitals, Vitals) and vitals.ts == 10.0 and vitals.presence
    assert vitals.extra["fusion_confidence"] == 87 and vitals.extra["mmwave_present"] is True
    assert vitals.extra["mmwave_distance_cm"] == 142.0 and vitals.breathing_bpm == 15.5
    assert wasm == WasmEvents(11.0, 3, 9, ((1, 0.5),), arrived=1.0)
    assert isinstance(vector, Features) and vector.kind == "vector" and vector.seq == 70000 % 65536
    assert vector.values["f7"] == 7.0 and vector.node_time_us == 5
    assert isinstance(state, Features) and state.kind == "state"
    assert state.values["node_coherence"] == 0.5 and state.values["quality_flags"] == 3.0
    assert dec.counts() == {
        "datagrams": 4,
        "frames": 0,
        "vitals": 1,
        "fused_vitals": 1,
        "wasm_packets": 1,
        "features": 2,
    }
    assert drops.seen == [] and events == []
    assert gauges["datagrams"] == 4


def test_mesh_health_is_reported_per_node_and_other_mesh_messages_counted_quietly() -> None:
    dec, drops, gauges, events = _decoder_with_events()
    health = MeshHealth(7, b"", 0, 2, 11, 20, -93, 42, 12, 0)
    assert dec.decode(encode_mesh_health(health), 5.0, 0.0) is None
    assert dec.decode(encode_mesh_health(replace(health, node_id=8, pkt_yield=3)), 6.0, 0.0) is None
    assert gauges["node_health"]["7"]["pkt_yield"] == 42
    assert gauges["node_health"]["8"] == {
        "pkt_yield": 3,
        "channel": 11,
        "bandwidth_mhz": 20,
        "noise_floor_dbm": -93,
        "sync_error_us": 12,
        "role": 2,
        "health_flags": 0,
    }
    assert [(e[0], e[1]["node_id"], e[1]["ts_event"]) for e in events] == [
        ("node.health", 7, 5.0),
        ("node.health", 8, 6.0),
    ]
    assert all(len(e) == 2 for e in events)  # info level: expected traffic
    assert dec.decode(encode_mesh(0x01, bytes(16)), 7.0, 0.0) is None  # TIME_SYNC
    assert [(r, w) for r, _, w in drops.seen] == [("mesh_packet", False)]
