"""The CSI frames of a recording, in file order: filtered by node, optionally looped.

``RecordingFrames`` is what a replay (the ``jsonl_replay`` node, or a tool) reads: it turns the
``Entry`` stream of ``recording.RecordingReader`` into frames and reports every line that gives
no frame to ``on_skip(reason, detail)``: the reader's skips, ``vitals_line`` for vitals (only
frames are given) and ``node_not_selected`` for frames of other nodes.

Looping shifts each later pass in event time by the span of the first pass plus one mean frame
interval, and ``seq`` by the first pass's largest ``seq`` + 1, so both keep increasing.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import replace
from pathlib import Path

from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.rejection import Rejected

from .formats import FORMATS
from .recording import Entry, RecordingParser, RecordingReader

__all__ = ["FORMATS_READ", "FRAME_SKIPS", "RecordingFrames"]

#: Reasons ``RecordingFrames`` adds to the reader's: vitals (only frames are given) and frames
#: of nodes not selected.
FRAME_SKIPS = frozenset({"vitals_line", "node_not_selected"})


#: What replay reads, for the message of a file that gave no frame (made from ``FORMATS``).
FORMATS_READ = (
    "Replay reads JSONL recordings of RuView's tools, optionally gzip-compressed, recognised "
    "line by line: " + "; ".join(f"variant {f.variant}, {f.what}: {f.recognised}" for f in FORMATS)
)


def _first_line(path: Path) -> str:
    """The first non-blank line of a text or gzip file, whole; "" when there is none."""
    try:
        with path.open("rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else path.open("rb") as f:
            for line in f:
                if line.strip():
                    return line.decode("utf-8", "replace").strip()
    except (OSError, EOFError):
        pass
    return ""


def _known_other_format(line: str) -> str | None:
    """What a first line is when it is a known JSONL format that replay does not read."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if {"csi", "kp"} <= obj.keys():
        return (
            "camera-paired training data ('csi' windows with 'kp' keypoints), which "
            "'cog-pose-estimation evaluate' and 'train' read, not replay"
        )
    return None


