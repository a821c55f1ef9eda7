"""Per-node ESP32 sequence tracking: gaps, duplicates, late packets, restarts, wrap-around."""

from __future__ import annotations

from posecog.nodes.csi.sequence import REORDER_WINDOW, SequenceTracker


def track(pairs: list[tuple[int, int]]) -> SequenceTracker:
    t = SequenceTracker()
    for node, seq in pairs:
        t.track(node, seq)
    return t


def test_in_order_and_wrap_around_count_nothing() -> None:
    t = track([(1, 0xFFFFFFFE), (1, 0xFFFFFFFF), (1, 0), (1, 1), (2, 7), (2, 8)])
    assert t.total == t.by_node[1] == t.by_node[2]
    assert t.total.gaps == t.total.resets == 0


def test_gaps_count_jumps_and_lost_packets_per_node() -> None:
    t = track([(1, 10), (1, 12), (1, 20), (2, 0xFFFFFFFF), (2, 2)])
    assert (t.by_node[1].gaps, t.by_node[1].lost) == (2, 8)
    assert (t.by_node[2].gaps, t.by_node[2].lost) == (1, 2)  # across the wrap
    assert (t.total.gaps, t.total.lost) == (3, 10)


def test_duplicates_late_packets_and_restarts() -> None:
    back = REORDER_WINDOW
    t = track([(1, 1000), (1, 1000), (1, 1000 - back), (1, 1000 - back - 1), (1, 1000 - back)])
    c = t.by_node[1]  # dup, late (64 back), restart (65 back), then in order from there
    assert (c.duplicates, c.reordered, c.resets, c.gaps) == (1, 1, 1, 0)


def test_track_says_when_to_republish_and_publish_copies() -> None:
    t = SequenceTracker()
    assert t.track(1, 5) is True  # a new node
    assert t.track(1, 6) is False
    assert t.track(1, 9) is True
    gauges: dict = {}
    t.publish(gauges)
    by_node = gauges["seq_by_node"]
    t.track(1, 12)
    t.publish(gauges)
    assert by_node["1"]["gaps"] == 1 and gauges["seq_by_node"]["1"]["gaps"] == 2
    assert gauges["seq_gaps"] == 2 and gauges["seq_lost"] == 4
