"""The motion model: activities, continuity, keypoints in [0, 1], plausible anatomy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from posecog.nodes.sim import ACTIVITIES, COCO_KEYPOINTS, make_motion


def test_keypoints_in_unit_square_and_continuous() -> None:
    for seed in range(5):
        m = make_motion(np.random.default_rng(seed), 120.0)
        t = np.arange(0, 120, 0.05)
        kp = m.keypoints(t)
        assert kp.shape == (t.size, 17, 2) and len(COCO_KEYPOINTS) == 17
        assert kp.min() >= 0 and kp.max() <= 1
        # Smooth: no joint jumps more than 5 % of the image in 50 ms, even at activity switches.
        assert np.abs(np.diff(kp, axis=0)).max() < 0.05


def test_segments_cover_time_and_switch_activity() -> None:
    m = make_motion(np.random.default_rng(0), 300.0)
    assert m.segments[0].t0 == 0 and m.segments[-1].t1 >= 300
    acts = [s.activity for s in m.segments]
    assert set(acts) == set(ACTIVITIES)
    assert all(a != b for a, b in itertools.pairwise(acts))


def test_activities_look_like_themselves() -> None:
    m = make_motion(np.random.default_rng(1), 600.0)
    t = np.arange(0, 600, 0.05)
    j, act = m.joints(t), m.activity_index(t)
    hip_z = j[:, 11:13, 2].mean(1)
    sit, stand = act == ACTIVITIES.index("sitting"), act == ACTIVITIES.index("standing")
    assert np.median(hip_z[sit]) < 0.6 < 0.9 < np.median(hip_z[stand])
    wave = act == ACTIVITIES.index("waving")
    top_wrist = j[:, 9:11, 2].max(1)
    assert np.median(top_wrist[wave]) > np.median(j[wave, 0, 2])  # a wrist above the nose
    walk = act == ACTIVITIES.index("walking")
    speed = np.linalg.norm(np.diff(j[:, 11:13].mean(1)[:, :2], axis=0), axis=1) / 0.05
    assert np.median(speed[walk[1:]]) > 0.5 > 0.05 > np.median(speed[stand[1:]])
    assert 12 <= m.breath_hz * 60 <= 18


def test_unknown_activity_rejected() -> None:
    with pytest.raises(ValueError, match="activities"):
        make_motion(np.random.default_rng(0), 10.0, ("jumping",))
