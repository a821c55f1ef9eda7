"""``join``: poses joined, per node and in event time, with the latest vitals and presence.

A keyed as-of left join driven by the pose stream (ports ``pose``, ``vitals``, ``presence``).
Decisions:

* **As of the pose's event time, not of arrival.** Each node keeps a short, time-ordered
  history of its vitals and presence; a pose at ``t`` takes the newest of each with event time
  in ``[t - tolerance_s, t]``. Items that arrive *before* older poses (a replay reads vitals
  lines while the poses of earlier frames are still being batched) are therefore matched as if
  they had come in order, so a replay gives the same output at any pacing.
* **A bounded wait for the slower side.** A pose whose time a side has not reached yet (that
  side's newest event time is older) waits, in processing time, at most ``max_wait_ms`` for it
  (a live vitals stream arriving later than the poses); then it goes out with what there is,
  counted as ``late``. A side that has given nothing yet is waited for too (else the first
  poses would depend on which thread ran first); one that has completed is not. So a wired side
  that stays silent delays every pose by ``max_wait_ms``: lower it for live input whose side
  may be silent. Poses go out in the order they came.
* **Server-wide items.** A sensing-server's classification and vital_signs are the server's
  estimate over all nodes (node 0): a pose of a node that has none of its own takes node 0's.
* **State expires in event time**: entries older than ``tolerance_s`` before the node's newest
  pose are forgotten (the newest older one is kept, for its age), at most ``MAX_HISTORY`` a node.

Counted (gauges): ``matched`` (a pose with both sides found, or the one side wired), ``missing``
(a side found nothing, ever), ``stale`` (a side had only items older than ``tolerance_s``),
``late`` (a wait gave up).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import reactivex
from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, SerialDisposable

from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig

from ..items import JoinedPose, Pose, Presence, Vitals
from ..registry import registry

__all__ = ["MAX_HISTORY", "JoinConfig", "build"]

#: Items of one side kept per node (a vitals packet a second: minutes of history).
MAX_HISTORY = 256
_SIDES = ("vitals", "presence")


class JoinConfig(NodeConfig):
    tolerance_s: float = Field(
        5.0,
        gt=0,
        description="A pose takes the newest vitals and presence of its node whose event time "
        "lies at most this long (s) before it; older ones are reported as null with their "
        "age. Edge vitals come about once a second, a server's presence with every update.",
    )
    max_wait_ms: float = Field(
        200.0,
        ge=0,
        description="Longest a pose waits (processing time) for a side that has not reached "
        "its event time yet (live input); then it goes out with what there is (counted late).",
    )


@dataclass
class _Side:
    """One side's per-node history, ordered by event time."""

    by_node: dict[int, deque[tuple[float, Any]]] = field(default_factory=dict)
    newest: float = float("-inf")  # the newest event time seen on this side (its watermark)
    done: bool = False  # completed

    def add(self, item: Vitals | Presence) -> None:
        self.newest = max(self.newest, item.ts)
        history = self.by_node.setdefault(item.node_id, deque(maxlen=MAX_HISTORY))
        if history and item.ts < history[-1][0]:  # out of order: keep the history sorted
            entries = list(history)
            bisect.insort(entries, (item.ts, item), key=lambda e: e[0])
            history.clear()
            history.extend(entries)
        else:
            history.append((item.ts, item))

    def as_of(self, node: int, t: float) -> tuple[float, Any] | None:
        """The newest entry of ``node`` (else of node 0) at or before ``t``."""
        for key in (node, 0):
            history = self.by_node.get(key)
            if not history:
                continue
            k = bisect.bisect_right(history, t, key=lambda e: e[0])
            if k:
                return history[k - 1]
        return None

    def expire(self, node: int, before: float) -> None:
        """Forget entries of ``node`` older than ``before`` but the newest of them."""
        history = self.by_node.get(node)
        while history is not None and len(history) > 1 and history[1][0] <= before:
            history.popleft()

    def waits_for(self, t: float) -> bool:
        return not self.done and self.newest < t


