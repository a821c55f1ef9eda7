from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex import Observable, abc
from reactivex.scheduler import EventLoopScheduler

from posecog.graph.aio import IoLoop
from posecog.graph.context import BuildContext
from posecog.graph.errors import RuntimeFailure
from posecog.graph.events import Event, EventStream
from posecog.graph.hop import Hop, PipelineLoop
from posecog.graph.lint import lint_file
from posecog.graph.node import NodeConfig
from posecog.graph.pipeline_thread import PipelineThread
from posecog.graph.runtime import Runtime

from .kinds import COLLECTED, Num, make_registry


def _runtime(tmp_path: Path, text: str, **kw: Any) -> tuple[Runtime, list[Event]]:
    reg = make_registry()
    spec, problems = lint_file(tmp_path / "p.yaml", reg, text=text)
    assert problems == []
    events: list[Event] = []
    stream = EventStream()
    stream.listen(events.append)
    return Runtime(spec, reg, stream, stats_interval=kw.pop("stats_interval", 0), **kw), events


PIPE = """\
name: t
nodes:
  - {id: src, type: count, config: {n: 1000}}
  - {id: x, type: scale, inputs: [src], config: {fail_on: [3, 5], drop_on: [7]}}
  - {id: c1, type: collect, inputs: [x], config: {name: NAME1}}
  - {id: c2, type: collect, inputs: [x, src], config: {name: NAME2}}
"""


def test_run_to_completion_with_isolation_and_fan_out(tmp_path: Path) -> None:
    text = PIPE.replace("NAME1", "rt-a").replace("NAME2", "rt-b")
    COLLECTED.pop("rt-a", None)
    COLLECTED.pop("rt-b", None)
    rt, events = _runtime(tmp_path, text)
    assert rt.run() == 0
    expected = [2 * i for i in range(1000) if i not in (3, 5, 7)]
    assert COLLECTED["rt-a"] == expected  # order kept, only the bad items gone
    assert sorted(COLLECTED["rt-b"]) == sorted(expected + list(range(1000)))  # fan-in
    finished = events[-1]
    assert finished.event == "run.finished"
    assert finished.fields["reason"] == "completed"
    assert finished.fields["dropped"] == {"error:ValueError": 2, "unwanted": 1}
    nodes = finished.fields["nodes"]
    assert nodes["src"]["out"] == 1000  # fan-out read the source once
    assert nodes["x"]["in"] == 1000 and nodes["x"]["out"] == 997
    assert "latency" in nodes["x"]
    warns = [e for e in events if e.event == "item.dropped"]
    assert {w.fields["reason"] for w in warns} == {"error:ValueError", "unwanted"}
    assert all(w.level == "warn" and w.fields["node"] == "x" for w in warns)
    assert events[0].event == "run.started"


def test_warn_is_rate_limited(tmp_path: Path) -> None:
    text = PIPE.replace("fail_on: [3, 5]", f"fail_on: {list(range(0, 1000, 2))}")
    text = text.replace("NAME1", "rl-a").replace("NAME2", "rl-b")
    rt, events = _runtime(tmp_path, text)
    assert rt.run() == 0
    warns = [e for e in events if e.event == "item.dropped" and e.fields["reason"] != "unwanted"]
    assert 1 <= len(warns) <= 3  # 500 failures in well under a few seconds
    assert events[-1].fields["dropped"]["error:ValueError"] == 500


def test_stop_drains_and_exits_zero(tmp_path: Path) -> None:
    text = PIPE.replace("n: 1000", "n: 100000000, period: 0.0005")
    text = text.replace("NAME1", "st-a").replace("NAME2", "st-b")
    COLLECTED["st-a"] = []
    rt, events = _runtime(tmp_path, text)
    got_some = threading.Event()

    def stopper() -> None:
        for _ in range(2000):
            if len(COLLECTED.get("st-a", [])) >= 20:
                got_some.set()
                break
            threading.Event().wait(0.005)
        rt.stop()

    threading.Thread(target=stopper, daemon=True).start()
    assert rt.run() == 0
    assert got_some.is_set()
    finished = events[-1]
    assert finished.fields["reason"] == "stopped"
    # everything the source handed over reached the sinks
    assert finished.fields["nodes"]["x"]["in"] == finished.fields["nodes"]["src"]["out"]
    assert len(COLLECTED["st-a"]) == finished.fields["nodes"]["x"]["out"]


