"""``stdout_events``: output items as JSON event lines on the run's event stream (stdout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field
from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig

from ..events import OUTPUT_ITEMS, item_event
from ..registry import registry


class StdoutEventsConfig(NodeConfig):
    decimals: int = Field(4, ge=1, le=8, description="Decimals kept in keypoint coordinates.")
    level: str = Field("info", pattern="^(debug|info|warn)$", description="Event level.")


@registry.sink(
    "stdout_events",
    config=StdoutEventsConfig,
    takes=OUTPUT_ITEMS,
    examples=("id: out\ntype: stdout_events\ninputs: [pose]",),
)
def build(
    config: StdoutEventsConfig, ctx: BuildContext
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Write each item as one ADR-100 event line: ``{"ts", "level", "event", "fields"}``.

    Poses become ``pose.frame`` events (``tick, n_persons, persons[{keypoints, confidence}]``
    as the reference cog, plus ``node_id``, ``ts_event``, ``ts_start``, ``latency_ms`` and
    ``backend``); vitals become ``vitals``, presence ``presence``. Lines go to the same stream
    as the run's own events (stdout for the CLI). Lines are flushed whenever the pipeline has no
    item waiting (so a live stream comes out line by line even when stdout is a pipe, and a
    fast replay in blocks) and when the input completes.
    """

    # Flushed whenever no item is waiting: line by line when live, in blocks in a fast replay.
    ctx.on_idle(ctx.events.flush)

    def write(item: Any) -> None:
        name, fields = item_event(item, ctx.now(), config.decimals)
        ctx.events.emit(name, fields, config.level, flush=False)  # type: ignore[arg-type]

    return ctx.sink(write, complete=ctx.events.flush)
