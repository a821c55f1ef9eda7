"""Paired training data as RuView writes it: frame-major csi under csi_shape [56, 20]."""

from __future__ import annotations

import calendar
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posecog.graph.errors import ConfigError
from posecog.nodes.model.paired import load_paired, split_by_time

N_SC, T = 56, 20
T0 = calendar.timegm((2026, 5, 19, 12, 0, 0, 0, 0, 0))  # 2026-05-19T12:00:00Z


def _iso(seconds_after_t0: float) -> str:
    whole = int(seconds_after_t0)
    ms = round((seconds_after_t0 - whole) * 1000)
    return f"2026-05-19T12:{whole // 60:02d}:{whole % 60:02d}.{ms:03d}Z"


def record(i: int, **changes: Any) -> dict[str, Any]:
    """Record ``i``: csi value at flat index j is ``1000 * i + j`` (exact in float32),
    keypoints ``0.01 * i + 0.001 * joint``, window starting ``i`` seconds after T0."""
    rec: dict[str, Any] = {
        "csi": [float(1000 * i + j) for j in range(N_SC * T)],
        "csi_shape": [N_SC, T],
        "kp": [[round(0.01 * i + 0.001 * j, 4), 0.5] for j in range(17)],
        "conf": 0.441,
        "n_camera_frames": 6,
        "ts_start": _iso(i + 0.123),
        "ts_end": _iso(i + 1.073),
    }
    rec.update(changes)
    return rec


def write(path: Path, lines: list[Any]) -> Path:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_csi_is_read_frame_major(tmp_path: Path) -> None:
    recs = [record(i) for i in range(3)]
    data = load_paired(write(tmp_path / "a.paired.jsonl", recs))
    assert data.frames.shape == (3, T, N_SC) and data.frames.dtype == np.float32
    for i, rec in enumerate(recs):
        for t, k in [(0, 0), (0, 55), (1, 0), (7, 13), (19, 55)]:
            assert data.frames[i, t, k] == rec["csi"][t * N_SC + k]
    assert data.keypoints.shape == (3, 17, 2) and data.keypoints.dtype == np.float32
    assert data.keypoints[2, 16, 0] == pytest.approx(0.02 + 0.016)
    assert data.conf.tolist() == pytest.approx([0.441] * 3)
    assert data.ts_start.dtype == np.float64
    assert data.ts_start[1] == pytest.approx(T0 + 1.123, abs=1e-6)
    assert data.skipped == {}
    assert len(data) == 3


def test_gzip_and_sha256_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.paired.jsonl.gz", [record(0), record(1)])
    data = load_paired(path)
    assert len(data) == 2 and data.frames[1, 1, 0] == 1000 + N_SC
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.path == path


_NAN_CSI = record(9)
_NAN_CSI["csi"][5] = float("nan")  # json.dumps writes NaN, as Python writers do

MALFORMED = [
    ("{not json", "bad_json"),
    ("[1, 2, 3]", "not_object"),
    ({k: v for k, v in record(9).items() if k != "kp"}, "missing_field"),
    (record(9, csi_shape=[64, 20]), "csi_shape"),
    (record(9, csi=[1.0] * (N_SC * T - 1)), "csi_length"),
    (record(9, csi=[1.0] * (N_SC * T - 1) + ["x"]), "bad_csi"),
    (record(9, csi=[1.0] * (N_SC * T - 1) + [None]), "bad_csi"),
    (record(9, kp=[[0.1, 0.2]] * 16), "bad_kp"),
    (record(9, kp=[[0.1, 0.2]] * 16 + [[0.1]]), "bad_kp"),
    (record(9, kp=[[0.1, 0.2]] * 16 + [[0.1, "y"]]), "bad_kp"),
    (json.dumps(_NAN_CSI), "non_finite"),
    (record(9, kp=[[float("inf"), 0.2]] * 17), "non_finite"),
    (record(9, csi=[1e39] * (N_SC * T)), "non_finite"),
    (record(9, conf=1.5), "conf_range"),
    (record(9, conf=-0.1), "conf_range"),
    (record(9, conf="high"), "conf_range"),
    (record(9, ts_start="yesterday"), "bad_timestamp"),
    (record(9, ts_start=1779192000), "bad_timestamp"),
]


