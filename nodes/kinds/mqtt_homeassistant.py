"""Sink node ``mqtt_homeassistant``: a slow, derived state for Home Assistant over MQTT, with
device discovery (as zigbee2mqtt does).

On every connect it publishes, retained, one device-discovery payload (Home Assistant's
``<prefix>/device/<device_id>/config``: the device, its components, the state topic and the
availability topic) and ``online`` on the status topic, whose last will is ``offline``. The
state is a small JSON object derived from what flows in (presence, person count, fall,
breathing and heart rate) and published when it changes, at most once per ``min_interval_s``
and at least every ``heartbeat_s``, both in **event time**: never the 25 Hz keypoints.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import Field, field_validator
from reactivex import Observable

from posecog.graph.connection import writer_sink
from posecog.graph.context import BuildContext
from posecog.nodes.items import JoinedPose, Occupancy, Presence, Vitals
from posecog.nodes.mqtt.config import MqttConfig, broker_of, check_template, client_id_of
from posecog.nodes.mqtt.link import MqttLink
from posecog.nodes.mqtt.writer import MqttWriter
from posecog.nodes.registry import registry

__all__ = ["HomeAssistantConfig", "build", "discovery_payload"]

_STATE_KEYS = ("presence", "n_persons", "fall", "breathing_bpm", "heartrate_bpm")


class HomeAssistantConfig(MqttConfig):
    discovery_prefix: str = Field(
        "homeassistant", description="Home Assistant's discovery prefix (its MQTT setting)."
    )
    device_id: str = Field(
        "",
        max_length=64,
        description="The device's id in Home Assistant (letters, digits, _ and -); empty: "
        "the client id. It names the discovery topic and every entity's unique_id.",
    )
    device_name: str = Field("Pose estimation", description="The device's name, as shown.")
    state_topic: str = Field(
        "posecog/homeassistant/{device_id}/state",
        description="Where the state goes ({device_id}, {client_id}).",
    )
    status_topic: str = Field(
        "posecog/status/{client_id}",
        description="Availability: retained online after each connect, offline as the last "
        "will and on a clean stop.",
    )
    min_interval_s: float = Field(
        1.0, ge=0, description="Event time (s) between two state messages, at least."
    )
    heartbeat_s: float = Field(
        60.0, gt=0, description="Event time (s) after which an unchanged state is sent again."
    )
    retain: bool = Field(
        True, description="Retain the state (Home Assistant shows it again after a restart)."
    )

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise ValueError("must be letters, digits, '_' and '-' only")
        return value

    @field_validator("state_topic")
    @classmethod
    def _state(cls, value: str) -> str:
        return check_template(value, ("device_id", "client_id"), "state_topic")

    @field_validator("status_topic")
    @classmethod
    def _status(cls, value: str) -> str:
        return check_template(value, ("client_id",), "status_topic")


def _version() -> str:
    try:
        return importlib.metadata.version("cog-pose-estimation")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def discovery_payload(
    device_id: str, name: str, state_topic: str, status_topic: str, qos: int
) -> dict[str, Any]:
    """Home Assistant's device-discovery payload: one device, five components."""

    def component(platform: str, key: str, label: str, **extra: Any) -> dict[str, Any]:
        if platform == "binary_sensor":
            template = f"{{{{ 'ON' if value_json.{key} else 'OFF' }}}}"
        else:
            template = f"{{{{ value_json.{key} }}}}"
        return {
            "platform": platform,
            "name": label,
            "unique_id": f"{device_id}_{key}",
            "value_template": template,
            **extra,
        }

    measure = {"state_class": "measurement"}
    return {
        "device": {
            "identifiers": [device_id],
            "name": name,
            "manufacturer": "Cognitum",
            "model": "cog-pose-estimation",
            "sw_version": _version(),
        },
        "origin": {"name": "cog-pose-estimation", "sw_version": _version()},
        "components": {
            "presence": component(
                "binary_sensor", "presence", "Presence", device_class="occupancy"
            ),
            "persons": component("sensor", "n_persons", "Persons", **measure),
            "fall": component("binary_sensor", "fall", "Fall", device_class="safety"),
            "breathing": component(
                "sensor", "breathing_bpm", "Breathing rate", unit_of_measurement="bpm", **measure
            ),
            "heart_rate": component(
                "sensor", "heartrate_bpm", "Heart rate", unit_of_measurement="bpm", **measure
            ),
        },
        "state_topic": state_topic,
        "availability_topic": status_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": qos,
    }


