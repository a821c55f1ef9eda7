"""``train``: fit pose_v1 on a paired file and write the bundle, its results and plots.

The input scaling (``TrainConfig.normalize``) is fitted on the training split and travels with
the bundle: declared as ``input.mean`` / ``input.std`` (``subcarrier``, the default) or folded
into the first convolution (``scalar``), so the runtime is always fed raw amplitudes.

torch and matplotlib (the ``train`` extra) are imported when ``train`` runs, never at import.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from posecog.graph.errors import ConfigError

from ..bundle import ModelBundle, save_bundle, to_model_input
from ..evaluate import mean_pose
from ..metrics import PoseMetrics, pose_metrics
from ..numpy_backend import NumpyBackend
from .config import TrainConfig
from .data import InputTransform, Prepared, curriculum_mask, input_transform, prepare
from .report import ProgressBar, artefact_paths, bundle_metadata, results_json, write_plots

if TYPE_CHECKING:
    from .net import PoseNetV1
    from .objective import Augmenter

__all__ = ["TrainResult", "require_extras", "train"]

#: Largest |torch - numpy backend| accepted on the held-out windows (a bug check of export).
EXPORT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` wrote and measured (``results`` is the ``train_results.json`` dict)."""

    bundle_path: Path
    sha256: str
    results_path: Path
    plots: tuple[Path, ...]
    results: dict[str, Any]
    metrics: PoseMetrics
    baseline: PoseMetrics

    def summary(self) -> str:
        r, m, b = self.results, self.metrics, self.baseline
        return (
            f"trained {r['epochs']} epochs on {r['data']['train_samples']} windows in "
            f"{r['train_time_s']:.1f} s ({r['samples_per_s']:,.0f} samples/s); held-out "
            f"{m.n_samples}: PCK@20 {m.pck[20]:.1f} % PCK@50 {m.pck[50]:.1f} % MPJPE "
            f"{m.mpjpe:.4f} (mean pose: {b.pck[20]:.1f} % / {b.pck[50]:.1f} % / {b.mpjpe:.4f}); "
            f"wrote {self.bundle_path} (sha256 {self.sha256[:12]}...)"
        )


def require_extras() -> None:
    """``ConfigError`` naming the install command when torch or matplotlib is missing."""
    for module in ("torch", "matplotlib"):
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(
                f"train needs {module} (the 'train' extra): "
                "pip install 'cog-pose-estimation[train]' (or scripts/setup.sh train)"
            ) from None


@contextmanager
def _deterministic(threads: int) -> Iterator[None]:
    """Deterministic CPU kernels, a fixed thread count and a private RNG state for the run;
    the caller's torch settings are restored afterwards."""
    import torch

    prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def _augmenter(prep: Prepared, cfg: TrainConfig, transform: InputTransform) -> Augmenter:
    import torch

    from .objective import Augmenter

    scaling = (torch.from_numpy(transform.offset), torch.from_numpy(transform.divisor))
    gen = torch.Generator().manual_seed(cfg.seed)
    # Noise sigma stays relative to the RMS amplitude whatever the input scaling.
    return Augmenter(cfg, torch.from_numpy(prep.gather), gen, scaling, prep.input_scale)


