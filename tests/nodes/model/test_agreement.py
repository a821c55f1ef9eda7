"""``Agreement``: each keypoint against the other nodes' latest (or its own recent) poses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posecog.nodes.model.agreement import NO_EVIDENCE, SCALE, Agreement, quality_gate

POSE = np.stack([np.linspace(0.3, 0.7, 17), np.linspace(0.2, 0.8, 17)], axis=1).astype(np.float32)


def moved(dx: float) -> np.ndarray:
    return (POSE + np.float32(dx)).astype(np.float32)


def test_the_first_pose_has_no_evidence_then_nodes_that_agree_score_one() -> None:
    agree = Agreement()
    conf, per_kp = agree.score(1, 10.0, POSE, quality=0.9)
    assert conf == pytest.approx(NO_EVIDENCE) and per_kp.shape == (17,)
    conf, per_kp = agree.score(2, 10.02, POSE, quality=0.9)
    assert conf == pytest.approx(1.0) and per_kp.dtype == np.float32


def test_a_keypoint_scale_away_scores_exp_minus_half() -> None:
    agree = Agreement()
    agree.score(1, 10.0, POSE, 1.0)
    far = POSE.copy()
    far[3, 0] += SCALE
    conf, per_kp = agree.score(2, 10.0, far, 1.0)
    assert per_kp[3] == pytest.approx(math.exp(-0.5), rel=1e-5)
    assert np.delete(per_kp, 3) == pytest.approx(1.0)
    assert conf == pytest.approx(per_kp.mean())


def test_the_reference_is_the_median_of_the_other_nodes() -> None:
    agree = Agreement()
    for node, dx in ((1, 0.0), (2, 0.0), (3, 0.4)):  # node 3 is far off
        agree.score(node, 10.0, moved(dx), 1.0)
    conf, _ = agree.score(4, 10.0, POSE, 1.0)
    assert conf == pytest.approx(1.0)  # the outlier does not move the median
    conf, _ = agree.score(3, 10.01, moved(0.4), 1.0)  # and the outlier itself is told so
    assert conf < 1e-6


def test_garbage_scores_zero_and_is_nobodys_reference() -> None:
    agree = Agreement()
    conf, per_kp = agree.score(1, 10.0, moved(0.3), quality=0.0)
    assert conf == 0.0 and not per_kp.any()
    agree.score(2, 10.0, POSE, 1.0)  # node 1 was no reference: no evidence
    conf, _ = agree.score(3, 10.0, POSE, 1.0)
    assert conf == pytest.approx(1.0)  # node 2 is; node 1's garbage is not
    assert quality_gate(float("nan")) == 0.0 and quality_gate(-1.0) == 0.0


def test_low_quality_scales_the_confidence() -> None:
    agree = Agreement()
    agree.score(1, 10.0, POSE, 1.0)
    conf, per_kp = agree.score(2, 10.0, POSE, quality=0.25)
    assert conf == pytest.approx(0.5) and per_kp == pytest.approx(0.5)


def test_stale_poses_are_not_compared_and_a_lone_node_uses_its_own_history() -> None:
    agree = Agreement(max_age_s=0.5)
    agree.score(1, 10.0, moved(0.3), 1.0)
    agree.score(2, 11.0, POSE, 1.0)  # node 1 is 1 s old: no reference, no history yet
    conf, _ = agree.score(2, 11.05, POSE, 1.0)  # its own previous pose agrees
    assert conf == pytest.approx(1.0)
    conf, per_kp = agree.score(2, 11.1, moved(SCALE / math.sqrt(2)), 1.0)  # mean of history
    assert per_kp == pytest.approx(math.exp(-0.5), rel=1e-4)


def test_nodes_of_other_rooms_are_not_compared_with_cross_node_off() -> None:
    agree = Agreement(cross_node=False)
    agree.score(1, 10.0, moved(0.3), 1.0)
    conf, _ = agree.score(2, 10.0, POSE, 1.0)
    assert conf == pytest.approx(NO_EVIDENCE)  # node 1 is ignored


def test_memory_is_bounded_by_max_nodes() -> None:
    agree = Agreement(max_nodes=2)
    agree.score(1, 10.0, moved(0.3), 1.0)
    agree.score(2, 10.0, POSE, 1.0)
    agree.score(3, 10.0, POSE, 1.0)  # node 1 is forgotten
    conf, _ = agree.score(4, 10.0, POSE, 1.0)
    assert conf == pytest.approx(1.0)  # only nodes 2 and 3 remain (and agree)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="scale > 0"):
        Agreement(scale=0.0)