def test_malformed_records_are_skipped_and_counted(tmp_path: Path) -> None:
    lines: list[Any] = [record(0)]
    for x, _ in MALFORMED:
        lines += [x, ""]  # blank lines are ignored, not counted
    lines.append(record(1))
    data = load_paired(write(tmp_path / "m.paired.jsonl", lines))
    assert len(data) == 2
    expected: dict[str, int] = {}
    for _, reason in MALFORMED:
        expected[reason] = expected.get(reason, 0) + 1
    assert data.skipped == expected
    assert data.frames[1, 0, 0] == 1000  # the last valid record, not a malformed one


def test_each_reason_alone(tmp_path: Path) -> None:
    for n, (bad, reason) in enumerate(MALFORMED):
        data = load_paired(write(tmp_path / f"r{n}.jsonl", [bad, record(0)]))
        assert data.skipped == {reason: 1}, bad if isinstance(bad, str) else reason


def test_strict_names_the_first_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", [record(0), record(1), record(2, conf=2.0), "{"])
    with pytest.raises(ConfigError, match=r"s\.jsonl:3: conf_range: .*\[0, 1\]"):
        load_paired(path, strict=True)
    path = write(tmp_path / "s2.jsonl", [record(0), record(1, kp=[[0.1, "y"]] * 17), "{"])
    with pytest.raises(ConfigError, match=r"s2\.jsonl:2: bad_kp"):
        load_paired(path, strict=True)
    assert len(load_paired(path)) == 1


def test_nothing_valid_is_an_error_with_the_summary(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", [record(0, csi_shape=[52, 20]), "{", "{"])
    with pytest.raises(ConfigError, match=r"no valid paired records.*bad_json 2.*csi_shape 1"):
        load_paired(path)
    with pytest.raises(ConfigError, match="holds no records"):
        load_paired(write(tmp_path / "empty.jsonl", []))
    with pytest.raises(ConfigError, match="not found"):
        load_paired(tmp_path / "missing.jsonl")


def test_other_sizes_follow_the_arguments(tmp_path: Path) -> None:
    rec = record(0, csi=[float(j) for j in range(64 * 10)], csi_shape=[64, 10])
    data = load_paired(write(tmp_path / "o.jsonl", [rec]), n_subcarriers=64, window=10)
    assert data.frames.shape == (1, 10, 64) and data.frames[0, 3, 5] == 3 * 64 + 5
    with pytest.raises(ConfigError, match="csi_shape"):
        load_paired(tmp_path / "o.jsonl")


def test_split_by_time_holds_out_the_later_part(tmp_path: Path) -> None:
    order = [7, 2, 9, 0, 4, 8, 1, 6, 3, 5, 11, 10, 12]  # 13 records, not in time order
    data = load_paired(write(tmp_path / "t.jsonl", [record(i) for i in order]))
    train, held_out = split_by_time(data)
    assert (len(train), len(held_out)) == (10, 3)  # floor(13 * 0.8) = 10
    assert train.frames[:, 0, 0].tolist() == [1000.0 * i for i in range(10)]
    assert held_out.frames[:, 0, 0].tolist() == [1000.0 * i for i in (10, 11, 12)]
    assert train.ts_start.max() < held_out.ts_start.min()
    assert held_out.keypoints[0, 0, 0] == pytest.approx(0.10)
    assert held_out.sha256 == data.sha256
    train, held_out = split_by_time(data, fraction=0.5)
    assert (len(train), len(held_out)) == (6, 7)
    with pytest.raises(ValueError):
        split_by_time(data, fraction=1.0)


def test_subset_takes_rows_in_the_given_order(tmp_path: Path) -> None:
    data = load_paired(write(tmp_path / "u.jsonl", [record(i) for i in range(5)]))
    part = data.subset([4, 1])
    assert part.frames[:, 0, 0].tolist() == [4000.0, 1000.0]
    assert part.conf.shape == (2,) and part.ts_start[0] == data.ts_start[4]
    assert len(data.subset(data.ts_start > data.ts_start[2])) == 2
