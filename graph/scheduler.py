"""``ThreadScheduler``: one dedicated thread running scheduled actions, lean on the hot path.

Reactivex's ``EventLoopScheduler`` wraps every action in a datetime-stamped ``ScheduledItem``
and a priority queue; handing an item to the pipeline thread through it measured 0.22 ms p50
against 0.08 ms for a bare condition variable on this project's 2-core machine. This scheduler
keeps immediate actions in a deque and timed ones in a heap keyed by ``time.monotonic()``, so
the pipeline thread (and each source's thread) wakes as fast as the OS allows.

Actions run one at a time, in order, on the scheduler's own thread, started lazily.
``dispose()`` stops the thread after the running action; actions still queued are dropped.

Readers: ``add_reader(fileobj, callback)`` makes the thread an event loop over file
descriptors too. Once a reader is registered, the thread waits in ``selectors`` (epoll on
Linux) instead of on its condition variable, with a socketpair that ``schedule()`` from other
threads writes one byte to while the thread is waiting; ``callback()`` runs on the thread, in
turn with the other actions, whenever ``fileobj`` is readable (level-triggered: it is called
again as long as data is left). A socket read this way reaches its consumer without any
thread hand-over.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
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

    def __init__(
        self, name: str = "scheduler", on_error: Callable[[Exception], None] | None = None
    ) -> None:
        """``on_error`` receives what an action or reader callback raised (a bug: nodes isolate
        item errors themselves); the thread goes on. Without it the exception ends the thread.
        """
        super().__init__()
        self.name = name
        self._on_error = on_error
        # ``with self._lock`` (C) on the hot path; the condition (Python) only to wait/notify.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._ready: deque[_Entry] = deque()
        self._timers: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._disposed = False
        #: Created by the first ``add_reader``: the selector and the wake-up socketpair.
        self._selector: selectors.BaseSelector | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._selecting = False  # the thread is (about to be) blocked in select()

    # -- scheduling (any thread) ------------------------------------------------------------------

    def schedule(
        self, action: abc.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        sad = SingleAssignmentDisposable()
        with self._lock:
            if self._disposed:
                return Disposable()
            self._ready.append((action, state, sad))
            self._ensure_thread()
            self._notify()
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
        with self._lock:
            if self._disposed:
                return Disposable()
            entry: _Entry = (action, state, sad)
            heapq.heappush(self._timers, (time.monotonic() + seconds, next(self._seq), entry))
            self._ensure_thread()
            self._notify()
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

    # -- readers (any thread) ---------------------------------------------------------------------

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> abc.DisposableBase:
        """Call ``callback()`` on this scheduler's thread whenever ``fileobj`` (a socket or an
        object with ``fileno()``) is readable, until the returned disposable is disposed.

        Dispose it before closing ``fileobj``. A call already queued when it is disposed may
        still run once: the callback must cope with a closed or drained ``fileobj``.
        """
        with self._lock:
            if self._disposed:
                return Disposable()
            if self._selector is None:
                self._selector = selectors.DefaultSelector()
                wake_r, wake_w = socket.socketpair()
                wake_r.setblocking(False)
                wake_w.setblocking(False)
                self._wake = (wake_r, wake_w)
                self._selector.register(wake_r, selectors.EVENT_READ, None)
            key = self._selector.register(fileobj, selectors.EVENT_READ, callback)
            self._ensure_thread()
            self._notify()

        def remove() -> None:
            with self._lock:
                if self._selector is not None and not self._disposed:
                    try:
                        if self._selector.get_key(key.fileobj) is key:
                            self._selector.unregister(key.fileobj)
                    except (KeyError, ValueError):  # already gone, or the fd was closed
                        pass

        return Disposable(remove)

    def _notify(self) -> None:
        """Wake the thread (the caller holds ``_lock``)."""
        if self._selecting and self._wake is not None:
            # A full buffer (OSError) means wake-ups are pending anyway.
            with contextlib.suppress(OSError):
                self._wake[1].send(b"\0")
        else:
            self._cond.notify()

    # -- the thread -----------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _next(self) -> _Entry | None:
        """The next action to run, waiting as long as needed; None once disposed."""
        while True:
            with self._lock:
                if self._disposed:
                    return None
                if self._ready:
                    return self._ready.popleft()
                wait: float | None = None
                if self._timers:
                    wait = self._timers[0][0] - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._timers)[2]
                selector = self._selector
                if selector is None:
                    self._cond.wait(wait)
                    continue
                self._selecting = True
            try:
                ready = selector.select(wait)  # without the lock: schedule() writes a byte
            except (OSError, ValueError):  # closed by dispose() meanwhile
                ready = []
            with self._lock:
                self._selecting = False
                for key, _mask in ready:
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._ready.append((_call_reader, key.data, _READER))

    def _drain_wake(self) -> None:
        assert self._wake is not None
        try:
            while self._wake[0].recv(4096):
                pass
        except OSError:  # BlockingIOError: drained
            pass

    def _run(self) -> None:
        while (entry := self._next()) is not None:
            action, state, sad = entry
            try:
                if sad is _READER:  # a readable descriptor: no disposable to keep
                    action(self, state)
                elif not sad.is_disposed:
                    sad.disposable = self.invoke_action(action, state)
            except Exception as exc:
                if self._on_error is None:
                    raise
                self._on_error(exc)

    def dispose(self) -> None:
        with self._lock:
            self._disposed = True
            self._ready.clear()
            self._timers.clear()
            if self._wake is not None:
                self._notify()
            self._cond.notify_all()
        thread = self._thread
        if (
            self._selector is not None
            and thread is not None
            and thread is not threading.current_thread()
        ):
            thread.join(1.0)  # let it leave select() before the selector is closed
        with self._lock:
            if self._selector is not None:
                self._selector.close()
                self._selector = None
            if self._wake is not None:
                for sock in self._wake:
                    sock.close()
                self._wake = None


def _call_reader(_scheduler: abc.SchedulerBase, callback: Any = None) -> None:
    """The action of a reader's entry: call its callback (no disposable, see ``_READER``)."""
    callback()


#: Marks a reader's call in the ready queue (never assigned, never disposed).
_READER = SingleAssignmentDisposable()
