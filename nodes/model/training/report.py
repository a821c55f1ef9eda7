"""What a training run writes: the bundle's metadata, ``train_results.json`` (pose_v1's
shape), the loss-curve and per-joint PCK plots (matplotlib's Agg canvas, no GUI, no pyplot
state), and the progress bar drawn on a terminal."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from math import prod
from pathlib import Path
from typing import Any, TextIO

from ..metadata import BundleMetadata, expected_shapes
from ..metrics import PoseMetrics
from .config import TrainConfig
from .data import Prepared

__all__ = ["ProgressBar", "artefact_paths", "bundle_metadata", "results_json", "write_plots"]

_SCALING_NOTES = {
    "subcarrier": "training saw (amplitude - input.mean) / input.std per subcarrier, fitted on "
    "the training split; the bundle declares both tensors (normalization per_subcarrier) and "
    "the runtime applies them, so it takes raw amplitudes",
    "scalar": "training saw amplitude / input_scale; folded into enc.c1.weight, so the bundle "
    "takes raw amplitudes like pose_v1",
    "none": "training saw raw amplitudes, like pose_v1 (input_scale only sizes --noise)",
}


def bundle_metadata(
    data: str | Path,
    prep: Prepared,
    cfg: TrainConfig,
    metrics: PoseMetrics | None,
    baseline: PoseMetrics | None,
    torch_version: str,
) -> BundleMetadata:
    """Bundle metadata (no metrics while they are None). Only reproducible facts (no times,
    no absolute paths the user did not give): the same data and config give the same bytes."""
    n, n_train = len(prep.data), len(prep.train)
    provenance = {
        "trainer": "cog-pose-estimation train",
        "torch": torch_version,
        "data_path": str(data),
        "data_sha256": prep.data.sha256,
        "seed": cfg.seed,
        "split": {"train": n_train, "held_out": n - n_train, "by": "ts_start, later part held out"},
        "input_normalization": cfg.normalize,
        "input_scale": prep.input_scale,
        "input_scale_note": _SCALING_NOTES[cfg.normalize],
        "hyperparameters": asdict(cfg),
    }
    scores: dict[str, float] = {}
    if metrics is not None and baseline is not None:
        scores = {
            **{f"pck@{k}": metrics.pck[k] / 100 for k in metrics.thresholds},
            "mpjpe": metrics.mpjpe,
            "baseline_pck@20": baseline.pck[20] / 100,
            "baseline_pck@50": baseline.pck[50] / 100,
            "baseline_mpjpe": baseline.mpjpe,
        }
    return BundleMetadata(
        architecture="pose_v1",
        layout=cfg.layout,
        normalization="per_subcarrier" if cfg.normalize == "subcarrier" else "none",
        training_data=f"{data} (sha256 {prep.data.sha256}; {n} windows: {n_train} train, "
        f"{n - n_train} held out, the later part by ts_start)",
        # Rounded: the numpy forward pass's last bits depend on the BLAS thread count, and
        # the bundle's bytes must not.
        metrics={k: round(v, 6) for k, v in scores.items()},
        notes=json.dumps(provenance, sort_keys=True),
    )


def artefact_paths(bundle: Path) -> tuple[Path, Path, Path]:
    """``<stem>.train_results.json``, ``<stem>.loss.png``, ``<stem>.pck.png`` beside it."""
    stem = bundle.name.removesuffix(".safetensors")
    return (
        bundle.with_name(f"{stem}.train_results.json"),
        bundle.with_name(f"{stem}.loss.png"),
        bundle.with_name(f"{stem}.pck.png"),
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def results_json(
    prep: Prepared,
    cfg: TrainConfig,
    hist: dict[str, list[float]],
    metrics: PoseMetrics,
    baseline: PoseMetrics,
    seconds: float,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """pose_v1's ``train_results.json`` keys (``data``, ``epoch_losses``, ``final_eval_loss``,
    ``hyperparameters``, ``model``, ``pck_at_20``, ``per_joint_pck20``, ``train_time_s``, ...)
    plus ``eval_losses`` per epoch, the mean-pose ``baseline``, ``samples_per_s`` (training
    windows x epochs / ``train_time_s``, the epoch loop's wall time incl. its eval passes) and
    ``extra``."""
    n, n_train = len(prep.data), len(prep.train)
    out: dict[str, Any] = {
        "data": {
            "path": str(prep.data.path),
            "sha256": prep.data.sha256,
            "eval_samples": n - n_train,
            "split": f"temporal_{round(cfg.train_fraction * 100)}_"
            f"{round((1 - cfg.train_fraction) * 100)}",
            "split_timestamp": _iso(float(prep.held_out.ts_start[0])),
            "total_samples": n,
            "train_samples": n_train,
            "skipped": prep.data.skipped,
            "consecutive_pairs": int(prep.pairs.shape[0]),
        },
        "encoder_init": "random (fc2 bias at the mean training pose)",
        "epoch_losses": hist["train"],
        "eval_losses": hist["eval"],
        "epochs": cfg.epochs,
        "final_eval_loss": hist["eval"][-1],
        "hyperparameters": cfg.hyperparameters(),
        "model": {
            "architecture": "pose_v1",
            "encoder": "Conv1d(56->64->128->128, k=3, dilation=[1,2,4]) + GlobalMeanPool",
            "head": "Linear(128->256)->ReLU->Linear(256->34)->Sigmoid",
            "parameters": sum(prod(s) for s in expected_shapes("pose_v1").values()),
            "layout": cfg.layout,
            "input_normalization": cfg.normalize,
        },
        **metrics.as_dict(),
        "baseline_mean_pose": baseline.as_dict(),
        "seed": cfg.seed,
        "train_time_s": seconds,
        "samples_per_s": cfg.epochs * n_train / seconds if seconds > 0 else None,
        **extra,
    }
    if hist["bone"] or hist["smooth"]:
        out["aux_losses"] = {k: hist[k] for k in ("bone", "smooth") if hist[k]}
    return out


def write_plots(results: dict[str, Any], baseline: PoseMetrics, loss: Path, pck: Path) -> None:
    """Loss curves (train and held-out, log scale) and per-joint PCK@20/@50 bars with the
    mean-pose baseline as markers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    epochs = range(1, len(results["epoch_losses"]) + 1)
    ax.plot(epochs, results["epoch_losses"], label="train (augmented)")
    ax.plot(epochs, results["eval_losses"], label="held out")
    ax.set(xlabel="epoch", ylabel="SmoothL1 (conf-weighted)", yscale="log", title="pose_v1 loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(loss, format="png")

    fig = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = [row["joint"] for row in results["per_joint_pck20"]]
    xs = list(range(len(names)))
    for offset, k in ((-0.2, 20), (0.2, 50)):
        values = [row[f"pck{k}"] for row in results[f"per_joint_pck{k}"]]
        ax.bar([x + offset for x in xs], values, width=0.4, label=f"PCK@{k}")
        ax.scatter([x + offset for x in xs], baseline.per_joint_pck[k], marker="_", s=120,
                   color="black", zorder=3, label="mean pose" if k == 20 else None)  # fmt: skip
    ax.set_xticks(xs, names, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="% of held-out windows", ylim=(0, 100), title="per-joint PCK (held out)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(pck, format="png")


class ProgressBar:
    """``epoch 120/400  loss 0.0123  eval 0.0150  45,000 samples/s`` redrawn in place on
    ``stream`` when it is a terminal; silent otherwise (the caller prints a summary)."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None

    def update(self, epoch: int, epochs: int, loss: float, eval_loss: float, rate: float) -> None:
        if self.stream is None:
            return
        width = 24
        done = width * epoch // epochs
        self.stream.write(
            f"\r[{'#' * done}{'.' * (width - done)}] epoch {epoch}/{epochs}  loss {loss:.4f}"
            f"  eval {eval_loss:.4f}  {rate:,.0f} samples/s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
