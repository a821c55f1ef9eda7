"""Source node ``jsonl_replay``: replay a JSONL CSI recording as ``CsiFrame`` items, and its
vitals and presence as ``Vitals`` and ``Presence``.

Decision: one source gives all three; typed routing (the kernel's) sends each to the nodes
that take it, so a window never sees a vitals item and a join's ``vitals`` port never a frame,
and lint checks every edge against the three types. ``vitals: false`` gives frames only (the
others are then counted as ``vitals_line``).

Threading: the observable is cold. Subscribing opens the file and schedules the replay on
``ctx.scheduler`` (the source's own thread at run time, virtual time under the harness); the
runtime's ``block`` hop makes ``on_next`` wait when the graph falls behind, so nothing is lost.
Disposing stops the replay before its next line and closes the file (from the replay's thread
when a step is running, so the file is never closed under a reader).
"""

from __future__ import annotations

import inspect
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import reactivex
from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable

from posecog.graph.context import BuildContext
from posecog.graph.errors import ConfigError, RuntimeFailure
from posecog.graph.node import NodeConfig
from posecog.nodes.csi.formats import FORMATS, MALFORMED, NO_FRAME_REASONS
from posecog.nodes.csi.frames import FRAME_SKIPS, RecordingFrames
from posecog.nodes.csi.recording import RecordingParser
from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.registry import registry
from posecog.nodes.sensing.live import report_nodes
from posecog.nodes.sensing.updates import presence_of, update_items

__all__ = ["JsonlReplayConfig", "Replayed", "build"]

#: What a replay gives.
Replayed = CsiFrame | Vitals | Presence

#: Longest gap (s of event time) realtime pacing waits out; a larger one, or time running back
#: by over a second, re-anchors the pacing at that item (a recording's clock jump is not
#: waited for, nor a date far in the future overflowing the scheduler).
MAX_REALTIME_GAP_S = 300.0

#: Seconds (processing clock) between two redraws of the progress line.
_PROGRESS_INTERVAL = 0.25


class JsonlReplayConfig(NodeConfig):
    path: str = Field(
        description="The recording: JSONL, optionally gzip-compressed (detected by content). "
        "A relative path resolves against the directory the run started in."
    )
    pacing: Literal["max", "realtime"] = Field(
        "max",
        description="'max': as fast as the graph takes the frames (the reader waits for the "
        "graph, nothing is dropped). 'realtime': keep the recorded gaps between frames, "
        "divided by 'speed'.",
    )
    speed: float = Field(
        1.0,
        ge=1e-3,
        description="Time compression of 'realtime' pacing: 2.0 replays twice as fast.",
    )
    nodes: tuple[int, ...] | None = Field(
        None,
        description="Only frames of these sensor node ids (variant B recordings are node 0); "
        "other frames are counted as skipped. Unset: every node.",
    )
    progress: bool = Field(
        True, description="Show a progress line on stderr when stderr is a terminal."
    )
    loop: bool = Field(
        False,
        description="Start over at the end of the file, forever. Each pass is shifted in event "
        "time (and seq) to continue after the previous one, so time never runs backwards.",
    )
    vitals: bool = Field(
        True,
        description="Also give the recording's vitals and presence: Vitals from variant A "
        "'vitals' lines and 'edge_vitals' (with the Presence their flags report), Presence "
        "and Vitals from a variant C update's classification and vital_signs (server-wide: "
        "node 0). false: frames only.",
    )


_EXAMPLES = (
    "id: replay\ntype: jsonl_replay\nconfig:\n  path: recording.csi.jsonl\n",
    "id: replay\ntype: jsonl_replay\nconfig:\n  path: recording.csi.jsonl.gz\n"
    "  pacing: realtime\n  speed: 2.0\n  nodes: [1]\n",
)


