"""``DatagramDecoder``: ESP32 UDP datagrams to items, every refusal counted by reason.

The per-datagram work of the ``udp_esp32`` source, kept apart from its socket and lifecycle:
dispatch on the magic, the 56 amplitudes of the chosen selection, per-node sequence tracking,
the sibling packets (vitals, fused vitals, WASM output, features, mesh HEALTH), and the counts
the node reports as gauges. Not thread-safe: one thread decodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

from posecog.nodes.items import CsiFrame, Features, Vitals, WasmEvents
from posecog.nodes.rejection import Rejected

from .esp32 import CsiPacket, OtherPacket, VitalsPacket, parse_packet
from .esp32_udp import features_item, health_fields, vitals_item, wasm_item
from .sequence import SequenceTracker
from .siblings import (
    FeatureStatePacket,
    FeatureVectorPacket,
    FusedVitalsPacket,
    MeshAnomaly,
    MeshHealth,
    MeshPacket,
    WasmPacket,
)
from .subcarriers import Selection, select_amplitudes

__all__ = ["DatagramDecoder", "Decoded"]

#: What one datagram can give.
Decoded: TypeAlias = CsiFrame | Vitals | WasmEvents | Features


class DropFn(Protocol):
    """A node's ``BuildContext.drop``."""

    def __call__(
        self, reason: str, detail: str = "", count: int = 1, warn: bool = True
    ) -> None: ...


class EmitFn(Protocol):
    """A node's ``BuildContext.emit``."""

    def __call__(
        self, event: str, fields: dict[str, Any] | None = None, level: str = "info"
    ) -> None: ...


def _no_event(event: str, fields: dict[str, Any] | None = None, level: str = "info") -> None:
    pass


_COUNTS = ("datagrams", "frames", "vitals", "fused_vitals", "wasm_packets", "features")


class DatagramDecoder:
    """``decode(data, ts, arrived)`` -> a ``CsiFrame``, ``Vitals`` (from vitals and fused
    vitals packets), ``WasmEvents``, ``Features`` (feature vector and feature state) or None
    (dropped and counted, or a mesh message reported).

    ``gauges`` receives ``datagrams``, ``frames``, ``vitals`` (fused ones included),
    ``fused_vitals`` and ``wasm_packets`` (how each ambiguous 0xC5110004 was read), ``features``,
    ``node_health`` (per node: the last mesh HEALTH report) and the sequence counts
    (``SequenceTracker.publish``); ``on_sequence_change`` runs whenever the tracking saw a new
    node, a gap, a duplicate, a late packet or a restart (the caller may look for the cause).
    Mesh HEALTH is reported through ``emit`` as a ``node.health`` event, ANOMALY_ALERT as a
    ``node.anomaly`` event (the node's alert, info: expected traffic). Drop reasons: the
    packets nothing is made of quietly, by name (``compressed_csi_packet``, ``type7_packet``,
    ``mesh_packet`` for the other mesh messages), and ``no_htltf``; with a WARN
    ``unknown_magic``, ``truncated``, ``size_mismatch``, ``bad_header``, ``bad_crc``,
    ``too_few_subcarriers``, ``error:<Type>``.
    """

    def __init__(
        self,
        selection: Selection,
        drop: DropFn,
        gauges: dict[str, Any],
        on_sequence_change: Callable[[], None] = lambda: None,
        emit: EmitFn = _no_event,
    ) -> None:
        self.selection = selection
        self.seq = SequenceTracker()
        self._drop = drop
        self._on_change = on_sequence_change
        self._emit = emit
        self.gauges = gauges
        gauges.update(dict.fromkeys(_COUNTS, 0), node_health={})

    def counts(self) -> dict[str, int]:
        """Datagrams received, and the items of each kind given so far."""
        return {k: int(self.gauges[k]) for k in _COUNTS}

    def decode(self, data: bytes, ts: float, arrived: float) -> Decoded | None:
        """One datagram received at wall time ``ts`` (event time) and processing time
        ``arrived``; never raises."""
        self.gauges["datagrams"] += 1
        try:
            return self._decode(data, ts, arrived)
        except Rejected as exc:
            reason = "unknown_magic" if exc.reason == "bad_magic" else exc.reason
            self._drop(reason, exc.detail, warn=reason != "no_htltf")
        except Exception as exc:  # isolation: one bad datagram never ends the stream
            self._drop(f"error:{type(exc).__name__}", str(exc))
        return None

    def _decode(self, data: bytes, ts: float, arrived: float) -> Decoded | None:
        packet = parse_packet(data)
        if isinstance(packet, CsiPacket):
            # Only a packet that decodes feeds the sequence tracking: a broken one's sequence
            # number is noise (30 of them made 37,280 phantom "lost" packets). A frame the
            # selection has no bins for (no_htltf) is still a real packet of the node.
            try:
                amp = select_amplitudes(packet.iq, packet.n_subcarriers, self.selection)
            except Rejected as exc:
                if exc.reason == "no_htltf":
                    self._track(packet)
                raise
            self._track(packet)
            self.gauges["frames"] += 1
            return CsiFrame(
                ts,
                packet.node_id,
                amp,
                seq=packet.sequence,
                rssi=float(packet.rssi),
                n_subcarriers=packet.n_subcarriers,
                arrived=arrived,
            )
        if isinstance(packet, VitalsPacket | FusedVitalsPacket):
            self.gauges["vitals"] += 1
            if isinstance(packet, FusedVitalsPacket):
                self.gauges["fused_vitals"] += 1
            return vitals_item(packet, ts, arrived)
        if isinstance(packet, WasmPacket):
            self.gauges["wasm_packets"] += 1
            return wasm_item(packet, ts, arrived)
        if isinstance(packet, FeatureVectorPacket | FeatureStatePacket):
            self.gauges["features"] += 1
            return features_item(packet, ts, arrived)
        if isinstance(packet, MeshPacket):
            self._mesh(packet, ts)
            return None
        assert isinstance(packet, OtherPacket)
        self._drop(f"{packet.name}_packet", f"{len(data)} bytes", warn=False)
        return None

    def _track(self, packet: CsiPacket) -> None:
        if self.seq.track(packet.node_id, packet.sequence):
            self.seq.publish(self.gauges)
            self._on_change()

    def _mesh(self, packet: MeshPacket, ts: float) -> None:
        body = packet.body
        if isinstance(body, MeshHealth):
            fields = health_fields(body)
            self.gauges["node_health"] = {
                **self.gauges["node_health"],
                str(body.node_id): {k: v for k, v in fields.items() if k != "node_id"},
            }
            self._emit("node.health", {**fields, "ts_event": ts})
        elif isinstance(body, MeshAnomaly):
            self._emit(
                "node.anomaly",
                {
                    "node_id": body.node_id,
                    "severity": body.severity,
                    "reason": body.reason,
                    "anomaly_score": round(body.anomaly_score, 4),
                    "motion_score": round(body.motion_score, 4),
                    "ts_event": ts,
                },
            )
        else:
            self._drop("mesh_packet", f"mesh {packet.type_name}", warn=False)
