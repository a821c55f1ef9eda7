"""Run one source node on a real I/O loop (``IoLoop``, on its own thread), as the runtime does,
and record what it gives and reports, with wall-clock receipt times; tests wait on conditions
(never bare sleeps), each wait bounded by a timeout."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler

from posecog.graph.aio import IoLoop
from posecog.graph.context import BuildContext, RunServices
from posecog.graph.events import Event, EventStream, to_json_line
from posecog.graph.registry import Registry

__all__ = ["LivePipeline", "LiveRun"]

#: Longest wait, when the run ends, for the source's task to finish its close by itself
#: before the loop is closed (the kernel's close timeout, and some slack).
_SETTLE_S = 2.5


class LiveRun:
    """``with LiveRun(registry, "http_poll", config) as run: run.wait(lambda: run.frames)``.

    The node's ``BuildContext`` gets a ``RunServices`` with ``io``: an ``IoLoop`` of its own
    (thread ``io:<kind>``), closed when the run ends. ``stop`` disposes the subscription only
    (the loop stays, so ``idle`` and ``closed`` can look at what the dispose did);
    ``dispose`` / ``__exit__`` dispose it, let its task finish (bounded), close the loop and
    join its thread."""

    def __init__(self, registry: Registry, kind: str, config: dict[str, Any]) -> None:
        k = registry.get(kind)
        self.io = IoLoop(f"io:{kind}", on_error=self._on_bug)
        self._cond = threading.Condition()
        self.items: list[tuple[float, Any]] = []  # (time.monotonic() at receipt, item)
        self.events: list[tuple[float, Event]] = []
        stream = EventStream()
        stream.listen(self._on_event)
        self.services = RunServices(events=stream, io=self.io)
        self.scheduler = AsyncIOThreadSafeScheduler(self.io.loop)
        self.ctx = BuildContext(kind, kind, self.services, self.scheduler)
        self.observable = k.build(k.config.model_validate(config), self.ctx)
        #: What ended the stream (``on_error``), or a bug that escaped a task of the loop.
        self.error: BaseException | None = None
        self._sub: Any = None
        self._closed = False

    # -- recording --------------------------------------------------------------------------------

    def _on_event(self, ev: Event) -> None:
        with self._cond:
            self.events.append((time.monotonic(), ev))
            self._cond.notify_all()

    def _on_next(self, item: Any) -> None:
        with self._cond:
            self.items.append((time.monotonic(), item))
            self._cond.notify_all()

    def _on_error(self, exc: BaseException) -> None:
        with self._cond:
            self.error = exc
            self._cond.notify_all()

    def _on_bug(self, exc: BaseException) -> None:
        self._on_error(exc)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> LiveRun:
        self._sub = self.observable.subscribe(self._on_next, self._on_error)
        return self

    def stop(self) -> None:
        """Dispose the subscription: a task cancellation (the loop stays, for ``idle``)."""
        if self._sub is not None:
            self._sub.dispose()

    def dispose(self) -> None:
        """``stop``, let the source's task finish its close (at most ``_SETTLE_S``), then close
        the I/O loop and join its thread. Idempotent."""
        if self._closed:
            return
        self.stop()
        self.idle(_SETTLE_S)
        self._closed = True
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

    def idle(self, timeout: float = 1.0) -> bool:
        """True when no task is left on the I/O loop within ``timeout``: the source's task (and
        any its client library started) has ended, its connection closed: nothing waits on the
        network. Always True once the loop is closed."""
        if self._closed:
            return True

        async def others_done() -> bool:
            me = asyncio.current_task()
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout
            while others := [t for t in asyncio.all_tasks() if t is not me]:
                left = end - loop.time()
                if left <= 0:
                    return False
                await asyncio.wait(others, timeout=left)
            return True

        future = asyncio.run_coroutine_threadsafe(others_done(), self.io.loop)
        try:
            return future.result(timeout + 1.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return False

    def closed(self, timeout: float = 1.0) -> bool:
        """True when the kernel has marked the source's connection ``closed`` (gauge ``state``)
        within ``timeout``: its read loop has ended (the reader's ``close`` may still run;
        ``idle`` waits for that too)."""
        with contextlib.suppress(AssertionError):
            self.wait(lambda: self.gauges.get("state") == "closed", timeout)
            return True
        return False

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


class LivePipeline:
    """``with LivePipeline(path, overrides, taps=("pose",)) as run: run.wait(...)``: a pipeline
    file (or ``text`` in its place) run by the real ``Runtime`` on a thread of its own, as the
    CLI runs it, the items of the ``taps`` recorded (on the pipeline thread). ``stop`` asks
    the run to stop as SIGTERM does (sources disposed, in-flight items drained to the sinks)
    and joins it."""

    def __init__(
        self,
        path: Any,
        overrides: dict[str, Any] | None = None,
        *,
        text: str | None = None,
        taps: tuple[str, ...] = (),
        registry: Registry | None = None,
    ) -> None:
        from posecog.graph.lint import lint_file
        from posecog.graph.runtime import Runtime
        from posecog.nodes.registry import default_registry

        reg = registry or default_registry()
        spec, problems = lint_file(path, reg, overrides, text=text)
        assert not problems, problems
        self._cond = threading.Condition()
        self.events: list[Event] = []
        stream = EventStream()
        stream.listen(self._record_event)
        self.runtime = Runtime(spec, reg, stream, stats_interval=0)
        self.taps: dict[str, list[Any]] = {t: [] for t in taps}
        for t in taps:
            self.runtime.graph.tap(t, lambda x, t=t: self._record(t, x))
        self.status: int | None = None
        self._thread = threading.Thread(target=self._run, name="runtime", daemon=True)

    def _run(self) -> None:
        self.status = self.runtime.run()
        with self._cond:
            self._cond.notify_all()

    def _record(self, tap: str, item: Any) -> None:
        with self._cond:
            self.taps[tap].append(item)
            self._cond.notify_all()

    def _record_event(self, ev: Event) -> None:
        with self._cond:
            self.events.append(ev)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy or the run ended; fail the test after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate()):
                left = deadline - time.monotonic()
                if self.status is not None or left <= 0:
                    raise AssertionError(f"condition not met (run status {self.status})")
                self._cond.wait(min(left, 0.05))
            return result

    def named(self, name: str) -> list[Event]:
        with self._cond:
            return [ev for ev in self.events if ev.event == name]

    def start(self) -> LivePipeline:
        self._thread.start()
        return self

    def stop(self) -> int | None:
        self.runtime.stop()
        self._thread.join(15)
        assert not self._thread.is_alive(), "the run did not end"
        return self.status

    def __enter__(self) -> LivePipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
