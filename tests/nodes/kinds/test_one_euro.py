"""one_euro: event-time smoothing of keypoints, per node."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from posecog.graph.registry import Registry
from posecog.graph.testing import run_node
from posecog.nodes.items import Pose
from posecog.nodes.kinds.one_euro import torso

BASE = np.array(
    [[0.5, 0.2]] * 5 + [[0.45, 0.35], [0.55, 0.35]] + [[0.45, 0.45], [0.55, 0.45]] * 2
    + [[0.47, 0.6], [0.53, 0.6]] + [[0.47, 0.75], [0.53, 0.75], [0.47, 0.9], [0.53, 0.9]],
    np.float32,
)  # fmt: skip


def still(n: int, noise: float = 0.01, seed: int = 0, t0: float = 100.0, dt: float = 0.05):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        kp = (BASE + rng.normal(0, noise, BASE.shape)).astype(np.float32)
        ts = t0 + dt * k
        out.append(Pose(ts, 1, kp, 0.8, seq=k, ts_start=ts - 0.95))
    return out


def jitter(poses) -> float:
    kp = np.stack([p.keypoints for p in poses])
    return float(np.linalg.norm(np.diff(kp, axis=0), axis=-1).mean())


def test_a_still_pose_is_smoothed_and_the_first_passes_unchanged(registry: Registry) -> None:
    raw = still(200)
    out = run_node("one_euro", {}, raw, registry=registry).values
    assert len(out) == 200 and np.array_equal(out[0].keypoints, raw[0].keypoints)
    assert jitter(out[20:]) < jitter(raw[20:]) / 2
    mean_err = np.abs(np.stack([p.keypoints for p in out[20:]]) - BASE).mean()
    raw_err = np.abs(np.stack([p.keypoints for p in raw[20:]]) - BASE).mean()
    assert mean_err < raw_err  # closer to the true pose, not only smoother
    pairs = zip(out, raw, strict=True)
    assert all(o.node_id == r.node_id and o.ts == r.ts and o.seq == r.seq for o, r in pairs)


def test_output_depends_on_event_time_only(registry: Registry) -> None:
    raw = still(60)
    fast = [(0.001 * k, p) for k, p in enumerate(raw)]  # as fast as possible
    slow = [(3.0 * k, p) for k, p in enumerate(raw)]  # any other pacing
    a = run_node("one_euro", {}, fast, registry=registry).values
    b = run_node("one_euro", {}, slow, registry=registry).values
    assert all(np.array_equal(x.keypoints, y.keypoints) for x, y in zip(a, b, strict=True))


def test_it_resets_on_a_gap_a_step_back_and_a_restarted_window(registry: Registry) -> None:
    raw = still(30)
    gap = [*raw[:10], *still(10, seed=1, t0=raw[9].ts + 5.0)]  # 5 s pause
    back = [*raw[:10], *still(10, seed=2, t0=raw[9].ts)]  # the same time again
    # a sliding window that began afresh: the next window starts after the last pose's end
    restart = [*raw[:10], *[Pose(p.ts, 1, p.keypoints, 0.8, ts_start=raw[9].ts + 0.01)
                             for p in still(1, seed=3, t0=raw[9].ts + 0.05)]]  # fmt: skip
    for case, first_new in ((gap, 10), (back, 10), (restart, 10)):
        run = run_node("one_euro", {}, [(0.01 * k, p) for k, p in enumerate(case)],
                       registry=registry)  # fmt: skip
        out = run.values
        assert np.array_equal(out[first_new].keypoints, case[first_new].keypoints)
        assert run.metrics.nodes["one_euro"].gauges["resets"] == 1


def test_nodes_are_smoothed_apart(registry: Registry) -> None:
    a, b = still(50, seed=4), still(50, seed=5)
    b = [Pose(p.ts + 0.01, 2, p.keypoints + 0.2, 0.8, ts_start=p.ts_start) for p in b]
    mixed = sorted(a + b, key=lambda p: p.ts)
    out = run_node("one_euro", {}, mixed, registry=registry).values
    alone = run_node("one_euro", {}, a, registry=registry).values
    mine = [p for p in out if p.node_id == 1]
    assert all(np.array_equal(x.keypoints, y.keypoints) for x, y in zip(mine, alone, strict=True))


def test_torso_is_mid_shoulder_to_mid_hip() -> None:
    assert abs(torso(BASE) - 0.25) < 1e-6


def test_low_confidence_keypoints_are_held_and_confidences_smoothed(registry: Registry) -> None:
    raw = still(40, noise=0.0)
    conf = np.full(17, 0.9, np.float32)
    poses = [replace(p, keypoint_confidence=conf) for p in raw[:30]]
    wild = raw[30].keypoints.copy()
    wild[9] += 0.3  # the left wrist jumps, and the model says it does not know where it is
    low = conf.copy()
    low[9] = 0.05
    poses.append(replace(raw[30], keypoints=wild, keypoint_confidence=low))
    out = run_node("one_euro", {}, poses, registry=registry).values
    held, before = out[-1], out[-2]
    assert np.array_equal(held.keypoints[9], before.keypoints[9])  # not pulled toward noise
    assert not np.array_equal(held.keypoints[9], wild[9])
    assert 0.05 < held.keypoint_confidence[9] < 0.9  # smoothed, not jumped
