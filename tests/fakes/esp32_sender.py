"""A fake ESP32 sensing node (or several): ESP32 UDP datagrams sent to a loopback port.

Two sources of datagrams:

* ``recording_datagrams(path)``: rebuilds the packets of a variant A recording (``raw_csi``
  lines: 20-byte header + ``iq_hex``; ``vitals`` lines: 32-byte vitals packets; ``feature``
  lines and untyped sibling lines: packets of their magic and ``size``), in file order. The
  header's sequence is a per-node counter (the recording keeps none), its rssi ``rssi``.
* ``synthetic_datagrams(nodes, rate_hz, seconds)``: N nodes at R Hz each, with the measured
  mix of 64/128/192-subcarrier frames interleaved on every node (about 80/19/1 %), LLTF null
  bins zero, and a vitals packet per node per second; each datagram has its due time.

``Esp32Sender`` sends them to ``127.0.0.1:<port>`` only (a loopback address is enforced), as
fast as asked, paced in real time, or in flow-controlled chunks (``send_acked``).
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posecog.nodes.csi.esp32 import (
    CSI_HEADER_SIZE,
    MAGIC_CSI,
    VitalsPacket,
    encode_vitals_packet,
)
from posecog.nodes.csi.siblings import FeatureVectorPacket, encode_feature_vector

__all__ = [
    "Datagram",
    "Esp32Sender",
    "csi_datagram",
    "recording_datagrams",
    "synthetic_datagrams",
]

_HEADER = struct.Struct("<IBBHIIbb2x")
#: First sequence number of every node (not 0, so a test sees real numbers).
FIRST_SEQ = 1000


@dataclass(frozen=True)
class Datagram:
    """One packet; ``t`` is its time (recording timestamp, or seconds from the start)."""

    t: float
    node_id: int
    kind: str  # csi, vitals, features, other
    data: bytes
    seq: int = -1


def csi_datagram(
    node_id: int, seq: int, iq: bytes, rssi: int = -45, freq_mhz: int = 2437, noise: int = -95
) -> bytes:
    """A 0xC5110001 packet around a raw CSI buffer (``len(iq) // 2`` subcarriers, 1 antenna)."""
    return _HEADER.pack(MAGIC_CSI, node_id, 1, len(iq) // 2, freq_mhz, seq, rssi, noise) + iq


def recording_datagrams(path: str | Path, rssi: int = -45) -> list[Datagram]:
    """Every packet of a variant A recording, in file order (see the module docstring)."""
    out: list[Datagram] = []
    seqs: dict[int, int] = {}
    t0: float | None = None
    for text in Path(path).read_text().splitlines():
        if not text.strip():
            continue
        d = json.loads(text)
        ts, node = float(d["timestamp"]), int(d["node_id"])
        t0 = ts if t0 is None else t0
        kind = d.get("type")
        if kind == "raw_csi":
            seq = seqs.get(node, FIRST_SEQ)
            seqs[node] = seq + 1
            data = csi_datagram(node, seq, bytes.fromhex(d["iq_hex"]), rssi)
            assert len(data) == d["size"] == CSI_HEADER_SIZE + 2 * d["subcarriers"]
            out.append(Datagram(ts, node, "csi", data, seq))
        elif kind == "vitals":
            packet = VitalsPacket(
                node_id=node,
                flags=int(d["flags"]),
                breathing_bpm=float(d["breathing_bpm"]),
                heartrate_bpm=float(d["heartrate_bpm"]),
                rssi=int(d["rssi"]),
                n_persons=int(d["n_persons"]),
                motion_energy=float(d["motion_energy"]),
                presence_score=float(d["presence_score"]),
                timestamp_ms=round((ts - t0) * 1000),
            )
            out.append(Datagram(ts, node, "vitals", encode_vitals_packet(packet)))
        elif kind == "feature":
            out.append(
                Datagram(ts, node, "features", features_packet(node, d["seq"], d["features"]))
            )
        else:  # a sibling packet the recorder kept only the header of: its magic and size
            magic = int(d["magic"], 16)
            data = struct.pack("<IB", magic, node).ljust(int(d["size"]), b"\0")
            out.append(Datagram(ts, node, "other", data))
    return out


def features_packet(node_id: int, seq: int, features: Iterable[float], ts_us: int = 0) -> bytes:
    """A 48-byte 0xC5110003 feature vector (node, reserved, seq u16, timestamp_us, 8 floats)."""
    values = tuple(float(v) for v in list(features)[:8])
    return encode_feature_vector(FeatureVectorPacket(node_id, seq % 65536, ts_us, values))


def _synthetic_iq(rng: np.random.Generator, n_sub: int) -> bytes:
    re = rng.integers(-40, 41, n_sub)
    im = rng.integers(-40, 41, n_sub)
    null = np.zeros(n_sub, dtype=bool)
    for block in range(0, n_sub, 64):  # DC and guard bins of every 64-bin block are null
        null[block] = True
        null[block + 27 : block + 38] = True
    re[null] = im[null] = 0
    pairs = np.stack([im, re], axis=1).astype(np.int8)  # imaginary first
    return pairs.tobytes()


def synthetic_datagrams(
    nodes: int, rate_hz: float, seconds: float, seed: int = 0, vitals: bool = True
) -> list[Datagram]:
    """CSI frames of ``nodes`` nodes (ids 1..N) at ``rate_hz`` each for ``seconds``, nodes
    phase-shifted evenly, sizes 64/128/192 at 80/19/1 %; ``t`` from 0. Sorted by ``t``."""
    rng = np.random.default_rng(seed)
    out: list[Datagram] = []
    period = 1.0 / rate_hz
    for node in range(1, nodes + 1):
        phase = period * (node - 1) / nodes
        for k in range(int(seconds * rate_hz)):
            n_sub = int(rng.choice([64, 128, 192], p=[0.8, 0.19, 0.01]))
            seq = FIRST_SEQ + k
            rssi = int(rng.integers(-70, -30))
            data = csi_datagram(node, seq, _synthetic_iq(rng, n_sub), rssi)
            out.append(Datagram(phase + k * period, node, "csi", data, seq))
        for s in range(int(seconds) if vitals else 0):
            packet = VitalsPacket(node, 4, 15.0, 70.0, -50, 1, 1.5, 0.8, s * 1000)
            out.append(
                Datagram(phase + s + 0.5 * period, node, "vitals", encode_vitals_packet(packet))
            )
    out.sort(key=lambda d: d.t)
    return out


class Esp32Sender:
    """A UDP socket sending to ``host:port``; ``host`` must be a loopback address."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        if not host.startswith("127.") and host not in ("::1", "localhost"):
            raise ValueError(f"the fake sender only sends to loopback; got {host}")
        self.address = (host, port)
        self.sock = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
        )
        self.sent = 0

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.address)
        self.sent += 1

    def send_all(self, datagrams: Iterable[Datagram | bytes]) -> int:
        """Send at once, back to back; returns how many."""
        n = 0
        for d in datagrams:
            self.send(d.data if isinstance(d, Datagram) else d)
            n += 1
        return n

    def send_acked(
        self,
        datagrams: Iterable[Datagram | bytes],
        received: Callable[[], int],
        chunk: int = 32,
        timeout: float = 5.0,
    ) -> int:
        """Send ``chunk`` datagrams, then wait until ``received()`` (the receiver's count of
        datagrams, starting from what it was) has caught up, so a socket buffer never
        overflows. Raises ``TimeoutError`` when the receiver stops catching up."""
        base = received()
        n = 0
        for piece in _chunks(list(datagrams), chunk):
            n += self.send_all(piece)
            wait_for(lambda n=n: received() - base >= n, timeout, f"receiver got {n} datagrams")
        return n

    def send_paced(
        self,
        datagrams: Iterable[Datagram],
        speed: float = 1.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> float:
        """Send each datagram at its ``t`` (relative to the first, divided by ``speed``) in
        real time; returns the largest lateness seen (s). Due times are absolute, so delays
        never accumulate."""
        start: float | None = None
        t_first = 0.0
        worst = 0.0
        for d in datagrams:
            if start is None:
                start, t_first = clock(), d.t
            due = start + (d.t - t_first) / speed
            ahead = due - clock()
            if ahead > 0:
                time.sleep(ahead)
            worst = max(worst, clock() - due)
            self.send(d.data)
        return worst

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Esp32Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _chunks(items: list[Datagram | bytes], size: int) -> Iterator[list[Datagram | bytes]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for: {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
