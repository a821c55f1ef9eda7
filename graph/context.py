"""What a node's builder gets: its id, clocks and scheduler, the event stream, its metrics, and
the per-item helpers that give every node error isolation and latency measurement for free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .aio import IoLoop
from .errors import Drop, RuntimeFailure
from .events import EventStream
from .metrics import NodeMetrics, RunMetrics
from .secrets import REDACT

__all__ = ["BuildContext", "RunServices"]

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")

#: Seconds between two WARN events for the same node and drop reason.
WARN_INTERVAL = 1.0


@dataclass
class RunServices:
    """What all nodes of one run share. The runtime and the test harness each make one."""

    events: EventStream
    metrics: RunMetrics = field(default_factory=RunMetrics)
    #: Processing-time clock in seconds (latency, rate limits); virtual under the harness.
    clock: Callable[[], float] = time.perf_counter
    #: Where relative paths in node configs resolve (the directory the user ran from).
    base_dir: Path = field(default_factory=Path.cwd)
    #: Progress bars and other terminal niceties are allowed (stderr is a terminal).
    interactive: bool = False
    idle_callbacks: list[Callable[[], None]] = field(default_factory=list)
    close_callbacks: list[Callable[[], None]] = field(default_factory=list)
    #: The run's I/O loop (network sources and sinks run their tasks on it); the harness
    #: gives a virtual-time one.
    io: IoLoop | None = None


class BuildContext:
    """Per-node view of the run. Builders keep what they need; nothing here does I/O."""

    def __init__(
        self, node_id: str, kind: str, services: RunServices, scheduler: abc.SchedulerBase
    ) -> None:
        self.node_id = node_id
        self.kind = kind
        self.services = services
        #: Scheduler for this node's time-based behaviour (pacing, polling, timeouts). A source
        #: gets its own thread's scheduler; transforms and sinks get the pipeline thread's.
        self.scheduler = scheduler
        self.metrics: NodeMetrics = services.metrics.node(node_id, kind)
        #: The nodes this one reads from: id -> (kind, validated config), filled before this
        #: node is built, so a builder can check its contract with its neighbours (a model's
        #: window against the window node feeding it) and refuse the graph before it runs.
        self.upstream: dict[str, tuple[str, Any]] = {}
        self._last_warn: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    # -- clocks, paths, events ----------------------------------------------------------------

    def now(self) -> float:
        """Processing-time clock (seconds, arbitrary origin). Never use it as event time."""
        return self.services.clock()

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.services.base_dir / p

    @property
    def events(self) -> EventStream:
        return self.services.events

    def emit(self, event: str, fields: dict[str, Any] | None = None, level: str = "info") -> None:
        payload = {"node": self.node_id, **(fields or {})}
        self.services.events.emit(event, payload, level)  # type: ignore[arg-type]

    def on_idle(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the pipeline thread whenever no item is waiting (batch flushes)."""
        self.services.idle_callbacks.append(callback)

    @property
    def io(self) -> IoLoop:
        """The run's I/O loop: where network sources and sinks run (see ``graph.connection``)."""
        if self.services.io is None:
            raise RuntimeError(f"{self.node_id} ({self.kind}): this run has no I/O loop")
        return self.services.io

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the run ends, after the graph has drained."""
        self.services.close_callbacks.append(callback)

    def record_latency(self, arrived: float) -> None:
        """Record end-to-end latency for an item that reached a sink (``arrived`` from ``now``)."""
        if arrived > 0:
            self.services.metrics.end_to_end.add(max(0.0, self.now() - arrived))

    # -- drops ---------------------------------------------------------------------------------

    def drop(self, reason: str, detail: str = "", count: int = 1, warn: bool = True) -> None:
        """Count ``count`` dropped items under ``reason``; WARN at most once a second per reason.

        ``warn=False`` counts without a WARN event: for items that are expected to be left out
        (a recording's feature lines, a server's repeated updates), not for bad input.
        """
        self.metrics.drops[reason] += count
        if not warn:
            return
        self._pending[reason] = self._pending.get(reason, 0) + count
        now = self.now()
        last = self._last_warn.get(reason)
        if last is None or now - last >= WARN_INTERVAL:
            self._last_warn[reason] = now
            fields: dict[str, Any] = {
                "kind": self.kind,
                "reason": reason,
                "count": self._pending.pop(reason),
                "total": self.metrics.drops[reason],
            }
            if detail:  # masked before it is cut: half a token would no longer match
                fields["detail"] = REDACT(detail)[:300]
            self.emit("item.dropped", fields, "warn")

    # -- per-item operators ----------------------------------------------------------------------

    def process(
        self, fn: Callable[[T], Iterable[U] | None]
    ) -> Callable[[Observable[T]], Observable[U]]:
        """Operator applying ``fn`` to each item, emitting what it returns (zero or more items).

        An exception in ``fn`` drops that item only: ``Drop(reason)`` is counted under its
        reason, any other exception under ``error:<ExceptionType>``; the stream goes on.
        The time spent in ``fn`` is this node's processing latency. Exceptions raised further
        downstream are not caught here.
        """

        def operator(source: Observable[T]) -> Observable[U]:
            def subscribe(
                observer: abc.ObserverBase[U], scheduler: abc.SchedulerBase | None = None
            ) -> abc.DisposableBase:
                clock, latency = self.services.clock, self.metrics.latency

                def on_next(item: T) -> None:
                    t0 = clock()
                    try:
                        result = fn(item)
                        outs = () if result is None else tuple(result)
                    except Drop as d:
                        self.drop(d.reason, d.detail)
                        return
                    except RuntimeFailure as exc:  # unrecoverable: ends the run (exit 1)
                        observer.on_error(exc)
                        return
                    except Exception as exc:  # isolation: one bad item never ends the stream
                        self.drop(f"error:{type(exc).__name__}", str(exc))
                        return
                    finally:
                        latency.add(clock() - t0)
                    for out in outs:
                        observer.on_next(out)

                return source.subscribe(
                    on_next, observer.on_error, observer.on_completed, scheduler=scheduler
                )

            return reactivex.create(subscribe)

        return operator

    def map(self, fn: Callable[[T], U]) -> Callable[[Observable[T]], Observable[U]]:
        """``process`` for one-to-one nodes."""
        return self.process(lambda item: (fn(item),))

    def _isolated(self, fn: Callable[[], V], count: int = 1) -> tuple[bool, V | None]:
        """Run ``fn()``: ``(True, result)``, or ``(False, None)`` with the failure counted as
        ``count`` drops (``Drop`` under its reason, anything else as ``error:<Type>``).
        ``RuntimeFailure`` propagates: it ends the run."""
        try:
            return True, fn()
        except Drop as d:
            self.drop(d.reason, d.detail, count=count)
        except RuntimeFailure:
            raise
        except Exception as exc:
            self.drop(f"error:{type(exc).__name__}", str(exc), count=count)
        return False, None

    def sink(
        self,
        write: Callable[[T], None],
        complete: Callable[[], None] | None = None,
        close: Callable[[], None] | None = None,
    ) -> Callable[[Observable[T]], Observable[Any]]:
        """Operator of a sink: ``write(item)`` per item with ``process``'s isolation (a failing
        item is dropped and counted; ``RuntimeFailure`` ends the run), its time as the node's
        latency and the item's source-to-sink latency (its ``arrived``) recorded; on
        completion ``complete()`` (flush), whose ``RuntimeFailure`` or ``OSError`` ends the
        run; ``close()`` once on completion, error or dispose (release what it holds)."""

        def operator(source: Observable[T]) -> Observable[Any]:
            def subscribe(
                observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
            ) -> abc.DisposableBase:
                clock, latency = self.services.clock, self.metrics.latency
                closed = [False]

                def release() -> None:
                    if close is not None and not closed[0]:
                        closed[0] = True
                        try:
                            close()
                        except Exception as exc:  # reported once, never a traceback
                            self.drop(f"error:{type(exc).__name__}", f"on close: {exc}")

                def fail(exc: Exception) -> None:
                    release()
                    observer.on_error(exc)

                def on_next(item: T) -> None:
                    t0 = clock()
                    try:
                        self._isolated(lambda: write(item))
                    except RuntimeFailure as exc:
                        fail(exc)
                        return
                    latency.add(clock() - t0)
                    self.record_latency(getattr(item, "arrived", 0.0))

                def on_completed() -> None:
                    try:
                        if complete is not None:
                            complete()
                    except (RuntimeFailure, OSError) as exc:
                        what = (
                            exc
                            if isinstance(exc, RuntimeFailure)
                            else RuntimeFailure(f"{self.node_id}: {exc}")
                        )
                        fail(what)
                        return
                    release()
                    observer.on_completed()

                sub = source.subscribe(on_next, fail, on_completed, scheduler=scheduler)

                def dispose() -> None:
                    sub.dispose()
                    release()

                return Disposable(dispose)

            return reactivex.create(subscribe)

        return operator

    def batch(
        self,
        run: Callable[[list[T]], Iterable[U]],
        max_size: int,
        check: Callable[[T], None] | None = None,
    ) -> Callable[[Observable[T]], Observable[U]]:
        """Operator of a batching transform: items are collected (``check(item)`` first, with
        ``process``'s isolation: raise ``Drop`` to reject one) and ``run(batch)`` gives the
        outputs when ``max_size`` are waiting, when the pipeline goes idle (so a live stream
        pays no wait and a fast replay runs at batch size) and on completion. If ``run`` fails
        on a batch, its items are run one by one, so only the ones that fail on their own are
        dropped. Each item's latency is its share of its batch's time."""
        flushers: list[Callable[[], None]] = []

        def flush_all() -> None:
            for flush in list(flushers):
                flush()

        self.on_idle(flush_all)

        def operator(source: Observable[T]) -> Observable[U]:
            def subscribe(
                observer: abc.ObserverBase[U], scheduler: abc.SchedulerBase | None = None
            ) -> abc.DisposableBase:
                pending: list[T] = []
                clock, latency = self.services.clock, self.metrics.latency

                def flush() -> None:
                    if not pending:
                        return
                    batch = pending[:]
                    pending.clear()
                    t0 = clock()
                    outs: list[U] = []
                    try:
                        try:
                            outs = list(run(batch))
                        except RuntimeFailure:
                            raise
                        except Exception:  # find the item(s) that fail on their own
                            for item in batch:

                                def alone(item: T = item) -> list[U]:
                                    return list(run([item]))

                                ok, one = self._isolated(alone)
                                if ok and one is not None:
                                    outs.extend(one)
                    except RuntimeFailure as exc:
                        observer.on_error(exc)
                        return
                    share = (clock() - t0) / len(batch)
                    for _ in batch:
                        latency.add(share)
                    for out in outs:
                        observer.on_next(out)

                def on_next(item: T) -> None:
                    if check is not None:
                        try:
                            ok, _ = self._isolated(lambda: check(item))
                        except RuntimeFailure as exc:
                            observer.on_error(exc)
                            return
                        if not ok:
                            return
                    pending.append(item)
                    if len(pending) >= max_size:
                        flush()

                def finish() -> None:
                    flush()
                    if flush in flushers:
                        flushers.remove(flush)

                def on_error(exc: Exception) -> None:
                    finish()
                    observer.on_error(exc)

                def on_completed() -> None:
                    finish()
                    observer.on_completed()

                flushers.append(flush)
                sub = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler)

                def dispose() -> None:
                    if flush in flushers:
                        flushers.remove(flush)
                    sub.dispose()

                return Disposable(dispose)

            return reactivex.create(subscribe)

        return operator
