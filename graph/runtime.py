"""Run a built pipeline: one pipeline thread, sources on their own threads, signals, stats.

Lifecycle: ``run.started`` -> items flow -> (sources complete | SIGINT/SIGTERM | fatal error)
-> sources stopped, hops drained, sinks complete and flush -> close callbacks ->
``run.finished`` with every count. Exit status: 0 finished or stopped by a signal, 1 runtime
failure. Configuration errors are raised before anything starts (the CLI maps them to 2).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reactivex import abc

from .build import BuiltGraph, build_graph
from .context import BuildContext, RunServices
from .errors import RuntimeFailure
from .events import EventStream
from .hop import Hop, PipelineLoop
from .node import NodeKind
from .registry import Registry
from .scheduler import ThreadScheduler
from .spec import NodeSpec, PipelineSpec

__all__ = ["Runtime", "run_pipeline"]

#: Longest wait for in-flight items to drain after a stop request before giving up (s).
DRAIN_TIMEOUT = 10.0


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
    ) -> None:
        self.spec = spec
        self.events = events
        self.stats_interval = stats_interval
        self.services = RunServices(
            events=events, base_dir=base_dir or Path.cwd(), interactive=interactive
        )
        self._started_fields = dict(started_fields or {})
        self._stop = threading.Event()
        self._done = threading.Event()
        #: Set with either of them: the main thread sleeps on it instead of polling, so it
        #: never takes the GIL from the pipeline thread while items flow.
        self._wake = threading.Event()
        self._failure: str | None = None
        self._pending_sinks: set[str] = set()
        self._lock = threading.Lock()
        self._pipeline_scheduler = ThreadScheduler("pipeline", on_error=self._thread_bug)
        self._source_schedulers: list[ThreadScheduler] = []
        self.loop = PipelineLoop(self._pipeline_scheduler, self.services.idle_callbacks)
        self.services.add_reader = self.loop.add_reader
        self.hops: dict[str, Hop[Any]] = {}
        self.graph: BuiltGraph = build_graph(
            spec,
            registry,
            self.services,
            self._pipeline_scheduler,
            self._source_scheduler,
            self._make_hop,
        )

    def _source_scheduler(self, node_id: str) -> abc.SchedulerBase:
        sched = ThreadScheduler(f"source:{node_id}", on_error=self._thread_bug)
        self._source_schedulers.append(sched)
        return sched

    def _make_hop(self, kind: NodeKind, node: NodeSpec, ctx: BuildContext) -> Hop[Any]:
        cfg = node.hop or {}
        hop: Hop[Any] = Hop(
            cfg.get("policy", kind.hop),
            int(cfg.get("capacity", kind.hop_capacity)),
            self.loop,
            on_overflow=lambda n: ctx.drop("hop_overflow", count=n),
        )
        self.hops[node.id] = hop
        return hop

    # -- control ----------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def failure(self) -> str | None:
        """Why the run failed (after ``run()`` returned 1), else None."""
        return self._failure

    def _sink_done(self, sink_id: str) -> None:
        with self._lock:
            self._pending_sinks.discard(sink_id)
            if not self._pending_sinks:
                self._done.set()
                self._wake.set()

    def _sink_error(self, sink_id: str, exc: Exception) -> None:
        with self._lock:
            if self._failure is None:
                # A RuntimeFailure already says where and what; anything else is named.
                what = (
                    str(exc) if isinstance(exc, RuntimeFailure) else f"{type(exc).__name__}: {exc}"
                )
                self._failure = what if what.startswith(f"{sink_id}:") else f"{sink_id}: {what}"
        self._done.set()
        self._wake.set()

    def _thread_bug(self, exc: Exception) -> None:
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
        self._sink_error(name, exc)

    def stats(self) -> dict[str, Any]:
        snap = self.services.metrics.snapshot()
        for nid, hop in self.hops.items():
            snap["nodes"][nid]["queue"] = {"depth": hop.pending(), "high_water": hop.high_water}
        return snap

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: types.FrameType | None) -> None:
            self._stop.set()
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
        """Start, wait for the end, drain, report. Returns 0 or 1."""
        t0 = time.monotonic()
        self._pending_sinks = set(self.graph.sinks)
        self.events.emit(
            "run.started",
            {"pipeline": self.spec.name, "file": self.spec.file, **self._started_fields},
        )
        reason = "completed"
        with self._signals():
            self._pipeline_scheduler.schedule(lambda _s, _t: self._start())
            next_stats = time.monotonic() + self.stats_interval
            while True:
                self._wake.clear()
                if self._done.is_set():
                    break
                if self._stop.is_set():
                    reason = "stopped"
                    break
                if self.stats_interval > 0 and time.monotonic() >= next_stats:
                    self.events.emit("pipeline.stats", self.stats())
                    next_stats += self.stats_interval
                # No polling: woken by stop() (signal handlers run during this wait), the
                # end of the run, or the next stats event.
                timeout = max(0.0, next_stats - time.monotonic())
                self._wake.wait(timeout if self.stats_interval > 0 else None)
            if reason == "stopped":
                self._pipeline_scheduler.schedule(lambda _s, _t: self.graph.stop_sources())
                if not self._done.wait(DRAIN_TIMEOUT):
                    self._failure = self._failure or "drain timed out"
        if self._failure:
            reason = "failed"
        self._finish()
        fields: dict[str, Any] = {
            "pipeline": self.spec.name,
            "reason": reason,
            "elapsed_s": round(time.monotonic() - t0, 3),
            **self.stats(),
        }
        if self._failure:
            fields["error"] = self._failure
        self.events.emit("run.finished", fields, "error" if self._failure else "info")
        self.events.flush()
        return 1 if self._failure else 0

    def _start(self) -> None:
        try:
            self.graph.start(self._sink_done, self._sink_error)
        except Exception as exc:  # a source or sink that cannot start is a runtime failure
            self._sink_error("start", exc)

    def _finish(self) -> None:
        for callback in self.services.close_callbacks:
            try:
                callback()
            except Exception as exc:  # report, keep closing the others
                print(f"error while closing: {exc}", file=sys.stderr)
        self.graph.dispose()
        for sched in self._source_schedulers:
            sched.dispose()
        self._pipeline_scheduler.dispose()


def run_pipeline(
    spec: PipelineSpec,
    registry: Registry,
    events: EventStream,
    **kwargs: Any,
) -> int:
    return Runtime(spec, registry, events, **kwargs).run()


OnEvent = Callable[[Any], None]
