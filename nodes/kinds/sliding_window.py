"""``sliding_window``: per-node windows of consecutive CSI frames."""

from __future__ import annotations

import math
from collections import OrderedDict
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
    max_clock_jump_s: float = Field(
        5.0,
        gt=0,
        description="A node's event time moving by more than this (s) from one frame to the "
        "next, forward beyond the time that passed or back, is a clock jump: a lone frame off "
        "the node's timeline is dropped (clock_outlier) without moving it; two in a row on a "
        "new timeline restart the node's window there (counted clock_jump, a node.clock_jump "
        "event).",
    )
    max_nodes: int = Field(
        1024,
        ge=1,
        description="Nodes whose windows are kept; beyond, the node heard from least recently "
        "is forgotten (counted node_evicted), so memory is bounded by this, not by the input.",
    )


class _Ring:
    """Fixed ring of the last ``size`` frames, each written twice so that any window is one
    contiguous slice: O(1) bookkeeping per frame plus the copy the window needs anyway."""

    __slots__ = ("buf", "count", "last", "pending", "pos", "since_emit", "size", "ts")

    def __init__(self, size: int, width: int) -> None:
        self.size = size
        self.buf = np.zeros((2 * size, width), dtype=np.float32)
        self.ts = np.zeros(2 * size, dtype=np.float64)
        self.pos = 0
        self.count = 0
        self.since_emit = 0
        self.last: CsiFrame | None = None
        #: A frame far off the node's timeline, held until the next frame says which is right.
        self.pending: CsiFrame | None = None

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
    amplitudes as the previous frame), ``clock_outlier`` (see below), ``node_evicted`` (a
    node's window forgotten beyond ``max_nodes``).

    Clocks re-sync: a frame whose event time is more than ``max_clock_jump_s`` away from the
    node's previous frame, either way, is held, not taken. If the next frame is back on the
    old timeline, the held one was a lone outlier: dropped as ``clock_outlier``, the node's
    clock unmoved (one frame stamped 10^6 s ahead never silences a node). If the next frame
    follows it, the node's time did move: the window restarts on the new timeline with both
    frames. That move is a clock jump (a server clock stepped back, a node rebooted), counted
    by the gauge ``clock_jump`` and reported once by a ``node.clock_jump`` event, when it goes
    back or forward by more than the processing time that passed; otherwise it was a pause
    (gauge ``resets``). At ``pacing: max`` a replay's processing time says nothing, so a pause
    in the recording longer than the bound counts as a jump too.
    """
    rings: OrderedDict[int, _Ring] = OrderedDict()
    resets = jumps = 0
    bound = config.max_clock_jump_s

    def off_timeline(frame: CsiFrame, last: CsiFrame) -> bool:
        return abs(frame.ts - last.ts) > bound

    def is_jump(held: CsiFrame, last: CsiFrame) -> bool:
        """Whether a confirmed move of a node's event time is a clock jump, not a pause:
        back, or forward by more than the processing time that passed (when known)."""
        gap = held.ts - last.ts
        if gap < 0:
            return True
        if not (held.arrived and last.arrived):
            return False
        return gap - (held.arrived - last.arrived) > bound

    def resync(ring: _Ring, frame: CsiFrame, held: CsiFrame, last: CsiFrame) -> None:
        nonlocal jumps, resets
        if is_jump(held, last):
            jumps += 1
            ctx.metrics.gauges["clock_jump"] = jumps
            ctx.emit(
                "node.clock_jump",
                {
                    "node_id": frame.node_id,
                    "jump_s": round(held.ts - last.ts, 6),
                    "ts_event": held.ts,
                },
                "warn",
            )
        else:
            resets += 1
            ctx.metrics.gauges["resets"] = resets
        ring.reset()
        ring.push(held)

    def ring_of(node_id: int) -> _Ring:
        ring = rings.get(node_id)
        if ring is None:
            if len(rings) >= config.max_nodes:
                old, evicted = rings.popitem(last=False)
                ctx.drop(
                    "node_evicted",
                    f"node {old}: {len(rings) + 1} nodes exceed max_nodes {config.max_nodes}; "
                    f"its {evicted.count} buffered frames are forgotten",
                )
            ring = rings[node_id] = _Ring(config.size, config.subcarriers)
        else:
            rings.move_to_end(node_id)
        return ring

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
        ring = ring_of(frame.node_id)
        last, held = ring.last, ring.pending
        if last is not None and ring.count:
            if off_timeline(frame, last):
                if held is not None and not off_timeline(frame, held):
                    ring.pending = None
                    resync(ring, frame, held, last)  # two frames agree: the clock moved
                    last = held
                else:
                    if held is not None:
                        ctx.drop("clock_outlier", _outlier(held, last))
                    ring.pending = frame
                    return ()
            elif held is not None:
                ring.pending = None
                ctx.drop("clock_outlier", _outlier(held, last))
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

    def count_held() -> None:
        for ring in rings.values():
            if ring.pending is not None and ring.last is not None:
                ctx.drop("clock_outlier", _outlier(ring.pending, ring.last) + " (at the end)")
                ring.pending = None

    ctx.on_close(count_held)
    return ctx.process(on_frame)


def _outlier(frame: CsiFrame, last: CsiFrame) -> str:
    return (
        f"node {frame.node_id} seq {frame.seq}: event time {frame.ts - last.ts:+.3f} s off the "
        "node's timeline, alone"
    )
