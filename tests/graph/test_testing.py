"""The harness itself: virtual time, feeds, taps, whole message lists."""

from __future__ import annotations

import time
from pathlib import Path

from posecog.graph.testing import run_node, run_pipeline_test

from .kinds import Num, make_registry

PACED = """\
name: paced
nodes:
  - {id: src, type: count, config: {n: 600, period: 0.1}}
  - {id: x, type: scale, inputs: [src], config: {factor: 3}}
  - {id: c, type: collect, inputs: [x], config: {name: harness}}
"""


def test_time_paced_source_runs_on_virtual_time(tmp_path: Path) -> None:
    t0 = time.monotonic()
    run = run_pipeline_test(tmp_path / "p.yaml", text=PACED, taps=["x"], registry=make_registry())
    assert time.monotonic() - t0 < 5  # a minute of paced items, in (almost) no wall time
    times = [round(t, 6) for t, _ in run.taps["x"]]
    assert times == [round(0.1 * i, 6) for i in range(600)]
    assert [v for _, v in run.taps["x"]] == [3 * i for i in range(600)]
    assert run.sinks_completed == {"c"}


def test_feed_replaces_a_source(tmp_path: Path) -> None:
    items = [(1.0, Num(1)), (2.5, Num(2)), (4.0, Num(7))]
    run = run_pipeline_test(
        tmp_path / "p.yaml",
        text=PACED,
        feeds={"src": items},
        taps=["x"],
        registry=make_registry(),
    )
    assert run.taps["x"] == [(1.0, 3), (2.5, 6), (4.0, 21)]


def test_run_node_and_drops() -> None:
    out = run_node(
        "scale",
        {"factor": 2, "drop_on": [2]},
        [(0.5, Num(1)), (0.6, Num(2)), (0.7, Num(3))],
        registry=make_registry(),
    )
    assert out.items == [(0.5, 2), (0.7, 6)]
    assert out.completed
    assert dict(out.metrics.nodes["scale"].drops) == {"unwanted": 1}
    (warn,) = [e for e in out.events if e.event == "item.dropped"]
    assert warn.fields == {
        "node": "scale",
        "kind": "scale",
        "reason": "unwanted",
        "count": 1,
        "total": 1,
        "detail": "value 2",
    }


def test_run_source_node_until() -> None:
    out = run_node("count", {"n": 100, "period": 1.0}, registry=make_registry(), until=9.5)
    assert out.values == list(range(10))
    assert not out.completed
