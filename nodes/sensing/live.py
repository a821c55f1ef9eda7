"""What the sensing-server sources share: config fields, lifecycle, outage events, delivery.

``LiveSource`` is one subscription of a live source. Its subclass does the I/O on the
source's thread (``ctx.scheduler``) and calls ``connected()`` when it hears the server,
``failed(reason)`` when it does not (which returns the backoff delay before the next attempt)
and ``deliver(results)`` with what the ``SensingDecoder`` gave.

Events: ``source.down {url, reason, retry_in_s}`` (warn) once at the start of each outage,
including a server that is not there when the run starts; ``source.up {url, down_s, retries}``
when the server answers again (``down_s``: outage duration on the processing clock). Skips are
counted as drops by reason; reasons of normal operation (``QUIET``) without a warning. Secrets
(the bearer token) are removed from every detail before it is counted or shown.

Threading: ``dispose`` may come from any thread; it sets a flag under the lock, cancels the
next scheduled attempt and calls ``abort()`` so a blocking call returns promptly.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from reactivex import abc
from reactivex.disposable import Disposable, SerialDisposable

from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig
from posecog.nodes.csi.recording import Skip

from .backoff import Backoff
from .updates import QUIET, Item, SensingDecoder

__all__ = ["LiveSource", "LiveSourceConfig", "shown_url", "shutdown_socket"]

Action = Callable[[abc.SchedulerBase, Any], None]


class LiveSourceConfig(NodeConfig):
    """Fields of every sensing-server source."""

    backoff_min_s: float = Field(
        0.1,
        gt=0,
        le=60,
        description="Delay before the first retry after a failure (s); it doubles with each "
        "failed retry.",
    )
    backoff_max_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description="Longest delay between two retries (s): also how long a server that came "
        "back may wait to be noticed.",
    )
    presence: bool = Field(
        True,
        description="Also give Presence items (from each update's classification, and from "
        "edge vitals).",
    )
    vitals: bool = Field(
        True,
        description="Also give Vitals items (from each update's vital_signs, and from edge "
        "vitals).",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> LiveSourceConfig:
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_min_s must be <= backoff_max_s; got {self.backoff_min_s} > "
                f"{self.backoff_max_s}"
            )
        return self


class LiveSource:
    """One subscription of a sensing-server source (see the module docstring)."""

    def __init__(
        self,
        config: LiveSourceConfig,
        ctx: BuildContext,
        observer: abc.ObserverBase[Item],
        shown_url: str,
    ) -> None:
        self.ctx = ctx
        self.observer = observer
        self.shown_url = shown_url
        self.decoder = SensingDecoder(presence=config.presence, vitals=config.vitals)
        self.backoff = Backoff(config.backoff_min_s, config.backoff_max_s)
        self.secrets: list[str] = []
        self.lock = threading.Lock()
        self.disposed = False
        self._task = SerialDisposable()
        self._down_since: float | None = None
        self.gauges = ctx.metrics.gauges
        self.gauges.update({"up": False, "outages": 0, "duplicates": 0, "last_tick": None})

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, first: Action) -> abc.DisposableBase:
        """Schedule ``first`` now; the subscription's disposable is ``dispose``, which also
        runs when the run closes (the test harness never disposes its sources)."""
        self.ctx.on_close(self.dispose)
        self.schedule(0.0, first)
        return Disposable(self.dispose)

    def schedule(self, delay: float, action: Action) -> None:
        """Run ``action`` on the source's thread after ``delay`` seconds (not once disposed)."""
        with self.lock:
            if self.disposed:
                return
            if delay <= 0:
                self._task.disposable = self.ctx.scheduler.schedule(action)
            else:
                self._task.disposable = self.ctx.scheduler.schedule_relative(delay, action)

    def dispose(self) -> None:
        with self.lock:
            if self.disposed:
                return
            self.disposed = True
        self._task.dispose()
        self.abort()

    def abort(self) -> None:
        """Make a blocking call of the source's thread return (called by ``dispose``)."""

    # -- server state ---------------------------------------------------------------------------

    def connected(self, usable: bool = True) -> None:
        """The server answered: ends an outage (``source.up``); a ``usable`` answer also
        resets the backoff (a refusal, such as a 401, keeps backing off)."""
        retries = self.backoff.failures
        if usable:
            self.backoff.reset()
        self.gauges["up"] = True
        if self._down_since is None:
            return
        down_s = round(self.ctx.now() - self._down_since, 3)
        self._down_since = None
        self.ctx.emit("source.up", {"url": self.shown_url, "down_s": down_s, "retries": retries})

    def failed(self, reason: str) -> float:
        """The server did not answer: ``source.down`` at the start of an outage. Returns the
        delay before the next attempt (s)."""
        delay = self.backoff.next()
        self.gauges["up"] = False
        if self._down_since is None and not self.disposed:
            self._down_since = self.ctx.now()
            self.gauges["outages"] += 1
            fields = {"url": self.shown_url, "reason": self.redact(reason), "retry_in_s": delay}
            self.ctx.emit("source.down", fields, "warn")
        return delay

    # -- items ------------------------------------------------------------------------------------

    def deliver(self, results: Iterable[Item | Skip]) -> int:
        """Hand items to the graph (stamped ``arrived``), count skips. Returns items given."""
        given = 0
        now = self.ctx.now()
        for result in results:
            if isinstance(result, Skip):
                self.drop(result.reason, result.detail, warn=result.reason not in QUIET)
            else:
                self.observer.on_next(replace(result, arrived=now))
                given += 1
        self.gauges["duplicates"] = self.decoder.duplicates
        self.gauges["last_tick"] = self.decoder.last_tick
        return given

    def drop(self, reason: str, detail: str, warn: bool = True) -> None:
        self.ctx.drop(reason, f"{self.shown_url}: {self.redact(detail)}", warn=warn)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def shutdown_socket(sock: socket.socket | None) -> None:
    """Make a call blocked on ``sock`` in another thread return now (no-op when closed)."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def shown_url(url: str) -> str:
    """``url`` as events and drop details show it: scheme, host, port and path, never the
    userinfo or the query (either may carry a credential)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"  # an IPv6 literal
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"
