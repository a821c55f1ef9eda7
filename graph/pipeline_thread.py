"""``PipelineThread``: the one thread all graph processing runs on, as a reactivex scheduler.

It is a work queue, not an event loop: ``schedule`` from any thread appends the action to a
``queue.SimpleQueue`` (C, one lock-free hand-over) and the thread runs the actions one at a
time, in order. Timed actions (``schedule_relative``) wait on the run's I/O loop
(``loop.call_later``, asyncio's timer heap) and are queued here when due, so there is one place
where a run waits for time. ``dispose`` ends the thread after the running action; what is still
queued is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from reactivex import abc, typing
from reactivex.disposable import Disposable, SingleAssignmentDisposable
from reactivex.scheduler.periodicscheduler import PeriodicScheduler

__all__ = ["PipelineThread"]

_TState = TypeVar("_TState")
_Entry = tuple[abc.ScheduledAction[Any], Any, SingleAssignmentDisposable]
_STOP: Any = object()


class PipelineThread(PeriodicScheduler, abc.DisposableBase):
    """A scheduler owning one daemon thread; ``timers`` gives the loop timed actions wait on."""

    def __init__(
        self,
        timers: Callable[[], asyncio.AbstractEventLoop],
        name: str = "pipeline",
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self._timers = timers
        self._on_error = on_error
        self._queue: queue.SimpleQueue[_Entry] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._disposed = False

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def on_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def schedule(
        self, action: abc.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        if self._disposed:
            return Disposable()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
        sad = SingleAssignmentDisposable()
        self._queue.put((action, state, sad))
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
        inner = SingleAssignmentDisposable()
        loop = self._timers()
        handle: list[asyncio.TimerHandle] = []

        def due() -> None:
            if not inner.is_disposed:
                inner.disposable = self.schedule(action, state)

        def arm() -> None:
            handle.append(loop.call_later(seconds, due))

        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
            loop.call_soon_threadsafe(arm)

        def cancel() -> None:
            inner.dispose()
            if handle and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(handle[0].cancel)

        return Disposable(cancel)

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: abc.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        return self.schedule_relative(self.to_datetime(duetime) - self.now, action, state)

    @property
    def now(self) -> datetime:
        return super().now

    def _run(self) -> None:
        get = self._queue.get
        while True:
            action, state, sad = get()
            if action is _STOP or self._disposed:
                return
            if sad.is_disposed:
                continue
            try:
                sad.disposable = self.invoke_action(action, state)
            except Exception as exc:
                if self._on_error is None:
                    raise
                self._on_error(exc)

    def dispose(self) -> None:
        """End the thread after the running action; join it unless called from it."""
        self._disposed = True
        thread = self._thread
        if thread is None:
            return
        self._queue.put((_STOP, None, SingleAssignmentDisposable()))
        if thread is not threading.current_thread():
            thread.join(5.0)
