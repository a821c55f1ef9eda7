"""The I/O loop: one asyncio event loop, on its own thread, for all network I/O of a run.

Sources and sinks that talk to the network (HTTP, WebSocket, UDP, MQTT, gRPC) run as asyncio
tasks on this loop, with the libraries made for it; what they read goes through a bounded hop
to the pipeline thread. ``spawn`` starts a task from any thread and returns a disposable that
cancels it (dispose is a task cancellation); ``close`` cancels every task still running, waits
for them to finish their cleanup (bounded), closes the loop and joins its thread.

``VirtualIoLoop`` is the test harness's stand-in: the same interface on a loop whose clock is
the harness's virtual clock, run on the caller's thread (see ``graph/testing.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import selectors
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from reactivex import abc
from reactivex.disposable import Disposable

__all__ = ["IoLoop", "VirtualIoLoop"]

#: Longest wait, when the run ends, for cancelled tasks to finish their cleanup (s).
CLOSE_TIMEOUT = 3.0

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


class IoLoop:
    """An asyncio loop on a daemon thread called ``name``, started lazily by the first task."""

    def __init__(
        self, name: str = "io", on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        self.name = name
        self._on_error = on_error
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop (started on first use)."""
        with self._lock:
            if self._loop is None:
                if self._closed:
                    raise RuntimeError(f"{self.name}: the I/O loop is closed")
                self._loop = self._new_loop()
                self._loop.set_exception_handler(self._exception_handler)
                self._start(self._loop)
            return self._loop

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
        self._thread.start()

    @property
    def scheduler(self) -> abc.SchedulerBase:
        """A reactivex scheduler whose actions run on this loop (time-based behaviour of
        nodes that live on it)."""
        from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler

        return AsyncIOThreadSafeScheduler(self.loop)

    def on_loop(self) -> bool:
        """True on the loop's own thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def spawn(self, factory: TaskFactory, name: str = "") -> abc.DisposableBase:
        """Run ``factory()`` as a task on the loop; disposing the result cancels it. An
        exception escaping the task (a bug: tasks report their own failures) goes to
        ``on_error``."""
        loop = self.loop
        holder: list[asyncio.Task[None]] = []
        cancelled = threading.Event()

        def create() -> None:
            if cancelled.is_set() or self._closed:
                return
            task = loop.create_task(factory(), name=name or None)
            holder.append(task)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

        def cancel() -> None:
            if holder:
                holder[0].cancel()

        def dispose() -> None:
            cancelled.set()
            if loop.is_closed():
                return
            if self.on_loop():
                cancel()
            else:
                with contextlib.suppress(RuntimeError):  # closed meanwhile
                    loop.call_soon_threadsafe(cancel)

        if self.on_loop():
            create()
        else:
            loop.call_soon_threadsafe(create)
        return Disposable(dispose)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._report(exc)

    def _exception_handler(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self._report(exc)

    def _report(self, exc: BaseException) -> None:
        if self._on_error is None:
            raise exc
        self._on_error(exc)

    def call(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on the loop soon (any thread)."""
        loop = self.loop
        if self.on_loop():
            loop.call_soon(fn)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(fn)

    async def _shutdown(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        """Cancel the tasks still running and wait (at most ``timeout`` s) for their cleanup."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            if not task.cancelling():  # one already cancelled is closing: let it finish
                task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        await loop.shutdown_asyncgens()

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Cancel every task, let them clean up (at most ``timeout`` s), stop and close the loop
        and join its thread. Idempotent; not from the loop's own thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        future = asyncio.run_coroutine_threadsafe(self._shutdown(loop, timeout), loop)
        with contextlib.suppress(concurrent.futures.TimeoutError, Exception):
            future.result(timeout + 1.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout + 1.0)
        if not thread.is_alive():
            loop.close()


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that never waits: when nothing is ready it moves the virtual clock forward by
    the time the loop would have waited (to its next timer)."""

    def __init__(self, advance: Callable[[float], None]) -> None:
        super().__init__()
        self._advance = advance

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self._advance(timeout)
        return ready


class VirtualIoLoop(IoLoop):
    """The harness's I/O loop: virtual time (``clock()``, moved by ``advance``), run on the
    caller's thread by ``run_for``. No real waiting: a loop with no ready callback jumps to its
    next timer. Only for I/O that needs no real waiting (``httpx.MockTransport``, fakes)."""

    def __init__(self, clock: Callable[[], float], advance: Callable[[float], None]) -> None:
        super().__init__("io-virtual")
        self._clock = clock
        self._advance_fn = advance

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        clock = self._clock

        class _Loop(asyncio.SelectorEventLoop):
            def time(self) -> float:
                return clock()

        return _Loop(_VirtualSelector(self._advance_fn))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._thread = threading.current_thread()

    @property
    def started(self) -> bool:
        return self._loop is not None

    def run_until(self, until: float) -> None:
        """Run the loop until virtual time ``until``."""
        loop = self.loop
        delay = until - self._clock()
        loop.run_until_complete(asyncio.sleep(max(0.0, delay)))

    def run_pending(self) -> None:
        """Run the loop until every task has ended (none may wait forever)."""
        if self._loop is None:
            return
        while tasks := [t for t in self._tasks if not t.done()]:
            self._loop.run_until_complete(asyncio.wait(tasks))

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        with self._lock:
            if self._closed or self._loop is None:
                self._closed = True
                return
            self._closed = True
            loop = self._loop
        loop.run_until_complete(self._shutdown(loop, timeout))
        loop.close()
