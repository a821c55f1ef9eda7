"""Run a built pipeline: the pipeline thread, the I/O loop, replay threads, signals, stats.

Threads of a run: ``pipeline`` (all graph processing, ``PipelineThread``), ``io`` (one asyncio
loop for every network source and sink, ``IoLoop``) and one ``source:<id>`` thread per source
that reads files (replay). Bounded hops carry items from the I/O loop and the replay threads to
the pipeline thread.

Lifecycle: ``run.started`` -> items flow -> (sources complete | SIGINT/SIGTERM | fatal error |
a bug) -> every source disposed, hops drained and completed, sinks complete and flush -> close
callbacks (on the pipeline thread) -> the I/O loop's tasks cancelled -> every thread of the run
joined -> ``run.finished`` with every count. Every exit path goes through the same ``_finish``.
Exit status: 0 finished or stopped by a signal, 1 runtime failure (a sink that cannot write,
stdout included; a bug). Configuration errors are raised before anything starts (exit 2).

A stop is bounded: after SIGINT/SIGTERM the run drains what it can for ``STOP_DRAIN_S``; what
did not drain is reported (``run.finished`` ``drained: false``), not a failure. If the run has
still not ended ``STOP_TIMEOUT_S`` after the signal (a sink blocked in a write: the reader of
stdout stalled), the process exits with status 0 at once, having flushed what it could: a
stop never hangs. A signal that came before the run started (``stop_requested``, set by the
CLI's early handler while models load) stops it as soon as it starts.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from reactivex import abc
from reactivex.scheduler import EventLoopScheduler

from .aio import IoLoop
from .build import BuiltGraph, build_graph
from .context import BuildContext, RunServices
from .errors import ConfigError, RuntimeFailure
from .events import EventStream
from .hop import Hop, PipelineLoop, source_hop
from .node import NodeKind
from .pipeline_thread import PipelineThread
from .registry import Registry
from .spec import NodeSpec, PipelineSpec

__all__ = ["Runtime"]

#: Longest wait for in-flight items to drain when the sources completed (s).
DRAIN_TIMEOUT = 10.0
#: Longest wait for in-flight items to drain after a stop signal (s).
STOP_DRAIN_S = 3.0
#: After a stop signal, the process exits (status 0) this long later whatever is still
#: blocked (s).
STOP_TIMEOUT_S = 5.0
#: Longest wait for one thread of the run to end when the run closes (s).
JOIN_TIMEOUT = 5.0


class Runtime:
    """One run of one pipeline. ``run()`` blocks until the pipeline ends and returns the exit
    status. ``stop()`` (any thread) requests a graceful stop, as SIGTERM does."""

    def __init__(
        self,
        spec: PipelineSpec,
        registry: Registry,
        events: EventStream,
        base_dir: Path | None = None,
        interactive: bool = False,
        stats_interval: float = 10.0,
        started_fields: Mapping[str, Any] | None = None,
        stop_requested: threading.Event | None = None,
    ) -> None:
        self.spec = spec
        self._stop_requested = stop_requested
        self.events = events
        self.stats_interval = stats_interval
        self.io = IoLoop("io", on_error=self._thread_bug)
        self._pipeline = PipelineThread(lambda: self.io.loop, "pipeline", self._thread_bug)
        self.services = RunServices(
            events=events, base_dir=base_dir or Path.cwd(), interactive=interactive, io=self.io
        )
        events.on_failure = self._output_failed
        self._started_fields = dict(started_fields or {})
        self._stop = threading.Event()
        self._done = threading.Event()
        #: Set with either of them: the main thread sleeps on it instead of polling, so it
        #: never takes the GIL from the pipeline thread while items flow.
        self._wake = threading.Event()
        self._failure: str | None = None
        self._quiet_failure = False
        self._drained = True
        self._watchdog: threading.Timer | None = None
        self._pending_sinks: set[str] = set()
        self._lock = threading.Lock()
        self._source_threads: list[EventLoopScheduler] = []
        self.loop = PipelineLoop(
            self._pipeline, self.services.idle_callbacks, self._pipeline.on_thread
        )
        self.hops: dict[str, Hop[Any]] = {}
        self.graph: BuiltGraph = build_graph(
            spec,
            registry,
            self.services,
            self._pipeline,
            self._source_scheduler,
            self._make_hop,
        )

    def _source_scheduler(self, node_id: str) -> abc.SchedulerBase:
        """A thread of its own for a source that reads files (started on first use: network
        sources run on the I/O loop and never start theirs)."""

        def thread(target: Any) -> threading.Thread:
            return threading.Thread(target=target, name=f"source:{node_id}", daemon=True)

        sched = EventLoopScheduler(thread_factory=thread, exit_if_empty=False)
        self._source_threads.append(sched)
        return sched

    def _make_hop(self, kind: NodeKind, node: NodeSpec, ctx: BuildContext) -> Hop[Any]:
        hop = source_hop(kind, node, self.loop, lambda why, n: ctx.drop(why, count=n))
        self.hops[node.id] = hop
        return hop

    # -- control ----------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def failure(self) -> str | None:
        """Why the run failed (after ``run()`` returned 1), else None. None too when the run
        ended because the reader of stdout went away (``| head``): that ends it quietly."""
        return None if self._quiet_failure else self._failure

    def _sink_done(self, sink_id: str) -> None:
        with self._lock:
            self._pending_sinks.discard(sink_id)
            if not self._pending_sinks:
                self._done.set()
                self._wake.set()

    def _fail(self, what: str) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = what
        self._done.set()
        self._wake.set()

    def _sink_error(self, sink_id: str, exc: Exception) -> None:
        # A RuntimeFailure already says where (its node) and what; anything else is named.
        if isinstance(exc, RuntimeFailure):
            self._fail(str(exc))
        else:
            self._fail(f"{sink_id}: {type(exc).__name__}: {exc}")

    def _output_failed(self, exc: BaseException) -> None:
        """The event stream (stdout) cannot be written: nothing the run gives can reach its
        reader any more, so the run ends (exit 1); quietly when the reader left (EPIPE)."""
        if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
            self._quiet_failure = True
        self._fail(f"cannot write events: {exc.strerror if isinstance(exc, OSError) else exc}")

    def _thread_bug(self, exc: BaseException) -> None:
        """An exception escaped a node on a runtime thread: a bug, not bad input (nodes drop and
        count bad items themselves). Print its traceback and end the run (exit 1) rather than
        leave a dead thread and a run that never finishes."""
        if self._failure is not None:
            return  # the run is already ending; the first report is the one that matters
        name = threading.current_thread().name
        try:
            print(f"Bug: unexpected error on thread {name!r}:", file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)
        except (OSError, ValueError):  # stderr closed: the run.finished event still says it
            pass
        self._fail(f"{name}: {type(exc).__name__}: {exc}")

    def stats(self) -> dict[str, Any]:
        snap = self.services.metrics.snapshot()
        for nid, hop in self.hops.items():
            snap["nodes"][nid]["queue"] = {
                "depth": hop.pending(),
                "high_water": hop.high_water,
                "capacity": hop.capacity,
                "policy": hop.policy,
            }
        return snap

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: types.FrameType | None) -> None:
            self._stop.set()
            self._arm_watchdog()
            # Not ``self._wake.set()`` here: the interrupted main thread may hold that event's
            # lock (in ``clear``); a short-lived thread sets it once the lock is free.
            threading.Thread(target=self._wake.set, name="signal-wake", daemon=True).start()

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def run(self) -> int:
        """Start, wait for the end, drain, close, report. Returns 0 or 1."""
        t0 = time.monotonic()
        self._pending_sinks = set(self.graph.sinks)
        self.events.emit(
            "run.started",
            {"pipeline": self.spec.name, "file": self.spec.file, **self._started_fields},
        )
        reason = "completed"
        with self._signals():
            if self._stop_requested is not None and self._stop_requested.is_set():
                self.stop()  # a signal came while the run was being built
                self._arm_watchdog()
            try:
                self._pipeline.schedule(lambda _s, _t: self._start())
                reason = self._wait()
                # Every exit path: stop reading, let what is in flight reach the sinks.
                self._on_pipeline(self.graph.stop_sources)
                stopping = reason == "stopped"
                if not self._done.wait(STOP_DRAIN_S if stopping else DRAIN_TIMEOUT):
                    if stopping:
                        self._drained = False  # asked to stop: not a failure
                    else:
                        self._fail("drain timed out")
            finally:
                self._finish()
        if self._failure:
            reason = "failed"
        fields: dict[str, Any] = {
            "pipeline": self.spec.name,
            "reason": reason,
            "elapsed_s": round(time.monotonic() - t0, 3),
            **self.stats(),
        }
        if not self._drained:
            fields["drained"] = False
        if self._failure:
            fields["error"] = self._failure
        self.events.emit("run.finished", fields, "error" if self._failure else "info")
        self.events.flush()
        if self._watchdog is not None:
            self._watchdog.cancel()
        return 1 if self._failure else 0

    def _arm_watchdog(self) -> None:
        """After a stop signal: exit the process ``STOP_TIMEOUT_S`` later if the run is still
        blocked (see the module docstring). Once."""
        if self._watchdog is not None:
            return
        self._watchdog = threading.Timer(STOP_TIMEOUT_S, _abandon)
        self._watchdog.daemon = True
        self._watchdog.name = "stop-watchdog"
        self._watchdog.start()

    def _wait(self) -> str:
        """Sleep until the run ends or a stop is asked for, emitting the periodic stats."""
        next_stats = time.monotonic() + self.stats_interval
        while True:
            self._wake.clear()
            if self._done.is_set():
                return "completed"
            if self._stop.is_set():
                return "stopped"
            if self.stats_interval > 0 and time.monotonic() >= next_stats:
                self.events.emit("pipeline.stats", self.stats())
                next_stats += self.stats_interval
            # No polling: woken by stop() (signal handlers run during this wait), the
            # end of the run, or the next stats event.
            timeout = max(0.0, next_stats - time.monotonic())
            self._wake.wait(timeout if self.stats_interval > 0 else None)

    def _start(self) -> None:
        try:
            self.graph.start(self._sink_done, self._sink_error)
        except ConfigError as exc:  # a node that cannot start is a runtime failure
            self._fail(f"start: {exc}")
        except Exception as exc:
            self._sink_error("start", exc)

    def _on_pipeline(self, fn: Any, timeout: float = JOIN_TIMEOUT) -> None:
        """Run ``fn()`` on the pipeline thread and wait for it (bounded): nodes' state is
        touched by that thread only. Runs it here if the thread is gone or stuck."""
        ran, claimed = threading.Event(), threading.Lock()

        def action(_s: Any = None, _t: Any = None) -> None:
            if claimed.acquire(blocking=False):  # once: here, or below if the thread is stuck
                try:
                    fn()
                finally:
                    ran.set()

        self._pipeline.schedule(action)
        if not ran.wait(timeout):
            action()

    def _close_all(self) -> None:
        for callback in self.services.close_callbacks:
            try:
                callback()
            except Exception as exc:  # report, keep closing the others
                print(f"error while closing: {exc}", file=sys.stderr)
        self.graph.dispose()

    def _finish(self) -> None:
        """Close everything the run opened and join every thread it started."""
        self._on_pipeline(self._close_all)
        self.io.close()
        for sched in self._source_threads:
            sched.dispose()
            thread = getattr(sched, "_thread", None)  # EventLoopScheduler keeps it there
            if isinstance(thread, threading.Thread) and thread.is_alive():
                thread.join(JOIN_TIMEOUT)
        self._pipeline.dispose()


def _abandon() -> None:
    """The run did not end within ``STOP_TIMEOUT_S`` of a stop signal: exit now (status 0,
    the stop was asked for), saying why on stderr if it can be written."""
    note = (
        f"stopped: the run could not finish within {STOP_TIMEOUT_S:g} s of the signal (an "
        "output is blocked: its reader stalled); exiting without the rest of its output\n"
    )
    with suppress(OSError):  # stderr may be stalled too: never wait for it
        os.set_blocking(2, False)
        os.write(2, note.encode())
    os._exit(0)