def test_stats_events_are_periodic(tmp_path: Path) -> None:
    text = PIPE.replace("n: 1000", "n: 400, period: 0.001")
    text = text.replace("NAME1", "ps-a").replace("NAME2", "ps-b")
    rt, events = _runtime(tmp_path, text, stats_interval=0.1)
    assert rt.run() == 0
    stats = [e for e in events if e.event == "pipeline.stats"]
    assert stats, "a 0.4 s run with a 0.1 s interval emits stats"
    assert set(stats[0].fields["nodes"]) == {"src", "x", "c1", "c2"}
    assert "queue" in stats[0].fields["nodes"]["src"]


def test_hop_block_loses_nothing() -> None:
    sched = EventLoopScheduler()
    loop = PipelineLoop(sched, [])
    hop: Hop[int] = Hop("block", 3, loop)
    out: list[int] = []
    done = threading.Event()
    hop.observable.subscribe(out.append, lambda e: done.set(), done.set)
    producer = threading.Thread(target=lambda: [hop.put(i) for i in range(5000)])
    producer.start()
    producer.join(10)
    hop.complete()
    assert done.wait(5)
    assert out == list(range(5000))
    assert hop.high_water <= 3
    sched.dispose()


def test_hop_latest_drops_oldest_and_counts() -> None:
    sched = EventLoopScheduler()
    gate = threading.Event()
    sched.schedule(lambda _s, _t: gate.wait(5))  # the pipeline thread is busy
    loop = PipelineLoop(sched, [])
    dropped: list[int] = []
    hop: Hop[int] = Hop("latest", 4, loop, on_overflow=dropped.append)
    out: list[int] = []
    done = threading.Event()
    hop.observable.subscribe(out.append, lambda e: done.set(), done.set)
    for i in range(100):
        hop.put(i)
    hop.complete()
    gate.set()
    assert done.wait(5)
    assert out == [96, 97, 98, 99]  # the newest survive
    assert sum(dropped) == 96
    sched.dispose()


def test_hop_rejects_zero_capacity() -> None:
    with pytest.raises(ValueError):
        Hop("block", 0, PipelineLoop(EventLoopScheduler(), []))


def test_typed_routing_delivers_only_taken_types(tmp_path: Path) -> None:
    from posecog.graph.node import NodeConfig
    from posecog.graph.testing import run_pipeline_test

    from .kinds import Num, Text

    reg = make_registry()

    @reg.transform("mixed", config=NodeConfig, takes=Num, gives=(Num, Text))
    def mixed(_c: NodeConfig, ctx: BuildContext) -> Any:
        """Each number, then its text."""
        return ctx.process(lambda x: (x, Text(f"t{x}")))

    text = """\
name: routing
nodes:
  - {id: src, type: count, config: {n: 3}}
  - {id: m, type: mixed, inputs: [src]}
  - {id: nums, type: scale, inputs: [m]}
  - {id: texts, type: text_only, inputs: [m]}
  - {id: c, type: collect, inputs: [nums], config: {name: routing}}
"""
    COLLECTED["routing"] = []
    run = run_pipeline_test(tmp_path / "p.yaml", text=text, taps=["nums", "texts"], registry=reg)
    assert [v for _, v in run.taps["nums"]] == [0, 2, 4]
    assert [v for _, v in run.taps["texts"]] == ["t0", "t1", "t2"]
    assert run.metrics.nodes["nums"].drops == {}  # routed, not dropped


