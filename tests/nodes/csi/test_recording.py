from __future__ import annotations

import gzip
import json
import math
import random
import time
from collections import Counter

import numpy as np
import pytest

from posecog.nodes.csi.recording import (
    MALFORMED,
    NO_FRAME_REASONS,
    RecordingParser,
    read_recording,
)
from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.rejection import Rejected
from tests.conftest import EXCERPT_A, EXCERPT_B


def by_kind(entries):
    frames = [e.value for e in entries if isinstance(e.value, CsiFrame)]
    vitals = [e.value for e in entries if isinstance(e.value, Vitals)]
    skips = Counter(e.value.reason for e in entries if isinstance(e.value, Rejected))
    return frames, vitals, skips


def test_variant_a_gives_every_raw_csi_line_of_each_node():
    lines = [json.loads(t) for t in EXCERPT_A.read_text().splitlines()]
    raw = Counter(d["node_id"] for d in lines if d.get("type") == "raw_csi")
    n_vitals = sum(d.get("type") == "vitals" for d in lines)
    n_feature = sum(d.get("type") == "feature" for d in lines)
    n_untyped = sum("type" not in d for d in lines)

    frames, vitals, skips = by_kind(list(read_recording(EXCERPT_A)))

    assert Counter(f.node_id for f in frames) == raw
    assert set(raw) == {1, 2}
    assert len(vitals) == n_vitals
    assert skips == {"feature_line": n_feature, "compressed_csi": n_untyped}
    assert all(f.amplitude.shape == (56,) and f.amplitude.dtype == np.float32 for f in frames)


def test_variant_a_amplitudes_match_a_hand_computation():
    lines = [json.loads(t) for t in EXCERPT_A.read_text().splitlines()]
    number = next(i for i, d in enumerate(lines, 1) if d.get("subcarriers") == 128)
    line = lines[number - 1]
    iq = bytes.fromhex(line["iq_hex"])
    signed = [b - 256 if b > 127 else b for b in iq]
    expected = [math.hypot(signed[2 * k], signed[2 * k + 1]) for k in range(56)]

    frame = next(e.value for e in read_recording(EXCERPT_A) if e.line == number)
    assert isinstance(frame, CsiFrame)
    assert frame.amplitude.tolist() == pytest.approx(expected, rel=1e-6)
    assert (frame.ts, frame.node_id, frame.seq, frame.n_subcarriers, frame.rssi) == (
        line["timestamp"],
        line["node_id"],
        number,
        128,
        None,
    )


def test_variant_a_vitals_lines():
    line_no, line = next(
        (i, json.loads(t))
        for i, t in enumerate(EXCERPT_A.read_text().splitlines(), 1)
        if '"vitals"' in t
    )
    value = next(e.value for e in read_recording(EXCERPT_A) if e.line == line_no)
    assert value == Vitals(
        ts=line["timestamp"],
        node_id=line["node_id"],
        breathing_bpm=line["breathing_bpm"],
        heartrate_bpm=line["heartrate_bpm"],
        presence=bool(line["flags"] & 1),
        fall_detected=bool(line["flags"] & 2),
        motion=bool(line["flags"] & 4),
        n_persons=line["n_persons"],
        motion_energy=line["motion_energy"],
        presence_score=line["presence_score"],
        extra={"rssi": line["rssi"]},
    )


def test_variant_b_gives_60_frames_of_node_0():
    lines = [json.loads(t) for t in EXCERPT_B.read_text().splitlines()]
    frames, vitals, skips = by_kind(list(read_recording(EXCERPT_B)))
    assert len(lines) == len(frames) == 60
    assert not vitals and not skips
    assert {f.node_id for f in frames} == {0}
    assert [f.seq for f in frames] == list(range(1, 61))
    for f, d in zip(frames, lines, strict=True):
        assert f.ts == d["timestamp"]
        assert np.array_equal(f.amplitude, np.asarray(d["subcarriers"], np.float32))


def update(tick, ts, amps):
    nodes = [
        {"node_id": n, "rssi_dbm": -40.0, "amplitude": a, "subcarrier_count": 64}
        for n, a in amps.items()
    ]
    return {
        "type": "sensing_update",
        "timestamp": ts,
        "source": "esp32",
        "tick": tick,
        "nodes": nodes,
        "features": {},
        "classification": {},
    }


