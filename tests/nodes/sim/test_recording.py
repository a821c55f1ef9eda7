"""The written recording: determinism, variant-A validity, truth, paired format, drop/dup rates."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from posecog.nodes.sim import NULL_BINS, SimConfig, generate, simulate, truth_path_for


def _lines(path: Path) -> list[dict]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in data.decode().splitlines()]


def _decode(iq_hex: str) -> np.ndarray:
    """(n, 2) int8 pairs of a raw_csi line: imaginary first, then real."""
    return np.frombuffer(bytes.fromhex(iq_hex), dtype=np.int8).reshape(-1, 2)


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    cfg = SimConfig(seed=3, duration_s=8)
    a = simulate(cfg, tmp_path / "a.csi.jsonl.gz", paired_path=tmp_path / "a.paired.jsonl")
    b = simulate(cfg, tmp_path / "b.csi.jsonl.gz", paired_path=tmp_path / "b.paired.jsonl")
    c = simulate(SimConfig(seed=4, duration_s=8), tmp_path / "c.csi.jsonl.gz")
    for x, y in ((a.out_path, b.out_path), (a.truth_path, b.truth_path)):
        assert x is not None and y is not None
        assert x.read_bytes() == y.read_bytes()
    assert (tmp_path / "a.paired.jsonl").read_bytes() == (tmp_path / "b.paired.jsonl").read_bytes()
    assert a.out_path.read_bytes() != c.out_path.read_bytes()


def test_raw_csi_lines_are_valid_variant_a(tmp_path: Path) -> None:
    s = simulate(SimConfig(seed=1, duration_s=10, n_nodes=3), tmp_path / "r.csi.jsonl")
    rows = _lines(s.out_path)
    csi = [r for r in rows if r.get("type") == "raw_csi"]
    assert {r["node_id"] for r in csi} == {1, 2, 3}
    ts = [r["timestamp"] for r in rows]
    assert ts == sorted(ts)
    amps = []
    for r in csi:
        assert list(r) == ["timestamp", "node_id", "magic", "size", "rssi", "type", "iq_hex",
                           "subcarriers"]  # fmt: skip
        assert r["magic"] == "0xC5110001" and r["rssi"] == 1 and r["subcarriers"] == 64
        assert r["iq_hex"] == r["iq_hex"].lower()
        iq = _decode(r["iq_hex"])
        assert r["size"] == 20 + 2 * r["subcarriers"] == 20 + iq.size
        assert not iq[list(NULL_BINS)].any()
        amps.append(np.hypot(iq[:, 0].astype(float), iq[:, 1].astype(float)))
    amp = np.array(amps)
    data = np.delete(amp, NULL_BINS, axis=1)
    # Like the real recording: amplitudes of ~5..30, no int8 clipping.
    assert 8 < data.mean() < 25 and amp.max() < 60 and data.min(axis=1).max() > 0
    # Per-node rate ~20 Hz.
    node1 = np.array([r["timestamp"] for r in csi if r["node_id"] == 1])
    assert 0.045 < np.median(np.diff(node1)) < 0.055


def test_vitals_lines(tmp_path: Path) -> None:
    s = simulate(SimConfig(seed=2, duration_s=6), tmp_path / "v.csi.jsonl", truth=False)
    vit = [r for r in _lines(s.out_path) if r.get("type") == "vitals"]
    assert len(vit) == s.n_vitals >= 10 and s.truth_path is None
    for r in vit:
        assert r["magic"] == "0xC5110002" and r["size"] == 32 and r["n_persons"] == 1
        assert r["flags"] & 1 and 8 < r["breathing_bpm"] < 25 and 45 < r["heartrate_bpm"] < 100
        assert {"motion_energy", "presence_score", "rssi"} <= set(r)


def test_truth_file_beside_recording(tmp_path: Path) -> None:
    s = simulate(SimConfig(seed=5, duration_s=20), tmp_path / "t.csi.jsonl.gz")
    assert s.truth_path == tmp_path / "t.truth.jsonl.gz"
    rows = _lines(s.truth_path)
    assert len(rows) == s.n_truth == 400
    kp = np.array([r["kp"] for r in rows])
    assert kp.shape == (400, 17, 2) and kp.min() >= 0 and kp.max() <= 1
    assert {r["activity"] for r in rows} <= {"standing", "walking", "sitting", "waving"}
    assert truth_path_for(Path("x/rec.jsonl")) == Path("x/rec.truth.jsonl")


@pytest.mark.parametrize(("drop", "dup"), [(0.0, 0.0), (0.1, 0.05)])
def test_drop_and_dup_rates(tmp_path: Path, drop: float, dup: float) -> None:
    cfg = SimConfig(seed=9, duration_s=100, drop_rate=drop, dup_rate=dup)
    s = simulate(cfg, tmp_path / "d.csi.jsonl", truth=False)
    rows = _lines(s.out_path)
    csi = [json.dumps(r) for r in rows if r.get("type") == "raw_csi"]
    total = sum(s.frames.values()) + s.n_dropped
    assert len(csi) == sum(s.frames.values()) + s.n_duplicated
    assert len(csi) - len(set(csi)) == s.n_duplicated
    assert s.n_dropped / total == pytest.approx(drop, abs=0.02)
    assert s.n_duplicated / total == pytest.approx(dup, abs=0.015)


def test_paired_format(tmp_path: Path) -> None:
    cfg = SimConfig(seed=6, duration_s=12)
    s = simulate(cfg, tmp_path / "p.csi.jsonl", paired_path=tmp_path / "p.paired.jsonl")
    rows = _lines(tmp_path / "p.paired.jsonl")
    assert len(rows) == s.n_windows == sum(n // 20 for n in s.frames.values())
    sim = generate(cfg)
    first = np.array(rows[0]["csi"], dtype=np.float32).reshape(20, 56)  # frame-major
    np.testing.assert_allclose(first, sim.nodes[0].amplitudes()[:20], atol=1e-3)
    for r in rows:
        assert list(r) == ["csi", "csi_shape", "kp", "conf", "n_camera_frames", "ts_start",
                           "ts_end"]  # fmt: skip
        assert r["csi_shape"] == [56, 20] and len(r["csi"]) == 56 * 20
        assert np.array(r["kp"]).shape == (17, 2) and 0 < r["conf"] <= 1
        assert r["ts_start"].endswith("Z") and r["ts_start"] < r["ts_end"]
        assert r["ts_start"].startswith("2026-01-01T00:00:")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match=r"n_nodes must be 1\.\.4; got 9"):
        SimConfig(n_nodes=9)
    with pytest.raises(ValueError, match="activities"):
        SimConfig(activities=("dancing",))
