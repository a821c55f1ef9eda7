"""DatagramDecoder on its own: items, counts and drop reasons, and the sequence-change hook."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from posecog.nodes.csi.datagrams import DatagramDecoder
from posecog.nodes.csi.esp32 import (
    MAGIC_FEATURES,
    MAGIC_MESH,
    VitalsPacket,
    encode_vitals_packet,
)
from posecog.nodes.items import CsiFrame, Vitals
from tests.fakes.esp32_sender import csi_datagram


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
    assert dec.counts() == {"datagrams": 2, "frames": 1, "vitals": 1}
    assert drops.seen == [] and changes == [1]  # the new node was a sequence change


def test_every_refusal_is_counted_by_reason() -> None:
    dec, drops, gauges, _ = _decoder("htltf56")
    features = struct.pack("<I", MAGIC_FEATURES) + bytes(44)
    inputs = [
        b"",  # truncated
        struct.pack("<I", 0xDEADBEEF),  # unknown magic
        csi_datagram(1, 1, bytes(128))[:-1],  # truncated CSI
        csi_datagram(1, 1, bytes(128)) + b"xy",  # longer than it says (one odd byte is fine)
        csi_datagram(1, 2, bytes(128)),  # 64 subcarriers: no HT-LTF block under htltf56
        features,
    ]
    assert [dec.decode(d, 0.0, 0.0) for d in inputs] == [None] * len(inputs)
    assert [(r, w) for r, _, w in drops.seen] == [
        ("truncated", True),
        ("unknown_magic", True),
        ("truncated", True),
        ("size_mismatch", True),
        ("no_htltf", False),
        ("features_packet", False),
    ]
    assert gauges["datagrams"] == len(inputs) and gauges["frames"] == 0


def test_a_gap_calls_the_sequence_hook_and_is_published() -> None:
    dec, _, gauges, changes = _decoder()
    for seq in (1, 2, 6):
        dec.decode(csi_datagram(1, seq, bytes(128)), 0.0, 0.0)
    assert len(changes) == 2  # the new node, then the gap
    assert gauges["seq_gaps"] == 1 and gauges["seq_lost"] == 3


def test_mesh_envelopes_are_expected_traffic_counted_quietly() -> None:
    dec, drops, gauges, _ = _decoder()
    assert gauges["datagrams"] == 0
    # [magic][version][type 0x06 HEALTH][role][auth][epoch u32][payload_len u16][reserved u16]
    payload = bytes(32)
    header = struct.pack("<IBBBBIHH", MAGIC_MESH, 1, 0x06, 1, 0, 7, len(payload), 0)
    assert dec.decode(header + payload + bytes(4), 0.0, 0.0) is None
    assert [(r, w) for r, _, w in drops.seen] == [("mesh_packet", False)]
