"""One paho-mqtt client (VERSION2 callbacks, MQTT 5) driven by the run's asyncio I/O loop.

paho is used with its external-loop interface, the way its asyncio example does: the socket
is registered with ``loop.add_reader`` / ``add_writer`` (``loop_read`` / ``loop_write`` on
readiness), a task calls ``loop_misc`` once a second (keepalive pings, dead peers), and every
callback runs on the loop's thread. Only the blocking TCP/TLS connect runs on an executor
thread (paho has no asynchronous connect); its socket callbacks hop back to the loop.

The client outlives its connections: the kernel's reconnects (``graph.connection``) reuse it,
so QoS 1 messages not yet acknowledged when a connection was lost stay in paho's queue and are
sent again (flagged DUP) after the next CONNACK. ``close(final=False)`` drops the socket only;
``close(final=True)`` says ``offline`` on the status topic, disconnects and says what was left
unacknowledged.

Credentials never leave this module: reasons and errors go through ``REDACT``, which knows
the URL's user name and password (registered when the pipeline was loaded, and again here).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from posecog.graph.connection import NotConnected
from posecog.graph.secrets import REDACT

from .config import Broker, MqttConfig, broker_of

__all__ = ["OFFLINE", "ONLINE", "STATUS_CONTENT_TYPE", "MqttLink", "publish_properties"]

ONLINE = b"online"
OFFLINE = b"offline"
#: The content type of status messages (a subscriber of items counts them quietly).
STATUS_CONTENT_TYPE = "text/plain"
#: What a CONNACK refusal most likely means (Mosquitto answers a wrong password with 135).
_HINTS = {
    0x85: " (the client id is refused: set client_id)",
    0x86: " (check the user name and password in the url)",
    0x87: " (check the user name and password in the url, and the broker's ACL)",
}
#: Longest wait for the status message and the DISCONNECT of a final close (s).
_CLOSE_WAIT = 0.5


def _status_properties() -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ContentType, props.PayloadFormatIndicator = STATUS_CONTENT_TYPE, 1
    return props


def publish_properties(content_type: str, user: list[tuple[str, str]]) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ContentType = content_type
    if content_type.endswith("json"):
        props.PayloadFormatIndicator = 1
    if user:
        props.UserProperty = user
    return props


class MqttLink:
    """The client of one node: connect (awaiting CONNACK), publish with acknowledgement
    tracking, subscribe (awaiting SUBACK), incoming messages to ``on_message``, and the
    connection's loss as ``NotConnected`` to whoever waits on it."""

    @classmethod
    def of(cls, config: MqttConfig, client_id: str, **options: Any) -> MqttLink:
        """The link of a node's config (its ``url``, keepalive, connect timeout and TLS CA),
        with the node's own ``options`` (session, status topic, queue, callbacks)."""
        return cls(
            config.url,
            client_id,
            keepalive_s=config.keepalive_s,
            connect_timeout_s=config.connect_timeout_s,
            tls_ca_file=config.tls_ca_file,
            **options,
        )

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        keepalive_s: int,
        connect_timeout_s: float,
        tls_ca_file: str = "",
        clean_start: bool = True,
        session_expiry_s: int = 0,
        status_topic: str = "",
        max_queued: int = 0,
        on_message: Callable[[paho.MQTTMessage], None] | None = None,
        on_refused: Callable[[int, str], None] | None = None,
    ) -> None:
        self.broker: Broker = broker_of(url)
        self.client_id = client_id
        REDACT.add(self.broker.password, self.broker.username)
        self.loop = asyncio.get_running_loop()
        self.keepalive_s = keepalive_s
        self.timeout = connect_timeout_s
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.status_topic = status_topic
        self._on_message = on_message
        self._on_refused = on_refused
        self.connected = False
        self.reason = "not connected"
        self.session_present = False
        #: QoS 1 message ids sent or queued and not yet acknowledged.
        self.unacked: set[int] = set()
        self._changed = asyncio.Event()  # set on every ack, connect and loss
        self._connack: asyncio.Future[tuple[ReasonCode, bool]] | None = None
        self._suback: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._misc: asyncio.Task[None] | None = None
        self._loop_thread = threading.current_thread()

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        client.connect_timeout = connect_timeout_s
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            context = ssl.create_default_context(cafile=tls_ca_file or None)
            client.tls_set_context(context)
        if max_queued:
            client.max_queued_messages_set(max_queued + 2)  # + the status messages
        if status_topic:
            will = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
            will.ContentType, will.PayloadFormatIndicator = STATUS_CONTENT_TYPE, 1
            client.will_set(status_topic, OFFLINE, qos=1, retain=True, properties=will)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        client.on_subscribe = self._subscribed
        client.on_message = self._message
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._no_write
        self.client = client

    # -- the socket on the loop (callbacks may come from the connecting executor thread) ----

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        if threading.current_thread() is self._loop_thread:
            fn(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(fn, *args)

    def _read(self) -> None:
        client = self.client
        client.loop_read()
        sock = client.socket()
        # TLS: records already decrypted do not make the socket readable again
        while sock is not None and getattr(sock, "pending", lambda: 0)() > 0:
            client.loop_read()
            sock = client.socket()

    def _socket_open(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self.loop.add_reader, sock, self._read)

    def _socket_close(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        def remove() -> None:
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)

        self._on_loop(remove)

    def _want_write(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self.loop.add_writer, sock, client.loop_write)

    def _no_write(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self.loop.remove_writer, sock)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.client.loop_misc()

    # -- paho callbacks (on the loop thread) -------------------------------------------------

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _connected(self, _c: paho.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_result((reason, bool(flags.session_present)))

    def _disconnected(
        self, _c: paho.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Any
    ) -> None:
        was = self.connected
        self.connected = False
        text = str(reason)
        self.reason = REDACT(
            f"connection lost: {text}" if was else f"connection closed by the broker: {text}"
        )
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(NotConnected(self.reason))
        for future in self._suback.values():
            if not future.done():
                future.set_exception(NotConnected(self.reason))
        self._suback.clear()
        self._wake()

    def _published(self, _c: paho.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        if mid in self.unacked:
            self.unacked.discard(mid)
            if reason.is_failure and self._on_refused is not None:
                self._on_refused(mid, str(reason))
        self._wake()

    def _subscribed(
        self, _c: paho.Client, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        future = self._suback.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(reasons)

    def _message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(message)

    # -- the connection --------------------------------------------------------------------

    async def connect(self) -> dict[str, Any]:
        """Connect and wait for a successful CONNACK; ``NotConnected`` (redacted) if the broker
        cannot be reached in time or refuses (wrong credentials: said so, retried)."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self.session_expiry_s:
            props.SessionExpiryInterval = self.session_expiry_s
        self._connack = self.loop.create_future()
        host, port = self.broker.host, self.broker.port

        def blocking_connect() -> None:
            self.client.connect(
                host,
                port,
                self.keepalive_s,
                clean_start=self.clean_start,
                properties=props,
            )

        try:
            async with asyncio.timeout(self.timeout):
                await self.loop.run_in_executor(None, blocking_connect)
                reason, present = await self._connack
        except TimeoutError:
            raise NotConnected(
                f"no answer from {self.broker.shown} in {self.timeout:g} s"
            ) from None
        except NotConnected:
            raise
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise NotConnected(REDACT(f"{type(exc).__name__}: {exc}")) from None
        if reason.is_failure:
            # the broker closes the connection after a refusal; retried with backoff
            hint = _HINTS.get(reason.value, "")
            raise NotConnected(f"refused by the broker: {reason}{hint}")
        self.connected = True
        self.session_present = present
        self._misc = self._misc or asyncio.create_task(self._keepalive(), name="mqtt-misc")
        if self.status_topic:  # not tracked: paho's queue has room for it (max_queued + 2)
            self.client.publish(self.status_topic, ONLINE, 1, True, _status_properties())
        self._wake()
        return {"client_id": self.client_id, "session_present": present}

    async def lost(self) -> None:
        """Wait until the connection is lost, then raise ``NotConnected``."""
        while self.connected:
            await self._changed.wait()
        raise NotConnected(self.reason)

    async def changed(self) -> None:
        """Wait for the next ack, connect or loss."""
        await self._changed.wait()

    def publish(
        self, topic: str, payload: bytes, qos: int, retain: bool, props: Properties | None
    ) -> MQTTErrorCode:
        """Hand a message to paho: QoS 1 ones are tracked until acknowledged (and sent again
        after a reconnect); returns paho's code (``MQTT_ERR_QUEUE_SIZE``: not taken)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            return info.rc
        if qos:
            self.unacked.add(info.mid)
        return info.rc

    async def subscribe(self, topic: str, qos: int, retained: bool) -> None:
        """Subscribe (MQTT 5 options) and wait for the SUBACK; a refusal is ``NotConnected``
        (an ACL that may change: retried with backoff)."""
        options = SubscribeOptions(qos=qos, retainHandling=0 if retained else 2)
        future: asyncio.Future[list[ReasonCode]] = self.loop.create_future()
        rc, mid = self.client.subscribe(topic, options=options)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise NotConnected(f"cannot subscribe: {paho.error_string(rc)}")
        self._suback[mid] = future
        async with asyncio.timeout(self.timeout):
            reasons = await future
        if any(r.is_failure for r in reasons):
            raise NotConnected(f"subscription to {topic!r} refused: {reasons[0]}")

    async def close(self, final: bool) -> None:
        """``final=False`` (after a loss): drop the socket, keep the client and what it queued.
        ``final=True``: retained ``offline`` on the status topic, DISCONNECT, stop."""
        client = self.client
        if final and self.connected:
            if self.status_topic:
                client.publish(self.status_topic, OFFLINE, 1, True, _status_properties())
            with contextlib.suppress(TimeoutError, NotConnected):
                async with asyncio.timeout(_CLOSE_WAIT):
                    while self.connected and (self.unacked or client.want_write()):
                        await self.changed()
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_WAIT):
                    while client.socket() is not None and client.want_write():
                        await asyncio.sleep(0.01)
        self.connected = False
        sock = client.socket()
        if sock is not None:
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
            client._sock_close()  # paho's own close (no API for it): its queue stays
        if final and self._misc is not None:
            self._misc.cancel()
            self._misc = None