def test_variant_c_dedupes_and_skips_vitals_updates(tmp_path):
    a1, a2 = [1.0] * 56, [2.0] * 56
    rows = [
        update(10, 100.0, {1: a1, 2: a2}),
        update(10, 100.0, {1: a1, 2: a2}),  # the server's 100 ms repeat
        update(10, 100.0, {1: a1, 2: a2}),
        update(11, 100.05, {1: [], 2: []}),  # vitals-triggered
        {
            "type": "edge_vitals",
            "node_id": 1,
            "presence": True,
            "fall_detected": False,
            "motion": True,
            "breathing_rate_bpm": 14.0,
            "heartrate_bpm": 70.0,
            "n_persons": 1,
            "motion_energy": 0.5,
            "presence_score": 0.9,
            "rssi": -41,
        },
        {"type": "wasm_event", "node_id": 1, "module_id": 3, "events": []},
        update(12, 100.1, {1: a2}),
        update(12, 100.1, {1: a2}),
    ]
    path = tmp_path / "dump.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    entries = list(read_recording(path))
    frames, vitals, skips = by_kind(entries)

    assert [(f.seq, f.node_id, f.ts, float(f.amplitude[0])) for f in frames] == [
        (10, 1, 100.0, 1.0),
        (10, 2, 100.0, 2.0),
        (12, 1, 100.1, 2.0),
    ]
    assert all(f.n_subcarriers == 64 and f.rssi is None for f in frames)
    assert skips == {"duplicate_tick": 3, "no_amplitude": 1, "wasm_event": 1}
    # edge_vitals (no timestamp) precede the update their packet triggers: that update's time
    assert vitals == [
        Vitals(
            ts=100.1,
            node_id=1,
            breathing_bpm=14.0,
            heartrate_bpm=70.0,
            presence=True,
            fall_detected=False,
            motion=True,
            n_persons=1,
            motion_energy=0.5,
            presence_score=0.9,
            extra={"rssi": -41.0},
        )
    ]
    assert {e.line for e in entries if isinstance(e.value, CsiFrame) and e.value.seq == 10} == {1}


def test_edge_vitals_wait_for_the_update_they_precede_and_none_is_lost():
    parser = RecordingParser()
    assert parser.parse(b'{"type": "edge_vitals", "node_id": 1}', 1) == []  # held
    (skip,) = parser.release_all()  # the input ended before any update gave a time
    assert isinstance(skip, Rejected) and skip.reason == "no_timestamp" and skip.reason in MALFORMED
    assert parser.parse(b'{"type": "edge_vitals", "node_id": 1, "breathing_rate_bpm": 12}', 2) == []
    line = json.dumps(update(5, 200.5, {1: [1.0] * 56})).encode()
    vitals, frame = parser.parse(line, 3)
    assert isinstance(vitals, Vitals) and vitals.ts == 200.5 and vitals.breathing_bpm == 12
    assert isinstance(frame, CsiFrame) and frame.ts == 200.5
    # a second one for the same node before any update: the first goes with the last time
    parser.parse(b'{"type": "edge_vitals", "node_id": 1, "breathing_rate_bpm": 13}', 4)
    (first,) = parser.parse(b'{"type": "edge_vitals", "node_id": 1, "breathing_rate_bpm": 14}', 5)
    assert isinstance(first, Vitals) and first.ts == 200.5 and first.breathing_bpm == 13
    (last,) = parser.release_all()
    assert isinstance(last, Vitals) and last.breathing_bpm == 14


def test_gzip_is_opened_transparently(tmp_path):
    gz = tmp_path / "b.csi.jsonl.gz"
    gz.write_bytes(gzip.compress(EXCERPT_B.read_bytes()))
    plain = [(e.line, e.value.ts, e.value.amplitude.tolist()) for e in read_recording(EXCERPT_B)]
    packed = [(e.line, e.value.ts, e.value.amplitude.tolist()) for e in read_recording(gz)]
    assert packed == plain


