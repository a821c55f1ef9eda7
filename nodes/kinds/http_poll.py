"""Source node ``http_poll``: poll the sensing-server's latest update over HTTP.

Threading: subscribing schedules the first poll on ``ctx.scheduler`` (the source's own thread
at run time, virtual time under the harness); each poll is a blocking keep-alive request on
that thread, then the next poll is scheduled ``poll_ms`` after the start of this one (or after
the backoff delay when it failed). Disposing cancels the next poll and shuts the socket down,
so a request in flight returns at once.

Decision: HTTP answers other than 200 and 5xx (401, 421/400, other 4xx) mean the server is up
but refuses us: they are counted drops with a WARN, not an outage, and the polls back off as
after a failure (a wrong token will not fix itself within 40 ms).
"""

from __future__ import annotations

import http.client
import os
from typing import Any
from urllib.parse import urlsplit

import reactivex
from pydantic import Field, SecretStr, field_validator
from reactivex import Observable, abc

from posecog.graph.context import BuildContext
from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.registry import registry
from posecog.nodes.sensing.live import LiveSource, LiveSourceConfig, shown_url, shutdown_socket
from posecog.nodes.sensing.updates import Item

__all__ = ["HttpPollConfig", "build"]

#: Larger bodies are refused (``body_too_large``); an update is a few tens of kB.
MAX_BODY = 4 << 20
#: Exceptions of a request that did not get an answer (refused, reset, timed out, cut off).
_NO_ANSWER = (OSError, http.client.HTTPException)


class HttpPollConfig(LiveSourceConfig):
    url: str = Field(
        "http://127.0.0.1:3000/api/v1/sensing/latest",
        description="The server's latest-update endpoint (http or https). The sensing-server "
        "listens on 8080 by default, on 3000 in its Docker image.",
    )
    poll_ms: int = Field(40, ge=10, le=1000, description="Time between two polls (ms).")
    timeout_s: float = Field(
        1.0, gt=0, le=60, description="Connect and read timeout of one request (s)."
    )
    token: SecretStr | None = Field(
        None,
        description="Bearer token for /api/v1/* (the server's RUVIEW_API_TOKEN); takes "
        "precedence over token_env. Never logged.",
    )
    token_env: str | None = Field(
        "RUVIEW_API_TOKEN",
        description="Environment variable holding the bearer token, read when the source "
        "starts; used when token is not set and the variable is not empty.",
    )
    host_header: str | None = Field(
        None,
        description="Host header to send instead of the URL's host:port (the server rejects "
        "hosts that are neither loopback nor on its allow-list).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host; got {value!r}")
        return value


_EXAMPLES = (
    "id: sensing\ntype: http_poll\nconfig:\n  url: http://127.0.0.1:3000/api/v1/sensing/latest\n",
    "id: sensing\ntype: http_poll\nconfig:\n  poll_ms: 20\n  token_env: RUVIEW_API_TOKEN\n"
    "  presence: false\n  vitals: false\n",
)


