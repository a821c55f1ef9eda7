"""``occupancy``: one item per room and period from several nodes' joined poses (cross-node
fusion).

Several ESP32 nodes watch one room; each gives its own poses, presence and vitals. A consumer
that asks "is someone there, how many, where" wants one answer. Decisions: the answer is made
in event time, once per ``period_s`` (the first joined pose past a period's end closes it), from
each node's freshest state no older than ``max_age_s``: present if any node says so (a person
one node does not see is still there), persons the largest count a node reports (nodes see the
same people: counts do not add), and each node's freshest pose. Deterministic: it depends on
the joined poses' event times only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import Field
from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig

from ..items import JoinedPose, Occupancy
from ..registry import registry

__all__ = ["OccupancyConfig", "build"]


class OccupancyConfig(NodeConfig):
    period_s: float = Field(1.0, gt=0, description="One occupancy item per this much event time.")
    max_age_s: float = Field(
        3.0,
        gt=0,
        description="A node's state older than this (s, event time) at the period's end is "
        "left out: that node has gone quiet.",
    )
    room: str = Field("room", description="Name of the room, carried by every item.")


@registry.transform(
    "occupancy",
    config=OccupancyConfig,
    takes=JoinedPose,
    gives=Occupancy,
    examples=("id: room\ntype: occupancy\ninputs: [joined]\nconfig:\n  period_s: 1.0\n",),
)
def build(
    config: OccupancyConfig, ctx: BuildContext
) -> Callable[[Observable[JoinedPose]], Observable[Occupancy]]:
    """Fuse the nodes' joined poses into one ``Occupancy`` a period (see the module docstring):
    ``present``, ``n_persons`` and ``nodes`` (per node: its freshest pose's time, confidence
    and keypoints, and its presence). Rendered as ``occupancy``."""
    latest: dict[int, JoinedPose] = {}
    period_end: list[float] = []

    def close(end: float) -> Occupancy:
        fresh = {n: j for n, j in latest.items() if end - j.ts <= config.max_age_s}
        present = [j.presence.present for j in fresh.values() if j.presence is not None]
        counts = [
            c
            for j in fresh.values()
            for c in (
                j.presence.n_persons if j.presence is not None else None,
                j.vitals.n_persons if j.vitals is not None else None,
            )
            if c is not None
        ]
        return Occupancy(
            ts=end,
            room=config.room,
            present=any(present) if present else None,
            n_persons=max(counts) if counts else None,
            nodes=tuple(sorted(fresh.items())),
        )

    def on_joined(item: JoinedPose) -> tuple[Occupancy, ...]:
        if not period_end:
            period_end.append(math.floor(item.ts / config.period_s + 1) * config.period_s)
        out: list[Occupancy] = []
        while item.ts >= period_end[0]:
            if latest:
                out.append(close(period_end[0]))
            period_end[0] += config.period_s
            if item.ts - period_end[0] > config.max_age_s:  # a long gap: skip empty periods
                period_end[0] = math.floor(item.ts / config.period_s + 1) * config.period_s
        latest[item.node_id] = item
        return tuple(out)

    return ctx.process(on_joined)
