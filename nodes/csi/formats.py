"""The recording formats replay reads, and the reasons a line gives no frame: declared once.

``FORMATS`` is the list the docs of ``jsonl_replay`` and the message of a file that gave no frame
(``frames.FORMATS_READ``) are made from; ``recording.RecordingParser`` is what reads them.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["FORMATS", "MALFORMED", "NO_FRAME_REASONS", "RecordingFormat"]


class RecordingFormat(NamedTuple):
    """A line format the parser reads: its name (INTERFACES §5, §9), what writes it, how its
    lines are recognised, and what they give."""

    variant: str
    what: str
    recognised: str
    gives: str


#: Every format read, in the order ``RecordingParser`` tells them apart. The one list: replay's
#: docs and its "no frame" message are made from it.
FORMATS = (
    RecordingFormat(
        "A",
        "raw ESP32 packets",
        "'raw_csi' lines with 'magic' and 'iq_hex' (packet bytes 20..), beside 'vitals', "
        "'feature' and untyped sibling lines",
        "a frame per CSI packet (the 56 LLTF amplitudes the sensing-server uses, seq = line "
        "number); 'vitals' lines give Vitals, the others are counted",
    ),
    RecordingFormat(
        "A-legacy",
        "every datagram, as the user guide's scripts/record-csi-udp.py writes it",
        "'raw_csi' lines without 'magic', with an ISO-8601 'timestamp' (or 'ts_ns' and "
        "'channel') and 'iq_hex' = packet bytes 8..",
        "a frame per CSI packet (as variant A, seq = the packet's sequence, time = 'ts_ns'); "
        "the other packets, told apart by length, are counted by kind",
    ),
    RecordingFormat(
        "A-filtered",
        "CSI packets only, as later versions of that recorder write them",
        "'raw_csi' lines without 'magic', with 'seq' or 'sequence' and 'iq_hex' = the CSI",
        "a frame per line (as variant A, seq = the line's, time = 'ts_ns')",
    ),
    RecordingFormat(
        "B",
        "amplitude frames",
        "lines without 'type' holding a 'subcarriers' list of 56 numbers",
        "a frame per line (no node id: node 0)",
    ),
    RecordingFormat(
        "C",
        "sensing-server dumps",
        "'sensing_update' lines, with 'edge_vitals' and 'wasm_event' lines",
        "a frame per node when it is new (the server's repeats and multi-node re-listings "
        "removed); 'edge_vitals' give Vitals, 'wasm_event' lines are counted",
    ),
)

#: Reasons of lines that are broken (the file is damaged or not what it claims to be).
MALFORMED = frozenset(
    {
        "bad_json",  # not JSON, or not UTF-8
        "truncated_line",  # the last line has no newline and does not parse
        "unknown_record",  # JSON, but none of the variants (or an unknown ``type``)
        "missing_field",
        "bad_type",  # a field of the wrong JSON type
        "bad_length",  # wrong number of amplitudes, iq_hex or size not matching subcarriers
        "bad_hex",
        "bad_timestamp",  # a 'timestamp' string that is not ISO-8601
        "non_finite",  # NaN or infinity where a number is required
        "unknown_magic",
        "magic_mismatch",  # a known magic that does not belong to the line's type
        "too_few_subcarriers",  # a recorder's CSI packet of fewer than 56 subcarriers
        "no_timestamp",  # an edge_vitals line without timestamp before any sensing_update
        "read_error",  # the file itself cannot be read further (e.g. a cut-off .gz)
        "oversize_line",  # longer than lines.MAX_LINE: not kept, reading goes on
        "negative_amplitude",  # an amplitude is a magnitude: below 0 is not one
        "gzip_bomb",  # a .gz decompressing to far more than a recording (lines.GzipGuard)
    }
)
#: Reasons of well-formed lines that carry no frame.
NO_FRAME_REASONS = frozenset(
    {
        "feature_line",
        "compressed_csi",  # an untyped 0xC5110005 line
        "other_packet",  # another sibling packet (untyped, or an A-legacy one of no known length)
        "vitals_packet",  # A-legacy: a 32-byte packet (its flags are not recorded)
        "features_or_fused_vitals_packet",  # A-legacy: a 48-byte packet, which the line hides
        "feature_state_packet",  # A-legacy: a 60-byte packet
        "features_packet",  # A-filtered: a feature vector the recorder took for CSI "V2"
        "wasm_event",
        "duplicate_tick",  # the server's 100 ms repeat of the previous update
        "repeated_frame",  # a node re-listed with the frame it already gave
        "no_amplitude",  # a vitals-triggered update: every node's amplitude list is empty
    }
)
