"""The publishing side shared by ``mqtt_publish`` and ``mqtt_homeassistant``: the kernel's
``Writer`` over an ``MqttLink`` (see ``graph.connection``): QoS 1 messages tracked until
acknowledged, paho's queue bounded (writes wait for room), ``flush`` until every message is
acknowledged, a final close that counts what was left (``unacked``)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from posecog.graph.connection import NotConnected
from posecog.graph.context import BuildContext

from .config import MqttConfig
from .link import MqttLink, publish_properties

__all__ = ["PUBLISHER_PROPERTY", "SEQ_PROPERTY", "MqttWriter"]

#: MQTT 5 user properties that identify a message: who published it (one random id per run)
#: and its number, so a subscriber removes the copies QoS 1 may deliver.
PUBLISHER_PROPERTY = "posecog-pub"
SEQ_PROPERTY = "posecog-seq"


class MqttWriter:
    """One run's publisher (on the I/O loop; the kernel's ``Writer``): ``encode(item)`` gives
    ``(topic, payload)`` or None (nothing to send); ``on_connect(link)`` runs after each
    CONNACK (discovery configs). Its paho client outlives reconnects."""

    def __init__(
        self,
        config: MqttConfig,
        ctx: BuildContext,
        client_id: str,
        *,
        status_topic: str,
        queue: int,
        retain: bool,
        content_type: str,
        encode: Callable[[Any], tuple[str, bytes] | None],
        on_connect: Callable[[MqttLink], None] | None = None,
    ) -> None:
        self.config, self.ctx, self.client_id = config, ctx, client_id
        self.status_topic, self.queue, self.retain = status_topic, queue, retain
        self.encode, self.on_connect = encode, on_connect
        self.link: MqttLink | None = None
        self.publisher = secrets.token_hex(8)
        self.seq = 0
        self.lost = False  # the last NotConnected was ours: the next close is not the last
        self.content_type = content_type
        self.gauges = ctx.metrics.gauges
        self.gauges.update(attempts=0, published=0, acknowledged=0, unacked=0, refused=0)

    def _link(self) -> MqttLink:
        if self.link is None:
            cfg = self.config
            self.link = MqttLink.of(
                cfg,
                self.client_id,
                status_topic=self.status_topic,
                max_queued=self.queue,
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
            info = await link.connect()
        except NotConnected as exc:
            raise self._lost(exc.reason) from None
        if self.on_connect is not None:
            self.on_connect(link)
        return info

    async def write(self, item: Any) -> None:
        link = self._link()
        if not link.connected:
            raise self._lost(link.reason)
        try:
            message = self.encode(item)
        except (TypeError, ValueError, OverflowError) as exc:
            self.ctx.drop("encode_failed", f"{type(item).__name__}: {exc}")
            return
        if message is None:
            return
        topic, payload = message
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
            if len(link.unacked) < self.queue:
                rc = link.publish(topic, payload, cfg.qos, self.retain, props)
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
