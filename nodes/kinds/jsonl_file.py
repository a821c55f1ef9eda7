"""``jsonl_file``: output items as JSON event lines appended to a file."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

import reactivex
from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from posecog.graph.context import BuildContext
from posecog.graph.errors import RuntimeFailure
from posecog.graph.events import Event, to_json_line
from posecog.graph.node import NodeConfig

from ..events import OUTPUT_ITEMS, item_event
from ..registry import registry


class JsonlFileConfig(NodeConfig):
    path: str = Field(
        description="File to write; relative paths resolve against the working "
        "directory. Parent folders are created."
    )
    append: bool = Field(False, description="Append to an existing file instead of replacing it.")
    flush_every: int = Field(50, ge=1, description="Flush after this many lines (and at the end).")
    decimals: int = Field(4, ge=1, le=8, description="Decimals kept in keypoint coordinates.")


@registry.sink(
    "jsonl_file",
    config=JsonlFileConfig,
    takes=OUTPUT_ITEMS,
    examples=("id: save\ntype: jsonl_file\ninputs: [pose]\nconfig:\n  path: poses.jsonl",),
)
def build(
    config: JsonlFileConfig, ctx: BuildContext
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Write each item as one event line (the same envelope as ``stdout_events``) to a file.

    The file is opened when the pipeline starts and closed, flushed, when its input completes
    or the run stops. A write failure (disk full, permission) ends the run with exit status 1:
    silently losing output is worse than stopping.
    """
    target = ctx.resolve(config.path)

    def operator(source: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            handle: IO[str] | None = None
            written = 0

            def fail(exc: OSError) -> None:
                observer.on_error(RuntimeFailure(f"{ctx.node_id}: cannot write {target}: {exc}"))

            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                handle = target.open("a" if config.append else "w", encoding="utf-8")
            except OSError as exc:
                fail(exc)
                return Disposable()

            def close() -> None:
                nonlocal handle
                if handle is not None:
                    try:
                        handle.close()
                    finally:
                        handle = None

            def on_next(item: Any) -> None:
                nonlocal written
                if handle is None:
                    return
                name, fields = item_event(item, ctx.now(), config.decimals)
                try:
                    handle.write(to_json_line(Event(name, fields, "info", ctx.events.stamp())))
                    handle.write("\n")
                    written += 1
                    if written % config.flush_every == 0:
                        handle.flush()
                except OSError as exc:
                    close()
                    fail(exc)
                    return
                ctx.record_latency(getattr(item, "arrived", 0.0))
                ctx.metrics.gauges["written"] = written

            def on_completed() -> None:
                try:
                    close()
                except OSError as exc:
                    fail(exc)
                    return
                observer.on_completed()

            sub = source.subscribe(on_next, observer.on_error, on_completed, scheduler=scheduler)

            def dispose() -> None:
                sub.dispose()
                close()

            return Disposable(dispose)

        return reactivex.create(subscribe)

    return operator
