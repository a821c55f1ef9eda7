"""Source node ``http_poll``: poll the sensing-server's latest update over HTTP.

Threading: the polls are requests of an ``httpx.AsyncClient`` on the run's I/O loop (one
kept-alive connection, connect/read timeouts of ``timeout_s``); the next poll starts
``poll_ms`` after the start of the previous one. The kernel owns the connection
(``posecog.graph.connection``): ``connect`` is the first answered poll, a poll that gets no
answer (refused, reset, timed out, 5xx) is an outage, retried with backoff and jitter. Disposing
cancels the task: a request in flight is abandoned at once and the client closed.

Decision: HTTP answers other than 200 and 5xx (401, 421/400, other 4xx) mean the server is up
but refuses us: they are counted drops with a WARN, not an outage, and the polls back off as
after a failure (a wrong token will not fix itself within 40 ms).
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from reactivex import Observable

from posecog.graph.backoff import Backoff
from posecog.graph.connection import NotConnected, reader_source
from posecog.graph.context import BuildContext
from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.registry import registry
from posecog.nodes.sensing.live import LiveSourceConfig, SensingReader, retry_of, shown_url
from posecog.nodes.sensing.updates import Item

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpPollConfig", "build"]

#: Larger bodies are refused (``body_too_large``); an update is a few tens of kB.
MAX_BODY = 4 << 20
#: The transport of every client (tests set an ``httpx.MockTransport``); None: the network.
TRANSPORT: httpx.AsyncBaseTransport | None = None


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
    (``backoff_min_s`` doubling to ``backoff_max_s``, with ``backoff_jitter``) and reports
    ``source.up`` with the outage duration when it answers again. Answers that cannot be
    used are counted drops with a rate-limited warning: ``unauthorized`` (401: check the
    token), ``host_rejected`` (421 or 400: Host header not allowed), ``http_status``
    (another status), ``bad_json``, ``missing_field``, ``bad_type``, ``bad_length`` (not 56
    amplitudes), ``non_finite``, ``unexpected_type``, ``body_too_large``; quietly:
    ``no_data_yet`` and ``no_amplitude`` (vitals-triggered updates). Gauges: ``polls``,
    ``duplicates``, ``last_tick`` and the kernel's connection gauges ``state``, ``up``,
    ``connects``, ``outages``, ``down_s_total``.
    """

    return reader_source(ctx, lambda: _Poller(config, ctx), shown_url(config.url), retry_of(config))


class _Poller(SensingReader):
    def __init__(self, config: HttpPollConfig, ctx: BuildContext) -> None:
        super().__init__(config, ctx, shown_url(config.url))
        self.config = config
        self.period = config.poll_ms / 1000
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
            self.add_secret(token)
        self.client: httpx.AsyncClient | None = None
        self.refusals = Backoff(
            config.backoff_min_s, config.backoff_max_s, jitter=config.backoff_jitter
        )
        self.next_at = 0.0  # loop time of the next poll
        self.answer: tuple[int, str, bytes | None] | None = None  # the connecting poll's
        self.gauges["polls"] = 0

    async def connect(self) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            timeout=self.config.timeout_s,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers=self.headers,
            transport=TRANSPORT,
            trust_env=False,  # loopback: never through a proxy from the environment
        )
        self.next_at = asyncio.get_running_loop().time()
        self.answer = await self._get()

    async def read(self) -> list[Item]:
        answer, self.answer = self.answer, None
        if answer is None:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(0.0, self.next_at - loop.time()))
            answer = await self._get()
        status, reason, body = answer
        if status != 200:
            self._refused(status, reason, body or b"")
            self.next_at += self.refusals.next() - self.period
            return []
        self.refusals.reset()
        if body is None:
            self.drop("body_too_large", f"HTTP body over {MAX_BODY} bytes")
            return []
        return self.deliver(self.decoder.body(body))

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    async def _get(self) -> tuple[int, str, bytes | None]:
        """One poll: status, reason and body (None when too large). No answer, or a 5xx, is
        ``NotConnected``."""
        import httpx

        assert self.client is not None
        self.next_at = max(self.next_at, asyncio.get_running_loop().time()) + self.period
        self.gauges["polls"] += 1
        try:
            async with self.client.stream("GET", self.config.url) as resp:
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        break
                status, reason = resp.status_code, resp.reason_phrase
        except httpx.TransportError as exc:
            raise self.lost(exc) from None
        if status >= 500:
            raise NotConnected(f"HTTP {status} {reason}")
        return status, reason, None if len(body) > MAX_BODY else bytes(body)

    def _refused(self, status: int, reason: str, body: bytes) -> None:
        if status == 401:
            sent = f"a token from {self.token_source}" if self.secrets else "no token"
            self.drop(
                "unauthorized",
                f"HTTP 401 {reason}: check the token (sent {sent}; set config 'token' or the "
                f"env var named by 'token_env' to the server's RUVIEW_API_TOKEN)",
            )
        elif status in (400, 421):
            parts = urlsplit(self.config.url)
            netloc = parts.netloc.rpartition("@")[2]  # never the userinfo
            host = self.headers.get("Host", netloc)
            self.drop(
                "host_rejected",
                f"HTTP {status} {reason}: Host header not allowed ({host!r}); set "
                f"'host_header' to a host on the server's allow-list, or add this one to it",
            )
        else:
            # Cut after masking (the drop does both): a server that echoes the request must not
            # leak the start of a token that a cut before masking would have left unmatched.
            text = body[:4096].decode("utf-8", "replace")
            self.drop("http_status", f"unexpected HTTP {status} {reason}: {text!r}")
