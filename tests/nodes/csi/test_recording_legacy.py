"""Variant A-legacy (and A-filtered) recordings, made from the real variant A excerpt.

The excerpt's lines are turned back into the datagrams the nodes sent (``recording_datagrams``:
CSI packets with a per-node sequence from 1000, 32-byte vitals, 48-byte feature packets, the
104-byte compressed-CSI packet), and each datagram into the line ``scripts/record-csi-udp.py``
writes for it, the way that recorder does (INTERFACES §9). Reading the twin must give the
frames, and the poses, that the excerpt gives.
"""

from __future__ import annotations

import json
import math
import struct
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posecog.cog.pipelines import resolve_pipeline
from posecog.graph.testing import run_pipeline_test
from posecog.nodes.csi.recording import (
    MALFORMED,
    NO_FRAME_REASONS,
    RecordingParser,
    read_recording,
)
from posecog.nodes.items import CsiFrame, Pose
from posecog.nodes.registry import default_registry
from posecog.nodes.rejection import Rejected
from tests.cog.conftest import cli
from tests.conftest import EXCERPT_A, POSE_V1
from tests.fakes.esp32_sender import Datagram, recording_datagrams


def iso(ts: float) -> str:
    """``2026-06-17T01:23:45.678Z``, as the recorder writes its ``timestamp``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def legacy_line(data: bytes, ts: float) -> dict[str, Any]:
    """What the A-legacy recorder writes for one datagram, whatever it is."""
    tail = data[8:]
    pairs = [struct.unpack_from("bb", tail, 2 * k) for k in range(len(tail) // 2)]
    return {
        "type": "raw_csi",
        "timestamp": iso(ts),
        "ts_ns": round(ts * 1e9),
        "node_id": data[4],
        "rssi": struct.unpack_from("b", data, 6)[0],
        "channel": data[7],
        "subcarriers": len(tail) // 2,
        "amplitudes": [round((i * i + q * q) ** 0.5, 2) for i, q in pairs],
        "iq_hex": tail.hex(),
    }


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def datagrams() -> list[Datagram]:
    return recording_datagrams(EXCERPT_A)


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory, datagrams: list[Datagram]) -> Path:
    path = tmp_path_factory.mktemp("legacy") / "csi-1775182186.csi.jsonl"
    return write(path, [legacy_line(d.data, d.t) for d in datagrams])


def parse(line: dict[str, Any]) -> Any:
    """The one value a line gives (a fresh parser: line 1)."""
    (value,) = RecordingParser().parse(json.dumps(line), 1)
    return value


def reason(line: dict[str, Any]) -> str:
    value = parse(line)
    assert isinstance(value, Rejected), value
    return value.reason


def frames_and_skips(path: Path) -> tuple[list[CsiFrame], Counter[str]]:
    entries = [e.value for e in read_recording(path)]
    frames = [v for v in entries if isinstance(v, CsiFrame)]
    return frames, Counter(v.reason for v in entries if isinstance(v, Rejected))


def test_the_twin_gives_the_frames_of_variant_a(twin: Path, datagrams: list[Datagram]) -> None:
    want, _ = frames_and_skips(EXCERPT_A)
    got, skips = frames_and_skips(twin)

    assert len(got) == len(want) == sum(d.kind == "csi" for d in datagrams)
    for a, b in zip(want, got, strict=True):
        assert b.node_id == a.node_id and b.n_subcarriers == a.n_subcarriers
        assert b.amplitude.dtype == np.float32 and np.array_equal(b.amplitude, a.amplitude)
        assert abs(b.ts - a.ts) < 1e-6
    # seq is the packet's own sequence (variant A, which records none, uses the line number)
    assert [f.seq for f in got] == [d.seq for d in datagrams if d.kind == "csi"]
    assert {f.rssi for f in got} == {-45.0}  # the packet's RSSI byte, not the line's 'rssi'
    kinds = Counter(d.kind for d in datagrams)
    assert skips == {
        "vitals_packet": kinds["vitals"],
        "features_or_fused_vitals_packet": kinds["features"],
        "other_packet": kinds["other"],  # the compressed-CSI packet
    }
    assert set(skips) <= NO_FRAME_REASONS


def test_replaying_the_twin_gives_the_poses_of_variant_a(twin: Path) -> None:
    def poses(path: Path) -> tuple[list[Pose], Any]:
        run = run_pipeline_test(
            resolve_pipeline("replay"),
            overrides={"recording": str(path), "model": str(POSE_V1), "min_confidence": 0},
            taps=["pose"],
            registry=default_registry(),
        )
        assert run.sinks_completed == {"out"}
        return [p for _, p in run.taps["pose"]], run

    want, _ = poses(EXCERPT_A)
    got, run = poses(twin)

    assert len(got) == len(want) > 0
    for a, b in zip(want, got, strict=True):
        assert (b.node_id, b.confidence) == (a.node_id, a.confidence)
        assert np.array_equal(b.keypoints, a.keypoints)
        assert abs(b.ts - a.ts) < 1e-6 and abs(b.ts_start - a.ts_start) < 1e-6
    # The tick differs by design: variant A's seq is the line number, A-legacy's the packet's.
    assert [p.seq for p in got] != [p.seq for p in want]
    assert all(p.seq >= 1000 for p in got)
    (finished,) = run.events_named("source.finished")
    assert set(finished.fields["skipped"]) == {
        "vitals_packet",
        "features_or_fused_vitals_packet",
        "other_packet",
    }
    assert [e.event for e in run.events if e.level != "info"] == []  # counted quietly


def test_without_ts_ns_the_iso_timestamp_is_read_as_utc(datagrams: list[Datagram]) -> None:
    d = next(d for d in datagrams if d.kind == "csi")
    line = legacy_line(d.data, d.t)
    del line["ts_ns"]
    frame = parse(line)
    assert isinstance(frame, CsiFrame)
    assert frame.ts == pytest.approx(math.floor(d.t * 1000) / 1000, abs=1e-6)  # its milliseconds
    assert abs(frame.ts - d.t) < 1e-3
    line["timestamp"] = line["timestamp"].removesuffix("Z")  # no zone: UTC too
    assert parse(line).ts == frame.ts
    line["timestamp"] = "yesterday"
    assert parse(line) == Rejected(
        "bad_timestamp", "line 1: 'timestamp' is not an ISO-8601 time: 'yesterday'"
    )


def packet(n_antennas: int, n_sub: int, iq: bytes, sequence: int = 7) -> bytes:
    """A CSI packet with any antenna count (``encode_csi_packet`` makes one-antenna ones)."""
    header = struct.pack("<IBBHIIbb2x", 0xC5110001, 3, n_antennas, n_sub, 2437, sequence, -52, -95)
    return header + iq


def iq_of(n_pairs: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(-60, 61, 2 * n_pairs).astype(np.int8).tobytes()


def test_an_odd_length_buffer_loses_its_half_pair() -> None:
    iq = iq_of(64)
    whole = parse(legacy_line(packet(1, 64, iq), 5.0))
    odd = parse(legacy_line(packet(1, 64, iq + b"\x7f"), 5.0))
    assert isinstance(whole, CsiFrame) and isinstance(odd, CsiFrame)
    assert odd.n_subcarriers == 64 and np.array_equal(odd.amplitude, whole.amplitude)


def test_two_antennas_give_the_first_antennas_bins() -> None:
    iq = iq_of(128)
    two = parse(legacy_line(packet(2, 64, iq), 5.0))
    one = parse(legacy_line(packet(1, 128, iq), 5.0))  # the same length, another header
    assert isinstance(two, CsiFrame) and isinstance(one, CsiFrame)
    assert (two.n_subcarriers, one.n_subcarriers) == (64, 128)
    assert (two.seq, two.rssi, two.node_id) == (7, -52.0, 3)
    pairs = np.frombuffer(iq, np.int8).astype(np.float64).reshape(-1, 2)[:56]
    assert np.allclose(two.amplitude, np.hypot(pairs[:, 0], pairs[:, 1]), rtol=1e-6)
    assert np.array_equal(two.amplitude, one.amplitude)


def test_a_header_that_does_not_fit_the_length_is_no_frame() -> None:
    line = legacy_line(packet(1, 64, iq_of(64)), 5.0)
    # bytes 6..7 saying 100 subcarriers, for 64 pairs after the header: not a CSI packet
    assert reason({**line, "rssi": 100, "channel": 0}) == "other_packet"
    # 16 subcarriers x 4 antennas fit, but are too few: a broken CSI packet
    assert reason({**line, "rssi": 16, "channel": 0}) == "too_few_subcarriers"
    # 8 x 8 fit too, but no node has 8 antennas
    assert reason({**line, "rssi": 8, "channel": 0}) == "other_packet"
    assert reason({**line, "subcarriers": 65}) == "bad_length"
    assert reason({**line, "iq_hex": line["iq_hex"][:-2] + "zz"}) == "bad_hex"
    assert reason({**line, "rssi": 300}) == "bad_type"
    assert {"too_few_subcarriers", "bad_length", "bad_hex", "bad_type"} <= MALFORMED


def test_sibling_packets_are_told_apart_by_length() -> None:
    feature_state = struct.pack("<IB", 0xC5110006, 2).ljust(60, b"\x11")
    mesh_health = struct.pack("<IBBBB", 0xC5118100, 1, 6, 1, 0).ljust(48, b"\x22")
    assert reason(legacy_line(feature_state, 1.0)) == "feature_state_packet"
    assert reason(legacy_line(mesh_health, 1.0)) == "features_or_fused_vitals_packet"
    short = parse(legacy_line(struct.pack("<IB", 0xC511A110, 2).ljust(16, b"\0"), 1.0))
    assert isinstance(short, Rejected) and short.reason == "other_packet"


def test_a_file_of_vitals_only_fails_and_says_why(
    tmp_path: Path, datagrams: list[Datagram]
) -> None:
    vitals = [legacy_line(d.data, d.t) for d in datagrams if d.kind == "vitals"]
    path = write(tmp_path / "vitals.csi.jsonl", vitals)
    r = cli(["run", "replay", "--set", f"recording={path}"])
    assert r.code == 1
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"Error: replay: {path}: no CSI frame in {len(vitals)} lines")
    assert f"skipped: vitals_packet {len(vitals)}; " in line
    assert "the first skipped: vitals_packet: line 1: a 32-byte packet of node " in line


def filtered_lines(datagrams: list[Datagram]) -> list[dict[str, Any]]:
    """The CSI packets as three later recorder versions write them (``iq_hex`` = the CSI)."""
    out = []
    for k, d in enumerate(d for d in datagrams if d.kind == "csi"):
        n_sub = struct.unpack_from("<H", d.data, 6)[0]
        iq = d.data[20:]
        common = {"type": "raw_csi", "timestamp": iso(d.t), "ts_ns": round(d.t * 1e9)}
        common |= {"node_id": d.node_id, "rssi": -45, "noise_floor": -95, "iq_hex": iq.hex()}
        common |= {"subcarriers": len(iq) // 2, "amplitudes": []}
        if k % 3 == 0:
            out.append({**common, "seq": d.seq, "frequency_mhz": 2437, "antennas": 1})
        elif k % 3 == 1:  # this one writes a channel number too
            out.append(
                {**common, "seq": d.seq, "freq_mhz": 2437, "channel": 6, "n_subcarriers": n_sub}
            )
        else:
            out.append({**common, "sequence": d.seq, "n_antennas": 1, "n_subcarriers": n_sub})
    return out


def test_later_recorder_versions_give_the_frames_of_variant_a(
    tmp_path: Path, datagrams: list[Datagram]
) -> None:
    want, _ = frames_and_skips(EXCERPT_A)
    got, skips = frames_and_skips(write(tmp_path / "new.jsonl", filtered_lines(datagrams)))
    assert skips == {}
    assert len(got) == len(want)
    for a, b in zip(want, got, strict=True):
        assert (b.node_id, b.n_subcarriers, b.rssi) == (a.node_id, a.n_subcarriers, -45.0)
        assert np.array_equal(b.amplitude, a.amplitude) and abs(b.ts - a.ts) < 1e-6
    assert [f.seq for f in got] == [d.seq for d in datagrams if d.kind == "csi"]


def test_a_feature_vector_taken_for_csi_v2_is_counted_quietly() -> None:
    # One version reads 0xC5110003 as a CSI packet with a MAC; a feature vector's antenna byte
    # is 0, so it writes no pairs.
    line = {"type": "raw_csi", "timestamp": iso(1.0), "ts_ns": 10**9, "node_id": 2}
    line |= {"n_antennas": 0, "n_subcarriers": 5337, "sequence": 99, "rssi": 0}
    line |= {"subcarriers": 0, "amplitudes": [], "iq_hex": "", "source_mac": "00:11:22:33:44:55"}
    assert reason(line) == "features_packet"
    assert (
        reason({**line, "source_mac": None} | {"iq_hex": "00" * 20, "subcarriers": 10})
        == "too_few_subcarriers"
    )


def test_variant_a_lines_are_still_variant_a() -> None:
    """A ``raw_csi`` line with ``magic`` is read as variant A even beside recorder fields."""
    text = EXCERPT_A.read_text().splitlines()[0]
    line = json.loads(text)
    frame = parse({**line, "channel": 0})
    assert isinstance(frame, CsiFrame) and frame.seq == 1 and frame.ts == line["timestamp"]
