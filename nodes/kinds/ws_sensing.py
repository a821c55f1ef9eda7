"""Source node ``ws_sensing``: the sensing-server's WebSocket push stream.

Threading: network I/O runs on the run's I/O loop, with websockets' asyncio client; each
``read`` awaits one frame and decodes it there, and the items go through the source's hop to
the pipeline thread. The kernel owns the connection (``posecog.graph.connection``): a
connection that cannot be opened, or that closes, is an outage, and the kernel reconnects with
backoff and jitter. Disposing cancels the task: a handshake in progress is abandoned at once
(its socket closed), an open connection is closed with a close handshake (code 1000, waiting at
most 0.5 s for the server's answer, then the socket is closed regardless).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator
from reactivex import Observable
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from posecog.graph.connection import NotConnected, reader_source
from posecog.graph.context import BuildContext
from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.registry import registry
from posecog.nodes.sensing.live import LiveSourceConfig, SensingReader, retry_of, shown_url
from posecog.nodes.sensing.updates import Item

__all__ = ["WsSensingConfig", "build"]

#: Largest text frame accepted (bytes); an update is a few tens of kB.
MAX_MESSAGE = 4 << 20
#: How long closing waits for the server's close frame (s).
_CLOSE_TIMEOUT = 0.5


class WsSensingConfig(LiveSourceConfig):
    url: str = Field(
        "ws://127.0.0.1:3001/ws/sensing",
        description="The server's push stream (ws or wss). The sensing-server listens on "
        "8765 by default, on 3001 in its Docker image.",
    )
    open_timeout_s: float = Field(
        2.0, gt=0, le=60, description="Connect and handshake timeout (s)."
    )
    keepalive_s: float = Field(
        20.0,
        gt=0,
        le=600,
        description="Ping the server this often (s) and give the connection up when a pong "
        "takes longer than this: a server that vanished without closing is noticed.",
    )

    @field_validator("url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"must be a ws:// or wss:// URL with a host; got {value!r}")
        return value


_EXAMPLES = ("id: sensing\ntype: ws_sensing\nconfig:\n  url: ws://127.0.0.1:3001/ws/sensing\n",)


@registry.source(
    "ws_sensing",
    config=WsSensingConfig,
    gives=(CsiFrame, Vitals, Presence),
    hop="latest",
    examples=_EXAMPLES,
)
def build(config: WsSensingConfig, ctx: BuildContext) -> Observable[Item]:
    """Read the sensing-server's WebSocket stream ``/ws/sensing`` and give its items.

    ``sensing_update`` frames give one ``CsiFrame`` per node, exactly as ``http_poll`` does
    (the server's 100 ms repeats of a tick give nothing; gauge ``duplicates``), and optionally
    ``Presence`` and ``Vitals`` (node id 0). ``edge_vitals`` frames give ``Vitals`` of their
    node and a ``Presence`` when they report presence. ``wasm_event`` frames are counted
    quietly (reason ``wasm_event``); frames of unknown types (``unknown_type``), binary frames
    (``binary_frame``) and broken ones (``bad_json``, ``missing_field``, ``bad_type``,
    ``bad_length``, ...) are counted with a rate-limited warning.

    When the server cannot be reached, or the connection closes (or a ping goes unanswered for
    ``keepalive_s``), the source reports ``source.down`` with the reason, once per outage, and
    reconnects with capped exponential backoff and jitter; it reports ``source.up`` on each
    connection, with the outage duration after one. Gauges: ``messages``, ``duplicates``,
    ``last_tick``, ``connects``, ``up``, ``outages`` (and the kernel's ``state``,
    ``down_s_total``).
    """
    return reader_source(
        ctx, lambda: _WsReader(config, ctx), shown_url(config.url), retry_of(config)
    )


class _WsReader(SensingReader):
    """The connection of one subscription, on the I/O loop (see the module docstring)."""

    def __init__(self, config: WsSensingConfig, ctx: BuildContext) -> None:
        super().__init__(config, ctx, shown_url(config.url))
        self.config = config
        parts = urlsplit(config.url)
        # userinfo and query may carry a credential: never in a reason or a detail
        self.add_secret(*(s for s in (parts.password, parts.query) if s))
        self.conn: ClientConnection | None = None
        self.gauges["messages"] = 0

    async def connect(self) -> None:
        cfg = self.config
        try:
            self.conn = await connect(
                cfg.url,
                open_timeout=cfg.open_timeout_s,
                ping_interval=cfg.keepalive_s,
                ping_timeout=cfg.keepalive_s,
                close_timeout=_CLOSE_TIMEOUT,
                max_size=MAX_MESSAGE,
                proxy=None,  # loopback: never through a proxy from the environment
                compression=None,
            )
        except (OSError, WebSocketException) as exc:  # refused, timed out, handshake refused
            raise self.lost(exc) from None

    async def read(self) -> list[Item]:
        """The items of the next frame (none for a skipped one)."""
        if self.conn is None:
            raise NotConnected("not connected")
        try:
            message = await self.conn.recv()
        except ConnectionClosed as exc:  # by the server, or a keepalive ping unanswered
            raise NotConnected(self.redact(f"connection closed: {exc}")) from None
        self.gauges["messages"] += 1
        if isinstance(message, bytes):
            self.drop("binary_frame", f"a binary frame of {len(message)} bytes")
            return []
        return self.deliver(self.decoder.message(message))

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            await conn.close()  # the close handshake; no-op when already closed
        finally:
            # A close cut short (cancelled again, or the kernel's close timeout) leaves no
            # socket open; after a complete close this does nothing.
            conn.transport.abort()
