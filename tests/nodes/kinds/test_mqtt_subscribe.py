"""``mqtt_subscribe`` against a real broker and a plain paho publisher: hostile payloads are
counted drops, copies are removed, retained and JSON messages refused, status messages quiet,
and the persistent session keeps what was published while the subscriber was away."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from posecog.nodes.codec import CODEC
from posecog.nodes.items import Pose, Vitals
from tests.fakes.broker import broker
from tests.fakes.mqtt import publisher, raw_client, subscriber, wait_for

POSE = Pose(1000.0, 1, np.zeros((17, 2), np.float32), 0.9, seq=7)


def _props(pub: str | None = None, seq: int | None = None, ctype: str = "") -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    if ctype:
        props.ContentType = ctype
    if pub is not None and seq is not None:
        props.UserProperty = [("posecog-pub", pub), ("posecog-seq", str(seq))]
    return props


def test_hostile_payloads_copies_json_and_retained_are_counted_never_fatal(
    tmp_path: Path,
) -> None:
    with broker(tmp_path / "b") as b:
        raw = raw_client(b.port)
        raw.publish("t/old", CODEC.encode(POSE), qos=1, retain=True).wait_for_publish(5)
        with subscriber(b.url, "hostile", tmp_path / "out.jsonl") as sub:
            sub.wait(lambda: sub.named("source.up"))
            sends = [
                (b"\x91" * 50_000, _props()),  # nested too deep
                (b"not msgpack at all", _props()),
                (CODEC.encode(POSE)[:-3], _props()),  # cut short
                (b'{"event": "pose.frame"}', _props(ctype="application/json")),
                (b"online", _props(ctype="text/plain")),  # a publisher's status
                (CODEC.encode(POSE), _props("p1", 1)),
                (CODEC.encode(POSE), _props("p1", 1)),  # the same message again
                (CODEC.encode(Vitals(1000.0, 1, breathing_bpm=14.0)), _props("p1", 2)),
                (CODEC.encode(POSE), _props("p2", 1)),  # another publisher's number 1
            ]
            for payload, props in sends:
                raw.publish("t/x", payload, qos=1, properties=props).wait_for_publish(5)
            sub.wait(lambda: len(sub.taps["sub"]) == 3)
            gauges = sub.runtime.services.metrics.node("sub", "mqtt_subscribe")
            wait_for(lambda: gauges.gauges["messages"] == len(sends))
        drops = dict(gauges.drops)
        assert drops == {
            "bad_msgpack": 3,
            "json_payload": 1,
            "status_message": 1,
            "duplicate": 1,
        }  # and the retained pose was never asked for (retain handling 2)
        assert [type(i).__name__ for i in sub.taps["sub"]] == ["Pose", "Vitals", "Pose"]
        warned = {e.fields["reason"] for e in sub.named("item.dropped")}
        assert warned == {"bad_msgpack", "json_payload"}  # copies and status: quiet
        assert sub.status == 0
        raw.loop_stop()


def test_the_persistent_session_keeps_what_was_published_while_away(tmp_path: Path) -> None:
    poses = [Pose(1000.0 + i, 1, POSE.keypoints, 0.9, seq=i) for i in range(40)]
    with broker(tmp_path / "b") as b:
        with subscriber(b.url, "away", tmp_path / "a.jsonl") as sub:
            sub.wait(lambda: sub.named("source.up"))
            assert sub.named("source.up")[0].fields["session_present"] is False
        # the hub is down; the edge publishes
        pub = publisher(b.url, poses, "away").start()
        pub._thread.join(20)
        assert pub.status == 0
        with subscriber(b.url, "away", tmp_path / "b.jsonl") as again:
            again.wait(lambda: len(again.taps["sub"]) == len(poses))
            assert again.named("source.up")[0].fields["session_present"] is True
        assert [p.seq for p in again.taps["sub"]] == list(range(40))
