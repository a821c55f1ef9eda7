"""``confidence_report``: Spearman, quartiles and reliability bins of a confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posecog.nodes.model.informativeness import N_BINS, confidence_report, spearman


def test_spearman_ranks_with_ties_and_gaps() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties take their average rank: ranks (1.5, 1.5, 3, 4) against (1, 2, 3, 4)
    assert spearman([5, 5, 6, 7], [1, 2, 3, 4]) == pytest.approx(
        np.corrcoef([1.5, 1.5, 3, 4], [1, 2, 3, 4])[0, 1]
    )
    assert spearman([1, np.nan, 2, 3, 4], [1, 9, 2, 3, 4]) == pytest.approx(1.0)  # NaN pairs out
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1, 2], [1, 2]))


def poses(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truth, a per-pose error size and predictions off by it (x only)."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.3, 0.7, (n, 17, 2))
    size = rng.uniform(0.0, 0.2, n)
    pred = gt.copy()
    pred[:, :, 0] += size[:, None]
    return gt, size, pred


def test_a_confidence_that_falls_with_the_error_is_seen_as_such() -> None:
    gt, size, pred = poses(400)
    conf = 1.0 - size / 0.2
    report = confidence_report(pred, gt, conf, np.repeat(conf[:, None], 17, axis=1))
    assert report.spearman_pose == pytest.approx(-1.0)
    assert report.spearman_keypoint == pytest.approx((-1.0,) * 17)
    assert [q.n for q in report.quartiles] == [100] * 4
    q = report.quartiles
    assert q[0].mpjpe > q[1].mpjpe > q[2].mpjpe > q[3].mpjpe and report.quartile_ratio < 0.3
    assert q[0].lo == pytest.approx(conf.min()) and q[3].hi == pytest.approx(conf.max())
    assert len(report.pose_bins) == len(report.keypoint_bins) == N_BINS
    assert sum(b.n for b in report.pose_bins) == 400
    assert sum(b.n for b in report.keypoint_bins) == 400 * 17
    assert report.pose_bins[-1].pck50 >= report.pose_bins[0].pck50


def test_a_confidence_that_ignores_the_error_scores_near_zero() -> None:
    gt, _, pred = poses(2000)
    conf = np.random.default_rng(1).uniform(0, 1, 2000)
    report = confidence_report(pred, gt, conf, np.repeat(conf[:, None], 17, axis=1))
    assert abs(report.spearman_pose) < 0.08
    assert 0.85 < report.quartile_ratio < 1.15


def test_missing_joints_are_left_out_and_json_has_no_nan() -> None:
    gt, size, pred = poses(40)
    gt[:, 0] = 0.0  # the nose is missing everywhere
    conf = 1.0 - size / 0.2
    report = confidence_report(pred, gt, conf, np.repeat(conf[:, None], 17, axis=1))
    assert math.isnan(report.spearman_keypoint[0])
    assert report.spearman_keypoint_worst == pytest.approx(-1.0)  # NaN joints are skipped
    out = report.as_dict()
    assert out["spearman_keypoint"][0] == {"joint": "nose", "spearman": None}
    assert out["spearman_pose_mpjpe"] == pytest.approx(-1.0)
    assert "per pose, vs per-frame MPJPE" in report.format()


def test_shapes_are_checked() -> None:
    gt, _, pred = poses(5)
    with pytest.raises(ValueError, match="keypoint_confidence"):
        confidence_report(pred, gt, np.ones(5), np.ones((5, 16)))
