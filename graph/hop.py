"""The bounded hop: hands items from a producer thread (a source) to the pipeline thread.

RxPY has no backpressure and its ``observe_on`` queue is unbounded, so a fast source could fill
memory; the hop bounds it with an explicit policy:

* ``block``: the producer waits while the queue is full, so nothing is lost (replay).
* ``latest``: the oldest waiting item is dropped and counted (``overflow``) so the graph
  always works on fresh data (live sensing).

The consumer side is drained by a ``PipelineLoop`` on its single thread; completion and errors
are delivered after the items queued before them. Producers are the I/O loop's tasks (live
sources: ``latest``, never blocking the loop) and replay threads (``block``). A ``block`` put
made on the consumer's own thread (a pipeline-side producer, or the single-threaded harness)
makes room by delivering the oldest items instead of waiting for itself.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .node import HopPolicy, NodeKind
from .spec import NodeSpec

__all__ = ["LIVE_HOP_CAPACITY", "Hop", "PipelineLoop", "source_hop"]

T = TypeVar("T")

#: Items handed over per hop in one drain pass before the loop looks at the other hops.
BURST = 256
#: Capacity of a ``latest`` hop unless the node or the pipeline says otherwise: about two
#: 20-frame windows of frames, so a graph that falls behind works on fresh data.
LIVE_HOP_CAPACITY = 40


class _Consumer(Generic[T]):
    """The consumer side shared by the hops: one observer, set by subscribing."""

    _observer: abc.ObserverBase[T] | None = None

    @property
    def observable(self) -> Observable[T]:
        def subscribe(
            observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            self._observer = observer

            def dispose() -> None:
                self._observer = None

            return Disposable(dispose)

        return reactivex.create(subscribe)


class Hop(_Consumer[T]):
    """A bounded queue with an observable consumer side (subscribe once, on the pipeline thread)."""

    def __init__(
        self,
        policy: HopPolicy,
        capacity: int,
        loop: PipelineLoop,
        on_overflow: Callable[[int], None] = lambda n: None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.policy = policy
        self.capacity = capacity
        self._loop = loop
        self._on_overflow = on_overflow
        self._queue: deque[T] = deque()
        # A plain lock on the hot path; the condition only for producers waiting for room.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting = 0  # producers blocked in put()
        self._done = False  # producer finished (completed, failed or stopped)
        self._error: Exception | None = None
        self._closed = False  # consumer has been told (completed / errored)
        self.high_water = 0
        loop.register(self)

    # -- producer side (any thread) -----------------------------------------------------------

    def put(self, item: T) -> None:
        if self.policy == "block" and self._loop.on_consumer_thread():
            # The consumer is this very thread: waiting would never end, so make room by
            # delivering the oldest items now.
            while len(self._queue) >= self.capacity:
                self.drain(1)
        with self._lock:
            if self._done:
                return
            queue = self._queue
            if len(queue) >= self.capacity:
                if self.policy == "latest":
                    queue.popleft()
                    self._on_overflow(1)
                else:
                    self._waiting += 1
                    try:
                        while len(queue) >= self.capacity and not self._done:
                            self._cond.wait(0.5)
                    finally:
                        self._waiting -= 1
                    if self._done:
                        return
            queue.append(item)
            self.high_water = max(self.high_water, len(queue))
        self._loop.wake()

    def complete(self) -> None:
        """No more items; the consumer completes after the queued ones (also: graceful stop)."""
        with self._cond:
            self._done = True
            self._cond.notify_all()
        self._loop.wake()

    def error(self, exc: Exception) -> None:
        with self._cond:
            self._done = True
            self._error = exc
            self._cond.notify_all()
        self._loop.wake()

    # -- consumer side (pipeline thread) --------------------------------------------------------

    def pending(self) -> int:
        return len(self._queue)

    @property
    def finished(self) -> bool:
        return self._closed

    def drain(self, limit: int = BURST) -> bool:
        """Deliver up to ``limit`` items; True when items are still waiting."""
        observer = self._observer
        queue, lock = self._queue, self._lock
        for _ in range(limit):
            with lock:
                if not queue:
                    break
                item = queue.popleft()
                if self._waiting:
                    self._cond.notify()
            if observer is not None:
                observer.on_next(item)
        with lock:
            if self._queue:
                return True
            final = self._done and not self._closed
            if final:
                self._closed = True
        if final and observer is not None:
            if self._error is not None:
                observer.on_error(self._error)
            else:
                observer.on_completed()
        return False


def source_hop(
    kind: NodeKind, node: NodeSpec, loop: PipelineLoop, drop: Callable[[str, int], None]
) -> Hop[Any]:
    """The hop of a source node: the pipeline's ``hop:`` override, else the kind's policy with
    its capacity (``latest``: at most ``LIVE_HOP_CAPACITY``); overflow counted by ``drop``."""
    cfg = node.hop or {}
    policy = cfg.get("policy", kind.hop)
    default = min(LIVE_HOP_CAPACITY, kind.hop_capacity) if policy == "latest" else kind.hop_capacity
    capacity = int(cfg.get("capacity", default))
    return Hop(policy, capacity, loop, on_overflow=lambda n: drop("overflow", n))


class PipelineLoop:
    """Runs every hop's deliveries, and idle callbacks, on one scheduler's thread.

    ``on_thread`` tells whether the caller is that thread (``PipelineThread.on_thread``; the
    single-threaded harness says always). Without it, producers are taken to be other threads.
    """

    def __init__(
        self,
        scheduler: abc.SchedulerBase,
        idle: list[Callable[[], None]],
        on_thread: Callable[[], bool] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self._idle = idle
        self._on_thread = on_thread or (lambda: False)
        self._hops: list[Hop[Any]] = []
        self._lock = threading.Lock()
        self._scheduled = False

    def register(self, hop: Hop[Any]) -> None:
        self._hops.append(hop)

    def on_consumer_thread(self) -> bool:
        return self._on_thread()

    def wake(self) -> None:
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self.scheduler.schedule(self._drain)

    def _drain(self, _scheduler: abc.SchedulerBase, _state: Any = None) -> None:
        with self._lock:
            self._scheduled = False
        more = False
        for hop in self._hops:
            more = hop.drain() or more
        if more:
            self.wake()
        else:
            for callback in self._idle:
                callback()
