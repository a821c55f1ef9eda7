"""``cog-pose-estimation evaluate`` end to end on simulated paired data with pose_v1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from posecog.nodes.model import load_model
from posecog.nodes.model.metadata import KEYPOINT_NAMES, POSE_V1_SHA256
from posecog.nodes.sim import SimConfig, simulate
from tests.cog.conftest import Result, cli
from tests.conftest import POSE_V1


@pytest.fixture(scope="module")
def paired(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 60 windows of one simulated node (60 s at 20 Hz, 20 frames a window)."""
    out = tmp_path_factory.mktemp("evaluate")
    path = out / "sim.paired.jsonl"
    simulate(SimConfig(seed=3, duration_s=60.0, n_nodes=1), out / "sim.csi.jsonl", paired_path=path)
    return path


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _evaluate(*args: str) -> Result:
    return cli(["evaluate", "--model", str(POSE_V1), *args])


def test_table_shows_metrics_baseline_and_throughput(paired: Path) -> None:
    res = _evaluate("--data", str(paired))
    assert res.code == 0, res.stderr
    n = len(_records(paired))
    assert f"evaluated {n} of {n} records (all records)" in res.stdout
    for text in ("PCK@10 (%)", "PCK@20 (%)", "PCK@50 (%)", "MPJPE", "mean-pose", "samples/s"):
        assert text in res.stdout
    for name in KEYPOINT_NAMES:
        assert f"\n{name} " in res.stdout
    assert "evaluating" not in res.stderr  # no progress line when stderr is not a terminal


def test_json_matches_an_independent_computation(paired: Path) -> None:
    res = _evaluate("--data", str(paired), "--json")
    assert res.code == 0, res.stderr
    out = json.loads(res.stdout)
    records = _records(paired)
    assert out["n_samples"] == out["n_records"] == len(records)
    assert out["skipped"] == {}
    assert out["model_sha256"] == POSE_V1_SHA256
    assert out["data_sha256"] == hashlib.sha256(paired.read_bytes()).hexdigest()
    assert out["samples_per_s"] > 0 and out["split"] == "all"
    # MPJPE by hand: frame-major csi -> frames[N, 20, 56], pose_v1 on numpy, mean distance.
    frames = np.array([r["csi"] for r in records], dtype=np.float32).reshape(-1, 20, 56)
    gt = np.array([r["kp"] for r in records], dtype=np.float64)
    pred, _ = load_model(POSE_V1).infer(frames)
    dist = np.linalg.norm(pred - gt, axis=2)
    assert out["metrics"]["mpjpe_normalized"] == pytest.approx(dist.mean(), rel=1e-5)
    baseline = np.linalg.norm(gt.mean(axis=0) - gt, axis=2).mean()
    assert out["baseline"]["mpjpe_normalized"] == pytest.approx(baseline, rel=1e-5)
    assert out["baseline"]["kind"] == "mean_pose"
    for key in ("pck_at_10", "pck_at_20", "pck_at_50", "per_joint_pck20", "conf_weighted"):
        assert key in out["metrics"]


def test_held_out_scores_the_later_fifth(paired: Path) -> None:
    res = _evaluate("--data", str(paired), "--json", "--held-out", "--backend", "onnxruntime")
    assert res.code == 0, res.stderr
    out = json.loads(res.stdout)
    n = len(_records(paired))
    assert out["n_samples"] == n - int(n * 0.8)
    assert out["n_records"] == n and out["split"] == "temporal_80_20_held_out"
    assert out["backend"] == "onnxruntime"
    assert "training part" in out["baseline"]["from"]


def test_skipped_records_are_reported(paired: Path, tmp_path: Path) -> None:
    data = tmp_path / "some_bad.paired.jsonl"
    data.write_text(paired.read_text() + "{oops\n" + '{"csi": []}\n')
    res = _evaluate("--data", str(data), "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["skipped"] == {"bad_json": 1, "missing_field": 1}


def _one_line_error(res: Result, *words: str) -> None:
    assert res.code == 2
    assert res.stdout == ""
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    for word in words:
        assert word in lines[0]


def test_missing_data_file(tmp_path: Path) -> None:
    _one_line_error(_evaluate("--data", str(tmp_path / "nope.jsonl")), "nope.jsonl", "not found")


def test_missing_model(paired: Path, tmp_path: Path) -> None:
    res = cli(["evaluate", "--model", str(tmp_path / "gone.safetensors"), "--data", str(paired)])
    _one_line_error(res, "gone.safetensors", "not found")


def test_broken_model(paired: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00")
    res = cli(["evaluate", "--model", str(broken), "--data", str(paired)])
    _one_line_error(res, "broken.safetensors")


def test_no_valid_records(tmp_path: Path) -> None:
    data = tmp_path / "bad.paired.jsonl"
    data.write_text('{"csi": [1.0], "csi_shape": [56, 20]}\n{\n')
    _one_line_error(_evaluate("--data", str(data)), "no valid paired records", "bad_json 1")


def test_confidence_figures_are_printed_and_in_the_json(paired: Path) -> None:
    res = _evaluate("--data", str(paired))
    assert res.code == 0, res.stderr
    for text in ("per pose, vs per-frame MPJPE", "most / least confident quarter",
                 "confidence bin", "garbage windows score at most"):  # fmt: skip
        assert text in res.stdout
    out = json.loads(_evaluate("--data", str(paired), "--json", "--agreement", "node").stdout)
    conf = out["confidence"]
    assert conf["agreement"] == "node" and conf["n_streams"] == 1
    assert conf["n_windows"] == 20 * out["n_samples"] - 19  # one node's contiguous records
    assert len(conf["spearman_keypoint"]) == 17 and len(conf["quartiles"]) == 4
    assert sum(b["n"] for b in conf["reliability_pose"]) == out["n_samples"]
    assert max(conf["garbage"].values()) <= 0.05


def test_plot_writes_a_png(paired: Path, tmp_path: Path) -> None:
    plot = tmp_path / "plots" / "reliability.png"
    res = _evaluate("--data", str(paired), "--plot", str(plot))
    assert res.code == 0, res.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {plot}" in res.stderr


def test_plot_without_matplotlib_is_an_error_before_any_work(
    paired: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI runs in a subprocess: a matplotlib package first on its path that fails to import.
    fake = tmp_path / "no_matplotlib" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    res = _evaluate("--data", str(paired), "--plot", str(tmp_path / "r.png"))
    assert res.code == 2 and res.stdout == ""
    assert "needs matplotlib" in res.stderr and "cog-pose-estimation[train]" in res.stderr
    assert not (tmp_path / "r.png").exists()
