"""JSONL CSI recordings: every line variant of INTERFACES §5 and §9, detected line by line.

``formats.FORMATS`` names each variant and how its lines are recognised (replay's docs are made
from it); what each line gives:

* **A, raw packets**: ``raw_csi`` lines with ``magic`` (``iq_hex`` = packet bytes 20..) become a
  ``CsiFrame`` of LLTF bins 0..55 (``esp32.amplitude`` of the first 56 pairs), ``seq`` = line
  number and ``n_subcarriers`` = the line's ``subcarriers``; ``vitals`` lines become
  ``Vitals``; ``feature`` lines and untyped sibling packets (0xC5110005 compressed CSI, ...) are
  skipped by reason. ``rssi`` on ``raw_csi`` lines is a constant placeholder, so frames carry
  ``rssi=None``.
* **A-legacy, every datagram** (``scripts/record-csi-udp.py`` as the user guide runs it:
  ``raw_csi`` lines without ``magic``, ``iq_hex`` = packet bytes 8..) and **A-filtered** (its
  later versions, CSI packets only): decoded in ``recording_legacy``. A CSI packet gives the
  frame variant A gives (the same amplitudes, bit for bit) with ``seq`` = the packet's
  sequence, the packet's RSSI and event time ``ts_ns``; A-legacy's other packets are told
  apart by their length and skipped by kind (``vitals_packet``, ...).
* **B, amplitude frames**: ``subcarriers`` is a list of 56 floats; no ``node_id`` means node 0;
  ``seq`` = line number; ``n_subcarriers`` = 0 (unknown); ``rssi`` 0.0 means "not recorded".
* **C, sensing-server stream dumps**: one ``CsiFrame`` per node of each ``sensing_update`` with
  ``ts`` = the update's ``timestamp`` and ``seq`` = its ``tick``; the server's 100 ms repeats
  (same tick as the previous update) and vitals-triggered updates (empty amplitude lists) are
  skipped, and a node with a broken entry is skipped alone (``RecordingParser.sensing_update``,
  also used by the live sources of ``nodes.sensing``); ``rssi_dbm`` is wrong on the server's
  raw-CSI path, so ``rssi=None``. ``edge_vitals``
  become ``Vitals``, stamped with their own ``timestamp`` or else the last update's;
  ``wasm_event`` lines are skipped.

A line that yields nothing yields a ``Rejected(reason, detail)`` instead: nothing is ever dropped
silently, except blank lines. Reasons in ``MALFORMED`` mean the line is broken; the others
(``NO_FRAME_REASONS``) mark well-formed lines that carry no frame (both in ``formats``).
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

import numpy as np

from posecog.nodes.items import CsiFrame, FloatArray, Presence, Vitals
from posecog.nodes.rejection import Rejected

from .esp32 import (
    CSI_HEADER_SIZE,
    KNOWN_MAGICS,
    LLTF_BINS,
    MAGIC_COMPRESSED_CSI,
    MAGIC_CSI,
    MAGIC_VITALS,
    amplitude,
)
from .formats import FORMATS, MALFORMED, NO_FRAME_REASONS, RecordingFormat
from .json_fields import field, integer, number, opt_bool, opt_number
from .lines import MAX_LINE, GzipBomb, GzipGuard, split_lines
from .recording_legacy import filtered_frame, is_filtered, is_recorder_line, legacy_frame

__all__ = [
    "FORMATS",
    "MALFORMED",
    "NO_FRAME_REASONS",
    "Entry",
    "RecordingFormat",
    "RecordingParser",
    "RecordingReader",
    "read_recording",
]


class Entry(NamedTuple):
    """What one line gave: an item or a ``Rejected``; ``line`` counts from 1. A variant C update
    gives one entry per node, all with the same line number."""

    line: int
    value: CsiFrame | Vitals | Presence | Rejected


# -- field readers: each raises Rejected with a reason (and json_fields) --------------------------


def _amplitudes(value: Any, key: str) -> FloatArray:
    if not isinstance(value, list):
        raise Rejected("bad_type", f"'{key}' must be a list of numbers; got {type(value).__name__}")
    if len(value) != LLTF_BINS:
        raise Rejected("bad_length", f"'{key}' must hold {LLTF_BINS} numbers; got {len(value)}")
    try:
        raw = np.asarray(value)  # no dtype: strings, None or nested lists show up in raw.dtype
    except (ValueError, TypeError, OverflowError):  # ragged nesting, huge integers
        raw = np.asarray([], dtype=object)
    if raw.dtype.kind not in "iuf" or raw.ndim != 1:
        raise Rejected("bad_type", f"'{key}' must be a list of numbers")
    with np.errstate(over="ignore"):
        amp = raw.astype(np.float32)
    if not np.isfinite(amp).all():
        raise Rejected("non_finite", f"'{key}' holds NaN or infinity")
    if (amp < 0).any():
        raise Rejected("negative_amplitude", f"'{key}' holds a negative amplitude")
    return amp


def _check_magic(obj: dict[str, Any], expected: int) -> None:
    if "magic" not in obj:
        return
    magic = _magic(obj)
    if magic != expected:
        raise Rejected("magic_mismatch", f"expected 0x{expected:08X}; got 0x{magic:08X}")


def _magic(obj: dict[str, Any]) -> int:
    text = obj["magic"]
    try:
        magic = int(text, 16) if isinstance(text, str) else -1
    except ValueError:
        magic = -1
    if magic not in KNOWN_MAGICS:
        raise Rejected("unknown_magic", f"'magic' {text!r:.40} is not a known packet magic")
    return magic


# -- the parser -----------------------------------------------------------------------------


#: Event time (s) a node listed in sensing updates may keep the same frame before it is
#: stale: it stopped sending and the server still lists its last frame (for 10 s). Nodes
#: send at 10-100 Hz, so 2 s without a new frame is no longer a pause.
STALE_AFTER_S = 2.0


#: Nodes whose last frame the parser keeps (for the multi-node dedupe); a node heard from
#: least recently is forgotten beyond it (``evicted``): its next frame is simply taken as new.
MAX_NODES = 1024


#: ``(update, its time, where) -> items or Rejected`` of a sensing update beside its frames.
UpdateItems = Callable[[dict[str, Any], float, str], list[Any]]


class RecordingParser:
    """Turns lines into items or skips. Stateful only for variant C: the tick of the previous
    ``sensing_update`` (dedupe), its timestamp (for ``edge_vitals`` without one), and each
    node's last frame. Use one parser per file, fed in line order.

    Multi-node updates: the server rebuilds ``nodes[]`` on every packet of any node, listing
    each node heard in the last 10 s with *that node's latest frame* (INTERFACES §9), so an
    entry whose amplitudes equal the node's previous entry is that frame again, under a newer
    timestamp: it is skipped as ``repeated_frame`` (quiet), and a node's frame comes once, with
    the event time of the update that first carried it. A node whose frame stays the same for
    ``stale_after_s`` of event time is *stale* until a new frame comes; each change is queued
    in ``transitions`` (``("stale" | "fresh", node_id, ts)``) for the source to report.
    """

    def __init__(
        self,
        stale_after_s: float = STALE_AFTER_S,
        update_items: UpdateItems | None = None,
    ) -> None:
        #: Called with each new ``sensing_update`` and its time: the other items it carries
        #: (presence, vitals), given after its frames (``nodes.sensing.updates.update_items``).
        self.update_items = update_items
        self._last_tick: int | None = None
        self._last_key: object = None  # the tick, or (v1 server, no tick) the timestamp
        self._last_ts: float | None = None
        #: ``sensing_update`` objects taken (repeats and broken ones aside).
        self.updates = 0
        self.stale_after_s = stale_after_s
        #: Per node: its last frame's amplitudes and the event time it first came at.
        self._frames: dict[int, tuple[FloatArray, float]] = {}
        #: Nodes forgotten beyond ``MAX_NODES`` (least recently heard first).
        self.evicted = 0
        #: Nodes listed with a frozen frame for longer than ``stale_after_s``.
        self.stale: set[int] = set()
        #: Stale/fresh changes not yet taken by ``take_transitions``.
        self.transitions: list[tuple[str, int, float]] = []
        #: ``edge_vitals`` without a time, waiting for the update they precede.
        self._held: list[tuple[dict[str, Any], str]] = []

    def parse(
        self, text: bytes | str, line: int, complete: bool = True
    ) -> list[CsiFrame | Vitals | Presence | Rejected]:
        """Parse one line (``complete`` is False for a last line without newline)."""
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
            reason = "bad_json" if complete else "truncated_line"
            return [Rejected(reason, f"line {line}: {exc}")]
        try:
            return self._dispatch(obj, line)
        except Rejected as bad:
            return [Rejected(bad.reason, f"line {line}: {bad.detail}")]

    def _dispatch(self, obj: Any, line: int) -> list[CsiFrame | Vitals | Presence | Rejected]:
        if not isinstance(obj, dict):
            raise Rejected("unknown_record", f"expected a JSON object; got {type(obj).__name__}")
        kind = obj.get("type")
        if kind == "raw_csi":
            if not is_recorder_line(obj):
                return [_raw_csi(obj, line)]
            return [filtered_frame(obj) if is_filtered(obj) else legacy_frame(obj)]
        if kind == "vitals":
            _check_magic(obj, MAGIC_VITALS)
            return [_packet_vitals(obj)]
        if kind == "feature":
            return [Rejected("feature_line", f"line {line}")]
        if kind == "sensing_update":
            return [*self.sensing_update(obj, f"line {line}")]
        if kind == "edge_vitals":
            return [*self.edge_vitals(obj, f"line {line}")]
        if kind == "wasm_event":
            return [Rejected("wasm_event", f"line {line}")]
        if kind is None and isinstance(obj.get("subcarriers"), list):
            return [_amplitude_frame(obj, line)]
        if kind is None and "magic" in obj:
            magic = _magic(obj)
            reason = "compressed_csi" if magic == MAGIC_COMPRESSED_CSI else "other_packet"
            return [Rejected(reason, f"line {line}: {KNOWN_MAGICS[magic]} packet")]
        raise Rejected("unknown_record", f"type {kind!r:.40} with keys {sorted(obj)[:8]}")

    @property
    def last_tick(self) -> int | None:
        """The tick of the last ``sensing_update`` taken (repeats and broken updates aside)."""
        return self._last_tick

    def sensing_update(
        self, obj: dict[str, Any], where: str = ""
    ) -> list[CsiFrame | Vitals | Presence | Rejected]:
        """One ``sensing_update`` object (variant C line, or the live server's JSON).

        Gives one frame per node with amplitudes; ``[Rejected("duplicate_tick")]`` for a repeat of
        the previous update's tick; a ``Rejected`` for each node whose entry is broken (the other
        nodes still give frames); ``[Rejected("no_amplitude")]`` when no node has amplitudes. A
        broken ``tick``, ``timestamp`` or ``nodes`` skips the whole update and leaves the
        dedupe state as it was. Every update taken (not a repeat) counts in ``updates``, so
        callers can tell a new update from a repeat. ``where`` prefixes skip details.
        """
        prefix = f"{where}: " if where else ""
        try:
            # The v1 Python server sends no tick: its timestamp tells repeats apart, and the
            # node's sequence orders its frames.
            tick = integer(obj, "tick") if "tick" in obj else None
            ts = number(obj, "timestamp")
            nodes = field(obj, "nodes")
            if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
                raise Rejected("bad_type", "'nodes' must be a list of objects")
        except Rejected as bad:
            return [Rejected(bad.reason, prefix + bad.detail)]
        key = tick if tick is not None else ("timestamp", ts)
        self._last_ts = ts
        if key == self._last_key:
            which = f"tick {tick}" if tick is not None else f"timestamp {ts}"
            return [Rejected("duplicate_tick", f"{prefix}{which}")]
        # Taken before the nodes are read: a broken update is reported once, not per repeat.
        self._last_key = key
        self._last_tick = tick
        self.updates += 1
        frames: list[CsiFrame | Vitals | Presence | Rejected] = [*self.release(ts)]
        for node in nodes:
            if node.get("amplitude") == []:
                continue
            try:
                amp = _amplitudes(field(node, "amplitude"), "amplitude")
                node_id = integer(node, "node_id")
                n_sub = integer(node, "subcarrier_count", default=0)
                seq = tick if tick is not None else integer(node, "sequence", default=-1)
            except Rejected as bad:
                who = f"node {node.get('node_id')!r:.20}"
                frames.append(Rejected(bad.reason, f"{prefix}tick {tick} {who}: {bad.detail}"))
                continue
            frames.append(self._node_frame(ts, node_id, amp, seq, n_sub, prefix))
        if not frames:
            frames.append(Rejected("no_amplitude", f"{prefix}tick {tick}: no node has amplitudes"))
        if self.update_items is not None:
            frames.extend(self.update_items(obj, ts, f"{prefix}tick {tick}"))
        return frames

    def _node_frame(
        self, ts: float, node_id: int, amp: FloatArray, tick: int, n_sub: int, prefix: str
    ) -> CsiFrame | Rejected:
        """A node's entry of an update: its frame if new, else ``repeated_frame`` (and the
        node turns stale once its frame has not changed for ``stale_after_s``)."""
        previous = self._frames.get(node_id)
        if previous is not None and np.array_equal(previous[0], amp):
            if node_id not in self.stale and ts - previous[1] > self.stale_after_s:
                self.stale.add(node_id)
                self.transitions.append(("stale", node_id, ts))
            return Rejected("repeated_frame", f"{prefix}tick {tick} node {node_id}")
        frames = self._frames
        frames.pop(node_id, None)  # re-inserted last: the dict's order is least recent first
        frames[node_id] = (amp, ts)
        if len(frames) > MAX_NODES:  # bounded by this, not by how many ids the input makes up
            forgotten = next(iter(frames))
            del frames[forgotten]
            self.stale.discard(forgotten)
            self.evicted += 1
        if node_id in self.stale:
            self.stale.discard(node_id)
            self.transitions.append(("fresh", node_id, ts))
        return CsiFrame(ts, node_id, amp, seq=tick, n_subcarriers=n_sub)

    def take_transitions(self) -> list[tuple[str, int, float]]:
        """The stale/fresh changes since the last call."""
        out, self.transitions = self.transitions, []
        return out

    def edge_vitals(self, obj: dict[str, Any], where: str = "") -> list[Vitals | Rejected]:
        """One ``edge_vitals`` object. One with its own ``timestamp`` is given at once. The
        server sends one without, *before* the update its packet triggers (INTERFACES §9), so
        it is held and given, stamped with that update's time, just before the update's frames
        (``release``); a second one held for the same node releases the first with the time of
        the last update. Nothing is lost for want of a time: ``release_all`` at the end."""
        try:
            if opt_number(obj, "timestamp") is not None:
                return [self._edge_vitals(obj, None)]
            node = obj.get("node_id")
            out: list[Vitals | Rejected] = []
            if any(o.get("node_id") == node for o, _w in self._held):
                out = self.release(self._last_ts)
            self._held.append((obj, where))
            return out
        except Rejected as bad:
            return [Rejected(bad.reason, f"{where}: {bad.detail}" if where else bad.detail)]

    def release(self, ts: float | None) -> list[Vitals | Rejected]:
        """The held ``edge_vitals``, stamped with ``ts`` (``no_timestamp`` when None)."""
        out: list[Vitals | Rejected] = []
        for obj, where in self._held:
            try:
                out.append(self._edge_vitals(obj, ts))
            except Rejected as bad:
                out.append(Rejected(bad.reason, f"{where}: {bad.detail}" if where else bad.detail))
        self._held = []
        return out

    def release_all(self) -> list[Vitals | Rejected]:
        """At the end of the input: what is still held, with the last update's time."""
        return self.release(self._last_ts) if self._held else []

    def _edge_vitals(self, obj: dict[str, Any], at: float | None) -> Vitals:
        ts = opt_number(obj, "timestamp")
        if ts is None:
            ts = at
        if ts is None:
            raise Rejected("no_timestamp", "edge_vitals before any sensing_update gives a time")
        rssi = opt_number(obj, "rssi")
        n_persons = obj.get("n_persons")
        return Vitals(
            ts=ts,
            node_id=integer(obj, "node_id"),
            breathing_bpm=opt_number(obj, "breathing_rate_bpm"),
            heartrate_bpm=opt_number(obj, "heartrate_bpm"),
            presence=opt_bool(obj, "presence"),
            fall_detected=opt_bool(obj, "fall_detected"),
            motion=opt_bool(obj, "motion"),
            n_persons=None if n_persons is None else integer(obj, "n_persons"),
            motion_energy=opt_number(obj, "motion_energy"),
            presence_score=opt_number(obj, "presence_score"),
            extra={} if rssi is None else {"rssi": rssi},
        )


