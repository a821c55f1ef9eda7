"""Per-node sequence tracking of ESP32 CSI packets: gaps, duplicates, reordering, restarts.

The firmware numbers the CSI packets of each node with a u32 ``sequence``, +1 per packet. The
difference to the last sequence seen on that node, modulo 2**32 (so a wrap-around is normal),
classifies each packet:

* +1: in order.
* +2 or more: a **gap**: ``delta - 1`` packets were lost (``lost``), one gap counted.
* 0: a **duplicate** (the same sequence again).
* -1 down to -``REORDER_WINDOW``: **reordered** (late); the last sequence stays.
* further back (a difference of 2**31 or more is read as backwards): the node **restarted**
  (its counter began again); tracking starts afresh from it.

Counting never drops anything: a caller decides what to do with the packet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["REORDER_WINDOW", "SequenceCounts", "SequenceTracker"]

#: How far back (in packets) a sequence counts as a late packet rather than a node restart.
REORDER_WINDOW = 64

_MASK = 0xFFFFFFFF


@dataclass
class SequenceCounts:
    gaps: int = 0
    lost: int = 0
    duplicates: int = 0
    reordered: int = 0
    resets: int = 0


class SequenceTracker:
    """Counts per node and in total. ``publish(gauges)`` writes fresh copies into a metrics'
    gauges dict (never mutated afterwards, so a reader on another thread sees whole values).
    Not thread-safe: one thread tracks."""

    def __init__(self) -> None:
        self._last: dict[int, int] = {}
        self.by_node: dict[int, SequenceCounts] = {}
        self.total = SequenceCounts()

    def track(self, node_id: int, sequence: int) -> bool:
        """Record one packet; True when it changed a count (a gap, duplicate, ... or a new
        node), so the caller republishes only then."""
        last = self._last.get(node_id)
        if last is None:
            self._last[node_id] = sequence
            self.by_node[node_id] = SequenceCounts()
            return True
        delta = (sequence - last) & _MASK
        if delta == 1:
            self._last[node_id] = sequence
            return False
        counts = self.by_node[node_id]
        if delta == 0:
            counts.duplicates += 1
            self.total.duplicates += 1
        elif delta < 1 << 31:
            counts.gaps += 1
            counts.lost += delta - 1
            self.total.gaps += 1
            self.total.lost += delta - 1
            self._last[node_id] = sequence
        elif delta > _MASK - REORDER_WINDOW:
            counts.reordered += 1
            self.total.reordered += 1
        else:
            counts.resets += 1
            self.total.resets += 1
            self._last[node_id] = sequence
        return True

    def publish(self, gauges: dict[str, Any]) -> None:
        """Gauges ``seq_gaps``, ``seq_lost``, ``seq_duplicates``, ``seq_reordered``,
        ``seq_resets`` (totals) and ``seq_by_node`` (``{"<node>": {gaps, lost, ...}}``)."""
        for key, value in asdict(self.total).items():
            gauges[f"seq_{key}"] = value
        gauges["seq_by_node"] = {str(n): asdict(c) for n, c in sorted(self.by_node.items())}