def test_event_lines_are_valid_json_even_with_nan() -> None:
    import json
    import math

    from posecog.graph.events import to_json_line

    line = to_json_line(Event("x", {"a": [1.0, math.nan], "b": {"c": math.inf}, "d": 2}))
    assert json.loads(line)["fields"] == {"a": [1.0, None], "b": {"c": None}, "d": 2}


def test_a_full_block_hop_fed_on_its_consumer_s_thread_delivers_instead_of_waiting() -> None:
    io = IoLoop()
    sched = PipelineThread(lambda: io.loop)
    loop = PipelineLoop(sched, [], sched.on_thread)
    hop: Hop[int] = Hop("block", 2, loop)  # smaller than the burst below
    out: list[int] = []
    done = threading.Event()
    hop.observable.subscribe(out.append)

    def produce(_s: Any, _t: Any = None) -> None:
        for b in range(10):
            hop.put(b)  # waiting for room would deadlock: the consumer is this thread
        done.set()

    sched.schedule(produce)
    assert done.wait(5)
    barrier = threading.Event()
    sched.schedule(lambda _s, _t: barrier.set())
    assert barrier.wait(5)
    assert out == list(range(10))  # nothing lost, in order
    sched.dispose()
    io.close()


def test_a_latest_hop_fed_from_the_io_loop_keeps_the_newest_and_counts_the_rest() -> None:
    io = IoLoop()
    sched = PipelineThread(lambda: io.loop)
    stall = threading.Event()
    loop = PipelineLoop(sched, [], sched.on_thread)
    dropped: list[int] = []
    hop: Hop[int] = Hop("latest", 4, loop, on_overflow=dropped.append)
    out: list[int] = []
    hop.observable.subscribe(out.append)
    sched.schedule(lambda _s, _t: stall.wait(5))  # the graph is busy
    fed = threading.Event()

    def feed() -> None:
        for i in range(10):
            hop.put(i)
        fed.set()

    io.call(feed)
    assert fed.wait(5)
    stall.set()
    barrier = threading.Event()
    sched.schedule(lambda _s, _t: barrier.set())
    assert barrier.wait(5)
    assert out == [6, 7, 8, 9] and sum(dropped) == 6
    sched.dispose()
    io.close()


def test_timed_actions_of_the_pipeline_thread_wait_on_the_io_loop_and_run_on_it() -> None:
    io = IoLoop()
    sched = PipelineThread(lambda: io.loop)
    ran: list[str] = []
    done = threading.Event()

    def action(_s: Any, _t: Any = None) -> None:
        ran.append(threading.current_thread().name)
        done.set()

    t0 = time.monotonic()
    sched.schedule_relative(0.05, action)
    cancelled = sched.schedule_relative(0.01, lambda _s, _t: ran.append("cancelled"))
    cancelled.dispose()
    assert done.wait(5)
    assert time.monotonic() - t0 >= 0.05
    assert ran == ["pipeline"]
    sched.dispose()
    io.close()
    assert not sched.thread or not sched.thread.is_alive()