def _raw_csi(obj: dict[str, Any], line: int) -> CsiFrame:
    _check_magic(obj, MAGIC_CSI)
    ts = number(obj, "timestamp")
    node_id = integer(obj, "node_id")
    n_sub = integer(obj, "subcarriers")
    iq_hex = field(obj, "iq_hex")
    if not isinstance(iq_hex, str):
        raise Rejected("bad_type", f"'iq_hex' must be a string; got {type(iq_hex).__name__}")
    if n_sub < LLTF_BINS or len(iq_hex) != 4 * n_sub:
        raise Rejected(
            "bad_length",
            f"{n_sub} subcarriers (>= {LLTF_BINS}) need {4 * n_sub} hex digits; got {len(iq_hex)}",
        )
    try:
        iq = bytes.fromhex(iq_hex)
    except ValueError as exc:
        raise Rejected("bad_hex", f"'iq_hex': {exc}") from None
    if len(iq) != 2 * n_sub:  # fromhex skips whitespace
        raise Rejected("bad_hex", f"'iq_hex' holds whitespace: {len(iq)} bytes for {n_sub} pairs")
    size = obj.get("size")
    if size is not None and size != CSI_HEADER_SIZE + len(iq):
        raise Rejected("bad_length", f"'size' {size!r:.20} != {CSI_HEADER_SIZE} + {len(iq)}")
    # Bins 0..55 of the full amplitude vector, computed directly from the first 56 pairs.
    amp = amplitude(iq, LLTF_BINS)
    return CsiFrame(ts, node_id, amp, seq=line, rssi=None, n_subcarriers=n_sub)


