"""The engine owns connections: sources and sinks implement a small protocol, the kernel runs
the retry loop, the reports and the connection state (as Benthos's ``AsyncReader`` does).

A network **source** implements ``Reader``::

    class MyReader:
        async def connect(self) -> Mapping[str, Any] | None   # extra fields for source.up
        async def read(self) -> Iterable[Item]                # the next items (may be none)
        async def close(self) -> None                         # release; called after a loss too

A reader that learns of items in loop callbacks (a socket's readiness) may instead hand each
one to ``self.emit(item)`` as it comes (the kernel sets ``emit`` before ``connect`` when the
reader has that attribute), with ``read`` waiting for the connection's end: one task step
fewer per item on the live path.

``connect`` and ``read`` raise ``NotConnected(reason)`` when the peer cannot be reached or the
connection is lost; the kernel closes the reader, reports ``source.down {url, reason,
retry_in_s}`` (warn) once at the start of the outage, waits (capped exponential backoff with
jitter) and connects again; when it connects it reports ``source.up {url, down_s, retries}``
with the outage length. ``EndOfInput`` from ``read`` completes the source; ``RuntimeFailure``
ends the run (exit 1, ``source.down`` at level error). Anything else escaping a reader is a bug
(traceback, exit 1). Cancellation (dispose) closes the reader.

A network **sink** implements ``Writer`` (``connect``, ``write(item)``, ``close``) and gets the
same: ``write`` raising ``NotConnected`` puts the item back, reconnects with backoff
(``sink.down`` / ``sink.up``) and writes it again; the items that arrive meanwhile wait in a
bounded queue, the oldest dropped and counted (``overflow``) when it is full, or, with
``wait=True`` (a finite source that must lose nothing), the pipeline thread waits for room.
A writer whose client keeps written items until the peer acknowledges them (an MQTT client's
in-flight window) may have ``async def flush()``: awaited once the input has completed and
every item was written, before the sink completes; ``NotConnected`` from it reconnects and
flushes again. Items still queued when the run cancels the sink are counted (``unsent``).

Both run as tasks on the run's I/O loop (``ctx.io``). Gauges, per node: ``state``
(``connecting``, ``up``, ``down``, ``closed``), ``up``, ``connects``, ``outages``,
``down_s_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import reactivex
from reactivex import Observable, abc

from .backoff import Backoff
from .context import BuildContext
from .errors import RuntimeFailure

__all__ = [
    "EndOfInput",
    "NotConnected",
    "Reader",
    "Retry",
    "Writer",
    "reader_source",
    "writer_sink",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)

#: Longest wait for a reader's or writer's ``close`` (s).
CLOSE_TIMEOUT = 2.0
#: Longest the pipeline thread waits for room in a ``wait=True`` sink's queue before it drops
#: the oldest item after all (s): a wedged I/O loop must not hang the run.
WAIT_TIMEOUT = 30.0


class NotConnected(Exception):
    """The peer cannot be reached, or the connection was lost: retried by the kernel."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class EndOfInput(Exception):
    """The reader has nothing more to give: the source completes."""


class Reader(Protocol[T_co]):
    async def connect(self) -> Mapping[str, Any] | None: ...
    async def read(self) -> Iterable[T_co]: ...
    async def close(self) -> None: ...


class Writer(Protocol[T_contra]):
    async def connect(self) -> Mapping[str, Any] | None: ...
    async def write(self, item: T_contra) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class Retry:
    """How the kernel retries a connection: ``first_s`` doubling (``factor``) up to ``max_s``,
    each delay shortened by up to ``jitter`` (a fraction)."""

    first_s: float = 0.1
    max_s: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2

    def backoff(self) -> Backoff:
        return Backoff(self.first_s, self.max_s, self.factor, self.jitter)


class _Link:
    """The state and reports of one connection (a source's or a sink's)."""

    def __init__(self, ctx: BuildContext, role: str, address: str, retry: Retry) -> None:
        self.ctx, self.role, self.address = ctx, role, address
        self.backoff = retry.backoff()
        self.down_since: float | None = None
        self.gauges = ctx.metrics.gauges
        self.gauges.update(
            {"state": "connecting", "up": False, "connects": 0, "outages": 0, "down_s_total": 0.0}
        )

    def up(self, extra: Mapping[str, Any] | None) -> None:
        retries = self.backoff.failures
        self.backoff.reset()
        self.gauges.update(state="up", up=True)
        self.gauges["connects"] += 1
        fields: dict[str, Any] = {"url": self.address}
        if self.down_since is not None:
            down_s = round(self.ctx.now() - self.down_since, 3)
            self.down_since = None
            self.gauges["down_s_total"] = round(self.gauges["down_s_total"] + down_s, 3)
            fields.update(down_s=down_s, retries=retries)
        elif self.gauges["connects"] > 1:
            fields.update(down_s=0.0, retries=retries)
        fields.update(extra or {})
        self.ctx.emit(f"{self.role}.up", fields)

    def down(self, reason: str) -> float:
        """Report the start of an outage (once); the delay before the next attempt."""
        delay = self.backoff.next()
        self.gauges.update(state="down", up=False)
        if self.down_since is None:
            self.down_since = self.ctx.now()
            self.gauges["outages"] += 1
            fields = {"url": self.address, "reason": reason, "retry_in_s": delay}
            self.ctx.emit(f"{self.role}.down", fields, "warn")
        return delay

    def fatal(self, exc: RuntimeFailure) -> None:
        self.gauges.update(state="closed", up=False)
        self.ctx.emit(f"{self.role}.down", {"url": self.address, "error": str(exc)}, "error")


