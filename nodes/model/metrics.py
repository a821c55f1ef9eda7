"""Pose accuracy: PCK@k (torso-normalised, ADR-079), MPJPE and their per-joint and
confidence-weighted variants (reference INTERFACES section 6). numpy only.

PCK@k: a joint is correct when ``||pred - gt|| < k/100 * torso``; ``torso`` is the distance
from the ground truth's mid-shoulder (joints 5, 6) to its mid-hip (11, 12), or ``0.3`` when one
of those four joints is missing or the distance is ``<= 0.01``. PCK is in percent (as in
pose_v1's ``train_results.json``); MPJPE is the mean Euclidean joint distance in the
normalised image units of the keypoints.

Missing joints: a ground-truth joint is *missing* when either coordinate is non-finite or it
is exactly ``(0, 0)`` (how camera pipelines mark an unseen joint). A missing joint is left out
of every mean (PCK, MPJPE, per-joint) and counted in ``n_missing_joints``; a missing torso
joint triggers the 0.3 fallback. A non-finite *prediction* is scored as wrong (an infinite
distance: it makes MPJPE infinite rather than being hidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .metadata import KEYPOINT_NAMES

__all__ = ["TORSO_FALLBACK", "PoseMetrics", "pose_metrics", "present_joints", "torso_sizes"]

TORSO_FALLBACK = 0.3
_MIN_TORSO = 0.01
_SHOULDERS, _HIPS = (5, 6), (11, 12)
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PoseMetrics:
    """Metrics over ``n_samples`` poses. Dicts are keyed by threshold ``k`` (PCK@k, percent);
    per-joint tuples follow ``joint_names``. ``*_weighted`` weigh each sample by its weight
    (the record's camera ``conf``); equal to the plain ones when no weights were given. A
    value is NaN when nothing was scored (e.g. a joint missing in every sample)."""

    n_samples: int
    thresholds: tuple[int, ...]
    pck: dict[int, float]
    pck_weighted: dict[int, float]
    per_joint_pck: dict[int, tuple[float, ...]]
    mpjpe: float
    mpjpe_weighted: float
    per_joint_mpjpe: tuple[float, ...]
    n_torso_fallback: int
    n_missing_joints: int
    joint_names: tuple[str, ...] = KEYPOINT_NAMES

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with pose_v1 ``train_results.json`` key names (``pck_at_20``,
        ``mpjpe_normalized``, ``per_joint_pck20: [{"joint", "pck20"}]``, ...); a NaN or
        infinite value becomes ``None`` (JSON has neither)."""
        out: dict[str, Any] = _json_safe(self._raw_dict())
        return out

    def _raw_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n_samples": self.n_samples}
        for k in self.thresholds:
            out[f"pck_at_{k}"] = self.pck[k]
        out["mpjpe_normalized"] = self.mpjpe
        for k in self.thresholds:
            out[f"per_joint_pck{k}"] = [
                {"joint": name, f"pck{k}": v}
                for name, v in zip(self.joint_names, self.per_joint_pck[k], strict=True)
            ]
        out["per_joint_mpjpe"] = [
            {"joint": name, "mpjpe": v}
            for name, v in zip(self.joint_names, self.per_joint_mpjpe, strict=True)
        ]
        out["conf_weighted"] = {
            **{f"pck_at_{k}": self.pck_weighted[k] for k in self.thresholds},
            "mpjpe_normalized": self.mpjpe_weighted,
        }
        out["torso_fallback_samples"] = self.n_torso_fallback
        out["missing_joints"] = self.n_missing_joints
        return out

    def format_table(self, baseline: PoseMetrics | None = None, label: str = "model") -> str:
        """A terminal table: overall figures, then PCK and MPJPE per joint; with ``baseline``
        (e.g. the mean pose) a second column for comparison."""
        cols = [(label, self)] + ([("mean-pose", baseline)] if baseline is not None else [])

        def row(name: str, values: Sequence[float], fmt: str) -> str:
            return f"{name:<22}" + "".join(f"{v:>12{fmt}}" for v in values)

        lines = [f"{'':<22}" + "".join(f"{c:>12}" for c, _ in cols)]
        for k in self.thresholds:
            lines.append(row(f"PCK@{k} (%)", [m.pck[k] for _, m in cols], ".1f"))
        lines.append(row("MPJPE (normalised)", [m.mpjpe for _, m in cols], ".4f"))
        for k in self.thresholds:
            lines.append(row(f"PCK@{k} conf-weighted", [m.pck_weighted[k] for _, m in cols], ".1f"))
        lines.append(row("MPJPE conf-weighted", [m.mpjpe_weighted for _, m in cols], ".4f"))
        lines.append(f"samples {self.n_samples}, torso fallback (0.3) in {self.n_torso_fallback}")
        heads = [f"PCK@{k}" for k in self.thresholds] + ["MPJPE"]
        lines += ["", f"{'joint (' + label + ')':<22}" + "".join(f"{h:>9}" for h in heads)]
        for j, name in enumerate(self.joint_names):
            vals = [f"{self.per_joint_pck[k][j]:>9.1f}" for k in self.thresholds]
            lines.append(f"{name:<22}" + "".join(vals) + f"{self.per_joint_mpjpe[j]:>9.4f}")
        return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _as_points(a: npt.ArrayLike, name: str) -> F64:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (len(KEYPOINT_NAMES), 2):
        raise ValueError(f"{name} must have shape [N, 17, 2]; got {list(arr.shape)}")
    return arr


def torso_sizes(gt: F64) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Per-sample torso length ``[N]`` of ground truth ``[N, 17, 2]`` and whether it fell
    back to ``TORSO_FALLBACK``."""
    present = _present(gt)
    mid_sh = gt[:, _SHOULDERS].mean(axis=1)
    mid_hip = gt[:, _HIPS].mean(axis=1)
    with np.errstate(invalid="ignore"):
        torso = np.linalg.norm(mid_sh - mid_hip, axis=1)
    fallback = ~present[:, _SHOULDERS + _HIPS].all(axis=1) | ~(torso > _MIN_TORSO)
    return np.where(fallback, TORSO_FALLBACK, torso), fallback


def present_joints(gt: F64) -> npt.NDArray[np.bool_]:
    """``[N, 17]``: the ground-truth joint is there (finite and not exactly (0, 0))."""
    present: npt.NDArray[np.bool_] = np.isfinite(gt).all(axis=2) & (gt != 0.0).any(axis=2)
    return present


_present = present_joints


def _mean(values: F64, weights: F64, axis: int | tuple[int, ...] | None) -> Any:
    """Weighted mean; NaN where the weights sum to 0 (nothing scored)."""
    total = weights.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.where(weights > 0, values * weights, 0.0).sum(axis=axis)
        return num / np.where(total > 0, total, np.nan)


def pose_metrics(
    pred: npt.ArrayLike,
    gt: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    thresholds: Sequence[int] = (10, 20, 50),
) -> PoseMetrics:
    """Score predictions ``pred[N, 17, 2]`` against ground truth ``gt[N, 17, 2]`` (same
    normalised units). ``weights[N]`` (>= 0, finite), when given, drive the ``*_weighted``
    figures. Raises ValueError on shapes that do not match or bad weights."""
    p, g = _as_points(pred, "pred"), _as_points(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape; got {p.shape} and {g.shape}")
    n = g.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be {n} finite values >= 0; got shape {list(w.shape)}")
    present = _present(g)
    dist = np.linalg.norm(p - g, axis=2)
    dist = np.where(np.isfinite(dist), dist, np.inf)  # a non-finite prediction is wrong
    torso, fallback = torso_sizes(g)
    scored = present.astype(np.float64)  # [N, 17]: which joints count
    weighted = scored * w[:, None]
    pck: dict[int, float] = {}
    pck_w: dict[int, float] = {}
    per_joint: dict[int, tuple[float, ...]] = {}
    for k in thresholds:
        correct = (dist < k / 100.0 * torso[:, None]).astype(np.float64) * 100.0
        pck[k] = float(_mean(correct, scored, None))
        pck_w[k] = float(_mean(correct, weighted, None))
        per_joint[k] = tuple(float(v) for v in _mean(correct, scored, 0))
    return PoseMetrics(
        n_samples=n,
        thresholds=tuple(thresholds),
        pck=pck,
        pck_weighted=pck_w,
        per_joint_pck=per_joint,
        mpjpe=float(_mean(dist, scored, None)),
        mpjpe_weighted=float(_mean(dist, weighted, None)),
        per_joint_mpjpe=tuple(float(v) for v in _mean(dist, scored, 0)),
        n_torso_fallback=int(fallback.sum()),
        n_missing_joints=int((~present).sum()),
    )
