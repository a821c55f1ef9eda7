"""``sliding_window``: per-node windows of consecutive CSI frames."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from pydantic import Field
from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.errors import Drop
from posecog.graph.node import NodeConfig

from ..items import CsiFrame, CsiWindow
from ..registry import registry


class SlidingWindowConfig(NodeConfig):
    size: int = Field(20, ge=2, le=4096, description="Frames per window (pose_v1: 20).")
    step: int = Field(
        1, ge=1, description="Frames between two windows of a node (1 = sliding, size = tumbling)."
    )
    subcarriers: int = Field(
        56,
        ge=1,
        description="Amplitudes a frame must have; frames of "
        "another length are dropped (reason wrong_length).",
    )
    max_gap_s: float = Field(
        1.0,
        gt=0,
        description="Event-time gap (s) between two frames of a "
        "node above which its window starts afresh.",
    )


class _Ring:
    """Fixed ring of the last ``size`` frames, each written twice so that any window is one
    contiguous slice: O(1) bookkeeping per frame plus the copy the window needs anyway."""

    __slots__ = ("buf", "count", "last", "pos", "since_emit", "size", "ts")

    def __init__(self, size: int, width: int) -> None:
        self.size = size
        self.buf = np.zeros((2 * size, width), dtype=np.float32)
        self.ts = np.zeros(2 * size, dtype=np.float64)
        self.pos = 0
        self.count = 0
        self.since_emit = 0
        self.last: CsiFrame | None = None

    def reset(self) -> None:
        self.count = 0
        self.since_emit = 0

    def push(self, frame: CsiFrame) -> None:
        p = self.pos
        self.buf[p] = self.buf[p + self.size] = frame.amplitude
        self.ts[p] = self.ts[p + self.size] = frame.ts
        self.pos = (p + 1) % self.size
        self.count = min(self.count + 1, self.size)
        self.since_emit += 1
        self.last = frame

    def window(self) -> tuple[np.ndarray, float]:
        """The last ``size`` frames, oldest first, and the event time of the oldest."""
        start = self.pos  # the oldest frame sits where the next one will be written
        return self.buf[start : start + self.size].copy(), float(self.ts[start])


@registry.transform(
    "sliding_window",
    config=SlidingWindowConfig,
    takes=CsiFrame,
    gives=CsiWindow,
    examples=(
        "id: window\ntype: sliding_window\ninputs: [replay]\nconfig:\n  size: 20\n  step: 1",
    ),
)
def build(
    config: SlidingWindowConfig, ctx: BuildContext
) -> Callable[[Observable[CsiFrame]], Observable[CsiWindow]]:
    """Collect each node's frames into windows of ``size`` consecutive frames.

    Windows are kept per ``node_id`` (frames of several nodes may be interleaved). Once a node
    has ``size`` frames, a window is emitted every ``step`` frames: with the default step 1,
    one window per frame after the first ``size - 1`` (the reference cog's window was really
    tumbling, one per 20 frames). A window's frames are in arrival order, oldest first;
    ``ts_start``/``ts_end`` are the event times of its first and last frame.

    A node's window starts afresh when the event-time gap to its previous frame exceeds
    ``max_gap_s``, so a window never spans a pause or a reconnect. Dropped frames, counted by
    reason: ``wrong_length`` (not ``subcarriers`` amplitudes), ``non_finite`` (NaN or inf),
    ``out_of_order`` (older than the node's previous frame), ``duplicate`` (same time and
    amplitudes as the previous frame).
    """
    rings: dict[int, _Ring] = {}
    resets = 0

    def on_frame(frame: CsiFrame) -> tuple[CsiWindow, ...]:
        nonlocal resets
        amp = frame.amplitude
        if amp.ndim != 1 or amp.shape[0] != config.subcarriers:
            raise Drop(
                "wrong_length",
                f"node {frame.node_id}: {amp.shape} amplitudes, expected {config.subcarriers}",
            )
        if not math.isfinite(float(np.add.reduce(amp))):  # one reduction; NaN/inf survive the sum
            raise Drop("non_finite", f"node {frame.node_id} seq {frame.seq}")
        ring = rings.get(frame.node_id)
        if ring is None:
            ring = rings[frame.node_id] = _Ring(config.size, config.subcarriers)
        last = ring.last
        if last is not None and ring.count:
            gap = frame.ts - last.ts
            if gap < 0:
                raise Drop("out_of_order", f"node {frame.node_id}: {gap:.3f} s")
            if gap == 0 and np.array_equal(amp, last.amplitude):
                raise Drop("duplicate", f"node {frame.node_id} seq {frame.seq}")
            if gap > config.max_gap_s:
                ring.reset()
                resets += 1
                ctx.metrics.gauges["resets"] = resets
        ring.push(frame)
        if ring.count < config.size or ring.since_emit < config.step:
            return ()
        ring.since_emit = 0
        frames, ts_start = ring.window()
        return (CsiWindow(ts_start, frame.ts, frame.node_id, frames, frame.seq, frame.arrived),)

    return ctx.process(on_frame)
