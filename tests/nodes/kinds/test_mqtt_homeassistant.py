"""``mqtt_homeassistant``: the derived state is slow (event time), discovery and status are
retained, and a real broker holds them after the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posecog.nodes.items import JoinedPose, Occupancy, Pose, Presence, Vitals
from posecog.nodes.kinds.mqtt_homeassistant import HomeAssistantConfig, _State
from tests.fakes.broker import broker
from tests.fakes.items import LISTS, registry_with_lists
from tests.fakes.live_source import LivePipeline
from tests.fakes.mqtt import raw_client, retained, wait_for

KP = np.zeros((17, 2), np.float32)


def _stream(seconds: float, hz: float = 25.0) -> list[object]:
    out: list[object] = []
    for i in range(int(seconds * hz)):
        t = 1000.0 + i / hz
        pose = Pose(t, 1, KP, 0.9)
        vitals = Vitals(t, 1, breathing_bpm=14.04, heartrate_bpm=71.0, fall_detected=i == 60)
        out.append(JoinedPose(pose, vitals, 0.0, Presence(t, 1, True, n_persons=1), 0.0))
    return out


def test_the_state_is_sent_on_change_at_most_once_a_second_of_event_time() -> None:
    state = _State(HomeAssistantConfig(min_interval_s=1.0, heartbeat_s=60.0))
    sent = [s for item in _stream(10.0) for s in state.update(item)]
    # 250 poses in 10 s: the first state, the fall (frame 60, 2.4 s), its end a second later
    assert [s["fall"] for s in sent] == [False, True, False]
    assert sent[0] == {
        "presence": True,
        "n_persons": 1,
        "fall": False,
        "breathing_bpm": 14.0,
        "heartrate_bpm": 71.0,
        "ts_event": 1000.0,
    }
    # a room's occupancy wins over the nodes' own presence
    room = state.update(Occupancy(1020.0, "room", False, 0, ()))
    assert room[0]["presence"] is False and room[0]["n_persons"] == 0


def test_discovery_state_and_availability_are_retained_on_a_real_broker(tmp_path: Path) -> None:
    LISTS["ha"] = _stream(4.0)
    text = (
        "name: ha\nnodes:\n"
        "  - id: src\n    type: listed\n    config: {name: ha}\n"
        "  - id: homeassistant\n    type: mqtt_homeassistant\n    inputs: [src]\n"
        "    config: {url: '%s', client_id: ha-test, device_id: living_room}\n"
    )
    with broker(tmp_path / "b") as b:
        watcher = raw_client(b.port)
        states: list[bytes] = []
        watcher.on_message = lambda _c, _u, m: states.append(m.payload)
        watcher.subscribe("posecog/homeassistant/#", qos=1)
        run = LivePipeline(Path("ha.yaml"), text=text % b.url, registry=registry_with_lists())
        with run:
            run._thread.join(20)
        assert run.status == 0
        config = json.loads(retained(b.port, "homeassistant/device/living_room/config") or b"")
        assert set(config["components"]) == {
            "presence",
            "persons",
            "fall",
            "breathing",
            "heart_rate",
        }
        assert config["availability_topic"] == "posecog/status/ha-test"
        assert config["state_topic"] == "posecog/homeassistant/living_room/state"
        assert config["components"]["presence"]["device_class"] == "occupancy"
        last = json.loads(retained(b.port, config["state_topic"]) or b"")
        assert last["presence"] is True and last["fall"] is False
        assert retained(b.port, "posecog/status/ha-test") == b"offline"  # stopped cleanly
        wait_for(lambda: len(states) >= 3)
        assert len(states) <= 5  # 100 poses in 4 s of event time: a handful of states
        watcher.loop_stop()