class RecordingFrames:
    """Opens the file at construction (``OSError`` if it cannot). Not thread-safe, except
    ``stop``, which any thread may call: the reading ends before the next line."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        nodes: Collection[int] | None = None,
        loop: bool = False,
        on_skip: Callable[[str, str], None] = lambda reason, detail: None,
        on_nodes: Callable[[RecordingParser], None] = lambda parser: None,
        others: bool = False,
        parser: Callable[[], RecordingParser] = RecordingParser,
    ) -> None:
        self.path = Path(path)
        self.keep = None if nodes is None else frozenset(nodes)
        self.loop = loop
        self.on_skip = on_skip
        #: Called with the reader's parser when nodes of a variant C file turned stale/fresh.
        self.on_nodes = on_nodes
        #: Frames given, lines of the file (first pass), finished passes, skips by reason.
        self.frames = self.lines = self.passes = 0
        self.skipped: Counter[str] = Counter()
        #: ``reason: detail`` of the first line that gave no frame (for ``why_nothing``).
        self.first_skip: str | None = None
        self._stopped = False
        #: Give the recording's vitals and presence too (else they are ``vitals_line`` skips).
        self.others = others
        #: Vitals and presence items given, by type name.
        self.given: Counter[str] = Counter()
        self._parser = parser
        self._reader = RecordingReader(self.path, parser())
        self._entries: Iterator[Entry] = iter(self._reader)
        self._pass_frames = 0
        self._first_ts: float | None = None
        self._last_ts, self._max_seq = 0.0, 0
        self._ts_span, self._seq_span = 0.0, 0

    def __iter__(self) -> Iterator[CsiFrame | Vitals | Presence]:
        while (frame := self.next_frame()) is not None:
            yield frame

    def next_frame(self) -> CsiFrame | Vitals | Presence | None:
        """The next frame (or, with ``others``, vitals or presence); None at the end of the
        file (of no pass, when looping) or once stopped."""
        while not self._stopped:
            entry = next(self._entries, None)
            if entry is None:
                if not (self.loop and self._pass_frames):
                    return None
                self._next_pass()
                continue
            if self.passes == 0:
                self.lines = entry.line
            value = entry.value
            if self._reader.parser.transitions:
                self.on_nodes(self._reader.parser)
            if isinstance(value, Rejected):
                self._skip(value.reason, value.detail)
            elif not isinstance(value, CsiFrame):
                if self.others and (self.keep is None or value.node_id in self.keep | {0}):
                    self.given[type(value).__name__] += 1
                    return self._shifted(value)
                self._skip("vitals_line", f"line {entry.line}: vitals of node {value.node_id}")
            elif self.keep is not None and value.node_id not in self.keep:
                self._skip("node_not_selected", f"line {entry.line}: node {value.node_id}")
            else:
                return self._track(value)
        return None

    @property
    def fraction_read(self) -> float:
        """Share of the current pass's file read (see ``RecordingReader.fraction_read``)."""
        return self._reader.fraction_read

    def stop(self) -> None:
        self._stopped = True

    def why_nothing(self) -> str | None:
        """After the reading: why not one frame came out of the file (None when some did), in
        words a user can act on: empty, all frames of unselected nodes, or what the lines
        looked like and which formats are read."""
        if self.frames:
            return None
        name = str(self.path)
        if not self.lines:
            return f"{name} is empty: no line to replay"
        if self.skipped.get("node_not_selected"):
            n = self.skipped["node_not_selected"]
            keep = sorted(self.keep or ())
            return (
                f"{name}: none of its frames is of the selected nodes {keep} ({n} frames of "
                f"other nodes skipped); widen or remove the replay's 'nodes'"
            )
        lines = f"{self.lines} line" + ("s" if self.lines != 1 else "")
        reasons = ", ".join(f"{r} {n}" for r, n in self.skipped.most_common(4))
        if len(self.skipped) > 4:
            reasons += ", ..."
        line = _first_line(self.path)
        cut = line[:80] + ("..." if len(line) > 80 else "")
        other = _known_other_format(line)
        looks = f"; it looks like {other}" if other else ""
        # the first line already shows what a line that is not JSON looks like
        first = self.first_skip if set(self.skipped) != {"bad_json"} else None
        first = f"; the first skipped: {first:.160}" if first else ""
        return (
            f"{name}: no CSI frame in {lines} (skipped: {reasons}{first}); the first line "
            f"reads {cut!r}{looks}. {FORMATS_READ}"
        )

    def close(self) -> None:
        """Idempotent; call it from the reading thread (or when no read is running)."""
        self._reader.close()

    def _skip(self, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        if self.first_skip is None:
            self.first_skip = f"{reason}: {detail}"
        self.on_skip(reason, detail)

    def _track(self, frame: CsiFrame) -> CsiFrame:
        self.frames += 1
        self._pass_frames += 1
        if self.passes == 0:
            if self._first_ts is None:
                self._first_ts = frame.ts
            self._last_ts = max(self._last_ts, frame.ts)
            self._max_seq = max(self._max_seq, frame.seq)
            return frame
        return replace(
            frame,
            ts=frame.ts + self.passes * self._ts_span,
            seq=frame.seq + self.passes * self._seq_span,
        )

    def _shifted(self, item: Vitals | Presence) -> Vitals | Presence:
        """A vitals or presence item, shifted in event time like the frames of its pass
        (server-wide items, node 0, pass the node filter: they are every node's)."""
        return replace(item, ts=item.ts + self.passes * self._ts_span) if self.passes else item

    def _next_pass(self) -> None:
        if self.passes == 0:
            span = self._last_ts - (self._first_ts or 0.0)
            gap = span / (self._pass_frames - 1) if self._pass_frames > 1 else 1.0
            self._ts_span, self._seq_span = span + gap, self._max_seq + 1
        self.passes += 1
        self._pass_frames = 0
        self._reader.close()
        self._reader = RecordingReader(self.path, self._parser())
        self._entries = iter(self._reader)
