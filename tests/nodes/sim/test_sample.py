"""The shipped sample recording is exactly what its documented command regenerates."""

from __future__ import annotations

from pathlib import Path

from posecog.nodes.sim import SimConfig, simulate

SAMPLES = Path(__file__).resolve().parents[3] / "pipelines" / "samples"


def test_shipped_sample_matches_regeneration(tmp_path: Path) -> None:
    s = simulate(SimConfig(seed=14, duration_s=30.0, n_nodes=2), tmp_path / "sample.csi.jsonl.gz")
    assert s.truth_path is not None
    assert s.out_path.read_bytes() == (SAMPLES / "sample.csi.jsonl.gz").read_bytes()
    assert s.truth_path.read_bytes() == (SAMPLES / "sample.truth.jsonl.gz").read_bytes()
    assert "seed=14, duration_s=30.0, n_nodes=2" in (SAMPLES / "README.md").read_text()