@registry.transform(
    "join",
    config=JoinConfig,
    inputs={"pose": Pose, "vitals": Vitals, "presence": Presence},
    gives=JoinedPose,
    examples=(
        "id: joined\ntype: join\ninputs: {pose: smooth, vitals: replay, presence: replay}\n"
        "config:\n  tolerance_s: 5.0\n  max_wait_ms: 200",
    ),
)
def build(
    config: JoinConfig, ctx: BuildContext
) -> Callable[[Mapping[str, Observable[Any]]], Observable[JoinedPose]]:
    """Join each pose with the latest vitals and presence of its node, as of its event time.

    Each output is a ``JoinedPose`` rendered as ``pose.frame`` with every field of the pose plus
    ``vitals`` and ``presence`` (the item's fields and ``age_s``, or null) and
    ``vitals_age_s`` / ``presence_age_s`` (the age of the newest item there was, also when it
    was too old to join; null when there was none). Every port is wired (lint); a source that
    gives no vitals simply leaves them null. Deterministic in event time; see the module
    docstring for the bounded wait on live input and the counts.
    """
    tolerance, wait_s = config.tolerance_s, config.max_wait_ms / 1000.0
    gauges = ctx.metrics.gauges
    gauges.update(matched=0, missing=0, stale=0, late=0)

    def operator(ports: Mapping[str, Observable[Any]]) -> Observable[JoinedPose]:
        def subscribe(
            observer: abc.ObserverBase[JoinedPose], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            sides = {name: _Side() for name in _SIDES}
            queue: deque[tuple[Pose, float]] = deque()  # poses waiting, with their deadline
            timer = SerialDisposable()
            wired = [name for name in _SIDES if name in ports]

            def emit(pose: Pose, gave_up: bool) -> None:
                found: dict[str, tuple[float, Any] | None] = {}
                for name in wired:
                    entry = sides[name].as_of(pose.node_id, pose.ts)
                    found[name] = entry
                    sides[name].expire(pose.node_id, pose.ts - tolerance)
                if gave_up:
                    gauges["late"] += 1
                joined: dict[str, Any] = {}
                ok = True
                for name, entry in found.items():
                    if entry is None:
                        gauges["missing"] += 1
                        ok = False
                        joined[name], joined[f"{name}_age_s"] = None, None
                        continue
                    age = pose.ts - entry[0]
                    joined[f"{name}_age_s"] = age
                    if age > tolerance:
                        gauges["stale"] += 1
                        ok = False
                        joined[name] = None
                    else:
                        joined[name] = entry[1]
                if ok:
                    gauges["matched"] += 1
                observer.on_next(JoinedPose(pose, **joined))

            def drain() -> None:
                """Send every pose at the head of the queue that need not wait any more."""
                now = ctx.now()
                while queue:
                    pose, deadline = queue[0]
                    waiting = any(sides[n].waits_for(pose.ts) for n in wired)
                    if waiting and now < deadline:
                        timer.disposable = ctx.scheduler.schedule_relative(
                            max(0.0, deadline - now), lambda _s, _t: drain()
                        )
                        return
                    queue.popleft()
                    emit(pose, gave_up=waiting)
                timer.disposable = None

            def on_pose(pose: Pose) -> None:
                queue.append((pose, ctx.now() + wait_s))
                drain()

            def on_side(name: str) -> Callable[[Any], None]:
                def add(item: Any) -> None:
                    sides[name].add(item)
                    if queue:
                        drain()

                return add

            def on_done(name: str) -> Callable[[], None]:
                def done() -> None:
                    if name != "pose":
                        sides[name].done = True  # nothing more to wait for on this side
                        if queue:
                            drain()
                        return
                    # the pose stream drives the join: its end is the join's end
                    for n in wired:
                        sides[n].done = True
                    drain()
                    observer.on_completed()

                return done

            subs = CompositeDisposable(timer)
            for name, stream in ports.items():
                on_next = on_pose if name == "pose" else on_side(name)
                subs.add(stream.subscribe(on_next, observer.on_error, on_done(name)))
            return subs

        return reactivex.create(subscribe)

    return operator