def _run_threads(before: set[threading.Thread] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """Names of the run threads alive now that were not alive ``before``."""
    return {
        t.name
        for t in threading.enumerate()
        if t not in before and (t.name in ("pipeline", "io") or t.name.startswith("source:"))
    }


@pytest.mark.parametrize("how", ["completed", "stopped", "sink_failed", "bug"])
def test_every_exit_path_closes_everything_and_leaves_no_thread(tmp_path: Path, how: str) -> None:
    reg = make_registry()
    closed: list[str] = []

    @reg.sink("fragile", config=NodeConfig, takes=Num)
    def fragile(_config: NodeConfig, ctx: BuildContext) -> Any:
        """Fails at item 50 (a RuntimeFailure, or a bare exception: a bug) when asked to."""
        ctx.on_close(lambda: closed.append(threading.current_thread().name))

        def operator(source: Observable[Any]) -> Observable[Any]:
            def subscribe(observer: abc.ObserverBase[Any], scheduler: Any = None) -> Any:
                def on_next(item: Any) -> None:
                    if item == 50 and how == "sink_failed":
                        observer.on_error(RuntimeFailure("out: disk full"))
                    if item == 50 and how == "bug":
                        raise RuntimeError("boom")

                return source.subscribe(on_next, observer.on_error, observer.on_completed)

            return reactivex.create(subscribe)

        return operator

    n = 100 if how == "completed" else 10**9  # "forever": only a stop or a failure ends it
    text = f"name: t\nnodes:\n  - {{id: src, type: count, config: {{n: {n}}}}}\n"
    text += "  - {id: out, type: fragile, inputs: [src]}\n"
    spec, problems = lint_file(tmp_path / "p.yaml", reg, text=text)
    assert problems == []
    before = set(threading.enumerate())
    rt = Runtime(spec, reg, EventStream(), stats_interval=0)
    if how == "stopped":
        threading.Timer(0.3, rt.stop).start()
    assert rt.run() == (0 if how in ("completed", "stopped") else 1)
    assert closed == ["pipeline"]  # close callbacks ran once, on the pipeline thread
    # The run joins each thread for up to JOIN_TIMEOUT; on a machine loaded several times over
    # (CI beside other suites) a thread told to end may still be on its way out: it must be
    # gone soon after, never left running.
    deadline = time.monotonic() + 10.0
    while _run_threads(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _run_threads(before) == set()


def test_an_unwritable_event_stream_ends_the_run_with_exit_1(tmp_path: Path) -> None:
    class Full:
        def write(self, _text: str) -> int:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            raise OSError(28, "No space left on device")

    reg = make_registry()
    text = "name: t\nnodes:\n  - {id: src, type: count, config: {n: 1000000000}}\n"
    text += "  - {id: out, type: collect, inputs: [src], config: {name: full}}\n"
    spec, _ = lint_file(tmp_path / "p.yaml", reg, text=text)
    before = set(threading.enumerate())
    rt = Runtime(spec, reg, EventStream(Full()), stats_interval=0)  # type: ignore[arg-type]
    assert rt.run() == 1
    assert rt.failure == "cannot write events: No space left on device"
    assert _run_threads(before) == set()


def test_a_bug_escaping_a_node_ends_the_run_with_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import reactivex

    from posecog.graph.node import NodeConfig

    reg = make_registry()

    @reg.sink("explode", config=NodeConfig, takes=Num)
    def explode(_config: NodeConfig, _ctx: BuildContext) -> Any:
        """Raises from a bare observer: nothing in the graph catches it."""

        def operator(source: Observable[Any]) -> Observable[Any]:
            def subscribe(observer: abc.ObserverBase[Any], scheduler: Any = None) -> Any:
                def on_next(item: Any) -> None:
                    raise RuntimeError(f"boom at {item}")

                return source.subscribe(on_next, observer.on_error, observer.on_completed)

            return reactivex.create(subscribe)

        return operator

    text = "name: t\nnodes:\n  - {id: src, type: count, config: {n: 5}}\n"
    text += "  - {id: out, type: explode, inputs: [src]}\n"
    spec, problems = lint_file(tmp_path / "p.yaml", reg, text=text)
    assert problems == []
    events: list[Event] = []
    stream = EventStream()
    stream.listen(events.append)
    rt = Runtime(spec, reg, stream, stats_interval=0)
    assert rt.run() == 1  # ends instead of hanging with a dead pipeline thread
    assert rt.failure is not None and "boom at" in rt.failure
    assert rt.failure.startswith("pipeline: RuntimeError")
    err = capsys.readouterr().err
    assert "Bug: unexpected error on thread 'pipeline'" in err and "Traceback" in err
    assert events[-1].event == "run.finished" and events[-1].fields["reason"] == "failed"
