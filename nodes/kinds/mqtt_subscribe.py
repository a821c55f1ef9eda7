"""Source node ``mqtt_subscribe``: items from an MQTT broker, as ``mqtt_publish`` sent them.

Threading: the client (``nodes/mqtt/link.py``) lives on the run's I/O loop; paho's message
callback decodes each payload there and hands the item to the source's hop (the reader's
``emit``); ``read`` only waits for the connection's loss. The kernel owns the connection:
reconnects with backoff and jitter, ``source.down`` / ``source.up``.

The session is persistent (``clean_start`` false **and** a session expiry interval: without
the interval the broker forgets the session at disconnect), so QoS 1 messages published while
this subscriber was away are kept by the broker and delivered when it is back; it subscribes
again on every connect (a broker restarted without its store has forgotten the subscription).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, deque
from typing import Any, Literal

import paho.mqtt.client as paho
from pydantic import Field, field_validator
from reactivex import Observable

from posecog.graph.connection import NotConnected, reader_source
from posecog.graph.context import BuildContext
from posecog.nodes.codec import CODEC
from posecog.nodes.mqtt.config import MqttConfig, broker_of, client_id_of
from posecog.nodes.mqtt.link import STATUS_CONTENT_TYPE, MqttLink
from posecog.nodes.mqtt.writer import PUBLISHER_PROPERTY, SEQ_PROPERTY
from posecog.nodes.registry import registry
from posecog.nodes.rejection import Rejected

__all__ = ["MqttSubscribeConfig", "build"]

#: Message numbers remembered per publisher for de-duplication, and publishers remembered.
DEDUP_WINDOW = 8192
MAX_PUBLISHERS = 64


class MqttSubscribeConfig(MqttConfig):
    topic: str = Field(
        "posecog/#",
        description="Topic filter (+ and # wildcards). A shared subscription "
        "($share/<group>/<filter>) round-robins messages among its members: only for "
        "stateless consumers (it would split one node's poses among windows and filters).",
    )
    payload: Literal["msgpack"] = Field(
        "msgpack",
        description="What messages hold: msgpack items (mqtt_publish's payload: msgpack). "
        "JSON events are for people and tools, not items: they are counted as json_payload.",
    )
    retain: bool = Field(
        False,
        description="Take retained messages (the last one of each topic, sent on subscribing)."
        " False: the broker is asked not to send them (an old item would arrive out of time).",
    )
    session_expiry_s: int = Field(
        3600,
        ge=0,
        le=4_294_967_295,
        description="How long (s) the broker keeps this subscriber's session, and the QoS 1 "
        "messages for it, while it is disconnected. 0: a clean session each time (what was "
        "published while away is lost).",
    )
    arrived: Literal["receipt", "source"] = Field(
        "receipt",
        description="What items' arrived time (latency_ms) counts from: receipt (here, so "
        "latency is this process's share) or source (the publisher's; comparable only when "
        "both processes share a monotonic clock, i.e. one machine).",
    )

    @field_validator("topic")
    @classmethod
    def _filter(cls, value: str) -> str:
        levels = value.split("/")
        if not value or any(
            ("#" in lv and (lv != "#" or i != len(levels) - 1)) or ("+" in lv and lv != "+")
            for i, lv in enumerate(levels)
        ):
            raise ValueError("must be an MQTT topic filter ('+' a whole level, '#' the last)")
        return value


_EXAMPLES = (
    "id: edge\ntype: mqtt_subscribe\nconfig:\n  url: mqtt://127.0.0.1:1883\n  topic: posecog/#\n",
)


@registry.source(
    "mqtt_subscribe",
    config=MqttSubscribeConfig,
    gives=CODEC.types,
    hop="latest",
    hop_capacity=1024,
    examples=_EXAMPLES,
)
def build(config: MqttSubscribeConfig, ctx: BuildContext) -> Observable[Any]:
    """Subscribe to a topic filter and give the items ``mqtt_publish`` (payload msgpack) sent.

    Each payload is decoded by the item codec (``nodes/codec.py``), checked field by field;
    typed routing sends each item type to the nodes that take it. A payload that is not an
    item is a counted drop under the codec's reason (``bad_msgpack``, ``unknown_type``,
    ``bad_version``, ``bad_field``, ``bad_array``, ...; JSON events: ``json_payload``), never
    a crash; publishers' status messages are counted quietly (``status_message``). Copies of
    a message (QoS 1 redelivery after a reconnect, or a publisher's resend) are recognised by
    the publisher's message number and dropped quietly (``duplicate``); retained messages are
    refused unless ``retain`` (``retained``).

    Persistent session (see the module docstring): what was published while the subscriber or
    the broker was away comes when both are back. The hop is ``latest`` (capacity 1024): a hub
    that falls behind keeps the newest; set ``hop: {policy: block}`` to lose nothing (the
    broker's queue for this session then absorbs a burst).

    Gauges: ``attempts`` (connects tried), ``messages``, ``items``, ``duplicates``,
    ``session_present``, and the kernel's.
    """
    shown = broker_of(config.url).shown
    client_id = client_id_of(config, ctx.node_id)
    return reader_source(ctx, lambda: _Reader(config, ctx, client_id), shown, config.retry())


class _Seen:
    """Message numbers seen per publisher, a bounded window each (oldest forgotten)."""

    def __init__(self) -> None:
        self.by_publisher: OrderedDict[str, tuple[deque[int], set[int]]] = OrderedDict()

    def first_time(self, publisher: str, seq: int) -> bool:
        entry = self.by_publisher.get(publisher)
        if entry is None:
            entry = self.by_publisher[publisher] = (deque(), set())
            if len(self.by_publisher) > MAX_PUBLISHERS:
                self.by_publisher.popitem(last=False)
        else:
            self.by_publisher.move_to_end(publisher)
        order, seen = entry
        if seq in seen:
            return False
        seen.add(seq)
        order.append(seq)
        if len(order) > DEDUP_WINDOW:
            seen.discard(order.popleft())
        return True


def _restamp(item: Any, now: float) -> Any:
    """``item`` with ``arrived`` (its own and its nested items') set to ``now``."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(item):
        value = getattr(item, f.name)
        if f.name == "arrived":
            changes["arrived"] = now
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[f.name] = _restamp(value, now)
    return dataclasses.replace(item, **changes) if changes else item


class _Reader:
    """One run's subscriber (on the I/O loop); items go out through ``emit`` as they come."""

    def __init__(self, config: MqttSubscribeConfig, ctx: BuildContext, client_id: str) -> None:
        self.config, self.ctx, self.client_id = config, ctx, client_id
        self.emit: Any = None  # set by the kernel
        self.link: MqttLink | None = None
        self.seen = _Seen()
        self.lost = False
        self.gauges = ctx.metrics.gauges
        self.gauges.update(attempts=0, messages=0, items=0, duplicates=0, session_present=False)

    def _link(self) -> MqttLink:
        if self.link is None:
            cfg = self.config
            self.link = MqttLink.of(
                cfg,
                self.client_id,
                clean_start=cfg.session_expiry_s == 0,
                session_expiry_s=cfg.session_expiry_s,
                on_message=self._message,
            )
        return self.link

    async def connect(self) -> dict[str, Any]:
        link = self._link()
        self.gauges["attempts"] += 1
        try:
            info = await link.connect()
            await link.subscribe(self.config.topic, self.config.qos, self.config.retain)
        except NotConnected:
            self.lost = True
            raise
        except TimeoutError:
            self.lost = True
            raise NotConnected("no SUBACK from the broker") from None
        self.gauges["session_present"] = info["session_present"]
        return {**info, "topic": self.config.topic}

    async def read(self) -> list[Any]:
        try:
            await self._link().lost()
        except NotConnected:
            self.lost = True
            raise
        return []

    async def close(self) -> None:
        link = self.link
        if link is None:
            return
        final = not self.lost
        self.lost = False
        await link.close(final)
        if final:
            self.link = None

    def _message(self, message: paho.MQTTMessage) -> None:
        ctx, gauges = self.ctx, self.gauges
        gauges["messages"] += 1
        if message.retain and not self.config.retain:
            ctx.drop("retained", f"a retained message on {message.topic}", warn=False)
            return
        props = getattr(message, "properties", None)
        user = dict(getattr(props, "UserProperty", None) or ())
        publisher, seq = user.get(PUBLISHER_PROPERTY), user.get(SEQ_PROPERTY)
        known = publisher is not None and seq is not None and seq.isdigit()
        if known and not self.seen.first_time(str(publisher), int(str(seq))):
            gauges["duplicates"] += 1
            ctx.drop("duplicate", warn=False)
            return
        content_type = getattr(props, "ContentType", "")
        if content_type == STATUS_CONTENT_TYPE:  # a publisher's online/offline, not an item
            ctx.drop("status_message", warn=False)
            return
        if content_type == "application/json":
            ctx.drop(
                "json_payload",
                f"{message.topic}: a JSON event, not an item (publish with payload: msgpack)",
            )
            return
        try:
            item = CODEC.decode(message.payload)
        except Rejected as rej:
            ctx.drop(rej.reason, f"{message.topic}: {rej.detail}")
            return
        if self.config.arrived == "receipt":
            item = _restamp(item, ctx.now())
        gauges["items"] += 1
        self.emit(item)
