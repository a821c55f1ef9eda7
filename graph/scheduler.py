"""``ThreadScheduler``: one dedicated thread running scheduled actions, lean on the hot path.

Reactivex's ``EventLoopScheduler`` wraps every action in a datetime-stamped ``ScheduledItem``
and a priority queue; handing an item to the pipeline thread through it measured 0.22 ms p50
against 0.08 ms for a bare condition variable on this project's 2-core machine. This scheduler
keeps immediate actions in a deque and timed ones in a heap keyed by ``time.monotonic()``, so
the pipeline thread (and each source's thread) wakes as fast as the OS allows.

Actions run one at a time, in order, on the scheduler's own thread, started lazily.
``dispose()`` stops the thread after the running action; actions still queued are dropped.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from datetime import datetime
from typing import Any, TypeVar

from reactivex import abc, typing
from reactivex.disposable import Disposable, SingleAssignmentDisposable
from reactivex.scheduler.periodicscheduler import PeriodicScheduler

__all__ = ["ThreadScheduler"]

_TState = TypeVar("_TState")

_Entry = tuple[abc.ScheduledAction[Any], Any, SingleAssignmentDisposable]


class ThreadScheduler(PeriodicScheduler, abc.DisposableBase):
    """A scheduler owning one daemon thread called ``name``."""

    def __init__(self, name: str = "scheduler") -> None:
        super().__init__()
        self.name = name
        self._cond = threading.Condition(threading.Lock())
        self._ready: deque[_Entry] = deque()
        self._timers: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._disposed = False

    # -- scheduling (any thread) ------------------------------------------------------------------

    def schedule(
        self, action: abc.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        sad = SingleAssignmentDisposable()
        with self._cond:
            if self._disposed:
                return Disposable()
            self._ready.append((action, state, sad))
            self._ensure_thread()
            self._cond.notify()
        return sad

    def schedule_relative(
        self,
        duetime: typing.RelativeTime,
        action: abc.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        seconds = self.to_seconds(duetime)
        if seconds <= 0:
            return self.schedule(action, state)
        sad = SingleAssignmentDisposable()
        with self._cond:
            if self._disposed:
                return Disposable()
            entry: _Entry = (action, state, sad)
            heapq.heappush(self._timers, (time.monotonic() + seconds, next(self._seq), entry))
            self._ensure_thread()
            self._cond.notify()
        return sad

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: abc.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        due = self.to_datetime(duetime)
        return self.schedule_relative(due - self.now, action, state)

    @property
    def now(self) -> datetime:
        return super().now

    # -- the thread -----------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _next(self) -> _Entry | None:
        """The next action to run, waiting as long as needed; None once disposed."""
        with self._cond:
            while True:
                if self._disposed:
                    return None
                if self._ready:
                    return self._ready.popleft()
                if self._timers:
                    wait = self._timers[0][0] - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._timers)[2]
                    self._cond.wait(wait)
                else:
                    self._cond.wait()

    def _run(self) -> None:
        while (entry := self._next()) is not None:
            action, state, sad = entry
            if sad.is_disposed:
                continue
            sad.disposable = self.invoke_action(action, state)

    def dispose(self) -> None:
        with self._cond:
            self._disposed = True
            self._ready.clear()
            self._timers.clear()
            self._cond.notify_all()
