"""Run one source node on a real I/O loop (``IoLoop``, its own thread), as the runtime does,
and record what it gives and reports, with wall-clock receipt times; tests wait on conditions
(never bare sleeps), each wait bounded by a timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from posecog.graph.aio import IoLoop
from posecog.graph.context import BuildContext, RunServices
from posecog.graph.events import Event, EventStream, to_json_line
from posecog.graph.registry import Registry

__all__ = ["LiveRun"]


class LiveRun:
    """``with LiveRun(registry, "http_poll", config) as run: run.wait(lambda: run.frames)``."""

    def __init__(self, registry: Registry, kind: str, config: dict[str, Any]) -> None:
        k = registry.get(kind)
        self.io = IoLoop(f"io:{kind}")
        self._cond = threading.Condition()
        self.items: list[tuple[float, Any]] = []  # (time.monotonic() at receipt, item)
        self.events: list[tuple[float, Event]] = []
        stream = EventStream()
        stream.listen(self._on_event)
        self.services = RunServices(events=stream, io=self.io)
        self.ctx = BuildContext(kind, kind, self.services, self.io.scheduler)
        self.observable = k.build(k.config.model_validate(config), self.ctx)
        self.error: Exception | None = None
        self._sub: Any = None

    # -- recording --------------------------------------------------------------------------------

    def _on_event(self, ev: Event) -> None:
        with self._cond:
            self.events.append((time.monotonic(), ev))
            self._cond.notify_all()

    def _on_next(self, item: Any) -> None:
        with self._cond:
            self.items.append((time.monotonic(), item))
            self._cond.notify_all()

    def _on_error(self, exc: Exception) -> None:
        with self._cond:
            self.error = exc
            self._cond.notify_all()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> LiveRun:
        self._sub = self.observable.subscribe(self._on_next, self._on_error)
        return self

    def stop(self) -> None:
        """Dispose the subscription: a task cancellation (the loop stays, for ``closed``)."""
        if self._sub is not None:
            self._sub.dispose()

    def dispose(self) -> None:
        self.stop()
        self.io.close()

    def __enter__(self) -> LiveRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    # -- queries ----------------------------------------------------------------------------------

    def wait(self, predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every item and event); fail the
        test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"condition not met within {timeout} s")
                self._cond.wait(min(left, 0.05))  # gauges change without a notification
            return result

    def closed(self, timeout: float = 1.0) -> bool:
        """True when the kernel has closed the source's connection within ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.gauges.get("state") != "closed":
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def of_type(self, cls: type) -> list[Any]:
        with self._cond:
            return [item for _, item in self.items if isinstance(item, cls)]

    def named(self, name: str) -> list[Event]:
        with self._cond:
            return [ev for _, ev in self.events if ev.event == name]

    def event_time(self, name: str) -> float:
        with self._cond:
            return next(t for t, ev in self.events if ev.event == name)

    def event_lines(self) -> str:
        with self._cond:
            return "\n".join(to_json_line(ev) for _, ev in self.events)

    @property
    def gauges(self) -> dict[str, Any]:
        return self.ctx.metrics.gauges

    @property
    def drops(self) -> dict[str, int]:
        return dict(self.ctx.metrics.drops)
