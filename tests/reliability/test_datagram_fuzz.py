"""Hostile datagrams (issue 10 points 1 and 6): random bytes and valid packets of every kind,
mutated (bytes flipped, cut, extended, header fields set to extremes), interleaved with valid
CSI frames. Every datagram is given as an item or counted by reason; no exception escapes the
decoder; every valid frame around the hostile ones comes through."""

from __future__ import annotations

import struct
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posecog.graph.events import Event, to_json_line
from posecog.nodes.csi.datagrams import DatagramDecoder
from posecog.nodes.csi.esp32 import VitalsPacket, encode_vitals_packet
from posecog.nodes.csi.siblings import (
    FeatureStatePacket,
    FeatureVectorPacket,
    FusedVitalsPacket,
    MeshHealth,
    WasmPacket,
    encode_feature_state,
    encode_feature_vector,
    encode_fused_vitals,
    encode_mesh_health,
    encode_wasm,
)
from posecog.nodes.items import CsiFrame
from tests.fakes.esp32_sender import csi_datagram

VALID = [
    csi_datagram(1, 7, bytes(range(128))),
    csi_datagram(2, 8, bytes(range(256))),
    csi_datagram(3, 9, bytes(384)),
    encode_vitals_packet(VitalsPacket(1, 7, 14.0, 70.0, -40, 1, 0.5, 0.9, 1234)),
    encode_fused_vitals(
        FusedVitalsPacket(1, 9, 15.5, 72.25, -52, 1, 2, 87, 0.25, 0.75, 1, 71.5, 15.0, 142.0, 1, 9)
    ),
    encode_wasm(WasmPacket(1, 2, ((1, 0.5), (2, 1.5)))),
    encode_feature_vector(FeatureVectorPacket(1, 3, 4, (0.5,) * 8)),
    encode_feature_state(FeatureStatePacket(1, 1, 2, 3, (0.25,) * 9, 0)),
    encode_mesh_health(MeshHealth(1, b"", 5, 2, 6, 20, -90, 40, 3, 0)),
]


@st.composite
def hostile(draw: Any) -> bytes:
    base = bytearray(draw(st.sampled_from(VALID)))
    how = draw(st.sampled_from(["flip", "cut", "extend", "field", "random"]))
    if how == "random":
        return bytes(draw(st.binary(min_size=0, max_size=600)))
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(base) - 1))
            base[i] = draw(st.integers(0, 255))
    elif how == "cut":
        base = base[: draw(st.integers(0, len(base) - 1))]
    elif how == "extend":
        base += draw(st.binary(min_size=1, max_size=64))
    else:  # a 16- or 32-bit field past the magic set to an extreme
        at = draw(st.integers(4, max(4, len(base) - 4)))
        value = draw(st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FC00000]))
        struct.pack_into("<I", base, min(at, len(base) - 4), value)
    return bytes(base)


class Tally:
    def __init__(self) -> None:
        self.drops: Counter[str] = Counter()
        self.events: list[tuple[Any, ...]] = []

    def drop(self, reason: str, detail: str = "", count: int = 1, warn: bool = True) -> None:
        self.drops[reason] += count

    def emit(self, *args: Any) -> None:
        self.events.append(args)


RESULTS: dict[str, int] = Counter()


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(hostile(), min_size=1, max_size=6))
def test_hostile_datagrams_are_given_or_counted_never_crash(datagrams: list[bytes]) -> None:
    tally, gauges = Tally(), {}
    dec = DatagramDecoder("lltf56", tally.drop, gauges, emit=tally.emit)
    given_items: list[Any] = []
    good = csi_datagram(9, 1, bytes(range(128)))
    for k, data in enumerate(datagrams):
        for item in (dec.decode(data, 1.0 + k, 0.0), dec.decode(good, 1.5 + k, 0.0)):
            if item is not None:
                given_items.append(item)
                # whatever was decoded renders as an event (NaN from hostile floats included)
                if hasattr(item, "event"):
                    to_json_line(Event(*item.event(2.0), "info", 1.0))
    frames_of_9 = [i for i in given_items if isinstance(i, CsiFrame) and i.node_id == 9]
    crashes = sum(n for r, n in tally.drops.items() if r.startswith("error:"))
    accounted = len(given_items) + sum(tally.drops.values()) + len(tally.events)
    RESULTS["inputs"] += len(datagrams)
    RESULTS["crashes"] += crashes
    RESULTS["lost"] += len(datagrams) - len(frames_of_9)
    RESULTS["unexplained"] += gauges["datagrams"] - accounted
    assert crashes == 0, tally.drops
    assert len(frames_of_9) == len(datagrams)  # every valid frame between them came through
    assert accounted == gauges["datagrams"] == 2 * len(datagrams)


def test_record_the_datagram_probe(probes: Any) -> None:
    # runs after the fuzz test above (file order): its totals go into the probe table
    assert RESULTS["inputs"] > 0, "run with the fuzz test"
    probes.record(
        "UDP datagrams (random, mutated, every packet kind)",
        RESULTS["inputs"],
        crashes=RESULTS["crashes"],
        lost=RESULTS["lost"],
        unexplained=RESULTS["unexplained"],
    )
