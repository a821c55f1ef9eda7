"""occupancy: the room's state per period, fused from every node."""

from __future__ import annotations

import numpy as np

from posecog.graph.registry import Registry
from posecog.graph.testing import run_node
from posecog.nodes.items import JoinedPose, Occupancy, Pose, Presence

KP = np.full((17, 2), 0.5, np.float32)


def joined(ts: float, node: int, present: bool | None, persons: int | None = None) -> JoinedPose:
    pres = None if present is None else Presence(ts, node, present, n_persons=persons)
    return JoinedPose(Pose(ts, node, KP, 0.7), presence=pres, presence_age_s=0.0)


def test_one_item_a_period_from_every_fresh_node(registry: Registry) -> None:
    items = [joined(100.0 + 0.25 * k, 1 + k % 2, present=(k % 2 == 0), persons=1 + k % 2)
             for k in range(12)]  # fmt: skip
    run = run_node("occupancy", {"period_s": 1.0}, items, registry=registry)
    out = run.values
    assert [o.ts for o in out] == [101.0, 102.0]  # the period past 102.75 is still open
    assert all(isinstance(o, Occupancy) and o.present is True for o in out)
    assert [o.n_persons for o in out] == [2, 2] and [n for n, _ in out[0].nodes] == [1, 2]
    name, fields = out[0].event(0.0)
    assert name == "occupancy" and set(fields["nodes"]) == {"1", "2"}


def test_a_quiet_node_is_left_out_and_nobody_is_absence(registry: Registry) -> None:
    items = [joined(100.0, 1, present=False), joined(100.5, 2, present=False)]
    items += [joined(104.0 + 0.5 * k, 2, present=False) for k in range(4)]
    out = run_node("occupancy", {"max_age_s": 2.0}, items, registry=registry).values
    last = out[-1]
    assert [n for n, _ in last.nodes] == [2] and last.present is False
