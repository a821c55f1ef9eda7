"""The kernel's connection engine on virtual time: retries, reports, state, close, completion."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import reactivex
from reactivex.testing import TestScheduler

from posecog.graph.connection import (
    EndOfInput,
    NotConnected,
    Retry,
    reader_source,
    writer_sink,
)
from posecog.graph.context import BuildContext, RunServices
from posecog.graph.errors import RuntimeFailure
from posecog.graph.events import Event, EventStream
from posecog.graph.testing import virtual_io_loop

EXACT = Retry(first_s=0.1, max_s=0.4, jitter=0)


class Harness:
    def __init__(self) -> None:
        self.sched = TestScheduler()
        self.events: list[Event] = []
        stream = EventStream(wall_clock=lambda: self.sched.clock)
        stream.listen(self.events.append)
        self.io = virtual_io_loop(self.sched)
        services = RunServices(events=stream, clock=lambda: self.sched.clock, io=self.io)
        self.ctx = BuildContext("src", "fake", services, self.sched)
        self.items: list[tuple[float, Any]] = []
        self.completed: float | None = None
        self.error: Exception | None = None

    def subscribe(self, observable: reactivex.Observable[Any]) -> Any:
        def done() -> None:
            self.completed = self.sched.clock

        def failed(exc: Exception) -> None:
            self.error = exc

        return observable.subscribe(
            lambda x: self.items.append((self.sched.clock, x)), failed, done
        )

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event == name]

    @property
    def gauges(self) -> dict[str, Any]:
        return self.ctx.metrics.gauges


class Script:
    """A reader following a script: connect fails ``refuse`` times; each read gives the next
    step (a list of items, an exception to raise, or a delay to wait)."""

    def __init__(self, refuse: int, steps: list[Any]) -> None:
        self.refuse = refuse
        self.steps = steps
        self.log: list[str] = []

    async def connect(self) -> dict[str, Any] | None:
        self.log.append("connect")
        if self.refuse:
            self.refuse -= 1
            raise NotConnected("refused")
        return {"extra": 1}

    async def read(self) -> list[Any]:
        await asyncio.sleep(0.05)
        step = self.steps.pop(0) if self.steps else EndOfInput()
        if isinstance(step, BaseException):
            raise step
        return list(step)

    async def close(self) -> None:
        self.log.append("close")


def test_refusals_are_one_outage_retried_with_backoff_then_up_with_its_length() -> None:
    h = Harness()
    script = Script(refuse=3, steps=[[1, 2], [3]])
    h.subscribe(reader_source(h.ctx, lambda: script, "fake://x", EXACT))
    h.io.run_until(5.0)
    (down,) = h.named("source.down")
    assert down.level == "warn" and down.fields == {
        "node": "src",
        "url": "fake://x",
        "reason": "refused",
        "retry_in_s": 0.1,
    }
    (up,) = h.named("source.up")
    # attempts at 0, 0.1, 0.3, 0.7: up at 0.7 after 3 retries
    assert up.fields["down_s"] == pytest.approx(0.7) and up.fields["retries"] == 3
    assert up.fields["extra"] == 1 and up.fields["url"] == "fake://x"
    assert [x for _, x in h.items] == [1, 2, 3]
    assert h.items[0][0] == pytest.approx(0.75)
    assert h.completed == pytest.approx(0.85)  # EndOfInput completes the source
    assert script.log == ["connect", "close"] * 3 + ["connect", "close"]
    assert h.gauges["state"] == "closed" and h.gauges["outages"] == 1
    assert h.gauges["connects"] == 1 and h.gauges["down_s_total"] == pytest.approx(0.7)
    h.io.close()


def test_a_lost_connection_is_closed_reported_and_reconnected() -> None:
    h = Harness()
    script = Script(refuse=0, steps=[[1], NotConnected("reset"), [2]])
    h.subscribe(reader_source(h.ctx, lambda: script, "fake://x", EXACT))
    h.io.run_until(2.0)
    assert [x for _, x in h.items] == [1, 2]
    (down,) = h.named("source.down")
    assert down.fields["reason"] == "reset"
    ups = h.named("source.up")
    assert len(ups) == 2 and ups[1].fields["down_s"] == pytest.approx(0.1)
    assert script.log == ["connect", "close", "connect", "close"]
    assert h.gauges["connects"] == 2
    h.io.close()


def test_a_runtime_failure_ends_the_source_with_an_error_report() -> None:
    h = Harness()
    script = Script(refuse=0, steps=[RuntimeFailure("src: cannot listen")])
    h.subscribe(reader_source(h.ctx, lambda: script, "fake://x", EXACT))
    h.io.run_until(1.0)
    assert isinstance(h.error, RuntimeFailure)
    down = h.named("source.down")[-1]
    assert down.level == "error" and down.fields["error"] == "src: cannot listen"
    assert script.log[-1] == "close"
    h.io.close()


def test_dispose_cancels_the_task_and_closes_the_reader() -> None:
    h = Harness()
    script = Script(refuse=0, steps=[[1]] * 1000)
    sub = h.subscribe(reader_source(h.ctx, lambda: script, "fake://x", EXACT))
    h.io.run_until(0.5)
    sub.dispose()
    h.io.run_until(0.6)
    n = len(h.items)
    h.io.run_until(2.0)
    assert len(h.items) == n and script.log == ["connect", "close"]
    assert h.gauges["state"] == "closed" and h.completed is None
    h.io.close()


class Flaky:
    """A writer whose connection drops on the writes named in ``fail_on`` (1-based)."""

    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.written: list[Any] = []
        self.log: list[str] = []

    async def connect(self) -> None:
        self.log.append("connect")

    async def write(self, item: Any) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise NotConnected("broken pipe")
        await asyncio.sleep(0)
        self.written.append(item)

    async def close(self) -> None:
        self.log.append("close")


def _drive(h: Harness, op: Callable[[Any], Any], items: list[Any], until: float) -> None:
    subject: reactivex.subject.Subject[Any] = reactivex.subject.Subject()
    h.subscribe(op(subject))
    for i, item in enumerate(items):
        h.sched.schedule_absolute(0.01 * (i + 1), lambda _s, _t, x=item: subject.on_next(x))
    h.sched.schedule_absolute(0.01 * (len(items) + 1), lambda _s, _t: subject.on_completed())
    h.io.run_until(until)


def test_a_sink_rewrites_the_item_its_connection_lost_and_completes_after_the_last() -> None:
    h = Harness()
    writer = Flaky({2})
    _drive(h, writer_sink(h.ctx, lambda: writer, "fake://sink", EXACT), [1, 2, 3], 2.0)
    assert writer.written == [1, 2, 3]  # the item of the failed write is written again
    assert [e.fields["reason"] for e in h.named("sink.down")] == ["broken pipe"]
    assert len(h.named("sink.up")) == 2
    assert h.completed is not None and writer.log == ["connect", "close", "connect", "close"]
    h.io.close()


def test_a_sink_that_cannot_keep_up_drops_the_oldest_and_counts_them() -> None:
    h = Harness()
    writer = Flaky(set(range(1, 30)))  # down for a while: items pile up
    op = writer_sink(h.ctx, lambda: writer, "fake://sink", EXACT, capacity=3)
    _drive(h, op, list(range(10)), 10.0)
    assert writer.written == [7, 8, 9]
    assert h.ctx.metrics.drops["overflow"] == 7
    h.io.close()


class Acking(Flaky):
    """A writer whose client keeps what it wrote until ``flush`` sees it acknowledged; the
    connection drops during the first flush."""

    def __init__(self) -> None:
        super().__init__(set())
        self.flushes = 0
        self.acked: list[Any] = []

    async def flush(self) -> None:
        self.flushes += 1
        await asyncio.sleep(0.05)
        if self.flushes == 1:
            raise NotConnected("lost while waiting for acks")
        self.acked = list(self.written)


def test_a_sink_completes_only_after_its_writer_flushed_reconnecting_if_needed() -> None:
    h = Harness()
    writer = Acking()
    _drive(h, writer_sink(h.ctx, lambda: writer, "fake://sink", EXACT), [1, 2, 3], 2.0)
    assert writer.acked == [1, 2, 3] and writer.flushes == 2
    assert [e.fields["reason"] for e in h.named("sink.down")] == ["lost while waiting for acks"]
    assert h.completed is not None and h.completed > 0.1  # after the second flush
    h.io.close()


def test_items_still_queued_when_the_run_cancels_a_sink_are_counted() -> None:
    h = Harness()
    writer = Flaky(set(range(1, 1000)))  # never writes
    op = writer_sink(h.ctx, lambda: writer, "fake://sink", EXACT, capacity=8)
    subject: reactivex.subject.Subject[Any] = reactivex.subject.Subject()
    sub = h.subscribe(op(subject))
    for i in range(5):
        h.sched.schedule_absolute(0.01 * (i + 1), lambda _s, _t, x=i: subject.on_next(x))
    h.io.run_until(1.0)
    sub.dispose()
    h.io.run_until(1.1)
    assert h.ctx.metrics.drops["unsent"] == 5 and "overflow" not in h.ctx.metrics.drops
    h.io.close()


def test_a_waiting_sink_makes_the_producer_wait_instead_of_dropping() -> None:
    """Under the runtime: the pipeline thread waits for room while the I/O loop writes."""
    import threading

    from posecog.graph.aio import IoLoop

    io = IoLoop("io-test")
    services = RunServices(events=EventStream(), io=io)
    ctx = BuildContext("sink", "fake", services, reactivex.scheduler.CurrentThreadScheduler())

    class Slow(Flaky):
        async def write(self, item: Any) -> None:
            await asyncio.sleep(0.002)
            self.written.append(item)

    writer = Slow(set())
    done = threading.Event()
    op = writer_sink(ctx, lambda: writer, "fake://sink", EXACT, capacity=2, wait=True)
    op(reactivex.from_iterable(range(50))).subscribe(on_completed=done.set)
    assert done.wait(10)
    assert writer.written == list(range(50)) and not ctx.metrics.drops
    io.close()