@registry.source(
    "http_poll",
    config=HttpPollConfig,
    gives=(CsiFrame, Vitals, Presence),
    hop="latest",
    examples=_EXAMPLES,
)
def build(config: HttpPollConfig, ctx: BuildContext) -> Observable[Item]:
    """Poll the sensing-server's ``GET /api/v1/sensing/latest`` and give its CSI frames.

    One ``CsiFrame`` per node of each new update: ``ts`` = the update's ``timestamp`` (server
    clock), ``seq`` = its ``tick``, the node's 56 amplitudes, ``n_subcarriers`` = its
    ``subcarrier_count``, ``rssi`` unset (wrong on the server's raw-CSI path). The server keeps
    answering with the same update until a new one arrives: repeats of a tick give nothing
    (gauge ``duplicates``). Optionally ``Presence`` (from ``classification``) and ``Vitals``
    (from ``vital_signs``), node id 0: the server's estimate over all nodes.

    When the server cannot be reached (refused, timeout, cut-off answer, 5xx) the source
    reports ``source.down`` with the reason, retries with capped exponential backoff
    (``backoff_min_s`` doubling to ``backoff_max_s``) and reports ``source.up`` with the
    outage duration when it answers again. Answers that cannot be used are counted drops with
    a rate-limited warning: ``unauthorized`` (401: check the token), ``host_rejected`` (421 or
    400: Host header not allowed), ``http_status`` (another status), ``bad_json``,
    ``missing_field``, ``bad_type``, ``bad_length`` (not 56 amplitudes), ``non_finite``,
    ``unexpected_type``, ``body_too_large``; quietly: ``no_data_yet`` and ``no_amplitude``
    (vitals-triggered updates). Gauges: ``polls``, ``duplicates``, ``last_tick``, ``up``,
    ``outages``.
    """

    def subscribe(
        observer: abc.ObserverBase[Item], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        poller = _Poller(config, ctx, observer)
        return poller.start(poller.poll)

    return reactivex.create(subscribe)


class _Poller(LiveSource):
    def __init__(
        self, config: HttpPollConfig, ctx: BuildContext, observer: abc.ObserverBase[Item]
    ) -> None:
        parts = urlsplit(config.url)
        super().__init__(config, ctx, observer, shown_url(config.url))
        self.config = config
        self.period = config.poll_ms / 1000
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        factory = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self.conn = factory(parts.hostname or "", parts.port, timeout=config.timeout_s)
        self.headers = {"Accept": "application/json"}
        if config.host_header:
            self.headers["Host"] = config.host_header
        self.token_source = "none"
        token = config.token.get_secret_value() if config.token else None
        if token:
            self.token_source = "config 'token'"
        elif config.token_env and (token := os.environ.get(config.token_env, "")):
            self.token_source = f"env {config.token_env}"
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
            self.secrets.append(token)
        self.busy = False  # a poll is running (guarded by the lock)
        self.used = False  # the connection has answered before (it may have gone stale since)
        self.gauges["polls"] = 0

    def abort(self) -> None:
        with self.lock:
            busy = self.busy
        if busy:  # the request returns at once; the poll closes the connection
            shutdown_socket(self.conn.sock)
        else:
            self.conn.close()

    def poll(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        with self.lock:
            if self.disposed:
                return
            self.busy = True
        try:
            self._poll()
        finally:
            with self.lock:
                self.busy = False
            if self.disposed:  # disposed during the request: release the socket
                self.conn.close()

    def _poll(self) -> None:
        sched = self.ctx.scheduler
        started = sched.now
        self.gauges["polls"] += 1
        try:
            status, reason, body = self._request()
        except _NO_ANSWER as exc:
            self.conn.close()
            if not self.disposed:
                self.schedule(self.failed(f"{type(exc).__name__}: {exc}"), self.poll)
            return
        if status >= 500:
            self.schedule(self.failed(f"HTTP {status} {reason}"), self.poll)
            return
        self.connected(usable=status == 200)
        if status != 200:
            self._refused(status, reason, body or b"")
            self.schedule(self.backoff.next(), self.poll)
            return
        if body is None:
            self.drop("body_too_large", f"HTTP body over {MAX_BODY} bytes")
        else:
            self.deliver(self.decoder.body(body))
        elapsed = (sched.now - started).total_seconds()
        self.schedule(max(0.0, self.period - elapsed), self.poll)

    def _request(self) -> tuple[int, str, bytes | None]:
        """One GET: status, reason and body (None when too large). A kept-alive connection
        that went stale is retried once on a new one."""
        for attempt in (1, 2):
            try:
                self.conn.request("GET", self.path, headers=self.headers)
                resp = self.conn.getresponse()
                body = resp.read(MAX_BODY + 1)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2 or not self.used or self.disposed:
                    raise
                self.used = False
                continue
            self.used = True
            if len(body) > MAX_BODY:
                self.conn.close()  # the rest of the body is still on the wire
                return resp.status, resp.reason, None
            return resp.status, resp.reason, body
        raise AssertionError("unreachable")

    def _refused(self, status: int, reason: str, body: bytes) -> None:
        if status == 401:
            sent = f"a token from {self.token_source}" if self.secrets else "no token"
            self.drop(
                "unauthorized",
                f"HTTP 401 {reason}: check the token (sent {sent}; set config 'token' or the "
                f"env var named by 'token_env' to the server's RUVIEW_API_TOKEN)",
            )
        elif status in (400, 421):
            host = self.headers.get("Host", self.conn.host)
            self.drop(
                "host_rejected",
                f"HTTP {status} {reason}: Host header not allowed ({host!r}); set "
                f"'host_header' to a host on the server's allow-list, or add this one to it",
            )
        else:
            text = body[:120].decode("utf-8", "replace")
            self.drop("http_status", f"unexpected HTTP {status} {reason}: {text!r}")
