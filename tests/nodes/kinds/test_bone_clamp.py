"""bone_clamp: limb lengths held near each node's running estimate."""

from __future__ import annotations

import numpy as np

from posecog.graph.registry import Registry
from posecog.graph.testing import run_node
from posecog.nodes.items import Pose
from posecog.nodes.kinds.bone_clamp import BONES
from tests.nodes.kinds.test_one_euro import BASE as STILL

BASE = STILL.copy()
BASE[9], BASE[10] = (0.42, 0.56), (0.58, 0.56)  # wrists below the elbows


def bone(kp: np.ndarray, i: int) -> float:
    p, c, _ = BONES[i]
    return float(np.hypot(*(kp[c] - kp[p])))


def test_a_stretched_forearm_is_brought_back_and_the_rest_kept(registry: Registry) -> None:
    poses = [Pose(100 + 0.05 * k, 1, BASE.copy(), 0.8) for k in range(10)]
    stretched = BASE.copy()
    stretched[9] = stretched[7] + 2.0 * (stretched[9] - stretched[7])  # left forearm x2
    poses.append(Pose(100.5, 1, stretched, 0.8, seq=7))
    run = run_node("bone_clamp", {"tolerance": 0.2}, poses, registry=registry)
    out = run.values
    assert all(np.array_equal(o.keypoints, BASE) for o in out[:10])  # inside: untouched
    last = out[-1]
    assert abs(bone(last.keypoints, 1) - 1.2 * bone(BASE, 1)) < 1e-6  # at the bound
    assert np.array_equal(last.keypoints[:9], BASE[:9]) and last.seq == 7
    assert run.metrics.nodes["bone_clamp"].gauges["clamped"] == 1


def test_a_moved_elbow_carries_the_wrist(registry: Registry) -> None:
    first = Pose(100.0, 1, BASE.copy(), 0.8)
    shrunk = BASE.copy()
    elbow = shrunk[5] + 0.3 * (shrunk[7] - shrunk[5])  # upper arm at 30 %, forearm as it was
    shrunk[9] += elbow - shrunk[7]
    shrunk[7] = elbow
    out = run_node("bone_clamp", {}, [first, Pose(100.05, 1, shrunk, 0.8)], registry=registry)
    kp = out.values[-1].keypoints
    assert abs(bone(kp, 0) - 0.8 * bone(BASE, 0)) < 1e-6
    assert abs(bone(kp, 1) - bone(shrunk, 1)) < 1e-6  # the forearm moved whole
