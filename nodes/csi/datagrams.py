"""``DatagramDecoder``: ESP32 UDP datagrams to items, every refusal counted by reason.

The per-datagram work of the ``udp_esp32`` source, kept apart from its socket and lifecycle:
dispatch on the magic, the 56 amplitudes of the chosen selection, per-node sequence tracking,
and the counts the node reports as gauges. Not thread-safe: one thread decodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.rejection import Rejected

from .esp32 import CsiPacket, VitalsPacket, parse_packet
from .esp32_udp import vitals_item
from .sequence import SequenceTracker
from .subcarriers import Selection, select_amplitudes

__all__ = ["DatagramDecoder"]


class DropFn(Protocol):
    """A node's ``BuildContext.drop``."""

    def __call__(
        self, reason: str, detail: str = "", count: int = 1, warn: bool = True
    ) -> None: ...


class DatagramDecoder:
    """``decode(data, ts, arrived)`` -> a ``CsiFrame``, a ``Vitals`` or None (dropped, counted).

    ``gauges`` receives ``datagrams``, ``frames``, ``vitals`` and the sequence counts
    (``SequenceTracker.publish``); ``on_sequence_change`` runs whenever the tracking saw a new
    node, a gap, a duplicate, a late packet or a restart (the caller may look for the cause).
    Drop reasons: the other known packets quietly, by name (``features_packet``, ...), and
    ``no_htltf``; with a WARN ``unknown_magic``, ``truncated``, ``size_mismatch``,
    ``bad_header``, ``too_few_subcarriers``, ``error:<Type>``.
    """

    def __init__(
        self,
        selection: Selection,
        drop: DropFn,
        gauges: dict[str, Any],
        on_sequence_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.selection = selection
        self.seq = SequenceTracker()
        self._drop = drop
        self._on_change = on_sequence_change
        self.gauges = gauges
        gauges.update(datagrams=0, frames=0, vitals=0)

    def counts(self) -> dict[str, int]:
        """Datagrams received, frames and vitals given so far."""
        return {k: int(self.gauges[k]) for k in ("datagrams", "frames", "vitals")}

    def decode(self, data: bytes, ts: float, arrived: float) -> CsiFrame | Vitals | None:
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

    def _decode(self, data: bytes, ts: float, arrived: float) -> CsiFrame | Vitals | None:
        packet = parse_packet(data)
        if isinstance(packet, CsiPacket):
            if self.seq.track(packet.node_id, packet.sequence):
                self.seq.publish(self.gauges)
                self._on_change()
            amp = select_amplitudes(packet.iq, packet.n_subcarriers, self.selection)
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
        if isinstance(packet, VitalsPacket):
            self.gauges["vitals"] += 1
            return vitals_item(packet, ts, arrived)
        self._drop(f"{packet.name}_packet", f"{len(data)} bytes", warn=False)
        return None
