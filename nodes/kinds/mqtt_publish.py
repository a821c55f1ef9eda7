"""Sink node ``mqtt_publish``: items to an MQTT broker, msgpack (lossless) or JSON events.

Threading: the client (``nodes/mqtt/link.py``) lives on the run's I/O loop; the kernel's
writer (``graph.connection.writer_sink``) owns the connection: reconnects with backoff,
``sink.down`` / ``sink.up``, a bounded queue in front. Each item is encoded on the I/O loop and
handed to paho, which keeps QoS 1 messages until the broker acknowledges them (and sends them
again after a reconnect). When the input completes, the sink ends only once every QoS 1
message is acknowledged, so a replay into a broker loses nothing.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any, Literal

from paho.mqtt.enums import MQTTErrorCode
from pydantic import Field, field_validator
from reactivex import Observable

from posecog.graph.connection import NotConnected, writer_sink
from posecog.graph.context import BuildContext
from posecog.graph.events import Event, to_json_line
from posecog.nodes.codec import CODEC
from posecog.nodes.events import item_event
from posecog.nodes.mqtt.config import MqttConfig, broker_of, check_template, client_id_of
from posecog.nodes.mqtt.link import MqttLink, publish_properties
from posecog.nodes.registry import registry

__all__ = ["MqttPublishConfig", "build"]

#: MQTT 5 user properties that identify a message: who published it (one random id per run)
#: and its number, so a subscriber removes the copies QoS 1 may deliver.
PUBLISHER_PROPERTY = "posecog-pub"
SEQ_PROPERTY = "posecog-seq"
CONTENT_TYPES = {"msgpack": "application/msgpack", "json": "application/json"}


class MqttPublishConfig(MqttConfig):
    topic: str = Field(
        "posecog/{type}/{node_id}",
        description="Topic template: {type} is the item type (pose, vitals, presence, "
        "csi_frame, joined_pose, ...), {node_id} its node ('all' for items of no node), "
        "{client_id} this client's id.",
    )
    payload: Literal["msgpack", "json"] = Field(
        "msgpack",
        description="msgpack: the item itself, lossless (mqtt_subscribe gives it back: a "
        "split pipeline); json: the event line stdout_events writes, for people and tools.",
    )
    retain: bool = Field(
        False, description="Publish retained (the broker keeps the last message per topic)."
    )
    status_topic: str = Field(
        "posecog/status/{client_id}",
        description="Retained 'online' after each connect, retained 'offline' as the last "
        "will (and on a clean stop); empty: none.",
    )
    queue: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Messages kept while the broker is unreachable or slow, in paho's "
        "queue (max_queued_messages) and as many again in front of it; beyond that the oldest "
        "are dropped and counted (overflow).",
    )
    when_full: Literal["drop_oldest", "wait"] = Field(
        "drop_oldest",
        description="When the queue is full: drop_oldest (live: fresh data goes first) or "
        "wait (the pipeline waits: nothing is lost; for replays, never downstream of a "
        "source whose hop blocks the I/O loop).",
    )
    types: list[str] = Field(
        default_factory=list,
        description="Publish only these item types ({type} names: pose, vitals, ...); the "
        "others that arrive are counted quietly (not_selected). Empty: every type.",
    )
    decimals: int = Field(4, ge=1, le=8, description="json: decimals of keypoint coordinates.")

    @field_validator("types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        known = [CODEC.topic_name(t) for t in CODEC.types]
        unknown = [t for t in value if t not in known]
        if unknown:
            raise ValueError(f"unknown item types {unknown}; known: {known}")
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        return check_template(value, ("type", "node_id", "client_id"), "topic")

    @field_validator("status_topic")
    @classmethod
    def _status(cls, value: str) -> str:
        return check_template(value, ("client_id",), "status_topic") if value else value


_EXAMPLES = (
    "id: publish\ntype: mqtt_publish\ninputs: [pose]\nconfig:\n"
    "  url: mqtt://127.0.0.1:1883\n  topic: posecog/{type}/{node_id}\n  payload: msgpack\n",
)


@registry.sink("mqtt_publish", config=MqttPublishConfig, takes=CODEC.types, examples=_EXAMPLES)
def build(
    config: MqttPublishConfig, ctx: BuildContext
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Publish each item to an MQTT broker (MQTT 5, paho-mqtt on the run's I/O loop).

    ``payload: msgpack`` sends the item itself (``nodes/codec.py``: every field, arrays bit
    for bit), for ``mqtt_subscribe`` in another pipeline; ``json`` sends the event line
    ``stdout_events`` would write. Each message carries the MQTT 5 content type and user
    properties ``posecog-pub`` (one random id per run) and ``posecog-seq`` (its number), by
    which a subscriber removes QoS 1 duplicates.

    The connection is the kernel's: refused, unreachable or lost is ``sink.down`` (once per
    outage, the reason, never the password) and a reconnect with backoff; ``sink.up`` says
    the client id. QoS 1 messages unacknowledged when it was lost are sent again. While the
    broker is away items wait (``queue``); beyond it the oldest are dropped (``overflow``).
    After the input completes, the sink ends once the broker has acknowledged every QoS 1
    message. A stop that comes first counts what was not acknowledged (``unacked``) and not
    sent (``unsent``). Items that cannot be encoded are dropped (``encode_failed``).

    Gauges: ``attempts`` (connects tried), ``published``, ``acknowledged``, ``unacked``
    (now), ``refused`` (a broker's negative PUBACK), and the kernel's ``state``, ``up``,
    ``connects``, ``outages``.
    """
    shown = broker_of(config.url).shown
    client_id = client_id_of(config, ctx.node_id)
    return writer_sink(
        ctx,
        lambda: _Writer(config, ctx, client_id),
        shown,
        config.retry(),
        capacity=config.queue,
        wait=config.when_full == "wait",
    )