def _packet_vitals(obj: dict[str, Any]) -> Vitals:
    flags = integer(obj, "flags", default=0)
    rssi = opt_number(obj, "rssi")
    n_persons = obj.get("n_persons")
    return Vitals(
        ts=number(obj, "timestamp"),
        node_id=integer(obj, "node_id"),
        breathing_bpm=opt_number(obj, "breathing_bpm"),
        heartrate_bpm=opt_number(obj, "heartrate_bpm"),
        presence=bool(flags & 1),
        fall_detected=bool(flags & 2),
        motion=bool(flags & 4),
        n_persons=None if n_persons is None else integer(obj, "n_persons"),
        motion_energy=opt_number(obj, "motion_energy"),
        presence_score=opt_number(obj, "presence_score"),
        extra={} if rssi is None else {"rssi": rssi},
    )


def _amplitude_frame(obj: dict[str, Any], line: int) -> CsiFrame:
    ts = number(obj, "timestamp")
    node_id = integer(obj, "node_id", default=0)
    amp = _amplitudes(obj["subcarriers"], "subcarriers")
    rssi = opt_number(obj, "rssi")
    return CsiFrame(ts, node_id, amp, seq=line, rssi=rssi or None)


# -- files ----------------------------------------------------------------------------------


class RecordingReader:
    """An open recording (gzip detected by its magic bytes, whatever the file name), iterated
    as ``Entry`` records. Blank lines are ignored; ``\n``, ``\r\n`` and a lone ``\r`` end a line;
    a line over ``lines.MAX_LINE`` is an ``oversize_line`` skip. A file that cannot be read on
    (a cut-off ``.gz``) ends the iteration with a ``read_error`` skip, a decompression bomb
    with ``gzip_bomb``. Opening raises ``OSError``.

    Not thread-safe: iterate and close from the same thread (or never concurrently).
    """

    def __init__(self, path: str | os.PathLike[str], parser: RecordingParser | None = None) -> None:
        self.path = Path(path)
        self._raw = open(self.path, "rb")  # noqa: SIM115 - closed by close() / __exit__
        self._size = os.fstat(self._raw.fileno()).st_size
        gz = self._raw.peek(2)[:2] == b"\x1f\x8b"
        self._lines: IO[bytes] | gzip.GzipFile = self._raw
        if gz:
            self._lines = gzip.GzipFile(fileobj=self._raw)
        self.parser = parser if parser is not None else RecordingParser()

    def __iter__(self) -> Iterator[Entry]:
        line = 0
        parse = self.parser.parse
        lines = self._lines
        read = GzipGuard(lines, self._raw).read if isinstance(lines, gzip.GzipFile) else lines.read
        try:
            for line, text in enumerate(split_lines(read), 1):
                if isinstance(text, int):
                    why = f"line {line}: {text} bytes, longer than any recording line ({MAX_LINE})"
                    yield Entry(line, Rejected("oversize_line", why))
                    continue
                if text.isspace():
                    continue
                for value in parse(text, line, text.endswith((b"\n", b"\r"))):
                    yield Entry(line, value)
            for value in self.parser.release_all():
                yield Entry(line, value)
        except (OSError, EOFError, zlib.error) as exc:
            # "line N: ...", as every other skip: the reader of the skips names the file.
            reason = "gzip_bomb" if isinstance(exc, GzipBomb) else "read_error"
            yield Entry(line + 1, Rejected(reason, f"line {line + 1}: {exc}"))

    @property
    def fraction_read(self) -> float:
        """Share of the file's bytes read so far (of the compressed bytes for ``.gz``)."""
        if self._raw.closed or not self._size:
            return 1.0
        return min(1.0, self._raw.tell() / self._size)

    def close(self) -> None:
        """Idempotent."""
        self._lines.close()
        self._raw.close()

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_recording(path: str | os.PathLike[str]) -> Iterator[Entry]:
    """Every ``Entry`` of the recording at ``path``; the file is closed when the iteration ends
    or the generator is closed."""
    with RecordingReader(path) as reader:
        yield from reader
