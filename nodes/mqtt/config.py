"""Config fields of every MQTT node: the broker URL (credentials in it), client id, QoS,
keepalive, TLS, retries; and the topic-template checks."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator

from posecog.graph.connection import Retry
from posecog.graph.node import NodeConfig

__all__ = ["Broker", "MqttConfig", "broker_of", "check_template", "client_id_of"]

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_PLACEHOLDER = re.compile(r"{([^{}]*)}")


class MqttConfig(NodeConfig):
    """Fields of every MQTT node."""

    url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="The broker: mqtt://[user[:password]@]host[:port] (port 1883 by default), "
        "mqtts:// for TLS (8883). The user name and password are masked in every event, log "
        "and error.",
    )
    qos: Literal[0, 1] = Field(
        1,
        description="MQTT QoS: 1 (at least once: the broker acknowledges each message, lost "
        "ones are sent again, duplicates are removed by mqtt_subscribe) or 0 (at most once).",
    )
    client_id: str = Field(
        "",
        max_length=64,
        description="The MQTT client id; empty: posecog-<host name>-<node id>, the same on "
        "every run (a persistent session is found again by it) and different per machine.",
    )
    keepalive_s: int = Field(
        30, ge=5, le=3600, description="MQTT keepalive (s): a dead connection is noticed in 1.5x."
    )
    connect_timeout_s: float = Field(
        5.0, gt=0, le=120, description="TCP, TLS and CONNACK timeout of one attempt (s)."
    )
    tls_ca_file: str = Field(
        "",
        description="mqtts only: CA certificates (PEM) to verify the broker with; empty: the "
        "system's. The broker's host name is always verified.",
    )
    backoff_min_s: float = Field(
        0.1, gt=0, le=60, description="Delay before the first reconnect (s); doubles each time."
    )
    backoff_max_s: float = Field(5.0, gt=0, le=600, description="Longest reconnect delay (s).")
    backoff_jitter: float = Field(
        0.2, ge=0, lt=1, description="Each delay is shortened by up to this fraction."
    )

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise ValueError(f"must be mqtt://host:port or mqtts://host:port; {exc}") from None
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("must be mqtt://[user[:password]@]host[:port] or mqtts://...")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must have no path, query or fragment (the topic is its own key)")
        return value

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if any(c in value for c in "+#/ ") or not value.isprintable():
            raise ValueError("must have no '+', '#', '/', spaces or control characters")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError("backoff_min_s must be <= backoff_max_s")
        if self.tls_ca_file and not self.url.startswith("mqtts://"):
            raise ValueError("tls_ca_file is for mqtts:// URLs")
        return self

    def retry(self) -> Retry:
        return Retry(
            first_s=self.backoff_min_s, max_s=self.backoff_max_s, jitter=self.backoff_jitter
        )


@dataclass(frozen=True)
class Broker:
    """Where and how to connect; ``shown`` is the URL without credentials (for events)."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    shown: str


def broker_of(url: str) -> Broker:
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    return Broker(
        host=host,
        port=port,
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        shown=f"{parts.scheme}://{netloc}:{port}",
    )


def client_id_of(config: MqttConfig, node_id: str) -> str:
    """The configured client id, else ``posecog-<host>-<node id>`` (stable, per machine)."""
    if config.client_id:
        return config.client_id
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:32]
    return f"posecog-{host}-{node_id}"[:64]


def check_template(value: str, allowed: tuple[str, ...], what: str) -> str:
    """A topic template: placeholders among ``allowed`` only, no wildcards."""
    if not value:
        raise ValueError(f"{what} must not be empty")
    unknown = sorted({p for p in _PLACEHOLDER.findall(value) if p not in allowed})
    if unknown:
        raise ValueError(
            f"{what} may use {', '.join('{' + a + '}' for a in allowed)}; got {unknown}"
        )
    if "+" in value or "#" in value:
        raise ValueError(f"{what} must have no wildcard ('+', '#'): one publishes to a topic")
    if value.startswith("$"):
        raise ValueError(f"{what} must not start with '$' (broker topics)")
    return value