class _Writer:
    """One run's publisher (on the I/O loop); its paho client outlives reconnects."""

    def __init__(self, config: MqttPublishConfig, ctx: BuildContext, client_id: str) -> None:
        self.config, self.ctx, self.client_id = config, ctx, client_id
        self.link: MqttLink | None = None
        self.publisher = secrets.token_hex(8)
        self.seq = 0
        self.lost = False  # the last NotConnected was ours: the next close is not the last
        self.content_type = CONTENT_TYPES[config.payload]
        self.selected = frozenset(config.types)
        self.gauges = ctx.metrics.gauges
        self.gauges.update(attempts=0, published=0, acknowledged=0, unacked=0, refused=0)

    def _link(self) -> MqttLink:
        if self.link is None:
            cfg = self.config
            self.link = MqttLink(
                cfg.url,
                self.client_id,
                keepalive_s=cfg.keepalive_s,
                connect_timeout_s=cfg.connect_timeout_s,
                tls_ca_file=cfg.tls_ca_file,
                status_topic=cfg.status_topic.format(client_id=self.client_id),
                max_queued=cfg.queue,
                on_refused=self._refused,
            )
        return self.link

    def _refused(self, _mid: int, reason: str) -> None:
        self.gauges["refused"] += 1
        self.ctx.drop("refused", f"the broker refused a message: {reason}")

    def _lost(self, reason: str) -> NotConnected:
        self.lost = True
        return NotConnected(reason)

    async def connect(self) -> dict[str, Any]:
        link = self._link()
        self.gauges["attempts"] += 1
        try:
            return await link.connect()
        except NotConnected as exc:
            raise self._lost(exc.reason) from None

    def _message(self, item: Any) -> tuple[str, bytes]:
        cfg = self.config
        if cfg.payload == "msgpack":
            payload = CODEC.encode(item)
        else:
            name, fields = item_event(item, self.ctx.now(), cfg.decimals)
            payload = to_json_line(Event(name, fields, "info", self.ctx.events.stamp())).encode()
        node = getattr(item, "node_id", None)
        topic = cfg.topic.format(
            type=CODEC.topic_name(type(item)),
            node_id="all" if node is None else node,
            client_id=self.client_id,
        )
        return topic, payload

    async def write(self, item: Any) -> None:
        if self.selected and CODEC.topic_name(type(item)) not in self.selected:
            self.ctx.drop("not_selected", warn=False)
            return
        link = self._link()
        if not link.connected:
            raise self._lost(link.reason)
        try:
            topic, payload = self._message(item)
        except (TypeError, ValueError, OverflowError) as exc:
            self.ctx.drop("encode_failed", f"{type(item).__name__}: {exc}")
            return
        cfg = self.config
        self.seq += 1
        props = publish_properties(
            self.content_type,
            [(PUBLISHER_PROPERTY, self.publisher), (SEQ_PROPERTY, str(self.seq))],
        )
        while True:  # paho's queue full (a slow or absent broker): wait for acknowledgements
            if not link.connected:
                self.seq -= 1  # the kernel writes this item again
                raise self._lost(link.reason)
            if len(link.unacked) < cfg.queue:
                rc = link.publish(topic, payload, cfg.qos, cfg.retain, props)
                if rc != MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                    break
            await link.changed()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and cfg.qos == 0:
            raise self._lost(link.reason)  # paho keeps no QoS 0 message: written again
        self.gauges["published"] += 1
        self.gauges["unacked"] = len(link.unacked)
        self.gauges["acknowledged"] = self.gauges["published"] - len(link.unacked)

    async def flush(self) -> None:
        """Wait until the broker has acknowledged every QoS 1 message (and paho wrote the
        rest); a loss on the way is ``NotConnected`` (the kernel reconnects, flushes again)."""
        link = self._link()
        while link.unacked or link.client.want_write():
            if not link.connected:
                raise self._lost(link.reason)
            if link.unacked:
                await link.changed()
            else:  # QoS 0: paho has bytes to write and no callback says when they are out
                await asyncio.sleep(0.005)
            self.gauges["unacked"] = len(link.unacked)
        self.gauges["unacked"] = 0
        self.gauges["acknowledged"] = self.gauges["published"]

    async def close(self) -> None:
        link = self.link
        if link is None:
            return
        final = not self.lost
        self.lost = False
        await link.close(final)
        if final:
            if link.unacked:  # a stop before the broker acknowledged them
                self.ctx.drop("unacked", count=len(link.unacked), warn=False)
                link.unacked.clear()
            self.link = None
