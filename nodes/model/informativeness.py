"""How much a confidence says about the error, on data with ground truth (for ``evaluate``).

``confidence_report(pred, gt, confidence, keypoint_confidence)`` measures, over the poses of
a paired set:

* **Spearman** rank correlation between each pose's ``confidence`` and its per-frame MPJPE
  (mean distance of its present joints), and, per joint, between ``keypoint_confidence[:, j]``
  and that joint's distance (poses where the joint is present). Negative is good: higher
  confidence, lower error. Ties get their average rank; NaN when either side is constant.
* **Quartiles**: poses sorted by confidence (stable, so ties keep the set's order) and cut into
  four groups of equal size (``numpy.array_split``), each with its MPJPE and PCK@20/50, and
  ``quartile_ratio`` = MPJPE of the most confident quarter / MPJPE of the least confident.
* **Reliability**: confidence in ``N_BINS`` bins of width 0.1, each with its count, mean
  confidence and PCK@20/50 (percent), for poses (the share of their joints within the
  threshold) and for keypoints (``keypoint_confidence`` against each joint's hit); the PNG is
  drawn by ``reliability_plot``.

PCK and missing joints are as in ``metrics`` (torso-normalised thresholds, missing joints left
out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .metadata import KEYPOINT_NAMES
from .metrics import present_joints, torso_sizes

__all__ = ["N_BINS", "Bin", "ConfidenceReport", "Quartile", "confidence_report", "spearman"]

N_BINS = 10
F64 = npt.NDArray[np.float64]


def _ranks(x: F64) -> F64:
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    sizes = np.diff(np.r_[starts, x.size])
    ranks = np.empty(x.size)
    ranks[order] = (starts + (sizes - 1) / 2.0)[group]
    return ranks


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman's rank correlation of the pairs where both are finite (average ranks for
    ties); NaN with fewer than 3 pairs or a constant side."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    rx, ry = _ranks(x[ok]), _ranks(y[ok])
    rx -= rx.mean()
    ry -= ry.mean()
    denom = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


@dataclass(frozen=True)
class Quartile:
    """One quarter of the poses by confidence (``lo``..``hi``)."""

    n: int
    lo: float
    hi: float
    mpjpe: float
    pck20: float
    pck50: float


@dataclass(frozen=True)
class Bin:
    """Confidence in ``[lo, hi)`` (the last bin includes 1): count, mean confidence and the
    PCK@20/50 (percent) of what fell in it (NaN when empty)."""

    lo: float
    hi: float
    n: int
    confidence: float
    pck20: float
    pck50: float


@dataclass(frozen=True)
class ConfidenceReport:
    """The informativeness figures (see the module docstring)."""

    n_samples: int
    spearman_pose: float
    spearman_keypoint: tuple[float, ...]  #: per joint, ``joint_names`` order
    quartiles: tuple[Quartile, ...]  #: least confident first
    pose_bins: tuple[Bin, ...]
    keypoint_bins: tuple[Bin, ...]
    mean_confidence: float
    joint_names: tuple[str, ...] = KEYPOINT_NAMES

    @property
    def spearman_keypoint_mean(self) -> float:
        return float(np.nanmean(self.spearman_keypoint))

    @property
    def spearman_keypoint_worst(self) -> float:
        """The least negative joint's correlation (the weakest joint)."""
        return float(np.nanmax(self.spearman_keypoint))

    @property
    def quartile_ratio(self) -> float:
        """MPJPE of the most confident quarter / MPJPE of the least confident quarter."""
        top, bottom = self.quartiles[-1].mpjpe, self.quartiles[0].mpjpe
        return top / bottom if bottom > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""

        def clean(v: float) -> float | None:
            return round(v, 6) if np.isfinite(v) else None

        def bins(bs: Sequence[Bin]) -> list[dict[str, Any]]:
            return [
                {
                    "lo": b.lo,
                    "hi": b.hi,
                    "n": b.n,
                    "confidence": clean(b.confidence),
                    "pck_at_20": clean(b.pck20),
                    "pck_at_50": clean(b.pck50),
                }
                for b in bs
            ]

        return {
            "n_samples": self.n_samples,
            "mean_confidence": clean(self.mean_confidence),
            "spearman_pose_mpjpe": clean(self.spearman_pose),
            "spearman_keypoint_mean": clean(self.spearman_keypoint_mean),
            "spearman_keypoint_worst": clean(self.spearman_keypoint_worst),
            "spearman_keypoint": [
                {"joint": name, "spearman": clean(v)}
                for name, v in zip(self.joint_names, self.spearman_keypoint, strict=True)
            ],
            "quartile_mpjpe_ratio": clean(self.quartile_ratio),
            "quartiles": [
                {
                    "n": q.n,
                    "confidence_lo": clean(q.lo),
                    "confidence_hi": clean(q.hi),
                    "mpjpe": clean(q.mpjpe),
                    "pck_at_20": clean(q.pck20),
                    "pck_at_50": clean(q.pck50),
                }
                for q in self.quartiles
            ],
            "reliability_pose": bins(self.pose_bins),
            "reliability_keypoint": bins(self.keypoint_bins),
        }

    def format(self) -> str:
        """The terminal section of ``evaluate``'s report."""
        lines = [
            f"confidence (mean {self.mean_confidence:.3f}): how it ranks the error "
            "(Spearman; negative: higher confidence, lower error)",
            f"  per pose, vs per-frame MPJPE    {self.spearman_pose:+.3f}",
            f"  per keypoint, vs joint error    mean {self.spearman_keypoint_mean:+.3f}, "
            f"weakest joint {self.spearman_keypoint_worst:+.3f}",
            f"  MPJPE, most / least confident quarter: {self.quartile_ratio:.2f}",
            "",
            f"{'quarter by confidence':<24}{'range':>15}{'MPJPE':>9}{'PCK@20':>8}{'PCK@50':>8}",
        ]
        names = ("least confident", "second", "third", "most confident")
        for name, q in zip(names, self.quartiles, strict=True):
            span = f"{q.lo:.3f}-{q.hi:.3f}"
            lines.append(f"{name:<24}{span:>15}{q.mpjpe:>9.4f}{q.pck20:>8.1f}{q.pck50:>8.1f}")
        head = f"{'confidence bin':<24}{'poses':>7}{'PCK@20':>8}{'PCK@50':>8}"
        lines += ["", head + f"{'keypoints':>11}{'PCK@20':>8}{'PCK@50':>8}"]
        for pb, kb in zip(self.pose_bins, self.keypoint_bins, strict=True):
            lines.append(
                f"{f'{pb.lo:.1f}-{pb.hi:.1f}':<24}{pb.n:>7}{_pct(pb.pck20)}{_pct(pb.pck50)}"
                f"{kb.n:>11}{_pct(kb.pck20)}{_pct(kb.pck50)}"
            )
        lines += ["", "per joint, Spearman of keypoint_confidence vs the joint's error:"]
        pairs = [
            f"{n:<15}{v:+.3f}"
            for n, v in zip(self.joint_names, self.spearman_keypoint, strict=True)
        ]
        lines += ["  " + "    ".join(pairs[i : i + 4]) for i in range(0, len(pairs), 4)]
        return "\n".join(lines)


