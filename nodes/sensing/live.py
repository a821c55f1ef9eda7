"""What the sensing-server sources share: config fields, secrets, delivery of decoded updates.

``SensingReader`` is the common part of the ``http_poll`` and ``ws_sensing`` readers. The
kernel owns their connections (``posecog.graph.connection``: retries with backoff and jitter,
``source.down {url, reason, retry_in_s}`` once at the start of each outage, including a server
that is not there when the run starts, and ``source.up {url, down_s, retries}`` when it answers
again); the reader decodes what the server says and hands out items. Skips are counted as drops
by reason; reasons of normal operation (``QUIET``) without a warning. Secrets (the bearer token)
are removed from every detail and every outage reason before it is counted or shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from posecog.graph.connection import NotConnected, Retry
from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig
from posecog.graph.secrets import REDACT
from posecog.nodes.csi.recording import RecordingParser
from posecog.nodes.rejection import Rejected

from .updates import QUIET, Item, SensingDecoder

__all__ = ["LiveSourceConfig", "SensingReader", "report_nodes", "retry_of", "shown_url"]


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
    backoff_jitter: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="Each retry delay is shortened by a random fraction of up to this much, so "
        "sources that lost the same server do not retry in step (0: exact delays).",
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


class SensingReader:
    """The decoder, secrets and delivery of one sensing-server reader."""

    def __init__(self, config: LiveSourceConfig, ctx: BuildContext, shown_url: str) -> None:
        self.ctx = ctx
        self.shown_url = shown_url
        self.decoder = SensingDecoder(presence=config.presence, vitals=config.vitals)
        self.secrets: list[str] = []
        self.gauges = ctx.metrics.gauges
        self.gauges.update({"duplicates": 0, "last_tick": None, "source_stale": False})
        self._seen = 0  # updates taken by the decoder, at the last delivery
        self._fresh_at: float | None = None  # processing time of the last new update

    def deliver(self, results: Iterable[Item | Rejected]) -> list[Item]:
        """The items of decoded results (stamped ``arrived``); skips are counted."""
        items: list[Item] = []
        now = self.ctx.now()
        for result in results:
            if isinstance(result, Rejected):
                self.drop(result.reason, result.detail, warn=result.reason not in QUIET)
            else:
                items.append(replace(result, arrived=now))
        self.gauges["duplicates"] = self.decoder.duplicates
        self.gauges["last_tick"] = self.decoder.last_tick
        report_nodes(self.ctx, self.decoder.parser, self.shown_url)
        self._watch_source()
        return items

    def _watch_source(self) -> None:
        """A server whose updates stop changing (``/latest`` answering the same update, or
        the WS rebroadcast saying ``esp32:offline``) is a stale source, reported once as
        ``source.stale`` after ``STALE_SOURCE_S`` and as ``source.fresh`` when updates change
        again: not as a stream of duplicates."""
        now = self.ctx.now()
        new = self.decoder.parser.updates != self._seen
        self._seen = self.decoder.parser.updates
        if new and not self.decoder.offline:
            if self.gauges["source_stale"]:
                self.gauges["source_stale"] = False
                stale_s = round(now - (self._fresh_at or now), 3)
                self.ctx.emit("source.fresh", {"url": self.shown_url, "stale_s": stale_s})
            self._fresh_at = now
            return
        if self._fresh_at is None:
            self._fresh_at = now  # nothing new yet: count from the first answer
        if not self.gauges["source_stale"] and now - self._fresh_at > STALE_SOURCE_S:
            self.gauges["source_stale"] = True
            why = "esp32:offline" if self.decoder.offline else "updates stopped changing"
            fields = {
                "url": self.shown_url,
                "reason": why,
                "since_s": round(now - self._fresh_at, 3),
            }
            self.ctx.emit("source.stale", fields, "warn")

    def drop(self, reason: str, detail: str, warn: bool = True) -> None:
        self.ctx.drop(reason, f"{self.shown_url}: {self.redact(detail)}", warn=warn)

    def add_secret(self, *values: str) -> None:
        """Mask these in this reader's messages and in every output of the process."""
        self.secrets.extend(v for v in values if v)
        REDACT.add(*values)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return REDACT(text)

    def lost(self, exc: BaseException) -> NotConnected:
        """The kernel's ``NotConnected`` for an exception of the client library (redacted)."""
        return NotConnected(self.redact(f"{type(exc).__name__}: {exc}"))


#: Processing time (s) a server may go on answering without a new update before it is a stale
#: source (its nodes stopped: the server repeats its last update).
STALE_SOURCE_S = 2.0


def report_nodes(ctx: BuildContext, parser: RecordingParser, where: str) -> None:
    """Report the nodes that turned stale (listed with a frozen frame: they stopped sending)
    or fresh again since the last call, once each, and keep ``stale_nodes`` in the stats."""
    changes = parser.take_transitions()
    for what, node_id, ts in changes:
        fields = {"node_id": node_id, "ts_event": ts, "source": where}
        if what == "stale":
            fields["stale_after_s"] = parser.stale_after_s
        ctx.emit(f"node.{what}", fields, "warn" if what == "stale" else "info")
    if changes or "stale_nodes" not in ctx.metrics.gauges:
        ctx.metrics.gauges["stale_nodes"] = sorted(parser.stale)
    if parser.evicted:
        ctx.metrics.gauges["nodes_evicted"] = parser.evicted


def retry_of(config: LiveSourceConfig) -> Retry:
    """The kernel's retry policy from a source's ``backoff_*`` fields."""
    return Retry(
        first_s=config.backoff_min_s, max_s=config.backoff_max_s, jitter=config.backoff_jitter
    )


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