@registry.source(
    "jsonl_replay",
    config=JsonlReplayConfig,
    gives=(CsiFrame, Vitals, Presence),
    hop="block",
    examples=_EXAMPLES,
)
def build(config: JsonlReplayConfig, ctx: BuildContext) -> Observable[Replayed]:
    """Replay a recorded CSI session (JSONL, or JSONL.gz) as CSI frames, vitals and presence.

    Reads the recording formats of the RuView tools (INTERFACES §5, §9; docs/recordings.md),
    recognised line by line, so one file may mix them; gzip is detected by content:

    {formats}

    Not read, and named as such when a file gives no frame: camera-paired training data
    (``csi`` + ``kp``: ``evaluate`` and ``train`` read it).

    Each frame keeps its recorded timestamp as event time, so the output of a pipeline does not
    depend on the pacing. With ``pacing: max`` the file is read as fast as the pipeline takes
    the frames; with ``pacing: realtime`` the recorded gaps are kept (divided by ``speed``), up
    to 300 s: a longer one, or time running back, is a clock jump and is not waited out.

    Lines that give no frame are counted as dropped under a reason; every valid line still
    comes through.

    {reasons}

    A node of a variant C dump listed with a frozen frame is reported as ``node.stale``
    (``node.fresh`` when it sends). At the end of the file the node reports
    ``source.finished`` with the counts and the stream completes (unless ``loop`` is set). A
    file that gives no frame at all (empty, another format, every frame of an unselected node)
    ends the run with exit status 1 and a message that says which, what its first line reads
    and which formats are read: a silent zero is never a success.
    """
    path = ctx.resolve(config.path)
    if not path.is_file():
        found = "a folder" if path.is_dir() else "nothing"
        raise ConfigError(
            f"node '{ctx.node_id}' (jsonl_replay) config.path: must name a readable file; "
            f"got '{config.path}' ({found} at {path})"
        )

    def subscribe(
        observer: abc.ObserverBase[Replayed], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return _Replay(config, ctx, path, observer).start()

    return reactivex.create(subscribe)


def _document(doc: str) -> str:
    """The builder's docs with the formats and drop reasons filled in from their declarations
    (``formats``), so the docs cannot drift from what the parser reads."""

    def paragraph(text: str, bullet: str = "") -> str:
        indent = " " * len(bullet)
        return textwrap.fill(
            text, 96, initial_indent=bullet, subsequent_indent=indent, break_on_hyphens=False
        )

    def reasons(names: Iterable[str]) -> str:
        return ", ".join(f"``{name}``" for name in sorted(names))

    formats = "\n".join(
        paragraph(f"variant {f.variant}, {f.what}: {f.recognised}; gives {f.gives};", "* ")
        for f in FORMATS
    )
    quiet = NO_FRAME_REASONS | FRAME_SKIPS
    drops = (
        paragraph(f"Broken lines, also warned about (rate-limited): {reasons(MALFORMED)}.")
        + "\n\n"
        + paragraph(f"Lines with nothing to replay, counted quietly: {reasons(quiet)}.")
    )
    return (
        inspect.cleandoc(doc)
        .replace("{formats}", formats.removesuffix(";") + ".")
        .replace("{reasons}", drops)
    )


build.__doc__ = _document(build.__doc__ or "")


class _Replay:
    """One subscription: the open recording, the pacing state and the lifecycle flags."""

    def __init__(
        self,
        config: JsonlReplayConfig,
        ctx: BuildContext,
        path: Path,
        observer: abc.ObserverBase[Replayed],
    ) -> None:
        self.config, self.ctx, self.path, self.observer = config, ctx, path, observer
        self._frames: RecordingFrames | None = None
        self._task = SerialDisposable()
        self._lock = threading.Lock()
        self._running = self._disposed = self._ended = False
        # realtime: (scheduler time, event time) of the first frame, and a frame read too early
        self._anchor: tuple[datetime, float] | None = None
        self._last_ts = 0.0  # event time of the last item paced
        self._pending: Replayed | None = None
        self._show_progress = config.progress and ctx.services.interactive
        self._last_draw = float("-inf")

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> abc.DisposableBase:
        try:
            self._frames = RecordingFrames(
                self.path,
                nodes=self.config.nodes,
                loop=self.config.loop,
                on_skip=self._skip,
                on_nodes=lambda parser: report_nodes(self.ctx, parser, self.path.name),
                others=self.config.vitals,
                parser=_parser_of(self.config),
            )
        except OSError as exc:
            self.observer.on_error(RuntimeFailure(f"{self.ctx.node_id}: cannot read: {exc}"))
            return Disposable()
        run = self._run_max if self.config.pacing == "max" else self._run_realtime
        self._task.disposable = self.ctx.scheduler.schedule(run)
        return Disposable(self._dispose)

    def _dispose(self) -> None:
        with self._lock:
            self._disposed = True
            idle = not self._running
        self._task.dispose()
        if self._frames is not None:
            self._frames.stop()  # a running step sees it before its next line, then closes
            if idle:
                self._frames.close()
        if self._last_draw > float("-inf"):
            sys.stderr.write("\n")  # end the progress line

    def _enter(self) -> bool:
        with self._lock:
            if self._disposed or self._ended:
                return False
            self._running = True
            return True

    def _leave(self) -> None:
        with self._lock:
            self._running = False
            close = self._disposed or self._ended
        if close and self._frames is not None:
            self._frames.close()

    def _finish(self, frames: RecordingFrames) -> None:
        self._ended = True
        frames.close()
        if self._last_draw > float("-inf"):
            sys.stderr.write("\n")
            self._last_draw = float("-inf")
        self.ctx.emit(
            "source.finished",
            {
                "path": str(self.path),
                "lines": frames.lines,
                **{k.lower(): n for k, n in sorted(frames.given.items())},
                "frames": frames.frames,
                "passes": frames.passes + 1,
                "skipped": dict(sorted(frames.skipped.items())),
            },
        )
        nothing = frames.why_nothing()
        if nothing is not None:  # a silent zero is an error: wrong file, wrong format
            self.observer.on_error(RuntimeFailure(f"{self.ctx.node_id}: {nothing}"))
            return
        self.observer.on_completed()

    # -- pacing -------------------------------------------------------------------------------

    def _run_max(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        frames = self._frames
        if frames is None or not self._enter():
            return
        try:
            while (frame := frames.next_frame()) is not None:
                self._emit(frame)
            if not self._disposed:
                self._finish(frames)
        except BaseException:
            self._ended = True  # an error downstream: release the file, let it propagate
            raise
        finally:
            self._leave()

    def _run_realtime(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        """Emit every frame that is due, then wait (on the scheduler) until the next one is.
        Due times are absolute from the first frame, so scheduling delays never accumulate."""
        frames = self._frames
        if frames is None or not self._enter():
            return
        sched = self.ctx.scheduler
        try:
            while True:
                frame, self._pending = self._pending or frames.next_frame(), None
                if frame is None:
                    if not self._disposed:
                        self._finish(frames)
                    return
                if self._anchor is None or not (
                    -1.0 <= frame.ts - self._last_ts <= MAX_REALTIME_GAP_S
                ):
                    # the first item, or event time jumping back or far ahead (a clock jump
                    # in the recording): re-anchor here rather than wait for it
                    self._anchor = (sched.now, frame.ts)
                self._last_ts = max(self._last_ts, frame.ts)
                due = self._anchor[0] + timedelta(
                    seconds=(frame.ts - self._anchor[1]) / self.config.speed
                )
                if due > sched.now:
                    self._pending = frame
                    self._task.disposable = sched.schedule_absolute(due, self._run_realtime)
                    return
                self._emit(frame)
        except BaseException:
            self._ended = True
            raise
        finally:
            self._leave()

    # -- per frame ------------------------------------------------------------------------------

    def _emit(self, frame: Replayed) -> None:
        if self._show_progress:
            self._draw_progress()
        item = replace(frame, arrived=self.ctx.now())
        self.observer.on_next(item)
        # a node's vitals packet says whether someone is there: its Presence, as live sources
        presence = presence_of(item) if isinstance(item, Vitals) and item.node_id else None
        if presence is not None:
            self.observer.on_next(presence)

    def _skip(self, reason: str, detail: str) -> None:
        # Lines that are normal in a recording (feature, vitals, repeated ticks) are counted
        # quietly; broken ones also raise a (rate-limited) WARN.
        self.ctx.drop(reason, f"{self.path.name}: {detail}", warn=reason in MALFORMED)

    def _draw_progress(self) -> None:
        now = self.ctx.now()
        if now - self._last_draw < _PROGRESS_INTERVAL or self._frames is None:
            return
        self._last_draw = now
        frames = self._frames
        sys.stderr.write(
            f"\r{self.ctx.node_id}: {self.path.name} {frames.fraction_read:6.1%}"
            f"  {frames.frames} frames  {sum(frames.skipped.values())} skipped"
        )
        sys.stderr.flush()


def _parser_of(config: JsonlReplayConfig) -> Callable[[], RecordingParser]:
    """Each pass's line parser: with ``vitals``, one that also gives a variant C update's
    presence and vitals, as the live sources do from the same update."""
    if not config.vitals:
        return RecordingParser
    return lambda: RecordingParser(update_items=update_items)
