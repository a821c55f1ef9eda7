"""Evaluate a model bundle on camera-paired data: metrics, a baseline, the confidence.

``evaluate(model, data, held_out=...)`` runs the model over the windows a live graph would make
of ``data`` (``live_scores``: every sliding window of each node's run of records, so that each
record's pose gets the confidence ``pose_infer`` would give it) and scores the records'
keypoints with ``pose_metrics`` (weighted variants use each record's ``conf``) and their
confidences with ``confidence_report`` (Spearman against the error, quartiles, reliability).
Beside the model it scores the **constant mean pose**: the mean ground-truth keypoints of the
training part (``held_out=True``: the earlier 80 % by ``ts_start``, the part a model trained
with the same split has seen) or of the evaluated set itself (``held_out=False``, an optimistic
baseline since it has seen the answers). A model that does not beat it has learnt nothing
from the CSI beyond the average pose. ``garbage`` is the confidence that zeros, a constant,
uniform noise and NaN windows get (at most: their quality gate, ``agreement.quality_gate``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from posecog.graph.errors import ConfigError
from posecog.nodes.items import FloatArray

from .agreement import quality_gate
from .informativeness import ConfidenceReport, confidence_report
from .live_scores import live_scores
from .metrics import PoseMetrics, pose_metrics
from .paired import PairedSet, split_indices
from .pose_model import PoseModel

__all__ = [
    "BATCH_SIZE", "Evaluation", "evaluate", "garbage_confidence", "mean_pose", "terminal_progress",
]  # fmt: skip

BATCH_SIZE = 256
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Evaluation:
    """The outcome of ``evaluate``: the model's metrics and the mean-pose baseline's on the
    same ``n_samples`` records (of ``n_records`` valid ones in the file)."""

    metrics: PoseMetrics
    baseline: PoseMetrics
    n_samples: int
    n_records: int
    held_out: bool
    baseline_from: str
    skipped: dict[str, int]
    model_sha256: str | None
    data_sha256: str
    backend: str
    seconds: float
    confidence: ConfidenceReport
    garbage: dict[str, float]
    n_windows: int
    n_streams: int
    agreement: str

    @property
    def samples_per_s(self) -> float:
        """Records scored per second of wall time (inference and confidence of all their live
        windows)."""
        return self.n_samples / self.seconds if self.seconds > 0 else float("inf")

    @property
    def windows_per_s(self) -> float:
        """Windows run (every live window, not only the records') per second of wall time."""
        return self.n_windows / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``metrics`` and ``baseline`` in pose_v1 ``train_results.json`` shape
        plus what was evaluated (counts, skips, hashes, throughput)."""
        return {
            "metrics": self.metrics.as_dict(),
            "baseline": {"kind": "mean_pose", "from": self.baseline_from} | self.baseline.as_dict(),
            "n_samples": self.n_samples,
            "n_records": self.n_records,
            "split": "temporal_80_20_held_out" if self.held_out else "all",
            "skipped": self.skipped,
            "model_sha256": self.model_sha256,
            "data_sha256": self.data_sha256,
            "backend": self.backend,
            "samples_per_s": round(self.samples_per_s, 1),
            "windows_per_s": round(self.windows_per_s, 1),
            "confidence": {
                "agreement": self.agreement,
                "n_windows": self.n_windows,
                "n_streams": self.n_streams,
                **self.confidence.as_dict(),
                "garbage": {k: round(v, 6) for k, v in self.garbage.items()},
            },
        }

    def format(self) -> str:
        """The terminal report: what was evaluated, the metrics table, throughput."""
        split = "held-out later 20 % by ts_start" if self.held_out else "all records"
        skipped = ", ".join(f"{r} {n}" for r, n in self.skipped.items()) or "none"
        head = [
            f"evaluated {self.n_samples} of {self.n_records} records ({split}); "
            f"skipped in file: {skipped}",
            f"baseline: constant mean pose of {self.baseline_from}",
            "",
        ]
        garbage = ", ".join(f"{k} {v:.3f}" for k, v in self.garbage.items())
        conf = [
            "",
            f"confidence as pose_infer gives it (agreement: {self.agreement}; "
            f"{self.n_windows} live windows of {self.n_streams} streams)",
            self.confidence.format(),
            f"garbage windows score at most: {garbage}",
        ]
        tail = [
            "",
            f"{self.samples_per_s:.0f} samples/s, {self.windows_per_s:.0f} windows/s "
            f"({self.backend} backend, "
            f"model sha256 {(self.model_sha256 or '-')[:12]}, data sha256 {self.data_sha256[:12]})",
        ]
        return "\n".join(head + [self.metrics.format_table(self.baseline)] + conf + tail)


def mean_pose(keypoints: FloatArray) -> FloatArray:
    """Mean pose ``[17, 2]`` of ``keypoints[N, 17, 2]``, leaving out missing joints
    (non-finite or exactly (0, 0), as in ``metrics``); 0.5 for a joint missing everywhere."""
    kp = np.asarray(keypoints, dtype=np.float64)
    present = np.isfinite(kp).all(axis=2) & (kp != 0.0).any(axis=2)
    count = present.sum(axis=0)[:, None]
    total = np.where(present[..., None], kp, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, 0.5)
    out: FloatArray = mean.astype(np.float32)
    return out


def garbage_confidence(model: PoseModel) -> dict[str, float]:
    """The most confidence a garbage window can get (its quality gate; the agreement factor
    is at most 1): all zeros, a constant, uniform noise (fixed seed) and NaN."""
    shape = (1, model.window, model.n_subcarriers)
    noise = np.random.default_rng(0).uniform(0.0, 30.0, shape).astype(np.float32)
    windows = {
        "zeros": np.zeros(shape, np.float32),
        "constant": np.full(shape, 12.0, np.float32),
        "uniform_noise": noise,
        "nan": np.full(shape, np.nan, np.float32),
    }
    return {name: quality_gate(float(model.infer(w)[1][0])) for name, w in windows.items()}


def evaluate(
    model: PoseModel,
    data: PairedSet,
    *,
    held_out: bool = False,
    cross_node: bool = True,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> Evaluation:
    """Score ``model`` on ``data`` (all records, or with ``held_out`` the later 20 % by time).

    The confidences are ``pose_infer``'s (``cross_node``: its ``agreement: nodes``), computed
    over every record's live windows; with ``held_out`` the earlier records' windows still
    come first, as they would live. ``progress(done, total)`` is called after each batch, in
    windows. Raises ``ConfigError`` when the data do not fit the model's input (window,
    subcarriers) or ``held_out`` leaves a part empty.
    """
    if data.frames.shape[1:] != (model.window, model.n_subcarriers):
        raise ConfigError(
            f"{data.path}: windows are {list(data.frames.shape[1:])} (frames, subcarriers); "
            f"the model takes [{model.window}, {model.n_subcarriers}]"
        )
    if held_out:
        train_idx, target_idx = split_indices(data.ts_start)
        if len(train_idx) == 0 or len(target_idx) == 0:
            raise ConfigError(
                f"{data.path}: --held-out needs at least 2 valid records; got {len(data)}"
            )
        reference = data.subset(train_idx)
        baseline_from = f"the training part ({len(train_idx)} records)"
    else:
        target_idx = np.arange(len(data))
        reference = data
        baseline_from = f"the evaluated set itself ({len(data)} records)"
    target = data.subset(target_idx)
    start = time.perf_counter()  # throughput only; no event time is involved
    scores = live_scores(
        model, data, cross_node=cross_node, batch_size=batch_size, progress=progress
    )
    seconds = time.perf_counter() - start
    pred = scores.keypoints[target_idx]
    base = np.broadcast_to(mean_pose(reference.keypoints), target.keypoints.shape)
    return Evaluation(
        metrics=pose_metrics(pred, target.keypoints, target.conf),
        baseline=pose_metrics(base, target.keypoints, target.conf),
        n_samples=len(target),
        n_records=len(data),
        held_out=held_out,
        baseline_from=baseline_from,
        skipped=dict(data.skipped),
        model_sha256=model.sha256,
        data_sha256=data.sha256,
        backend=model.backend,
        seconds=seconds,
        confidence=confidence_report(
            pred,
            target.keypoints,
            scores.confidence[target_idx],
            scores.keypoint_confidence[target_idx],
        ),
        garbage=garbage_confidence(model),
        n_windows=scores.n_windows,
        n_streams=scores.n_streams,
        agreement="nodes" if cross_node else "node",
    )


def terminal_progress(stream: TextIO = sys.stderr, min_total: int = 2 * BATCH_SIZE) -> Progress:
    """A ``progress`` callback drawing ``evaluating 512/4096`` in place on ``stream`` when it
    is a terminal and the set spans more than ``min_total`` samples; silent otherwise."""

    def show(done: int, total: int) -> None:
        if total <= min_total or not stream.isatty():
            return
        end = "\n" if done >= total else ""
        stream.write(f"\revaluating {done}/{total} ({100 * done // total} %){end}")
        stream.flush()

    return show
