"""What a training run does: the pose_v1 recipe (the defaults) plus the ADR-079 options.

No torch here: the CLI builds and checks a ``TrainConfig`` before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from posecog.graph.errors import ConfigError

from ..metadata import LAYOUTS, Layout

__all__ = ["NORMALIZE_MODES", "NormalizeMode", "TrainConfig"]

#: How the trainer scales its input (``TrainConfig.normalize``).
NormalizeMode = Literal["subcarrier", "scalar", "none"]
NORMALIZE_MODES: tuple[str, ...] = get_args(NormalizeMode)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters. Defaults are pose_v1's recipe (seed benchmark log): AdamW lr 1e-3,
    weight decay 0.01, cosine LR with warm restarts every 50 epochs, SmoothL1 (beta 0.1)
    weighted by each record's ``conf``, 10 % subcarrier dropout in the last 50 epochs, 400
    full-batch epochs, the later 20 % by ``ts_start`` held out.

    The ADR-079 options are off by default: ``bone_loss`` and ``smooth_loss`` are loss weights
    (0 = off), ``curriculum`` admits records from the most confident half down to all by
    mid-training, ``noise`` is a Gaussian sigma relative to the input amplitude scale,
    ``time_shift`` rolls each window by up to that many frames. ``threads`` is torch's
    intra-op thread count: results are bit-for-bit reproducible for the same config
    (threads included) on the same machine and torch version.

    ``normalize`` (not part of pose_v1's recipe): ``subcarrier`` (default) z-scores each
    subcarrier with the training split's mean and std and writes them into the bundle
    (``input.mean`` / ``input.std``, applied by the runtime); ``scalar`` divides by the
    training RMS amplitude and folds it into ``enc.c1.weight``; ``none`` trains on raw
    amplitudes like pose_v1. The default because only per-subcarrier scaling generalised to
    a freshly simulated recording (docs/model.md, "Input normalisation").
    """

    epochs: int = 400
    seed: int = 0
    lr: float = 1e-3
    weight_decay: float = 0.01
    restart_every: int = 50
    beta: float = 0.1
    dropout_last: int = 50
    dropout_p: float = 0.1
    layout: Layout = "flat_frame_major"
    normalize: NormalizeMode = "subcarrier"
    train_fraction: float = 0.8
    bone_loss: float = 0.0
    smooth_loss: float = 0.0
    curriculum: bool = False
    noise: float = 0.0
    time_shift: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str, Any]] = [
            (self.epochs >= 1, "epochs must be >= 1", self.epochs),
            (self.lr > 0, "lr must be > 0", self.lr),
            (self.weight_decay >= 0, "weight_decay must be >= 0", self.weight_decay),
            (self.restart_every >= 1, "restart_every must be >= 1", self.restart_every),
            (self.beta > 0, "beta must be > 0", self.beta),
            (self.dropout_last >= 0, "dropout_last must be >= 0", self.dropout_last),
            (0 <= self.dropout_p < 1, "dropout_p must be in [0, 1)", self.dropout_p),
            (self.layout in LAYOUTS, f"layout must be one of {list(LAYOUTS)}", self.layout),
            (self.normalize in NORMALIZE_MODES,
             f"normalize must be one of {list(NORMALIZE_MODES)}", self.normalize),
            (0 < self.train_fraction < 1, "train_fraction must be in (0, 1)",
             self.train_fraction),
            (self.bone_loss >= 0, "bone_loss must be >= 0", self.bone_loss),
            (self.smooth_loss >= 0, "smooth_loss must be >= 0", self.smooth_loss),
            (self.noise >= 0, "noise must be >= 0", self.noise),
            (self.time_shift >= 0, "time_shift must be >= 0", self.time_shift),
            (self.threads >= 1, "threads must be >= 1", self.threads),
        ]  # fmt: skip
        for ok, what, got in checks:
            if not ok:
                raise ConfigError(f"train: {what}; got {got!r}")

    def hyperparameters(self) -> dict[str, Any]:
        """JSON-ready, in the spirit of pose_v1's ``train_results.json`` ``hyperparameters``
        (descriptive strings) plus every field's value."""
        aug = []
        if self.dropout_last and self.dropout_p:
            aug.append(
                f"subcarrier_dropout_{self.dropout_p * 100:g}pct (last {self.dropout_last} epochs)"
            )
        if self.noise:
            aug.append(f"gaussian_noise sigma={self.noise:g} x input scale")
        if self.time_shift:
            aug.append(f"time_shift up to {self.time_shift} frames (circular)")
        return {
            "augmentation": ", ".join(aug) or "none",
            "base_lr": self.lr,
            "input_normalization": {
                "subcarrier": "per-subcarrier z-score (training split), declared in the bundle",
                "scalar": "divided by the training RMS amplitude, folded into enc.c1.weight",
                "none": "raw amplitudes",
            }[self.normalize],
            "batch_mode": "full_batch",
            "loss": f"SmoothL1 (Huber beta={self.beta:g}), conf-weighted",
            "optimizer": "AdamW",
            "schedule": f"cosine, warm restarts every {self.restart_every} epochs",
            "weight_decay": self.weight_decay,
            "config": asdict(self),
        }
