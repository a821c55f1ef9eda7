from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

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


# -- clocks that jump (issue 10: event-time poisoning) ---------------------------------------


def _stream(n: int, node: int = 1, t0: float = 100.0, dt: float = 0.05) -> list[CsiFrame]:
    return [frame(t0 + dt * i, node, float(i), seq=i) for i in range(n)]


def _in_order(frames: list[CsiFrame]) -> list[tuple[float, CsiFrame]]:
    """Fed in list order, whatever their event times say."""
    return [(0.01 * i, f) for i, f in enumerate(frames)]


def test_one_frame_stamped_far_ahead_is_dropped_alone_and_the_node_goes_on(
    registry: Registry,
) -> None:
    clean = _stream(60)
    poisoned = [*clean[:30], frame(1e6, 1, -1.0, seq=999), *clean[30:]]
    want = run_node("sliding_window", {"size": 20}, clean, registry=registry)
    got = run_node("sliding_window", {"size": 20}, _in_order(poisoned), registry=registry)
    assert len(got.values) == len(want.values) == 41  # nothing lost for the outlier
    assert [w.ts_end for w in got.values] == [w.ts_end for w in want.values]
    node = got.metrics.nodes["sliding_window"]
    assert node.drops == {"clock_outlier": 1}
    assert "clock_jump" not in node.gauges and not got.events_named("node.clock_jump")


def test_a_clock_stepping_back_resyncs_the_node_once(registry: Registry) -> None:
    before, after = _stream(30), _stream(30, t0=100.0 + 1.5 - 30.0)  # an NTP step of -30 s
    got = run_node("sliding_window", {"size": 20}, _in_order([*before, *after]), registry=registry)
    # 11 windows before; after the step the window restarts with every frame of the new
    # timeline (the first was held one frame, then confirmed): 30 - 19 windows more
    assert len(got.values) == 11 + 11
    assert got.values[-1].ts_end == after[-1].ts
    node = got.metrics.nodes["sliding_window"]
    assert node.gauges["clock_jump"] == 1 and not node.drops
    (event,) = got.events_named("node.clock_jump")
    assert event.fields["node_id"] == 1 and event.fields["jump_s"] == pytest.approx(-30.0 + 0.05)
    assert event.level == "warn"


def test_a_forward_jump_is_told_from_a_pause_by_the_time_that_passed(registry: Registry) -> None:
    def live(frames: list[CsiFrame], arrived: list[float]) -> list[CsiFrame]:
        return [replace(f, arrived=a) for f, a in zip(frames, arrived, strict=True)]

    first, later = _stream(25), _stream(25, t0=100.0 + 3600.0)
    clock = [1.0 + 0.05 * i for i in range(50)]
    # event time leaps an hour while 50 ms pass: a jump
    jumped = run_node(
        "sliding_window", {"size": 20}, live([*first, *later], clock), registry=registry
    )
    assert jumped.metrics.nodes["sliding_window"].gauges["clock_jump"] == 1
    # an hour of event time while an hour passed: a pause, the window restarts quietly
    paused_clock = clock[:25] + [c + 3600.0 for c in clock[25:]]
    paused = run_node(
        "sliding_window",
        {"size": 20},
        _in_order(live([*first, *later], paused_clock)),
        registry=registry,
    )
    node = paused.metrics.nodes["sliding_window"]
    assert "clock_jump" not in node.gauges and node.gauges["resets"] == 1
    assert len(paused.values) == len(jumped.values) == 6 + 6


def test_an_outlier_held_at_the_end_is_counted(registry: Registry) -> None:
    frames = [*_stream(5), frame(-5e5, 1, 0.0, seq=77)]
    got = run_node("sliding_window", {"size": 3}, _in_order(frames), registry=registry)
    assert got.metrics.nodes["sliding_window"].drops == {"clock_outlier": 1}


def test_per_node_state_is_bounded_and_eviction_counted(registry: Registry) -> None:
    frames = [frame(0.01 * i, i % 5, 1.0) for i in range(50)]  # 5 nodes, 10 frames each
    got = run_node("sliding_window", {"size": 3, "max_nodes": 2}, frames, registry=registry)
    # round robin over 5 nodes with room for 2: every node is forgotten before it comes back
    assert got.values == []
    assert got.metrics.nodes["sliding_window"].drops["node_evicted"] == 48
    few = run_node("sliding_window", {"size": 3, "max_nodes": 5}, frames, registry=registry)
    assert (
        len(few.values) == 5 * 8 and "node_evicted" not in few.metrics.nodes["sliding_window"].drops
    )
