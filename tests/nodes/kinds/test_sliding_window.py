from __future__ import annotations

import numpy as np

from posecog.graph.registry import Registry
from posecog.graph.testing import run_node
from posecog.nodes.items import CsiFrame, CsiWindow


def frame(ts: float, node: int, value: float, n: int = 56, seq: int = -1) -> CsiFrame:
    return CsiFrame(ts, node, np.full(n, value, dtype=np.float32), seq=seq)


def test_one_window_per_frame_per_node(registry: Registry) -> None:
    frames = [frame(0.05 * i, 1 + i % 2, float(i), seq=i) for i in range(60)]
    out = run_node("sliding_window", {"size": 20}, frames, registry=registry)
    windows: list[CsiWindow] = out.values
    # each node gets 30 frames: 30 - 19 windows each
    assert [w.node_id for w in windows].count(1) == 11
    assert [w.node_id for w in windows].count(2) == 11
    first = windows[0]
    assert first.node_id == 1 and first.seq == 38
    # oldest first, the node's own frames only, event times from the frames
    assert list(first.frames[:, 0]) == [float(i) for i in range(0, 40, 2)]
    assert first.ts_start == 0.0 and first.ts_end == 0.05 * 38
    assert first.frames.shape == (20, 56) and first.frames.dtype == np.float32
    last2 = windows[-1]
    assert list(last2.frames[:, 0]) == [float(i) for i in range(21, 60, 2)]


def test_step_and_size(registry: Registry) -> None:
    frames = [frame(0.1 * i, 0, float(i)) for i in range(20)]
    out = run_node("sliding_window", {"size": 4, "step": 4}, frames, registry=registry)
    assert [list(w.frames[:, 0]) for w in out.values] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
        [12, 13, 14, 15],
        [16, 17, 18, 19],
    ]


def test_gap_restarts_the_window(registry: Registry) -> None:
    frames = [frame(0.1 * i, 0, float(i)) for i in range(5)]
    frames += [frame(10.0 + 0.1 * i, 0, 100.0 + i) for i in range(5)]
    out = run_node("sliding_window", {"size": 3, "max_gap_s": 1.0}, frames, registry=registry)
    assert [list(w.frames[:, 0]) for w in out.values] == [
        [0, 1, 2],
        [1, 2, 3],
        [2, 3, 4],
        [100, 101, 102],
        [101, 102, 103],
        [102, 103, 104],
    ]
    assert out.metrics.nodes["sliding_window"].gauges["resets"] == 1


def test_bad_frames_dropped_by_reason(registry: Registry) -> None:
    nan = frame(0.3, 0, 3.0)
    nan.amplitude[5] = np.nan
    frames = [
        frame(0.0, 0, 0.0),
        frame(0.1, 0, 1.0),
        frame(0.15, 0, 9.0, n=64),  # wrong length
        nan,
        frame(0.05, 0, 5.0),  # older than the previous frame
        frame(0.1, 0, 1.0),  # an exact repeat
        frame(0.2, 0, 2.0),
    ]
    # arrival order is the list order, whatever the event times say
    timed = [(float(i), f) for i, f in enumerate(frames)]
    out = run_node("sliding_window", {"size": 3}, timed, registry=registry)
    assert [list(w.frames[:, 0]) for w in out.values] == [[0, 1, 2]]
    assert dict(out.metrics.nodes["sliding_window"].drops) == {
        "wrong_length": 1,
        "non_finite": 1,
        "out_of_order": 1,
        "duplicate": 1,
    }


def test_windows_do_not_alias_the_ring(registry: Registry) -> None:
    frames = [frame(0.1 * i, 0, float(i)) for i in range(8)]
    out = run_node("sliding_window", {"size": 3}, frames, registry=registry)
    assert [float(w.frames[0, 0]) for w in out.values] == [0, 1, 2, 3, 4, 5]