async def _close(closer: Reader[Any] | Writer[Any]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(closer.close(), CLOSE_TIMEOUT)


async def _supervise(
    link: _Link,
    conn: Reader[Any] | Writer[Any],
    observer: abc.ObserverBase[Any],
    session: Callable[[], Awaitable[bool]],
) -> None:
    """The kernel's loop around one connection: run ``session`` (connect, then read or write)
    until it says it is done (complete), reconnecting with backoff whenever it raises
    ``NotConnected``; a ``RuntimeFailure`` ends the stream with an error, a cancellation
    closes. The connection is closed on every way out."""
    try:
        while True:
            try:
                if await session():
                    link.gauges["state"] = "closed"
                    await _close(conn)
                    observer.on_completed()
                    return
            except NotConnected as exc:
                await _close(conn)
                await asyncio.sleep(link.down(exc.reason))
    except RuntimeFailure as exc:
        link.fatal(exc)
        await _close(conn)
        observer.on_error(exc)
    except asyncio.CancelledError:
        link.gauges.update(state="closed", up=False)
        await _close(conn)
        raise


def reader_source(
    ctx: BuildContext,
    open_reader: Callable[[], Reader[T]],
    address: str,
    retry: Retry | None = None,
) -> Observable[T]:
    """The observable of a network source: subscribing starts the kernel's read loop over
    ``open_reader()`` on the I/O loop; disposing cancels it (the reader is closed). ``address``
    is what events may show of where it reads (no credentials)."""
    policy = retry or Retry()

    def subscribe(
        observer: abc.ObserverBase[T], _scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        async def run() -> None:
            reader = open_reader()
            if hasattr(reader, "emit"):
                reader.emit = observer.on_next
            link = _Link(ctx, "source", address, policy)

            async def session() -> bool:
                link.up(await reader.connect())
                try:
                    while True:
                        for item in await reader.read():
                            observer.on_next(item)
                except EndOfInput:
                    return True

            await _supervise(link, reader, observer, session)

        return ctx.io.spawn(run, name=f"source:{ctx.node_id}")

    return reactivex.create(subscribe)


def writer_sink(
    ctx: BuildContext,
    open_writer: Callable[[], Writer[T]],
    address: str,
    retry: Retry | None = None,
    capacity: int = 1024,
    wait: bool = False,
) -> Callable[[Observable[T]], Observable[Any]]:
    """The operator of a network sink: items from the pipeline thread are queued (bounded:
    the oldest dropped as ``overflow``, or with ``wait`` the pipeline thread waits for room,
    at most ``WAIT_TIMEOUT`` per item) for a writer task on the I/O loop that owns the
    connection. Completes when its input has completed, every queued item was written and the
    writer's ``flush`` (if it has one) returned (or the run closes). A ``RuntimeFailure`` from
    the writer ends the run. ``wait`` is for finite sources (replay): upstream of a source
    whose hop blocks the I/O loop it would stall both until the timeout."""
    policy = retry or Retry()

    def operator(source: Observable[T]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            pending: deque[T] = deque()
            state = {"done": False}
            wake = asyncio.Event()
            room = threading.Condition()
            loop = ctx.io.loop

            def kick() -> None:
                loop.call_soon_threadsafe(wake.set) if not ctx.io.on_loop() else wake.set()

            def on_next(item: T) -> None:
                if wait and len(pending) >= capacity and not ctx.io.on_loop():
                    with room:
                        room.wait_for(lambda: len(pending) < capacity, WAIT_TIMEOUT)
                if len(pending) >= capacity:
                    pending.popleft()
                    ctx.drop("overflow")
                pending.append(item)
                kick()

            def written() -> None:
                pending.popleft()
                if wait:
                    with room:
                        room.notify()

            def on_completed() -> None:
                state["done"] = True
                kick()

            async def run() -> None:
                writer = open_writer()
                link = _Link(ctx, "sink", address, policy)

                flush = getattr(writer, "flush", None)

                async def session() -> bool:
                    link.up(await writer.connect())
                    while True:
                        while pending:
                            await writer.write(pending[0])
                            written()
                        if state["done"]:
                            if flush is not None:
                                await flush()
                            return True
                        wake.clear()
                        if not pending:
                            await wake.wait()

                try:
                    await _supervise(link, writer, observer, session)
                finally:
                    if pending:  # the run ended first: never lost without a count
                        ctx.drop("unsent", count=len(pending), warn=False)
                        pending.clear()
                    if wait:
                        with room:
                            room.notify_all()

            task = ctx.io.spawn(run, name=f"sink:{ctx.node_id}")
            sub = source.subscribe(on_next, observer.on_error, on_completed, scheduler=scheduler)
            return reactivex.disposable.CompositeDisposable(sub, task)

        return reactivex.create(subscribe)

    return operator
