"""The shipped demo model: small, the replay default, and its stated figures hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posecog.cog.pipelines import pipeline_dir
from posecog.nodes.model import load_bundle, load_model
from posecog.nodes.model.evaluate import evaluate, garbage_confidence
from posecog.nodes.model.informativeness import confidence_report
from posecog.nodes.model.paired import load_paired
from posecog.nodes.sim import SimConfig, simulate
from tests.cog.conftest import cli

DEMO = pipeline_dir() / "models" / "demo.safetensors"


def fresh(tmp_path: Path, seed: int, duration: float, nodes: int) -> Path:
    paired = tmp_path / f"s{seed}.paired.jsonl"
    simulate(
        SimConfig(seed=seed, duration_s=duration, n_nodes=nodes),
        tmp_path / f"s{seed}.jsonl",
        truth=False,
        paired_path=paired,
    )
    return paired


def test_demo_is_small_and_documented() -> None:
    assert DEMO.stat().st_size < 1_000_000
    meta = load_bundle(DEMO).metadata
    assert meta.normalization == "per_subcarrier"
    assert {"fresh_pck@20", "fresh_pck@50", "fresh_mpjpe", "fresh_baseline_mpjpe"} <= set(
        meta.metrics
    )
    for seed in (3, 4, 5):  # issue 11's goal, as measured by scripts/train-demo.sh
        m = {k[len(f"conf_s{seed}_") :]: v for k, v in meta.metrics.items()
             if k.startswith(f"conf_s{seed}_")}  # fmt: skip
        assert m["spearman_pose"] <= -0.3 and m["spearman_keypoint_mean"] <= -0.2, (seed, m)
        assert m["quartile_mpjpe_ratio"] <= 0.8 and m["garbage_max"] <= 0.05, (seed, m)


def test_demo_beats_the_mean_pose_widely_on_unseen_simulation(tmp_path: Path) -> None:
    data = load_paired(fresh(tmp_path, seed=5, duration=300.0, nodes=4))
    result = evaluate(load_model(DEMO, "numpy"), data)
    model, base = result.metrics, result.baseline
    assert model.mpjpe < 0.75 * base.mpjpe, (model.mpjpe, base.mpjpe)
    assert model.pck[50] > 2.5 * base.pck[50], (model.pck[50], base.pck[50])
    assert model.pck[20] > 2.0 * base.pck[20]


def test_confidence_predicts_the_error_on_an_unseen_simulation(tmp_path: Path) -> None:
    """Issue 11's goal on a short recording of a seed the demo never saw (the weakest of
    seeds 7, 8, 11, 12, 13 at 60 s: Spearman -0.35 per pose, -0.35 per keypoint on average,
    quarter ratio 0.46). 60 s is noisier than the goal's 300 s, so the Spearman bounds are
    looser (-0.25; the goal: -0.3 per pose, -0.2 per keypoint); the quarter ratio's is the
    goal's (0.8). The window score alone (the former confidence) fails here (Spearman +0.25):
    the test tells a confidence that ranks the error from one that does not."""
    data = load_paired(fresh(tmp_path, seed=12, duration=60.0, nodes=4))
    model = load_model(DEMO, "numpy")
    c = evaluate(model, data).confidence
    assert c.spearman_pose < -0.25, c.spearman_pose
    assert c.quartile_ratio < 0.8, c.quartile_ratio
    assert c.spearman_keypoint_mean < -0.2 and c.spearman_keypoint_worst < -0.1, c.as_dict()
    assert max(garbage_confidence(model).values()) <= 0.05
    keypoints, quality = model.infer(data.frames)
    alone = confidence_report(
        keypoints, data.keypoints, quality, np.repeat(quality[:, None], 17, 1)
    )
    assert alone.spearman_pose > -0.25  # the window score does not rank the error


def test_stated_figures_are_reproduced_by_evaluate(tmp_path: Path) -> None:
    meta = load_bundle(DEMO).metadata.metrics
    paired = fresh(tmp_path, seed=3, duration=300.0, nodes=4)  # as scripts/train-demo.sh
    r = cli(["evaluate", "--model", str(DEMO), "--data", str(paired), "--json"])
    assert r.code == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["n_samples"] == meta["fresh_n_samples"]
    assert np.isclose(got["metrics"]["mpjpe_normalized"], meta["fresh_mpjpe"], atol=1e-4)
    assert np.isclose(got["metrics"]["pck_at_50"] / 100, meta["fresh_pck@50"], atol=1e-3)
    assert np.isclose(got["metrics"]["pck_at_20"] / 100, meta["fresh_pck@20"], atol=1e-3)
    assert np.isclose(got["baseline"]["mpjpe_normalized"], meta["fresh_baseline_mpjpe"], atol=1e-4)
    conf = got["confidence"]  # the confidence figures stamped for seed 3, as evaluate gives them
    assert np.isclose(conf["spearman_pose_mpjpe"], meta["conf_s3_spearman_pose"], atol=1e-3)
    assert np.isclose(conf["quartile_mpjpe_ratio"], meta["conf_s3_quartile_mpjpe_ratio"], atol=1e-3)
    assert np.isclose(
        conf["spearman_keypoint_mean"], meta["conf_s3_spearman_keypoint_mean"], atol=1e-3
    )


def test_demo_exports_with_parity(tmp_path: Path) -> None:
    r = cli(["export-onnx", str(DEMO), "--out", str(tmp_path / "demo.onnx")])
    assert r.code == 0, r.stderr
    assert (tmp_path / "demo.onnx").stat().st_size > 100_000  # weights embedded


def test_replay_default_runs_the_demo_model() -> None:
    r = cli(["run"])
    assert r.code == 0, r.stderr
    loaded = r.named("model.loaded")[0]["fields"]
    assert loaded["backend"] == "onnxruntime" and loaded["path"].endswith("demo.safetensors")
    finished = r.named("run.finished")[0]["fields"]
    frames = r.named("pose.frame")
    windows = finished["nodes"]["window"]["out"]
    low = finished["nodes"]["pose"]["dropped"].get("low_confidence", 0)
    # A confidence that predicts the error drops some poses below 0.3, a few, not most.
    assert len(frames) + low == windows > 1000 and low < 0.1 * windows
    assert all(len(f["fields"]["persons"][0]["keypoint_confidence"]) == 17 for f in frames)
