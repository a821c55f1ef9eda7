"""Test helpers shipped with the product: run one node or a whole pipeline on virtual time.

Feed timestamped items, tap any node, assert whole message lists::

    out = run_node("scale", {"factor": 3}, [(0.0, r0), (0.1, r1)], registry=registry)
    assert [t for t, _ in out.items] == [0.0, 0.1]

    run = run_pipeline_test("pipelines/x.yaml", overrides={"input": path},
                            taps=["scale"], registry=registry)
    assert len(run.taps["scale"]) == 42

Everything runs on one ``reactivex.testing.TestScheduler``: sources that pace themselves
(realtime replay, polling) run on virtual time and take no wall time; a node's processing
clock (``ctx.now()``) is the virtual clock too. Times are seconds (floats). Network sources and
sinks run on a ``VirtualIoLoop`` whose clock is the same virtual clock: when the loop has
nothing to do it moves time (and the scheduler) on to its next timer. Give them I/O that
needs no real waiting (an ``httpx.MockTransport``, in-process fakes); real servers on
loopback are tested under the ``Runtime``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable
from reactivex.testing import TestScheduler

from .aio import VirtualIoLoop
from .build import build_graph
from .context import BuildContext, RunServices
from .errors import LintError
from .events import Event, EventStream
from .hop import Hop, PipelineLoop, source_hop
from .lint import lint_file
from .metrics import RunMetrics
from .node import NodeKind, Role
from .registry import Registry
from .spec import NodeSpec

__all__ = [
    "NodeRun",
    "PipelineRun",
    "feed",
    "run_node",
    "run_pipeline_test",
    "virtual_io_loop",
]

Timed = tuple[float, Any]


def feed(
    scheduler: TestScheduler,
    items: Iterable[Timed],
    complete_at: float | None = None,
    idle: list[Any] | None = None,
) -> Observable[Any]:
    """A cold observable emitting each ``(t, item)`` at virtual time ``t`` (absolute seconds),
    then completing at ``complete_at`` (default: the last item's time)."""
    timed = list(items)
    end = complete_at if complete_at is not None else (timed[-1][0] if timed else 0.0)

    def subscribe(
        observer: abc.ObserverBase[Any], _sched: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        subs = CompositeDisposable()
        for t, item in timed:

            def emit(_s: abc.SchedulerBase, _st: Any = None, item: Any = item) -> None:
                observer.on_next(item)
                for callback in idle or ():
                    callback()

            subs.add(scheduler.schedule_absolute(t, emit))

        def complete(_s: abc.SchedulerBase, _st: Any = None) -> None:
            observer.on_completed()

        subs.add(scheduler.schedule_absolute(end, complete))
        return subs

    return reactivex.create(subscribe)


def _timed(items: Iterable[Any]) -> list[Timed]:
    """Accept ``(t, item)`` pairs, or plain items timed by their ``ts`` attribute."""
    out: list[Timed] = []
    for entry in items:
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], int | float):
            out.append((float(entry[0]), entry[1]))
        else:
            out.append((float(entry.ts), entry))
    return out


def _virtual_run(
    start: float, base_dir: Path | None
) -> tuple[TestScheduler, RunServices, list[Event]]:
    """A virtual-time scheduler starting at ``start`` and run services whose clocks (event
    stamps and the processing clock) are that scheduler's; events are collected in a list."""
    sched = TestScheduler(initial_clock=start)
    events: list[Event] = []
    stream = EventStream(wall_clock=lambda: sched.clock)
    stream.listen(events.append)
    io = virtual_io_loop(sched)
    services = RunServices(
        events=stream, clock=lambda: sched.clock, base_dir=base_dir or Path.cwd(), io=io
    )
    return sched, services, events


def virtual_io_loop(sched: TestScheduler) -> VirtualIoLoop:
    """An I/O loop on ``sched``'s virtual clock, in lockstep with it: when the loop waits, time
    moves to its next timer or to the scheduler's next action, whichever is first, so what an
    action hands to the loop is seen at the action's time."""

    def advance(seconds: float) -> None:
        queue = sched._queue  # the scheduler's next due time: reactivex has no public peek
        if queue and sched.to_seconds(queue.peek().duetime) <= sched.clock:
            # due now (a hop waking the pipeline loop from the I/O loop): advance_to(clock)
            # would return at once without running it, and the loop would spin
            item = queue.dequeue()
            if not item.is_cancelled():
                item.invoke()
            return
        target = sched.clock + seconds
        if queue:
            target = min(target, sched.to_seconds(queue.peek().duetime))
        sched.advance_to(max(target, sched.clock))

    return VirtualIoLoop(clock=lambda: float(sched.clock), advance=advance)


def _run_virtual(sched: TestScheduler, services: RunServices, until: float | None) -> None:
    """Run the scheduler (and the I/O loop, when a node started tasks on it) to ``until``, or
    until nothing is left to do."""
    io = services.io
    assert isinstance(io, VirtualIoLoop)
    if until is None:
        sched.start()
        io.run_pending()
    else:
        if io.started:
            io.run_until(until)
        sched.advance_to(until)


def _close_virtual(services: RunServices) -> None:
    for callback in services.close_callbacks:
        callback()
    if services.io is not None:
        services.io.close()


#: One recorded notification: ``(virtual time, "on_next" | "on_completed" | "on_error", value)``
#: (the item, None, or the exception; for a pipeline, completion and errors name the sink).
Message = tuple[float, str, Any]


