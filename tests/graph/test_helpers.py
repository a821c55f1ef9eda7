"""The per-item helpers node authors get beside ``ctx.process``: ``ctx.sink`` and ``ctx.batch``."""

from __future__ import annotations

from typing import Any

from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.errors import Drop, RuntimeFailure
from posecog.graph.node import NodeConfig
from posecog.graph.testing import run_node

from .kinds import Num, make_registry


def _registry(log: list[Any], fail_on_complete: bool = False) -> Any:
    reg = make_registry()

    @reg.sink("writer", config=NodeConfig, takes=Num)
    def writer(_config: NodeConfig, ctx: BuildContext) -> Any:
        """Writes numbers; 3 is malformed, 5 raises, 9 is unrecoverable."""

        def write(x: Num) -> None:
            if x == 3:
                raise Drop("malformed", "three")
            if x == 5:
                raise ValueError("five")
            if x == 9:
                raise RuntimeFailure("writer: disk full")
            log.append(int(x))

        def complete() -> None:
            if fail_on_complete:
                raise OSError(28, "No space left on device")
            log.append("flushed")

        return ctx.sink(write, complete, lambda: log.append("closed"))

    @reg.transform("sums", config=NodeConfig, takes=Num, gives=Num)
    def sums(_config: NodeConfig, ctx: BuildContext) -> Any:
        """Batches of up to 4; a batch holding 13 fails, 13 on its own too; 2 rejected."""

        def run(batch: list[Num]) -> list[Num]:
            log.append([int(x) for x in batch])
            if 13 in batch:
                raise ValueError("thirteen")
            return [Num(x * 10) for x in batch]

        def check(x: Num) -> None:
            if x == 2:
                raise Drop("two")

        return ctx.batch(run, 4, check=check)

    return reg


def _items(values: list[int], dt: float = 1.0) -> list[tuple[float, Num]]:
    return [(dt * i, Num(v)) for i, v in enumerate(values)]


def test_sink_isolates_items_flushes_and_closes_once() -> None:
    log: list[Any] = []
    run = run_node("writer", {}, _items([1, 3, 5, 7]), registry=_registry(log))
    assert log == [1, 7, "flushed", "closed"]
    assert dict(run.metrics.nodes["writer"].drops) == {"malformed": 1, "error:ValueError": 1}
    assert run.completed and run.error is None
    assert run.metrics.nodes["writer"].latency.summary()["n"] == 4


def test_sink_runtime_failure_ends_the_stream_and_still_closes() -> None:
    log: list[Any] = []
    run = run_node("writer", {}, _items([1, 9, 7]), registry=_registry(log))
    assert isinstance(run.error, RuntimeFailure) and log == [1, "closed"]


def test_sink_that_cannot_flush_is_one_runtime_failure() -> None:
    log: list[Any] = []
    run = run_node("writer", {}, _items([1]), registry=_registry(log, fail_on_complete=True))
    assert isinstance(run.error, RuntimeFailure) and "No space left" in str(run.error)
    assert log == [1, "closed"] and not run.completed


def test_batch_runs_when_full_when_idle_and_isolates_failing_items() -> None:
    log: list[Any] = []
    # four items at t=0 (one burst: one batch), then one at a time (idle between them)
    items = [(0.0, Num(v)) for v in (1, 2, 3, 4, 5)] + [(1.0, Num(13)), (2.0, Num(6))]
    run = run_node("sums", {}, items, registry=_registry(log))
    assert run.values == [10, 30, 40, 50, 60]
    # 2 rejected by check; each item was its own batch: the harness goes idle after each
    assert [13] in log and dict(run.metrics.nodes["sums"].drops) == {
        "two": 1,
        "error:ValueError": 1,
    }
    assert run.completed


def test_batch_with_a_failing_batch_retries_item_by_item() -> None:
    log: list[Any] = []
    reg = _registry(log)
    kind = reg.get("sums")
    out: list[int] = []
    from reactivex.subject import Subject

    from posecog.graph.context import RunServices
    from posecog.graph.events import EventStream

    services = RunServices(events=EventStream())
    ctx = BuildContext("sums", "sums", services, None)  # type: ignore[arg-type]
    subject: Subject[Num] = Subject()
    op = kind.build(NodeConfig(), ctx)
    obs: Observable[Num] = op(subject)
    obs.subscribe(out.append)
    for v in (1, 13, 4):  # no idle in between: one batch
        subject.on_next(Num(v))
    subject.on_completed()
    assert log == [[1, 13, 4], [1], [13], [4]] and out == [10, 40]
    assert services.metrics.nodes["sums"].drops["error:ValueError"] == 1
