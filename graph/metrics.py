"""Per-node counters: items in and out, drops by reason, processing latency.

Counters are plain attributes updated by the thread that owns the node (the pipeline thread, or
a source's own thread for source-side counts); readers on other threads may see a value a few
items stale, never a torn one (CPython ints).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LatencyWindow", "NodeMetrics", "RunMetrics"]


class LatencyWindow:
    """Running count/mean/max plus the last ``keep`` samples for percentiles (seconds)."""

    def __init__(self, keep: int = 4096) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._recent: deque[float] = deque(maxlen=keep)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        if seconds > self.max:  # noqa: PLR1730 (a builtin call per item of every node)
            self.max = seconds
        self._recent.append(seconds)

    def summary(self) -> dict[str, float]:
        """Figures in milliseconds; percentiles over the most recent samples."""
        if not self.count:
            return {}
        recent = np.fromiter(self._recent, dtype=np.float64)
        p50, p99 = np.percentile(recent, [50, 99])
        return {
            "n": self.count,
            "mean_ms": round(self.total / self.count * 1e3, 4),
            "p50_ms": round(float(p50) * 1e3, 4),
            "p99_ms": round(float(p99) * 1e3, 4),
            "max_ms": round(self.max * 1e3, 4),
        }


@dataclass
class NodeMetrics:
    node: str
    kind: str
    items_in: int = 0
    items_out: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    #: Free-form gauges a node may publish (queue depth, reconnects, ...).
    gauges: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {"kind": self.kind, "in": self.items_in, "out": self.items_out}
        if self.drops:
            snap["dropped"] = dict(sorted(self.drops.items()))
        lat = self.latency.summary()
        if lat:
            snap["latency"] = lat
        if self.gauges:
            snap.update(self.gauges)
        return snap


@dataclass
class RunMetrics:
    """All nodes of one run, plus end-to-end (source arrival to sink) latency."""

    nodes: dict[str, NodeMetrics] = field(default_factory=dict)
    end_to_end: LatencyWindow = field(default_factory=LatencyWindow)

    def node(self, node_id: str, kind: str) -> NodeMetrics:
        if node_id not in self.nodes:
            self.nodes[node_id] = NodeMetrics(node_id, kind)
        return self.nodes[node_id]

    def total_drops(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for m in self.nodes.values():
            total.update(m.drops)
        return dict(sorted(total.items()))

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {
            "nodes": {k: m.snapshot() for k, m in self.nodes.items()},
            "dropped": self.total_drops(),
        }
        lat = self.end_to_end.summary()
        if lat:
            snap["latency"] = lat
        return snap
