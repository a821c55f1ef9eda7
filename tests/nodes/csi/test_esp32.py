from __future__ import annotations

import json
import math

import numpy as np
import pytest

from posecog.nodes.csi.esp32 import (
    MAGIC_COMPRESSED_CSI,
    MAGIC_CSI,
    CsiPacket,
    OtherPacket,
    VitalsPacket,
    amplitude,
    decode_iq,
    encode_csi_packet,
    encode_vitals_packet,
    lltf56,
    parse_packet,
)
from posecog.nodes.rejection import Rejected
from tests.conftest import EXCERPT_A


def handmade_csi_packet(iq: bytes, n_sub: int, *, node=7, seq=123456, rssi=-42, noise=-93):
    """A CSI packet laid out byte by byte from the firmware's table (no struct format shared
    with the module under test)."""
    buf = bytearray(20)
    buf[0:4] = MAGIC_CSI.to_bytes(4, "little")
    buf[4] = node
    buf[5] = 1
    buf[6:8] = n_sub.to_bytes(2, "little")
    buf[8:12] = (2437).to_bytes(4, "little")
    buf[12:16] = seq.to_bytes(4, "little")
    buf[16] = rssi & 0xFF
    buf[17] = noise & 0xFF
    return bytes(buf) + iq


def test_imaginary_byte_comes_first():
    re, im = decode_iq(bytes([3, 4, 0xFF, 0x80]), 2)  # (im=3, re=4), (im=-1, re=-128)
    assert re.tolist() == [4.0, -128.0]
    assert im.tolist() == [3.0, -1.0]
    assert amplitude(bytes([3, 4, 0xFF, 0x80]), 2).tolist() == pytest.approx(
        [5.0, math.hypot(1, 128)]
    )


def test_parse_handmade_packet():
    iq = bytes(range(256))[:128]
    pkt = parse_packet(handmade_csi_packet(iq, 64))
    assert pkt == CsiPacket(7, 1, 64, 2437, 123456, -42, -93, iq)
    assert pkt.amplitude().shape == (64,)


def test_encode_roundtrip():
    rng = np.random.default_rng(0)
    re = rng.integers(-128, 128, 128)
    im = rng.integers(-128, 128, 128)
    data = encode_csi_packet(node_id=2, sequence=9, re=re, im=im, rssi=-50, noise_floor=-90)
    assert len(data) == 20 + 256
    assert data[16] == (-50) & 0xFF  # rssi i8 at byte 16
    pkt = parse_packet(data)
    assert isinstance(pkt, CsiPacket)
    assert (pkt.node_id, pkt.n_subcarriers, pkt.sequence, pkt.rssi) == (2, 128, 9, -50)
    got_re, got_im = decode_iq(pkt.iq, pkt.n_subcarriers)
    assert np.array_equal(got_re, re) and np.array_equal(got_im, im)
    assert np.allclose(pkt.amplitude(), np.hypot(re, im))


def test_real_packet_amplitudes_by_hand():
    line = next(json.loads(t) for t in EXCERPT_A.read_text().splitlines() if '"raw_csi"' in t)
    iq = bytes.fromhex(line["iq_hex"])
    n = line["subcarriers"]
    signed = [b - 256 if b > 127 else b for b in iq]
    expected = [math.sqrt(signed[2 * k] ** 2 + signed[2 * k + 1] ** 2) for k in range(n)]
    amps = amplitude(iq, n)
    assert amps.dtype == np.float32
    assert amps.tolist() == pytest.approx(expected, rel=1e-6)
    assert lltf56(amps).tolist() == pytest.approx(expected[:56], rel=1e-6)
    assert lltf56(amps)[[0, 27, 37]].tolist() == [0.0, 0.0, 0.0]  # LLTF nulls are kept


def test_lltf56_needs_56_bins():
    with pytest.raises(Rejected) as err:
        lltf56(np.zeros(40, np.float32))
    assert err.value.reason == "too_few_subcarriers"


def test_vitals_roundtrip():
    sent = VitalsPacket(3, 0b101, 14.25, 71.5, -30, 2, 0.75, 0.5, 123456)
    data = encode_vitals_packet(sent)
    assert len(data) == 32
    assert int.from_bytes(data[6:8], "little") == 1425  # breathing BPM x 100
    assert int.from_bytes(data[8:12], "little") == 715000  # heart rate BPM x 10000
    got = parse_packet(data)
    assert got == sent
    assert isinstance(got, VitalsPacket)
    assert (got.presence, got.fall_detected, got.motion) == (True, False, True)


def test_sibling_packets_are_returned_untouched():
    data = MAGIC_COMPRESSED_CSI.to_bytes(4, "little") + b"\x01" * 100
    pkt = parse_packet(data)
    assert pkt == OtherPacket(MAGIC_COMPRESSED_CSI, data)
    assert isinstance(pkt, OtherPacket) and pkt.name == "compressed_csi"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x00", "truncated"),
        (handmade_csi_packet(b"", 64)[:12], "truncated"),
        (handmade_csi_packet(b"\x00" * 127, 64), "truncated"),
        (handmade_csi_packet(b"\x00" * 130, 64), "size_mismatch"),
        (handmade_csi_packet(b"", 0), "bad_header"),
        ((0xC5110002).to_bytes(4, "little") + b"\x00" * 20, "truncated"),
        ((0xC5110002).to_bytes(4, "little") + b"\x00" * 40, "size_mismatch"),
        ((0xDEADBEEF).to_bytes(4, "little") + b"\x00" * 40, "bad_magic"),
    ],
)
def test_garbled_packets_raise_with_a_reason(data, reason):
    with pytest.raises(Rejected) as err:
        parse_packet(data)
    assert err.value.reason == reason


def test_encode_refuses_values_outside_int8():
    with pytest.raises(ValueError, match="int8"):
        encode_csi_packet(node_id=1, sequence=0, re=[200], im=[0])


def test_an_odd_length_csi_buffer_is_accepted_its_last_half_pair_ignored():
    """The firmware sends its whole CSI buffer with n_subcarriers = len / 2 (rounded down):
    a 129-byte buffer is 64 pairs and one byte over (INTERFACES §9)."""
    iq = bytes(range(128))
    even = parse_packet(handmade_csi_packet(iq, 64))
    odd = parse_packet(handmade_csi_packet(iq + b"\x7f", 64))
    assert isinstance(odd, CsiPacket) and odd == even and len(odd.iq) == 128
