"""``train()`` end to end on a tiny simulated paired set: the loss falls, the bundle loads on
both backends and runs in the replay pipeline, it declares the training split's per-subcarrier
normalisation, its metrics are what ``evaluate`` finds, the run is reproducible bit for bit,
and the results file and plots are written. A few epochs each: the whole file takes seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the train extra is not installed (scripts/setup.sh train)")

from posecog.cog.pipelines import resolve_pipeline
from posecog.graph.testing import run_pipeline_test
from posecog.nodes.model import load_bundle, load_model
from posecog.nodes.model.evaluate import evaluate
from posecog.nodes.model.paired import load_paired, split_by_time
from posecog.nodes.model.training import TrainConfig, TrainResult, train
from posecog.nodes.model.training.data import fit_input_norm
from posecog.nodes.registry import default_registry
from posecog.nodes.sim import SimConfig, simulate

# Small and quick, yet long enough for the (seeded, so exact) loss to fall visibly.
FAST = TrainConfig(epochs=24, lr=3e-3, restart_every=24, dropout_last=4, threads=1)


@dataclass(frozen=True)
class Sim:
    recording: Path  #: a short one-node recording, to replay
    paired: Path  #: paired windows of 60 s, two nodes


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Sim:
    d = tmp_path_factory.mktemp("sim")
    recording, paired = d / "short.csi.jsonl.gz", d / "sim.paired.jsonl"
    simulate(SimConfig(seed=3, duration_s=60.0, n_nodes=2), d / "sim.csi.jsonl.gz",
             truth=False, paired_path=paired)  # fmt: skip
    simulate(SimConfig(seed=4, duration_s=10.0, n_nodes=1), recording, truth=False)
    return Sim(recording, paired)


@pytest.fixture(scope="module")
def trained(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train(sim.paired, tmp_path_factory.mktemp("out") / "tiny.safetensors", FAST)


def test_training_lowers_the_loss(trained: TrainResult) -> None:
    losses, evals = trained.results["epoch_losses"], trained.results["eval_losses"]
    assert len(losses) == len(evals) == FAST.epochs
    assert np.isfinite(losses).all() and np.isfinite(evals).all()
    assert min(losses[:20]) < 0.97 * losses[0]  # before the subcarrier dropout starts
    assert trained.results["eval_losses"][19] < trained.results["eval_losses"][0]


def test_bundle_loads_on_both_backends_and_they_agree(sim: Sim, trained: TrainResult) -> None:
    meta = load_bundle(trained.bundle_path).metadata
    assert (meta.architecture, meta.layout) == ("pose_v1", "flat_frame_major")
    data = load_paired(sim.paired)
    assert data.sha256 in meta.training_data
    provenance = json.loads(meta.notes)
    assert provenance["data_sha256"] == data.sha256 and provenance["seed"] == FAST.seed
    assert provenance["hyperparameters"]["lr"] == FAST.lr
    assert meta.metrics["pck@20"] == pytest.approx(trained.metrics.pck[20] / 100, abs=1e-6)
    assert meta.metrics["mpjpe"] == pytest.approx(trained.metrics.mpjpe, abs=1e-6)
    kp_np, conf_np = load_model(trained.bundle_path, "numpy").infer(data.frames)
    kp_ort, conf_ort = load_model(trained.bundle_path, "onnxruntime").infer(data.frames)
    assert np.abs(kp_np - kp_ort).max() < 1e-5
    assert np.abs(conf_np - conf_ort).max() < 1e-5
    # The metrics in the bundle are what the runtime itself gives on the held-out part.
    _, held = split_by_time(data)
    kp_held, _ = load_model(trained.bundle_path, "numpy").infer(held.frames)
    from posecog.nodes.model.metrics import pose_metrics

    again = pose_metrics(kp_held, held.keypoints, held.conf)
    assert again.mpjpe == pytest.approx(trained.metrics.mpjpe, rel=1e-6)


def test_default_declares_the_training_split_normalisation(sim: Sim, trained: TrainResult) -> None:
    bundle = load_bundle(trained.bundle_path)
    assert bundle.metadata.normalization == "per_subcarrier"
    assert json.loads(bundle.metadata.notes)["input_normalization"] == "subcarrier"
    train_part, _ = split_by_time(load_paired(sim.paired))
    want, _ = fit_input_norm(train_part.frames)  # training part only, nothing held out
    assert bundle.input_norm is not None
    np.testing.assert_array_equal(bundle.input_norm.mean, want.mean)
    np.testing.assert_array_equal(bundle.input_norm.std, want.std)
    assert bundle.input_norm.std.min() > 0
    assert trained.results["input_normalization"]["mode"] == "subcarrier"
    assert trained.results["export_max_abs_diff"] <= 1e-4


def test_held_out_metrics_are_what_evaluate_finds(sim: Sim, trained: TrainResult) -> None:
    for backend in ("numpy", "onnxruntime"):
        model = load_model(trained.bundle_path, backend)  # type: ignore[arg-type]
        ev = evaluate(model, load_paired(sim.paired), held_out=True)
        assert ev.n_samples == trained.results["data"]["eval_samples"]
        assert ev.metrics.mpjpe == pytest.approx(trained.metrics.mpjpe, rel=1e-5)
        assert ev.metrics.pck == pytest.approx(trained.metrics.pck, abs=0.5)
        assert ev.baseline.mpjpe == pytest.approx(trained.baseline.mpjpe, rel=1e-6)


@pytest.mark.parametrize("mode", ["scalar", "none"])
def test_other_scalings_need_no_tensors(sim: Sim, tmp_path: Path, mode: str) -> None:
    cfg = TrainConfig(epochs=2, threads=1, dropout_last=1, normalize=mode)  # type: ignore[arg-type]
    result = train(sim.paired, tmp_path / f"{mode}.safetensors", cfg)
    bundle = load_bundle(result.bundle_path)
    assert bundle.input_norm is None and bundle.metadata.normalization == "none"
    assert json.loads(bundle.metadata.notes)["input_normalization"] == mode
    ev = evaluate(load_model(result.bundle_path), load_paired(sim.paired), held_out=True)
    assert ev.metrics.mpjpe == pytest.approx(result.metrics.mpjpe, rel=1e-5)


def test_bundle_runs_in_the_replay_pipeline(sim: Sim, trained: TrainResult) -> None:
    run = run_pipeline_test(
        resolve_pipeline("replay"),
        overrides={"recording": str(sim.recording), "model": str(trained.bundle_path),
                   "min_confidence": 0},
        taps=["pose"],
        registry=default_registry(),
    )  # fmt: skip
    poses = [item for _, item in run.taps["pose"]]
    assert len(poses) > 150  # 10 s at 20 Hz, one window per frame
    assert {p.backend for p in poses} == {"onnxruntime"}  # auto: installed, a runtime dependency
    kp = np.stack([p.keypoints for p in poses])
    assert np.isfinite(kp).all() and (kp >= 0).all() and (kp <= 1).all()
    loaded = run.events_named("model.loaded")
    assert loaded and loaded[0].fields["sha256"] == trained.sha256


def test_same_seed_same_bytes_other_seed_other_bytes(
    sim: Sim, trained: TrainResult, tmp_path: Path
) -> None:
    again = train(sim.paired, tmp_path / "again.safetensors", FAST)
    assert again.sha256 == trained.sha256
    assert again.results["epoch_losses"] == trained.results["epoch_losses"]
    other = train(sim.paired, tmp_path / "other.safetensors", TrainConfig(**{
        **FAST.__dict__, "seed": 1}))  # fmt: skip
    assert other.sha256 != trained.sha256


def test_results_json_has_pose_v1_shape_and_plots_are_png(
    trained: TrainResult, ruview: Path
) -> None:
    results = json.loads(trained.results_path.read_text())
    assert trained.results_path.name == "tiny.train_results.json"
    pose_v1 = json.loads((ruview / "pose_v1.train_results.json").read_text())
    assert set(pose_v1) - set(results) == set()
    assert set(pose_v1["data"]) <= set(results["data"])
    assert set(pose_v1["hyperparameters"]) <= set(results["hyperparameters"])
    assert (
        results["data"]["train_samples"] + results["data"]["eval_samples"]
        == (results["data"]["total_samples"])
    )
    assert len(results["per_joint_pck20"]) == 17 and results["samples_per_s"] > 0
    assert results["baseline_mean_pose"]["mpjpe_normalized"] > 0
    assert results["bundle"]["sha256"] == trained.sha256
    for png in trained.plots:
        raw = png.read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 5000


def test_adr079_options_run_and_record_their_losses(sim: Sim, tmp_path: Path) -> None:
    cfg = TrainConfig(
        epochs=3, threads=1, dropout_last=1, bone_loss=0.5, smooth_loss=0.5, curriculum=True,
        noise=0.05, time_shift=2, layout="subcarrier_major",
    )  # fmt: skip
    result = train(sim.paired, tmp_path / "opts.safetensors", cfg)
    aux = result.results["aux_losses"]
    assert len(aux["bone"]) == len(aux["smooth"]) == 3
    assert all(v > 0 for v in aux["bone"] + aux["smooth"])
    assert load_bundle(result.bundle_path).metadata.layout == "subcarrier_major"
    assert "time_shift" in result.results["hyperparameters"]["augmentation"]


def test_nothing_but_training_imports_torch(sim: Sim) -> None:
    code = f"""
