"""Losses and augmentations (torch). Every loss is a conf-weighted mean of SmoothL1 terms over
the joints present in the ground truth (a joint at exactly (0, 0) or non-finite is missing,
as in ``metrics``), so the extra terms are on the same scale as the pose loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from .config import TrainConfig

__all__ = ["COCO_BONES", "Augmenter", "bone_loss", "joints_present", "pose_loss", "smooth_loss"]

#: COCO-17 skeleton: limbs, shoulder and hip girdles, torso sides and the face.
COCO_BONES: tuple[tuple[int, int], ...] = (
    (5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16),
    (5, 6), (11, 12), (5, 11), (6, 12), (0, 1), (0, 2), (1, 3), (2, 4),
)  # fmt: skip
_A = [a for a, _ in COCO_BONES]
_B = [b for _, b in COCO_BONES]


def joints_present(gt: torch.Tensor) -> torch.Tensor:
    """``[N, 17]`` float: 1 where the ground-truth joint is there."""
    finite = torch.isfinite(gt).all(dim=2)
    return (finite & (gt != 0).any(dim=2)).to(gt.dtype)


def _weighted(per_sample: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (per_sample * weight).sum() / weight.sum().clamp_min(1e-12)


def pose_loss(
    pred: torch.Tensor, gt: torch.Tensor, weight: torch.Tensor, present: torch.Tensor, beta: float
) -> torch.Tensor:
    """SmoothL1 per coordinate, averaged over present joints, weighted by ``weight[N]``."""
    h = F.smooth_l1_loss(pred, torch.nan_to_num(gt), reduction="none", beta=beta).sum(dim=2)
    per_sample = (h * present).sum(dim=1) / (2 * present.sum(dim=1)).clamp_min(1)
    return _weighted(per_sample, weight)


def _lengths(kp: torch.Tensor) -> torch.Tensor:
    seg = kp[:, _A] - kp[:, _B]
    return torch.sqrt((seg * seg).sum(dim=2) + 1e-12)  # eps: a finite gradient at length 0


def bone_loss(
    pred: torch.Tensor, gt: torch.Tensor, weight: torch.Tensor, present: torch.Tensor, beta: float
) -> torch.Tensor:
    """SmoothL1 between predicted and ground-truth lengths of the ``COCO_BONES`` whose two
    joints are present: the skeleton keeps its proportions even where joints are uncertain."""
    both = present[:, _A] * present[:, _B]
    h = F.smooth_l1_loss(
        _lengths(pred), _lengths(torch.nan_to_num(gt)), reduction="none", beta=beta
    )
    return _weighted((h * both).sum(dim=1) / both.sum(dim=1).clamp_min(1), weight)


def smooth_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    weight: torch.Tensor,
    present: torch.Tensor,
    pairs: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Temporal smoothness over ``pairs[P, 2]`` of consecutive windows of one stream: the
    predicted motion from window i to j should be the true motion (SmoothL1 of the
    difference), which damps jitter without pulling the pose towards standing still."""
    if pairs.shape[0] == 0:
        return pred.new_zeros(())
    i, j = pairs[:, 0], pairs[:, 1]
    g = torch.nan_to_num(gt)
    diff = (pred[j] - pred[i]) - (g[j] - g[i])
    both = present[i] * present[j]
    h = F.smooth_l1_loss(diff, torch.zeros_like(diff), reduction="none", beta=beta).sum(dim=2)
    per_pair = (h * both).sum(dim=1) / (2 * both.sum(dim=1)).clamp_min(1)
    return _weighted(per_pair, torch.minimum(weight[i], weight[j]))


class Augmenter:
    """Turns raw windows ``frames[B, T, n_sc]`` (frame-major amplitudes) into model inputs
    ``[B, n_sc, T]``: augmented, then ``(frames - offset) / divisor`` (``[n_sc]`` each, the
    trainer's input scaling; identity when None), then the runtime's mapping (``gather``).

    The augmentations of ``config`` act on the amplitudes, before the scaling, as the
    disturbances they mimic would; drawn from ``generator`` in a fixed order (deterministic):
    circular time shift, Gaussian noise of ``config.noise * noise_scale`` on the live (non-zero)
    amplitudes clamped at 0, and, in the last ``dropout_last`` epochs, whole subcarriers dropped
    with probability ``dropout_p`` (no rescaling): a dropped subcarrier reads 0 on raw input and
    its training mean (0 after the scaling) on normalised input."""

    def __init__(
        self,
        config: TrainConfig,
        gather: torch.Tensor,
        generator: torch.Generator,
        scaling: tuple[torch.Tensor, torch.Tensor] | None = None,
        noise_scale: float = 1.0,
    ):
        self.config = config
        self.gather = gather
        self.generator = generator
        self.scaling = scaling
        self.noise_scale = noise_scale

    def model_input(self, frames: torch.Tensor) -> torch.Tensor:
        """Scaled and mapped, no augmentation (held-out windows)."""
        b, t, n = frames.shape
        if self.scaling is not None:
            frames = (frames - self.scaling[0]) / self.scaling[1]
        return frames.reshape(b, t * n)[:, self.gather].reshape(b, n, t)

    def __call__(self, frames: torch.Tensor, epoch: int) -> torch.Tensor:
        cfg, gen = self.config, self.generator
        b, t, n = frames.shape
        if cfg.time_shift:
            shift = torch.randint(-cfg.time_shift, cfg.time_shift + 1, (b, 1), generator=gen)
            idx = (torch.arange(t)[None, :] - shift) % t
            frames = frames.gather(1, idx[:, :, None].expand(b, t, n))
        if cfg.noise:
            noise = torch.randn(frames.shape, generator=gen) * (cfg.noise * self.noise_scale)
            frames = (frames + noise * (frames != 0)).clamp_min(0)
        keep: torch.Tensor | None = None
        if cfg.dropout_p and epoch >= cfg.epochs - cfg.dropout_last:
            keep = torch.rand((b, 1, n), generator=gen) >= cfg.dropout_p
        if keep is not None and self.scaling is None:
            frames = frames * keep  # raw amplitudes: a dropped subcarrier reads 0
        elif keep is not None and self.scaling is not None:
            # Normalised input: a dropped subcarrier takes its training mean (0 after scaling),
            # the uninformative value. Zeroing the raw amplitude instead would feed -mean/std,
            # far outside anything seen, and ruined generalisation (docs/model.md).
            offset, divisor = self.scaling
            scaled = (frames - offset) / divisor * keep
            return scaled.reshape(b, t * n)[:, self.gather].reshape(b, n, t)
        return self.model_input(frames)
