"""Sink node ``mqtt_publish``: items to an MQTT broker, msgpack (lossless) or JSON events.

Threading: the client (``nodes/mqtt/link.py``) lives on the run's I/O loop; the kernel's
writer (``graph.connection.writer_sink``) owns the connection: reconnects with backoff,
``sink.down`` / ``sink.up``, a bounded queue in front. Each item is encoded on the I/O loop and
handed to paho, which keeps QoS 1 messages until the broker acknowledges them (and sends them
again after a reconnect). When the input completes, the sink ends only once every QoS 1
message is acknowledged, so a replay into a broker loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, field_validator
from reactivex import Observable

from posecog.graph.connection import writer_sink
from posecog.graph.context import BuildContext
from posecog.graph.events import Event, to_json_line
from posecog.nodes.codec import CODEC
from posecog.nodes.events import item_event
from posecog.nodes.mqtt.config import MqttConfig, broker_of, check_template, client_id_of
from posecog.nodes.mqtt.writer import MqttWriter
from posecog.nodes.registry import registry

__all__ = ["MqttPublishConfig", "build"]

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
        lambda: MqttWriter(
            config,
            ctx,
            client_id,
            status_topic=config.status_topic.format(client_id=client_id),
            queue=config.queue,
            retain=config.retain,
            content_type=CONTENT_TYPES[config.payload],
            encode=_Encoder(config, ctx, client_id),
        ),
        shown,
        config.retry(),
        capacity=config.queue,
        wait=config.when_full == "wait",
    )


class _Encoder:
    """An item as ``(topic, payload)``, or None for a type not selected."""

    def __init__(self, config: MqttPublishConfig, ctx: BuildContext, client_id: str) -> None:
        self.config, self.ctx, self.client_id = config, ctx, client_id
        self.selected = frozenset(config.types)

    def __call__(self, item: Any) -> tuple[str, bytes] | None:
        if self.selected and CODEC.topic_name(type(item)) not in self.selected:
            self.ctx.drop("not_selected", warn=False)
            return None
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
