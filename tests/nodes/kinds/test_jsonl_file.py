"""``jsonl_file``: output items as event lines in a file; a failing file is one error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posecog.graph.errors import RuntimeFailure
from posecog.graph.registry import Registry
from posecog.graph.testing import NodeRun, run_node
from posecog.nodes.items import Pose, Presence

FULL = Path("/dev/full")


def pose(ts: float, seq: int) -> Pose:
    return Pose(ts, 1, np.full((17, 2), 0.5, np.float32), 0.8, seq=seq)


def failures(out: NodeRun) -> list[object]:
    return [m for _, kind, m in out.messages if kind == "on_error"]


def test_lines_are_the_event_envelope_of_each_item(registry: Registry, tmp_path: Path) -> None:
    items = [pose(1.0, 1), Presence(1.5, 0, True), pose(2.0, 2)]
    out = run_node(
        "jsonl_file", {"path": "out/poses.jsonl"}, items, registry=registry, base_dir=tmp_path
    )
    assert out.completed and out.error is None
    lines = [json.loads(t) for t in (tmp_path / "out" / "poses.jsonl").read_text().splitlines()]
    assert [(e["event"], e["level"]) for e in lines] == [
        ("pose.frame", "info"),
        ("presence", "info"),
        ("pose.frame", "info"),
    ]
    assert [e["fields"].get("tick") for e in lines] == [1, None, 2]
    assert out.metrics.node("jsonl_file", "jsonl_file").gauges["written"] == 3


def test_append_keeps_what_was_there(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("old\n")
    run_node("jsonl_file", {"path": str(path), "append": True}, [pose(1.0, 1)], registry=registry)
    assert path.read_text().splitlines()[0] == "old" and len(path.read_text().splitlines()) == 2


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
@pytest.mark.parametrize("flush_every", [1, 50], ids=["fails_on_write", "fails_on_final_flush"])
def test_a_file_that_fails_on_write_and_on_close_is_one_failure(
    registry: Registry, flush_every: int
) -> None:
    """/dev/full fails on flush and again on close (the buffer is still full): one error, no
    completion after it, no exception out of completion or disposal, nothing counted twice."""
    items = [pose(0.1 * k, k) for k in range(5)]
    out = run_node(
        "jsonl_file", {"path": str(FULL), "flush_every": flush_every}, items, registry=registry
    )
    (error,) = failures(out)
    assert isinstance(error, RuntimeFailure)
    assert str(error) == "jsonl_file: cannot write /dev/full: [Errno 28] No space left on device"
    assert not out.completed
    assert not out.metrics.node("jsonl_file", "jsonl_file").drops


def test_a_file_that_cannot_be_opened_is_a_runtime_failure(
    registry: Registry, tmp_path: Path
) -> None:
    (tmp_path / "dir").mkdir()
    out = run_node("jsonl_file", {"path": str(tmp_path / "dir")}, [pose(1.0, 1)], registry=registry)
    (error,) = failures(out)
    assert isinstance(error, RuntimeFailure) and "cannot write" in str(error)
