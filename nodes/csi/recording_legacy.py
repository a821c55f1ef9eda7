"""The lines of RuView's ``scripts/record-csi-udp.py``: variant A-legacy and its later versions.

**A-legacy** is what the version the user guide runs writes (INTERFACES §9): one ``raw_csi``
line per UDP datagram *whatever its magic*, read as if every packet were an 8-byte header
followed by I/Q pairs. ``node_id`` is byte 4, ``rssi`` byte 6 (signed), ``channel`` byte 7,
``iq_hex`` bytes 8.., ``subcarriers`` ``len(bytes 8..) // 2``, ``amplitudes`` are computed over
bytes 8.. and ``timestamp`` is an ISO-8601 string beside ``ts_ns``; magic, size and byte 5
(n_antennas) are not written. For a CSI packet (0xC5110001) the ``iq_hex`` bytes are::

    0..3 freq_mhz u32 | 4..7 sequence u32 | 8 rssi i8 | 9 noise floor i8 | 10..11 reserved
    12.. the CSI buffer (packet bytes 20..)

so the header's n_subcarriers (bytes 6..7) is ``(rssi & 0xFF) | channel << 8`` and
``subcarriers - 6 = n_antennas * n_subcarriers`` (an odd-length buffer loses its half pair to
the ``// 2``). A line is CSI when that holds with 1 to 4 antennas; then it gives the frame its
packet would have given as variant A (``amplitude`` of the first 56 pairs, bit for bit), with
``seq`` = the packet's sequence, ``rssi`` = its real RSSI byte and ``n_subcarriers`` = the
header's. The line's ``rssi`` and ``amplitudes`` fields are never used as such. Other packets
can only be told apart by their length, and are counted quietly: 32 bytes (``subcarriers`` 12)
``vitals_packet`` (its flags byte is not recorded, so it cannot give ``Vitals``), 48 bytes (20)
``features_or_fused_vitals_packet`` (feature vector 0xC5110003, fused vitals or WASM events
0xC5110004, mesh HEALTH 0xC5118100: the line cannot tell which), 60 bytes (26)
``feature_state_packet``, anything else not consistent with a CSI header ``other_packet``
(compressed CSI, ...). A consistent header with fewer than 56 subcarriers is
``too_few_subcarriers`` (a broken line).

**A-filtered**: later versions of the recorder keep CSI packets only (by magic) and write the
CSI buffer itself as ``iq_hex``, the packet's ``seq`` (or ``sequence``), its real ``rssi``,
``n_subcarriers`` (or ``antennas``), ``freq_mhz``/``frequency_mhz``, ``ts_ns`` and ``timestamp``.
A line gives the variant A frame with ``seq`` from the line. One version also takes a 0xC5110003
feature vector for a "V2" CSI packet and writes it with ``source_mac`` and no pairs: counted
quietly as ``features_packet``.

Event time: ``ts_ns / 1e9`` (the host's receive time); without ``ts_ns``, ``timestamp`` read as
UTC. Old recorder versions wrote *local* wall time with a literal ``Z`` (and took the
milliseconds from a second clock reading, so a line at a second boundary may run up to 1 s
back): a file without ``ts_ns`` is then off by the recording machine's UTC offset.
"""

from __future__ import annotations

import struct
from typing import Any

from posecog.nodes.items import CsiFrame
from posecog.nodes.rejection import Rejected

from .esp32 import LLTF_BINS, amplitude
from .json_fields import hex_bytes, integer, iso_seconds, number, opt_number

__all__ = [
    "MAX_ANTENNAS",
    "event_time",
    "filtered_frame",
    "is_filtered",
    "is_recorder_line",
    "legacy_frame",
]

#: Antennas a CSI header may declare (as RuView's own parser allows); the firmware sends 1.
MAX_ANTENNAS = 4

#: Packet bytes the recorder drops before ``iq_hex`` (magic, node, antennas, n_subcarriers).
_DROPPED = 8
#: Packet bytes 8..19 (freq_mhz, sequence, rssi, noise floor, reserved): where the CSI header
#: continues in an A-legacy ``iq_hex``, and how many pairs it adds to ``subcarriers``.
_TAIL = struct.Struct("<IIbb2x")
_TAIL_PAIRS = _TAIL.size // 2

#: Non-CSI packets of A-legacy, by ``subcarriers`` (their length): reason and what they are.
_BY_LENGTH = {
    12: ("vitals_packet", "vitals (0xC5110002)"),
    20: (
        "features_or_fused_vitals_packet",
        "feature vector (0xC5110003), fused vitals or WASM events (0xC5110004) or mesh "
        "HEALTH (0xC5118100)",
    ),
    26: ("feature_state_packet", "feature state (0xC5110006)"),
}


