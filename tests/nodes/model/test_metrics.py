"""Pose metrics against numbers worked out by hand (INTERFACES section 6)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posecog.nodes.model.metadata import KEYPOINT_NAMES
from posecog.nodes.model.metrics import TORSO_FALLBACK, pose_metrics
from tests.conftest import RUVIEW

L_SH, R_SH, L_HIP, R_HIP = 5, 6, 11, 12


def _skeleton(shoulder_y: float, hip_y: float) -> np.ndarray:
    """17 joints at (0.5, 0.5) except shoulders and hips (x 0.4/0.6 and 0.45/0.55)."""
    kp = np.full((17, 2), 0.5)
    kp[[L_SH, R_SH]] = [[0.4, shoulder_y], [0.6, shoulder_y]]
    kp[[L_HIP, R_HIP]] = [[0.45, hip_y], [0.55, hip_y]]
    return kp


@pytest.fixture
def example() -> tuple[np.ndarray, np.ndarray]:
    """Three samples.

    A: torso = |0.3 - 0.7| = 0.4, so PCK@10/20/50 radii are 0.04/0.08/0.2.
       Joint 0 off by 0.03 (right at all k), 9 off by 0.06 (wrong@10), 10 off by
       (0.06, 0.08) = 0.1 (right only @50), 15 off by 0.3 (wrong at all k).
    B: left hip at exactly (0, 0): missing, so the torso falls back to 0.3 (radii
       0.03/0.06/0.15) and joint 11 is not scored. Joint 0 off by 0.05 (wrong@10),
       joint 1 off by 0.2 (wrong at all k).
    C: shoulders and hips at the same height (torso 0.0 <= 0.01): fallback 0.3.
       Joint 3 off by 0.1 and joint 4 by 0.149 (right only @50), joint 7 by 0.151 (just
       outside the 0.15 radius: wrong at all k).
    """
    gt = np.stack([_skeleton(0.3, 0.7), _skeleton(0.3, 0.7), _skeleton(0.5, 0.5)])
    gt[1, L_HIP] = [0.0, 0.0]
    pred = gt.copy()
    pred[0, 0, 0] += 0.03
    pred[0, 9, 1] += 0.06
    pred[0, 10] += [0.06, 0.08]
    pred[0, 15, 0] -= 0.3
    pred[1, 0, 1] += 0.05
    pred[1, 1, 0] -= 0.2
    pred[1, L_HIP] = [0.9, 0.9]  # far off, but the ground truth is missing: not scored
    pred[2, 3, 1] += 0.1
    pred[2, 4, 0] += 0.149
    pred[2, 7, 1] -= 0.151
    return pred, gt


def test_pck_and_mpjpe_by_hand(example: tuple[np.ndarray, np.ndarray]) -> None:
    pred, gt = example
    m = pose_metrics(pred, gt)
    # scored joints: 17 + 16 + 17 = 50
    # correct@10: A 14, B 14, C 14 -> 42; @20: A 15, B 15, C 14 -> 44; @50: 16, 15, 16 -> 47
    assert m.pck[10] == pytest.approx(100 * 42 / 50)
    assert m.pck[20] == pytest.approx(100 * 44 / 50)
    assert m.pck[50] == pytest.approx(100 * 47 / 50)
    # distances: A 0.03 + 0.06 + 0.1 + 0.3, B 0.05 + 0.2, C 0.1 + 0.149 + 0.151
    assert m.mpjpe == pytest.approx(1.14 / 50)
    assert m.n_samples == 3
    assert m.n_torso_fallback == 2
    assert m.n_missing_joints == 1
    # no weights: the weighted figures are the plain ones
    assert m.pck_weighted == pytest.approx(m.pck)
    assert m.mpjpe_weighted == pytest.approx(m.mpjpe)


def test_per_joint_by_hand(example: tuple[np.ndarray, np.ndarray]) -> None:
    pred, gt = example
    m = pose_metrics(pred, gt)
    assert m.per_joint_pck[10][0] == pytest.approx(100 * 2 / 3)  # B's nose is wrong
    assert m.per_joint_pck[20][0] == pytest.approx(100.0)
    assert m.per_joint_pck[20][9] == pytest.approx(100.0)
    assert m.per_joint_pck[10][9] == pytest.approx(100 * 2 / 3)
    assert m.per_joint_pck[50][15] == pytest.approx(100 * 2 / 3)
    assert m.per_joint_pck[10][L_HIP] == pytest.approx(100.0)  # 2 scored, both right
    assert m.per_joint_mpjpe[0] == pytest.approx((0.03 + 0.05) / 3)
    assert m.per_joint_mpjpe[L_HIP] == pytest.approx(0.0)  # B's 0.9 miss is not scored
    assert m.per_joint_mpjpe[16] == pytest.approx(0.0)
    assert m.per_joint_pck[50][4] == pytest.approx(100.0)  # 0.149 < 0.15 (fallback torso)
    assert m.per_joint_pck[20][4] == pytest.approx(100 * 2 / 3)
    assert m.per_joint_pck[50][7] == pytest.approx(100 * 2 / 3)  # 0.151 > 0.15


def test_confidence_weighted_by_hand(example: tuple[np.ndarray, np.ndarray]) -> None:
    pred, gt = example
    m = pose_metrics(pred, gt, weights=[1.0, 2.0, 0.5])
    denominator = 17 * 1.0 + 16 * 2.0 + 17 * 0.5  # 57.5
    assert m.pck_weighted[20] == pytest.approx(100 * (15 * 1 + 15 * 2 + 14 * 0.5) / denominator)
    assert m.pck_weighted[10] == pytest.approx(100 * (14 * 1 + 14 * 2 + 14 * 0.5) / denominator)
    assert m.mpjpe_weighted == pytest.approx((0.49 * 1 + 0.25 * 2 + 0.4 * 0.5) / denominator)
    assert m.pck[20] == pytest.approx(100 * 44 / 50)  # unweighted figures unchanged


def test_zero_weight_sample_does_not_count(example: tuple[np.ndarray, np.ndarray]) -> None:
    pred, gt = example
    m = pose_metrics(pred, gt, weights=[0.0, 1.0, 0.0])  # only B
    assert m.pck_weighted[20] == pytest.approx(100 * 15 / 16)
    assert m.mpjpe_weighted == pytest.approx(0.25 / 16)


def test_threshold_is_strict() -> None:
    gt = _skeleton(0.25, 0.75)[None]  # torso exactly 0.5; PCK@50 radius exactly 0.25
    pred = gt.copy()
    pred[0, 0, 0] = 0.25  # 0.5 -> 0.25: distance exactly 0.25
    m = pose_metrics(pred, gt, thresholds=(50, 51))
    assert m.per_joint_pck[50][0] == 0.0
    assert m.per_joint_pck[51][0] == 100.0


def test_non_finite_torso_falls_back_and_non_finite_prediction_is_wrong() -> None:
    gt = _skeleton(0.3, 0.7)[None]
    gt[0, R_SH] = [np.nan, 0.3]
    pred = gt.copy()
    pred[0, 2] = [np.inf, 0.5]
    m = pose_metrics(pred, gt)
    assert m.n_torso_fallback == 1 and m.n_missing_joints == 1
    assert m.per_joint_pck[50][2] == 0.0
    assert m.pck[50] == pytest.approx(100 * 15 / 16)
    assert m.mpjpe == np.inf
    assert m.as_dict()["mpjpe_normalized"] is None  # JSON has no inf
    assert TORSO_FALLBACK == 0.3


def test_bad_inputs_are_refused() -> None:
    gt = np.zeros((2, 17, 2))
    with pytest.raises(ValueError, match=r"\[N, 17, 2\]"):
        pose_metrics(np.zeros((2, 16, 2)), gt)
    with pytest.raises(ValueError, match="same shape"):
        pose_metrics(np.zeros((3, 17, 2)), gt)
    with pytest.raises(ValueError, match="weights"):
        pose_metrics(gt, gt, weights=[1.0, -1.0])


def test_as_dict_uses_pose_v1_train_results_keys(example: tuple[np.ndarray, np.ndarray]) -> None:
    pred, gt = example
    out = pose_metrics(pred, gt).as_dict()
    reference = json.loads((RUVIEW / "pose_v1.train_results.json").read_text())
    for key in ("pck_at_20", "pck_at_50", "mpjpe_normalized", "per_joint_pck20"):
        assert key in reference and key in out
    assert set(out["per_joint_pck20"][0]) == set(reference["per_joint_pck20"][0])
    assert [j["joint"] for j in out["per_joint_pck50"]] == list(KEYPOINT_NAMES)
    assert out["pck_at_10"] == pytest.approx(84.0)
    assert out["conf_weighted"]["pck_at_20"] == pytest.approx(88.0)
    json.dumps(out, allow_nan=False)


def test_table_lists_overall_and_every_joint(example: tuple[np.ndarray, np.ndarray]) -> None:
    pred, gt = example
    m = pose_metrics(pred, gt)
    base = pose_metrics(np.broadcast_to(gt.mean(axis=0), gt.shape), gt)
    table = m.format_table(base)
    assert "PCK@20 (%)" in table and "mean-pose" in table
    assert "88.0" in table and "0.0228" in table
    for name in KEYPOINT_NAMES:
        assert f"\n{name} " in table