def test_cut_off_gzip_ends_with_a_read_error(tmp_path):
    gz = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(EXCERPT_B.read_bytes())
    gz.write_bytes(data[: len(data) // 2])
    entries = list(read_recording(gz))
    frames, _, skips = by_kind(entries)
    assert skips == {"read_error": 1} and isinstance(entries[-1].value, Rejected)
    assert entries[-1].value.detail.startswith(f"line {entries[-1].line}: ")  # file named once
    assert "cut.jsonl.gz" not in entries[-1].value.detail
    assert 0 < len(frames) < 60


def test_bad_lines_are_counted_and_good_lines_still_come_through(tmp_path):
    good_a = next(t for t in EXCERPT_A.read_text().splitlines() if '"raw_csi"' in t).rstrip("\n")
    good_b = next(iter(EXCERPT_B.read_text().splitlines())).rstrip("\n")
    a = json.loads(good_a)
    b = json.loads(good_b)

    def variant(base, **changes):
        return json.dumps({**base, **changes})

    corpus = [
        (good_a, None),
        ('{"timestamp": 1.0, "subcarr', "bad_json"),
        (variant(a, iq_hex=a["iq_hex"][:-4]), "bad_length"),
        (variant(a, subcarriers=128), "bad_length"),
        (variant(a, size=999), "bad_length"),
        (variant(a, iq_hex="zz" + a["iq_hex"][2:]), "bad_hex"),
        (variant(a, iq_hex=12), "bad_type"),
        (variant(a, iq_hex="00 " + a["iq_hex"][3:]), "bad_hex"),
        (variant(a, timestamp=10**400), "non_finite"),
        (variant(a, node_id="one"), "bad_type"),
        (variant(a, subcarriers=64.0), "bad_type"),
        (variant(a, magic="0xC5110009"), "unknown_magic"),
        (variant(a, magic="0xC5110002"), "magic_mismatch"),
        ('{"timestamp": 1.0, "node_id": 1, "magic": "0xDEADBEEF", "size": 8}', "unknown_magic"),
        (good_b, None),
        (good_b.replace('"timestamp":', '"timestamp": NaN, "was":'), "non_finite"),
        (variant(b, subcarriers=b["subcarriers"][:55]), "bad_length"),
        (variant(b, subcarriers=[*b["subcarriers"][:55], "1.0"]), "bad_type"),
        (variant(b, subcarriers=[*b["subcarriers"][:55], None]), "bad_type"),
        (variant(b, subcarriers=[*b["subcarriers"][:55], 1e300]), "non_finite"),
        (variant(b, subcarriers=[*b["subcarriers"][:55], [1.0, 2.0]]), "bad_type"),
        (variant(b, subcarriers=[*b["subcarriers"][:55], 10**400]), "bad_type"),
        (variant(b, timestamp="yesterday"), "bad_type"),
        (json.dumps({k: v for k, v in b.items() if k != "timestamp"}), "missing_field"),
        ("[1, 2, 3]", "unknown_record"),
        ('{"type": "telemetry", "x": 1}', "unknown_record"),
        ("", None),  # blank lines are not records
        (good_a, None),
        (good_b[: len(good_b) // 2], "truncated_line"),  # last line, no newline
    ]
    text = "\n".join(line for line, _ in corpus)  # no newline after the last line
    path = tmp_path / "bad.jsonl"
    path.write_text(text)

    entries = list(read_recording(path))
    frames, vitals, skips = by_kind(entries)
    assert not vitals

    expected_frames = [i for i, (line, r) in enumerate(corpus, 1) if r is None and line]
    assert [e.line for e in entries if isinstance(e.value, CsiFrame)] == expected_frames
    assert skips == Counter(r for _, r in corpus if r is not None)
    assert set(skips) <= MALFORMED
    (alone,) = RecordingParser().parse(good_a, 1)
    assert np.array_equal(frames[0].amplitude, alone.amplitude)
    assert all(
        e.value.detail.startswith(f"line {e.line}:")
        for e in entries
        if isinstance(e.value, Rejected)
    )


def test_no_frame_reasons_are_not_malformed():
    assert not (MALFORMED & NO_FRAME_REASONS)
    assert "feature_line" not in MALFORMED


def test_a_few_thousand_lines_parse_well_under_a_second(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(EXCERPT_A.read_bytes() * 5)  # 3,000 lines
    t0 = time.perf_counter()
    n = sum(1 for _ in read_recording(path))
    assert n == 3000
    assert time.perf_counter() - t0 < 0.5


def test_mangled_lines_never_raise():
    rng = random.Random(7)
    lines = EXCERPT_A.read_bytes().splitlines()[:40] + EXCERPT_B.read_bytes().splitlines()[:10]
    inserts = [b"null", b"[]", b"{}", b'"x"', b"1e999", b"-1", b"NaN", b"true", b","]
    for _ in range(3000):
        text = bytearray(rng.choice(lines))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text))
            op = rng.random()
            if op < 0.4:
                text[at] = rng.randrange(256)
            elif op < 0.7:
                del text[at : at + rng.randint(1, 20)]
            else:
                text[at:at] = rng.choice(inserts)
        values = RecordingParser().parse(bytes(text), 1)
        assert values and all(isinstance(v, CsiFrame | Vitals | Rejected) for v in values)


def test_per_node_state_is_bounded_and_evictions_counted():
    from posecog.nodes.csi.recording import MAX_NODES, RecordingParser

    parser = RecordingParser()
    amps = [1.0] * 56
    n = MAX_NODES + 500
    for k in range(n):  # one update per made-up node id
        update = {"type": "sensing_update", "tick": k, "timestamp": 1.0 + k, "nodes": []}
        update["nodes"] = [{"node_id": 10**9 + k, "amplitude": amps}]
        (frame,) = parser.sensing_update(update)
        assert frame.node_id == 10**9 + k
    assert parser.evicted == 500 and len(parser._frames) == MAX_NODES