import sys
import posecog.nodes.model, posecog.nodes.model.training
from posecog.cog.pipelines import resolve_pipeline
from posecog.graph.testing import run_pipeline_test
from posecog.nodes.registry import default_registry
overrides = {{"recording": {str(sim.recording)!r}}}
run = run_pipeline_test(resolve_pipeline("replay"), overrides=overrides, taps=["pose"],
                        registry=default_registry())
assert "pose" in run.taps
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "matplotlib")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_trains_and_reports(
    sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from posecog.cog.cli import main

    out = tmp_path / "cli.safetensors"
    argv = ["train", "--data", str(sim.paired), "--out", str(out), "--epochs", "2",
            "--threads", "1", "--bone-loss", "0.2", "--time-shift", "1",
            "--normalize", "scalar"]  # fmt: skip
    assert main(argv) == 0
    assert load_bundle(out).input_norm is None
    captured = capsys.readouterr()
    assert "PCK@20" in captured.out and "mean-pose" in captured.out
    assert "trained 2 epochs" in captured.err and "samples/s" in captured.err
    assert out.is_file() and (tmp_path / "cli.train_results.json").is_file()
    assert main(["train", "--data", str(sim.paired), "--out", str(out), "--epochs", "0"]) == 2
    assert "epochs must be >= 1; got 0" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "none.jsonl"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