def _fit(
    prep: Prepared, cfg: TrainConfig, aug: Augmenter, bar: ProgressBar
) -> tuple[PoseNetV1, dict[str, list[float]], float]:
    import torch

    from .net import PoseNetV1
    from .objective import bone_loss, joints_present, pose_loss, smooth_loss

    torch.manual_seed(cfg.seed)
    net = PoseNetV1()
    # Start at the mean training pose (fc2's bias at its logit) instead of the image centre.
    prior = np.clip(mean_pose(prep.train.keypoints), 0.01, 0.99).reshape(-1)
    with torch.no_grad():
        net.head.fc2.bias.copy_(torch.from_numpy(np.log(prior / (1 - prior))))
    x_tr = torch.from_numpy(prep.train.frames)  # raw amplitudes: aug scales them
    y_tr, conf_tr = torch.from_numpy(prep.train.keypoints), torch.from_numpy(prep.train.conf)
    x_ev = aug.model_input(torch.from_numpy(prep.held_out.frames))
    y_ev, w_ev = torch.from_numpy(prep.held_out.keypoints), torch.from_numpy(prep.held_out.conf)
    p_tr, p_ev = joints_present(y_tr), joints_present(y_ev)
    pairs = torch.from_numpy(prep.pairs)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=cfg.restart_every)
    hist: dict[str, list[float]] = {"train": [], "eval": [], "bone": [], "smooth": []}
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        net.train()
        w = conf_tr
        if cfg.curriculum:
            w = w * torch.from_numpy(curriculum_mask(prep.train.conf, epoch, cfg.epochs))
        pred = net(aug(x_tr, epoch))
        loss = pose_loss(pred, y_tr, w, p_tr, cfg.beta)
        total = loss
        if cfg.bone_loss:
            bone = bone_loss(pred, y_tr, w, p_tr, cfg.beta)
            hist["bone"].append(float(bone.detach()))
            total = total + cfg.bone_loss * bone
        if cfg.smooth_loss:
            smooth = smooth_loss(pred, y_tr, w, p_tr, pairs, cfg.beta)
            hist["smooth"].append(float(smooth.detach()))
            total = total + cfg.smooth_loss * smooth
        opt.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            hist["eval"].append(float(pose_loss(net(x_ev), y_ev, w_ev, p_ev, cfg.beta)))
        hist["train"].append(float(loss.detach()))
        elapsed = time.perf_counter() - start
        bar.update(epoch + 1, cfg.epochs, hist["train"][-1], hist["eval"][-1],
                   (epoch + 1) * len(prep.train) / max(elapsed, 1e-9))  # fmt: skip
    seconds = time.perf_counter() - start
    bar.close()
    return net, hist, seconds


def train(
    data: str | Path,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    progress: TextIO | None = None,
) -> TrainResult:
    """Train pose_v1 on the paired file ``data`` and write the bundle ``out`` plus, beside
    it, ``<stem>.train_results.json``, ``<stem>.loss.png`` and ``<stem>.pck.png``.

    ``progress``: a stream for the per-epoch progress bar (drawn only if it is a terminal).
    The held-out metrics are computed from the *exported* bundle (weights and declared input
    normalisation) on the numpy backend, i.e. exactly what the runtime will produce. Raises
    ``ConfigError`` for unusable data or a missing ``train`` extra.
    """
    cfg = config or TrainConfig()
    require_extras()
    import torch

    from .net import export_weights

    out = Path(out)
    prep = prepare(data, layout=cfg.layout, train_fraction=cfg.train_fraction)
    if float(prep.train.conf.sum()) <= 0:
        raise ConfigError(f"{data}: every training record has conf 0; nothing to learn from")
    transform = input_transform(prep, cfg.normalize)
    with _deterministic(cfg.threads):
        aug = _augmenter(prep, cfg, transform)
        net, hist, seconds = _fit(prep, cfg, aug, ProgressBar(progress))
        net.eval()
        with torch.no_grad():
            torch_pred = net(aug.model_input(torch.from_numpy(prep.held_out.frames))).numpy()
    weights = export_weights(net, transform.fold)
    held = prep.held_out
    # Provisional metadata (no metrics yet) so the check runs the bundle as it will be saved.
    provisional = bundle_metadata(data, prep, cfg, None, None, torch.__version__)
    pred = NumpyBackend(ModelBundle(weights, provisional, transform.norm)).run(
        to_model_input(held.frames, cfg.layout)
    )
    export_diff = float(np.abs(pred - torch_pred).max())
    if not export_diff <= EXPORT_TOLERANCE:
        raise AssertionError(f"exported bundle disagrees with torch by {export_diff:.3g}")
    metrics = pose_metrics(pred, held.keypoints, held.conf)
    baseline_pred = np.broadcast_to(mean_pose(prep.train.keypoints), held.keypoints.shape)
    baseline = pose_metrics(baseline_pred, held.keypoints, held.conf)
    meta = bundle_metadata(data, prep, cfg, metrics, baseline, torch.__version__)
    sha = save_bundle(out, weights, meta, transform.norm)
    norm = transform.norm
    results = results_json(
        prep, cfg, hist, metrics, baseline, seconds,
        extra={"bundle": {"path": str(out), "sha256": sha}, "export_max_abs_diff": export_diff,
               "input_scale": prep.input_scale, "backend": f"torch-cpu {torch.__version__}",
               "input_normalization": {
                   "mode": cfg.normalize,
                   "mean": None if norm is None else norm.mean.tolist(),
                   "std": None if norm is None else norm.std.tolist()}},
    )  # fmt: skip
    results_path, loss_png, pck_png = artefact_paths(out)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    write_plots(results, baseline, loss_png, pck_png)
    return TrainResult(out, sha, results_path, (loss_png, pck_png), results, metrics, baseline)
