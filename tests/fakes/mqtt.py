"""Publisher and subscriber pipelines for the MQTT tests, over a real broker (``broker.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.fakes.items import LISTS, registry_with_lists
from tests.fakes.live_source import LivePipeline


def publisher(
    url: str, items: list[Any], name: str, period_s: float = 0.0, **config: Any
) -> LivePipeline:
    """``listed`` (``items``) -> ``mqtt_publish`` (topic t/{type}/{node_id} unless given)."""
    LISTS[name] = items
    cfg = {"url": url, "client_id": f"pub-{name}", "topic": "t/{type}/{node_id}", **config}
    text = (
        "name: pub\nnodes:\n"
        f"  - id: src\n    type: listed\n    config: {{name: {name}, period_s: {period_s}}}\n"
        "  - id: publish\n    type: mqtt_publish\n    inputs: [src]\n"
        f"    config: {_flow(cfg)}\n"
    )
    return LivePipeline(Path(f"{name}-pub.yaml"), text=text, registry=registry_with_lists())


def subscriber(url: str, name: str, out: Path, **config: Any) -> LivePipeline:
    """``mqtt_subscribe`` (block hop; tap ``sub``) -> ``jsonl_file``."""
    cfg = {"url": url, "client_id": f"sub-{name}", "topic": "t/#", **config}
    text = (
        "name: sub\nnodes:\n"
        "  - id: sub\n    type: mqtt_subscribe\n    hop: {policy: block}\n"
        f"    config: {_flow(cfg)}\n"
        "  - id: out\n    type: jsonl_file\n    inputs: [sub]\n"
        f"    config: {{path: '{out}'}}\n"
    )
    return LivePipeline(
        Path(f"{name}-sub.yaml"), text=text, taps=("sub",), registry=registry_with_lists()
    )


def _flow(cfg: dict[str, Any]) -> str:
    def one(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(map(str, v)) + "]"
        return f"'{v}'" if isinstance(v, str) else str(v)

    return "{" + ", ".join(f"{k}: {one(v)}" for k, v in cfg.items()) + "}"


def raw_client(port: int, client_id: str = "", **kw: Any) -> paho.Client:
    """A plain paho client (its own network thread) for what the nodes do not do."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    if kw.get("username"):
        client.username_pw_set(kw["username"], kw.get("password"))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def retained(port: int, topic: str, timeout: float = 3.0) -> bytes | None:
    """The retained message of ``topic`` (None: none)."""
    got: list[bytes] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.on_message = lambda _c, _u, m: got.append(m.payload) if m.retain else None
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    wait_for(lambda: got, timeout, fail=False)
    client.loop_stop()
    client.disconnect()
    return got[0] if got else None


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, fail: bool = True) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            if fail:
                raise AssertionError("condition not met in time")
            return result
        time.sleep(0.01)
    return result
