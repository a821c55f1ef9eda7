"""The output event envelope (ADR-100) and the event stream every run writes to.

One JSON object per stdout line: ``{"ts", "level", "event", "fields"}``. ``ts`` is the wall-clock
time the event was emitted (seconds since the epoch); event time of the data, when there is one,
travels inside ``fields``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from .secrets import REDACT

__all__ = ["Event", "EventStream", "Level", "to_json_line"]

Level = Literal["debug", "info", "warn", "error"]


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    fields: dict[str, Any] = field(default_factory=dict)
    level: Level = "info"
    ts: float = 0.0

    def envelope(self) -> dict[str, Any]:
        return {"ts": self.ts, "level": self.level, "event": self.event, "fields": self.fields}


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: they become null rather than invalid output."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


#: One encoder for every line (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def to_json_line(event: Event) -> str:
    """One compact JSON line; NaN/inf (invalid JSON) become null, walked only when present."""
    envelope = event.envelope()
    try:
        return _ENCODER.encode(envelope)
    except ValueError:
        return _ENCODER.encode(_clean(envelope))


class EventStream:
    """Thread-safe fan-out of events: to a text stream (one JSON line each) and/or listeners.

    ``wall_clock`` stamps ``ts`` on events that have none; tests inject a fixed clock.
    """

    def __init__(
        self,
        out: IO[str] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._out = out
        self._wall_clock = wall_clock
        self._listeners: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        #: The first error writing to ``out``; nothing more is written there after it.
        self.failed: BaseException | None = None
        #: Called once with that error (the runtime ends the run: events would be lost).
        self.on_failure: Callable[[BaseException], None] | None = None

    def listen(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def stamp(self) -> float:
        """The wall-clock time an event emitted now carries."""
        return round(self._wall_clock(), 6)

    def emit(
        self,
        event: str,
        fields: dict[str, Any] | None = None,
        level: Level = "info",
        flush: bool = True,
    ) -> Event:
        """Write one event. ``flush`` (the default) pushes it out at once: stdout is a pipe
        under the appliance's gateway, block-buffered, and an event must not wait there. Sinks
        of item events pass ``flush=False`` and flush when the pipeline goes idle, so a fast
        replay writes in blocks and a live stream line by line."""
        ev = Event(event, fields or {}, level, self.stamp())
        self.write(ev)
        if flush:
            self.flush()
        return ev

    def write(self, ev: Event) -> None:
        """Write one event (no flush). Secrets are masked first (``graph.secrets``), for the
        text stream and the listeners alike."""
        line = to_json_line(ev)
        clean = REDACT(line)
        if len(clean) != len(line) or clean != line:
            line, ev = clean, Event(ev.event, json.loads(clean)["fields"], ev.level, ev.ts)
        failed = None
        with self._lock:
            if self._out is not None and self.failed is None:
                try:
                    self._out.write(line + "\n")
                except (OSError, ValueError) as exc:  # full disk, closed pipe, closed file
                    failed = self._failed(exc)
            for listener in self._listeners:
                listener(ev)
        self._report(failed)

    def flush(self) -> None:
        failed = None
        with self._lock:
            if self._out is not None and self.failed is None:
                try:
                    self._out.flush()
                except (OSError, ValueError) as exc:
                    failed = self._failed(exc)
        self._report(failed)

    def _failed(self, exc: BaseException) -> BaseException:
        self.failed = exc
        return exc

    def _report(self, exc: BaseException | None) -> None:
        if exc is not None and self.on_failure is not None:
            self.on_failure(exc)