@dataclass
class NodeRun:
    items: list[Timed]
    events: list[Event]
    metrics: RunMetrics
    completed: bool = False
    error: Exception | None = None
    #: Every notification the node gave, in order, completion and errors included.
    messages: list[Message] = field(default_factory=list)

    @property
    def values(self) -> list[Any]:
        return [item for _, item in self.items]

    def events_named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event == name]


def run_node(
    kind: str,
    config: Mapping[str, Any] | None = None,
    items: Iterable[Any] | Mapping[str, Iterable[Any]] = (),
    *,
    registry: Registry,
    until: float | None = None,
    base_dir: Path | None = None,
    start: float = 0.0,
) -> NodeRun:
    """Build one node from ``config`` and run it on virtual time, feeding ``items`` (transforms
    and sinks) or subscribing it (sources). Returns what it gave, its events and metrics.
    Items may be ``(t, item)`` pairs or items with a ``ts``; virtual time starts at ``start``
    (give the first event time when items carry epoch timestamps). A kind with named inputs
    takes ``{port: items}``; every fed port completes when the last item of any port is given,
    a port not fed at once (as an unwired one)."""
    reg = registry
    k: NodeKind = reg.get(kind)
    cfg = k.config.model_validate(dict(config or {}))
    sched, services, events = _virtual_run(start, base_dir)
    ctx = BuildContext(kind, kind, services, sched)
    run = NodeRun([], events, services.metrics)
    built = k.build(cfg, ctx)
    if k.role is Role.SOURCE:
        observable: Observable[Any] = built
    elif k.named_inputs:  # a mapping port -> items; a port not given receives nothing
        if not isinstance(items, Mapping):
            raise TypeError(f"{kind} has named inputs: give items as {{port: items}}")
        unknown = set(items) - {p.name for p in k.ports}
        if unknown:
            raise TypeError(f"{kind} has no input port {sorted(unknown)}")
        end = max((t for v in items.values() for t, _ in _timed(v)), default=0.0)
        observable = built(  # an unfed port completes at once, as an unwired one does
            {
                p.name: feed(
                    sched,
                    _timed(items.get(p.name, ())),
                    end if p.name in items else start,
                    services.idle_callbacks,
                )
                for p in k.ports
            }
        )
    else:
        source = feed(sched, _timed(items), idle=services.idle_callbacks)
        observable = built(source)

    def on_next(x: Any) -> None:
        run.items.append((sched.clock, x))
        run.messages.append((sched.clock, "on_next", x))

    def on_error(exc: Exception) -> None:
        run.error = exc
        run.messages.append((sched.clock, "on_error", exc))

    def on_completed() -> None:
        run.completed = True
        run.messages.append((sched.clock, "on_completed", None))

    sub = observable.subscribe(on_next, on_error, on_completed)
    _run_virtual(sched, services, until)
    sub.dispose()
    _close_virtual(services)
    return run


@dataclass
class PipelineRun:
    taps: dict[str, list[Timed]]
    events: list[Event]
    metrics: RunMetrics
    sinks_completed: set[str] = field(default_factory=set)
    errors: dict[str, Exception] = field(default_factory=dict)
    #: Completion and errors of the sinks, in order: ``(t, "on_completed", sink id)``,
    #: ``(t, "on_error", (sink id, exception))``.
    messages: list[Message] = field(default_factory=list)

    def events_named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event == name]


def run_pipeline_test(
    source: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    text: str | None = None,
    feeds: Mapping[str, Iterable[Any]] | None = None,
    taps: Iterable[str] = (),
    registry: Registry,
    until: float | None = None,
    base_dir: Path | None = None,
    start: float = 0.0,
) -> PipelineRun:
    """Lint and build a pipeline file (or ``text``), replace the sources named in ``feeds`` by
    timed items, tap nodes, and run everything on one virtual-time scheduler. Sources reach the
    graph through the real hops (their policies and capacities, as under the runtime): items
    given at one virtual instant are one burst, which a ``latest`` hop may thin out."""
    reg = registry
    spec, problems = lint_file(source, reg, overrides, text=text)
    if problems:
        raise LintError(problems)
    sched, services, events = _virtual_run(start, base_dir)
    replace = {nid: feed(sched, _timed(items)) for nid, items in (feeds or {}).items()}
    loop = PipelineLoop(sched, services.idle_callbacks, on_thread=lambda: True)

    def make_hop(kind: NodeKind, node: NodeSpec, ctx: BuildContext) -> Hop[Any]:
        return source_hop(kind, node, loop, lambda why, n: ctx.drop(why, count=n))

    graph = build_graph(spec, reg, services, sched, lambda _nid: sched, make_hop, replace)
    run = PipelineRun({t: [] for t in taps}, events, services.metrics)
    for nid in taps:

        def record(x: Any, nid: str = nid) -> None:
            run.taps[nid].append((sched.clock, x))

        graph.tap(nid, record)

    def done(sid: str) -> None:
        run.sinks_completed.add(sid)
        run.messages.append((sched.clock, "on_completed", sid))

    def failed(sid: str, exc: Exception) -> None:
        run.errors[sid] = exc
        run.messages.append((sched.clock, "on_error", (sid, exc)))

    graph.start(done, failed)
    _run_virtual(sched, services, until)
    graph.dispose()
    _close_virtual(services)
    return run
