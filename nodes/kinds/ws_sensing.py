"""Source node ``ws_sensing``: the sensing-server's WebSocket push stream.

Threading: subscribing schedules the reader on ``ctx.scheduler``, the source's own thread. The
reader connects and then blocks in ``recv`` on that thread, handling one text frame at a time;
when the connection fails or closes it schedules a reconnect after the backoff delay.
Disposing closes the socket from the disposing thread, so ``recv`` returns at once and the
thread is free again (websockets' own per-connection thread ends with the socket). Because
the reader blocks its thread, this source needs a real scheduler: under the virtual-time
harness, replace it with fed items.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import reactivex
from pydantic import Field, field_validator
from reactivex import Observable, abc
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from posecog.graph.context import BuildContext
from posecog.nodes.items import CsiFrame, Presence, Vitals
from posecog.nodes.registry import registry
from posecog.nodes.sensing.live import LiveSource, LiveSourceConfig, shown_url, shutdown_socket
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

    When the server cannot be reached, or the connection closes, the source reports
    ``source.down`` with the reason and reconnects with capped exponential backoff; on
    reconnection it reports ``source.up`` with the outage duration. Gauges: ``messages``,
    ``duplicates``, ``last_tick``, ``connects``, ``up``, ``outages``.
    """

    def subscribe(
        observer: abc.ObserverBase[Item], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        reader = _Reader(config, ctx, observer)
        return reader.start(reader.run)

    return reactivex.create(subscribe)


class _Reader(LiveSource):
    def __init__(
        self, config: WsSensingConfig, ctx: BuildContext, observer: abc.ObserverBase[Item]
    ) -> None:
        super().__init__(config, ctx, observer, shown_url(config.url))
        self.config = config
        self.sock: socket.socket | None = None
        self.conn_lock = threading.Lock()
        self.gauges.update({"messages": 0, "connects": 0})

    def abort(self) -> None:
        with self.conn_lock:
            sock = self.sock
        shutdown_socket(sock)  # unblock connect or recv at once, whatever the server does

    def run(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        if self.disposed:
            return
        with contextlib.ExitStack() as stack:
            stack.callback(self._forget)
            try:  # websockets >= 17 shakes hands on enter, older versions in connect()
                conn = stack.enter_context(self._open())
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                if not self.disposed:
                    self.schedule(self.failed(f"{type(exc).__name__}: {exc}"), self.run)
                return
            self.connected()
            self.gauges["connects"] += 1
            reason = self._read(conn)
        if not self.disposed:
            self.schedule(self.failed(reason), self.run)

    def _open(self) -> AbstractContextManager[ClientConnection]:
        """Connect our own socket (so that ``abort`` can cut a hanging handshake), then the
        WebSocket handshake over it."""
        parts = urlsplit(self.config.url)
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        address = (parts.hostname or "", port)
        sock = socket.create_connection(address, timeout=self.config.open_timeout_s)
        with self.conn_lock:
            self.sock = sock
        if self.disposed:  # disposed while connecting: abort() saw no socket yet
            raise OSError("disposed")
        return connect(
            self.config.url,
            sock=sock,
            open_timeout=self.config.open_timeout_s,
            ping_interval=self.config.keepalive_s,
            ping_timeout=self.config.keepalive_s,
            close_timeout=_CLOSE_TIMEOUT,
            max_size=MAX_MESSAGE,
            proxy=None,  # loopback: never through a proxy from the environment
            compression=None,
        )

    def _forget(self) -> None:
        with self.conn_lock:
            sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def _read(self, conn: ClientConnection) -> str:
        """Handle frames until the connection ends; returns why it ended."""
        while not self.disposed:
            try:
                message = conn.recv()
            except ConnectionClosed as exc:
                return f"connection closed: {exc}"
            except OSError as exc:
                return f"{type(exc).__name__}: {exc}"
            self.gauges["messages"] += 1
            if isinstance(message, bytes):
                self.drop("binary_frame", f"a binary frame of {len(message)} bytes")
                continue
            self.deliver(self.decoder.message(message))
        return "disposed"
