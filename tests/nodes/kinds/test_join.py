"""join: as-of joins of poses with vitals and presence, per node, in event time."""

from __future__ import annotations

import numpy as np
import pytest

from posecog.graph.registry import Registry
from posecog.graph.testing import run_node
from posecog.nodes.items import JoinedPose, Pose, Presence, Vitals

KP = np.full((17, 2), 0.5, np.float32)


def pose(ts: float, node: int = 1) -> Pose:
    return Pose(ts, node, KP, 0.8, seq=int(ts * 10))


def vitals(ts: float, node: int = 1, bpm: float = 14.0) -> Vitals:
    return Vitals(ts, node, breathing_bpm=bpm + ts)


def presence(ts: float, node: int = 0) -> Presence:
    return Presence(ts, node, present=True, motion_level="present_still")


def joined(run) -> list[JoinedPose]:
    out = run.values
    assert all(isinstance(j, JoinedPose) for j in out)
    return out


def test_each_pose_takes_the_newest_of_its_node_as_of_its_time(registry: Registry) -> None:
    poses = [(0.1 * k, pose(100 + 0.1 * k, node)) for k in range(30) for node in (1, 2)]
    # the sides read ahead of the poses, as a replay gives them: no wait
    vit = [(0.0, vitals(100.0 + k)) for k in range(4)]  # node 1 only, 1 Hz
    pres = [(0.0, presence(100.0 + 0.5 * k)) for k in range(7)]  # server-wide
    run = run_node("join", {}, {"pose": poses, "vitals": vit, "presence": pres}, registry=registry)
    out = joined(run)
    assert len(out) == 60 and [j.pose for j in out] == [p for _, p in poses]
    for j in out:
        t = j.ts
        if j.node_id == 1:
            assert j.vitals is not None and j.vitals.ts == max(v.ts for _, v in vit if v.ts <= t)
            assert j.vitals_age_s == pytest.approx(t - j.vitals.ts)
        else:
            assert j.vitals is None and j.vitals_age_s is None  # node 2 has none, ever
        assert j.presence is not None and j.presence.node_id == 0  # every node's
        assert j.presence.ts == max(p.ts for _, p in pres if p.ts <= t)
    gauges = run.metrics.nodes["join"].gauges
    assert gauges["missing"] == 30 and gauges["matched"] == 30 and gauges["late"] == 0


def test_arrival_order_does_not_change_the_output(registry: Registry) -> None:
    """Vitals read far ahead of the poses they belong to (a replay: the poses are still being
    batched) join exactly as in order."""
    p = [pose(100 + 0.1 * k) for k in range(40)]
    v = [vitals(100.0 + 0.7 * k) for k in range(6)]
    in_order = sorted([(x.ts - 100, ("pose", x)) for x in p] + [(x.ts - 100, ("v", x)) for x in v])
    ports_in_order = {
        "pose": [(t, x) for t, (k, x) in in_order if k == "pose"],
        "vitals": [(t, x) for t, (k, x) in in_order if k == "v"],
    }
    early = {
        "pose": [(1.0 + 0.01 * k, x) for k, x in enumerate(p)],
        "vitals": [(0.0, x) for x in v],
    }
    a = joined(run_node("join", {}, ports_in_order, registry=registry))
    b = joined(run_node("join", {}, early, registry=registry))
    assert [(j.ts, j.vitals and j.vitals.ts) for j in a] == [
        (j.ts, j.vitals and j.vitals.ts) for j in b
    ]
    assert all(j.vitals is not None for j in a)


def test_a_late_side_is_waited_for_then_given_up_on(registry: Registry) -> None:
    # live: a vitals item stamped at the pose's time arrives 100 ms after the pose
    ports = {
        "pose": [(1.0, pose(10.0)), (2.0, pose(11.0))],
        "vitals": [(0.0, vitals(9.5)), (1.1, vitals(10.0)), (2.5, vitals(11.0))],
    }
    waited = joined(run_node("join", {"max_wait_ms": 200}, ports, registry=registry))
    assert waited[0].vitals.ts == 10.0  # the wait saw it come
    assert waited[1].vitals.ts == 10.0  # 11.0 came after 200 ms: gave up with what there was
    gauges = run_node("join", {"max_wait_ms": 200}, ports, registry=registry).metrics
    assert gauges.nodes["join"].gauges["late"] == 1
    hasty = joined(run_node("join", {"max_wait_ms": 0}, ports, registry=registry))
    assert hasty[0].vitals.ts == 9.5


def test_too_old_is_null_with_its_age(registry: Registry) -> None:
    ports = {"pose": [(1.0, pose(20.0))], "vitals": [(0.0, vitals(10.0))]}
    run = run_node("join", {"tolerance_s": 5.0}, ports, registry=registry)
    (j,) = joined(run)
    assert j.vitals is None and j.vitals_age_s == pytest.approx(10.0)
    assert run.metrics.nodes["join"].gauges["stale"] == 1
    name, fields = j.event(30.0)
    assert name == "pose.frame" and fields["vitals"] is None
    assert fields["vitals_age_s"] == 10.0 and fields["presence"] is None
    assert fields["presence_age_s"] is None and fields["node_id"] == 1  # the pose's own fields


def test_the_joined_event_keeps_every_pose_field_and_adds_the_sides(registry: Registry) -> None:
    ports = {
        "pose": [(1.0, pose(10.0))],
        "vitals": [(0.0, vitals(9.0))],
        "presence": [(0.0, presence(9.5))],
    }
    (j,) = joined(run_node("join", {}, ports, registry=registry))
    _, plain = j.pose.event(11.0)
    name, fields = j.event(11.0)
    assert name == "pose.frame" and {k: fields[k] for k in plain} == plain
    assert fields["vitals"]["breathing_bpm"] == 23.0 and fields["vitals"]["age_s"] == 1.0
    assert fields["presence"]["present"] is True and fields["presence_age_s"] == 0.5


def test_lint_rejects_a_port_wired_with_the_wrong_item_type(registry: Registry) -> None:
    from posecog.graph.lint import lint_file

    text = (
        "name: bad\nnodes:\n"
        "  - id: replay\n    type: jsonl_replay\n    config: {path: x.jsonl}\n"
        "  - id: window\n    type: sliding_window\n    inputs: [replay]\n"
        "  - id: joined\n    type: join\n    inputs: {pose: window, vitals: replay}\n"
        "  - id: out\n    type: stdout_events\n    inputs: [joined]\n"
    )
    _spec, problems = lint_file("bad.yaml", registry, text=text)
    (problem,) = [p for p in problems if "pose" in str(p)]
    assert str(problem).startswith("bad.yaml:11:20: ") and "inputs.pose must give Pose" in str(
        problem
    )