class _State:
    """The derived state, from the newest item of each node (a room's occupancy wins)."""

    def __init__(self, config: HomeAssistantConfig) -> None:
        self.config = config
        self.present: dict[int, bool] = {}
        self.persons: dict[int, int] = {}
        self.fall: dict[int, bool] = {}
        self.rates: dict[str, float] = {}
        self.room: tuple[bool | None, int | None] | None = None
        self.sent: dict[str, Any] | None = None
        self.sent_at = float("-inf")

    def _presence(self, p: Presence) -> None:
        self.present[p.node_id] = p.present
        if p.n_persons is not None:
            self.persons[p.node_id] = p.n_persons

    def _vitals(self, v: Vitals) -> None:
        if v.fall_detected is not None:
            self.fall[v.node_id] = v.fall_detected
        for key, value in (("breathing_bpm", v.breathing_bpm), ("heartrate_bpm", v.heartrate_bpm)):
            if value is not None:
                self.rates[key] = round(float(value), 1)

    def state(self) -> dict[str, Any]:
        if self.room is not None:
            presence, persons = self.room
        else:
            presence = any(self.present.values()) if self.present else None
            persons = max(self.persons.values()) if self.persons else None
        return {
            "presence": presence,
            "n_persons": persons,
            "fall": any(self.fall.values()) if self.fall else None,
            "breathing_bpm": self.rates.get("breathing_bpm"),
            "heartrate_bpm": self.rates.get("heartrate_bpm"),
        }

    def update(self, item: Any) -> list[dict[str, Any]]:
        """The state to send now (none, or one), after taking ``item`` in."""
        if isinstance(item, Occupancy):
            self.room = (item.present, item.n_persons)
        elif isinstance(item, JoinedPose):
            if item.presence is not None:
                self._presence(item.presence)
            if item.vitals is not None:
                self._vitals(item.vitals)
        elif isinstance(item, Presence):
            self._presence(item)
        elif isinstance(item, Vitals):
            self._vitals(item)
        state, t = self.state(), float(item.ts)
        since = t - self.sent_at
        if since < self.config.min_interval_s and since >= 0:
            return []
        if state == self.sent and 0 <= since < self.config.heartbeat_s:
            return []
        self.sent, self.sent_at = state, t
        return [{**state, "ts_event": t}]


_EXAMPLES = (
    "id: homeassistant\ntype: mqtt_homeassistant\ninputs: [joined, room]\nconfig:\n"
    "  url: mqtt://127.0.0.1:1883\n  device_name: Living room\n",
)


@registry.sink(
    "mqtt_homeassistant",
    config=HomeAssistantConfig,
    takes=(Presence, Vitals, JoinedPose, Occupancy),
    examples=_EXAMPLES,
)
def build(
    config: HomeAssistantConfig, ctx: BuildContext
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Home Assistant over MQTT: device discovery and a slow state derived from the stream.

    Presence is any node's (or the room's, from ``occupancy``), the person count the largest
    a node reports (or the room's), fall any node's ``fall_detected``, breathing and heart
    rate the newest reported; from ``Presence``, ``Vitals``, joined poses' sides and
    ``Occupancy`` items. The state is published (JSON, ``retain``) when it changes, at most
    once per ``min_interval_s`` and at least every ``heartbeat_s`` of event time; the
    discovery payload (retained) and ``online`` (retained; ``offline`` as the last will) on
    every connect, so Home Assistant finds the device after either side restarts. The
    connection is the kernel's (``sink.down`` / ``sink.up``, backoff), as for
    ``mqtt_publish``.
    """
    client_id = client_id_of(config, ctx.node_id)
    device_id = config.device_id or re.sub(r"[^A-Za-z0-9_-]", "_", client_id)
    state_topic = config.state_topic.format(device_id=device_id, client_id=client_id)
    status_topic = config.status_topic.format(client_id=client_id)
    discovery_topic = f"{config.discovery_prefix}/device/{device_id}/config"
    discovery = json.dumps(
        discovery_payload(device_id, config.device_name, state_topic, status_topic, config.qos)
    ).encode()
    derived = _State(config)

    def announce(link: MqttLink) -> None:
        link.publish(discovery_topic, discovery, 1, True, None)

    def encode(state: dict[str, Any]) -> tuple[str, bytes]:
        return state_topic, json.dumps(state, separators=(",", ":")).encode()

    sink = writer_sink(
        ctx,
        lambda: MqttWriter(
            config,
            ctx,
            client_id,
            status_topic=status_topic,
            queue=16,
            retain=config.retain,
            content_type="application/json",
            encode=encode,
            on_connect=announce,
        ),
        broker_of(config.url).shown,
        config.retry(),
        capacity=16,
    )

    def operator(source: Observable[Any]) -> Observable[Any]:
        return sink(source.pipe(ctx.process(derived.update)))

    return operator