def _pct(v: float) -> str:
    return f"{v:>8.1f}" if np.isfinite(v) else f"{'-':>8}"


def _bins(conf: F64, hit20: F64, hit50: F64) -> tuple[Bin, ...]:
    """``conf``, ``hit20``, ``hit50`` flat and finite (hits 0/1 or shares in [0, 1])."""
    index = np.clip((conf * N_BINS).astype(np.int64), 0, N_BINS - 1)
    out = []
    for b in range(N_BINS):
        m = index == b
        n = int(m.sum())
        means = [float(v[m].mean()) if n else float("nan") for v in (conf, hit20, hit50)]
        out.append(Bin(b / N_BINS, (b + 1) / N_BINS, n, means[0], 100 * means[1], 100 * means[2]))
    return tuple(out)


def confidence_report(
    pred: npt.ArrayLike,
    gt: npt.ArrayLike,
    confidence: npt.ArrayLike,
    keypoint_confidence: npt.ArrayLike,
) -> ConfidenceReport:
    """The figures for poses ``pred[N, 17, 2]`` against ``gt[N, 17, 2]`` with their
    ``confidence[N]`` and ``keypoint_confidence[N, 17]`` (see the module docstring)."""
    p, g = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    kconf = np.asarray(keypoint_confidence, dtype=np.float64)
    n = g.shape[0]
    if p.shape != g.shape or conf.shape != (n,) or kconf.shape != g.shape[:2]:
        raise ValueError(
            f"need pred and gt [N, 17, 2], confidence [N], keypoint_confidence [N, 17]; got "
            f"{list(p.shape)}, {list(g.shape)}, {list(conf.shape)}, {list(kconf.shape)}"
        )
    present = present_joints(g)
    dist = np.linalg.norm(p - g, axis=2)
    dist = np.where(np.isfinite(dist), dist, np.inf)
    torso, _ = torso_sizes(g)
    hit20 = (dist < 0.2 * torso[:, None]).astype(np.float64)
    hit50 = (dist < 0.5 * torso[:, None]).astype(np.float64)
    count = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pose_err = np.where(present, dist, 0.0).sum(axis=1) / np.where(count > 0, count, np.nan)
        pose20 = np.where(present, hit20, 0.0).sum(axis=1) / np.where(count > 0, count, np.nan)
        pose50 = np.where(present, hit50, 0.0).sum(axis=1) / np.where(count > 0, count, np.nan)
    per_joint = tuple(
        spearman(np.where(present[:, j], kconf[:, j], np.nan), dist[:, j]) for j in range(17)
    )
    scored = np.isfinite(pose_err) & np.isfinite(conf)
    order = np.flatnonzero(scored)[np.argsort(conf[scored], kind="stable")]
    quartiles = []
    nan = float("nan")
    for part in np.array_split(order, 4):
        if part.size == 0:
            quartiles.append(Quartile(0, nan, nan, nan, nan, nan))
            continue
        err = pose_err[part]
        quartiles.append(
            Quartile(
                n=int(part.size),
                lo=float(conf[part].min()),
                hi=float(conf[part].max()),
                mpjpe=float(err[np.isfinite(err)].mean()) if np.isfinite(err).any() else nan,
                pck20=100 * float(pose20[part].mean()),
                pck50=100 * float(pose50[part].mean()),
            )
        )
    kp_ok = present & np.isfinite(kconf)
    return ConfidenceReport(
        n_samples=n,
        spearman_pose=spearman(np.where(scored, conf, np.nan), pose_err),
        spearman_keypoint=per_joint,
        quartiles=tuple(quartiles),
        pose_bins=_bins(conf[scored], pose20[scored], pose50[scored]),
        keypoint_bins=_bins(kconf[kp_ok], hit20[kp_ok], hit50[kp_ok]),
        mean_confidence=float(conf[np.isfinite(conf)].mean()) if n else float("nan"),
    )