def is_recorder_line(obj: dict[str, Any]) -> bool:
    """A ``raw_csi`` line (without ``magic``) of ``scripts/record-csi-udp.py``, any version."""
    if "magic" in obj:
        return False
    if isinstance(obj.get("timestamp"), str):
        return True
    return "ts_ns" in obj and not {"channel", "seq", "sequence"}.isdisjoint(obj)


def is_filtered(obj: dict[str, Any]) -> bool:
    """A later version's line (CSI only): it has the packet's sequence. Some of those versions
    write a ``channel`` too, so the sequence, not the channel, tells them apart."""
    return "seq" in obj or "sequence" in obj


def event_time(obj: dict[str, Any]) -> float:
    """``ts_ns`` in seconds, else the ISO ``timestamp`` as UTC (else a numeric one)."""
    if "ts_ns" in obj:
        return integer(obj, "ts_ns") / 1_000_000_000
    if isinstance(obj.get("timestamp"), str):
        return iso_seconds(obj, "timestamp")
    return number(obj, "timestamp")


def _pairs(obj: dict[str, Any], data: bytes) -> int:
    """The line's ``subcarriers``, checked against ``iq_hex`` (a trailing odd byte allowed)."""
    pairs = integer(obj, "subcarriers")
    if pairs != len(data) // 2:
        raise Rejected("bad_length", f"'subcarriers' {pairs} != {len(data)} iq bytes // 2")
    return pairs


def _byte(obj: dict[str, Any], key: str, low: int) -> int:
    value = integer(obj, key)
    if not low <= value <= low + 255:
        raise Rejected("bad_type", f"'{key}' must be a byte ({low}..{low + 255}); got {value}")
    return value & 0xFF


def legacy_frame(obj: dict[str, Any]) -> CsiFrame:
    """The frame of an A-legacy CSI line; ``Rejected`` (by kind) for any other packet."""
    node_id = integer(obj, "node_id")
    data = hex_bytes(obj, "iq_hex")
    pairs = _pairs(obj, data)
    size = _DROPPED + len(data)
    known = _BY_LENGTH.get(pairs)
    if known is not None:
        reason, what = known
        raise Rejected(reason, f"a {size}-byte packet of node {node_id}: {what}, by its length")
    n_sub = _byte(obj, "rssi", -128) | _byte(obj, "channel", 0) << 8
    csi_pairs = pairs - _TAIL_PAIRS
    n_ant = csi_pairs // n_sub if n_sub else 0
    if csi_pairs <= 0 or not n_sub or csi_pairs % n_sub or not 1 <= n_ant <= MAX_ANTENNAS:
        raise Rejected(
            "other_packet",
            f"a {size}-byte packet of node {node_id}, not CSI: its bytes 6..7 say {n_sub} "
            f"subcarriers, its length {csi_pairs} pairs after a CSI header",
        )
    if n_sub < LLTF_BINS:
        raise Rejected(
            "too_few_subcarriers", f"node {node_id}: {n_sub} subcarriers; need {LLTF_BINS}"
        )
    _freq, sequence, rssi, _noise = _TAIL.unpack_from(data)
    amp = amplitude(data[_TAIL.size :], LLTF_BINS)
    return CsiFrame(
        event_time(obj), node_id, amp, seq=sequence, rssi=float(rssi), n_subcarriers=n_sub
    )


def filtered_frame(obj: dict[str, Any]) -> CsiFrame:
    """The frame of a later version's line (``iq_hex`` = the CSI buffer)."""
    node_id = integer(obj, "node_id")
    seq = integer(obj, "seq" if "seq" in obj else "sequence")
    data = hex_bytes(obj, "iq_hex")
    pairs = _pairs(obj, data)
    if not pairs and "source_mac" in obj:
        raise Rejected("features_packet", f"node {node_id}: a feature vector read as CSI 'V2'")
    if "n_subcarriers" in obj:
        n_sub = integer(obj, "n_subcarriers")
    else:
        n_sub = pairs // max(1, integer(obj, "antennas", default=1))
    if min(n_sub, pairs) < LLTF_BINS:
        raise Rejected(
            "too_few_subcarriers",
            f"node {node_id}: {min(n_sub, pairs)} subcarriers; need {LLTF_BINS}",
        )
    amp = amplitude(data, LLTF_BINS)
    rssi = opt_number(obj, "rssi")
    return CsiFrame(event_time(obj), node_id, amp, seq=seq, rssi=rssi, n_subcarriers=n_sub)
