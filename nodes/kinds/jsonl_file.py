"""``jsonl_file``: output items as JSON event lines appended to a file."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
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
    or the run stops. A write failure (disk full, permission) ends the run with exit status 1
    and one error: silently losing output is worse than stopping.
    """
    target = ctx.resolve(config.path)
    return _File(config, ctx, target).operator()


class _File:
    """The open file of one run: opened when the sink is subscribed, closed once."""

    def __init__(self, config: JsonlFileConfig, ctx: BuildContext, target: Path) -> None:
        self.config, self.ctx, self.target = config, ctx, target
        self.handle: IO[str] | None = None
        self.written = 0

    def operator(self) -> Callable[[Observable[Any]], Observable[Any]]:
        sink = self.ctx.sink(self.write, self.flush, self.close)

        def operator(source: Observable[Any]) -> Observable[Any]:
            def subscribe(
                observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
            ) -> abc.DisposableBase:
                try:
                    self.target.parent.mkdir(parents=True, exist_ok=True)
                    self.handle = self.target.open(
                        "a" if self.config.append else "w", encoding="utf-8"
                    )
                except OSError as exc:
                    observer.on_error(self.failure(exc))
                    return Disposable()
                return sink(source).subscribe(observer, scheduler=scheduler)

            return reactivex.create(subscribe)

        return operator

    def failure(self, exc: OSError) -> RuntimeFailure:
        return RuntimeFailure(f"{self.ctx.node_id}: cannot write {self.target}: {exc}")

    def write(self, item: Any) -> None:
        if self.handle is None:
            return
        name, fields = item_event(item, self.ctx.now(), self.config.decimals)
        line = to_json_line(Event(name, fields, "info", self.ctx.events.stamp()))
        try:
            self.handle.write(line + "\n")
            self.written += 1
            if self.written % self.config.flush_every == 0:
                self.handle.flush()
        except OSError as exc:
            self.close()  # a file that failed once is done: one error, not one per item
            raise self.failure(exc) from None
        self.ctx.metrics.gauges["written"] = self.written

    def flush(self) -> None:
        if self.handle is not None:
            try:
                self.handle.flush()
            except OSError as exc:
                self.close()
                raise self.failure(exc) from None

    def close(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            # what a failed flush left in the buffer fails again here: already reported
            with contextlib.suppress(OSError):
                handle.close()
