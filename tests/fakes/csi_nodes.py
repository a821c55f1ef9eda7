"""N ESP32 nodes' real frames, and what each way of reading them sees.

``node_packets`` makes the frames as raw 0xC5110001 packets (integer IQ, 64 subcarriers, LLTF
null bins zero, a per-node sequence), the nodes interleaved in time at about ``rate_hz`` each.
From them:

* ``variant_a_lines``: the recorder's raw-packet lines (INTERFACES §5 variant A).
* ``server_frames``: what RuView's server takes from each packet, ``(ts, node_id,
  amplitudes)``: the first 56 amplitudes, as the floats equal to their float32 value, so JSON
  carries them bit-exactly. ``sensing_server.multinode_updates`` builds the updates from them.
* ``variant_c_lines``: a server stream dump of those updates (every WebSocket line verbatim:
  some 100 ms repeats, ``edge_vitals`` before the update its packet triggers, ``wasm_event``).
* ``v1_messages``: what the v1 Python server sends from them: every ``period_s``, the last
  packet heard (one node, its sequence), as ``sensing_server.v1_update``.

The amplitudes are computed here from the packet bytes, independently of the product's decoder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posecog.nodes.csi.esp32 import encode_csi_packet
from tests.fakes.sensing_server import edge_vitals, v1_update, wasm_event

__all__ = [
    "Packet",
    "node_packets",
    "server_frames",
    "v1_messages",
    "variant_a_lines",
    "variant_c_lines",
    "write_jsonl",
]

#: First sequence number of every node.
FIRST_SEQ = 5000
#: Host time of the first frame (s): an epoch time, as recordings have.
T0 = 1775182186.0
N_SUB = 64
_NULL = np.zeros(N_SUB, dtype=bool)
_NULL[0] = True
_NULL[27:38] = True


@dataclass(frozen=True)
class Packet:
    """One CSI datagram: ``ts`` is the host's receive time (s)."""

    ts: float
    node_id: int
    seq: int
    data: bytes


def node_packets(
    n_nodes: int, frames: int, rate_hz: float = 20.0, seed: int = 0, t0: float = T0
) -> list[Packet]:
    """``frames`` frames of each node 1..N at ``rate_hz``, in time order: node k's i-th frame
    at ``t0 + i / rate_hz + k / (rate_hz * (N + 1))`` plus a little jitter, so the nodes
    interleave. Each node has its own channel (a smooth amplitude profile and phase ramp) that
    moves slowly from frame to frame, with integer noise; consecutive frames of a node never
    have the same first 56 amplitudes (the server view could not tell them apart)."""
    rng = np.random.default_rng(seed)
    period = 1.0 / rate_hz
    bins = np.arange(N_SUB)
    out: list[Packet] = []
    for node in range(1, n_nodes + 1):
        profile = 22 + 9 * np.sin(2 * np.pi * bins / (40 + 7 * node) + node)
        ramp = 0.2 * node * bins
        last: np.ndarray | None = None
        for i in range(frames):
            t = i * period
            swell = 1 + 0.25 * np.sin(2 * np.pi * (0.3 * node) * t + bins / 9)
            amp = profile * swell
            phase = ramp + 0.8 * np.sin(2 * np.pi * 0.5 * t + node)
            re = np.rint(amp * np.cos(phase)) + rng.integers(-2, 3, N_SUB)
            im = np.rint(amp * np.sin(phase)) + rng.integers(-2, 3, N_SUB)
            re[_NULL] = im[_NULL] = 0
            data = encode_csi_packet(
                node_id=node, sequence=FIRST_SEQ + i, re=np.clip(re, -127, 127),
                im=np.clip(im, -127, 127), rssi=-40 - node,
            )  # fmt: skip
            amps = _amplitudes(data)
            assert last is None or not np.array_equal(amps, last), (node, i)
            last = amps
            jitter = float(rng.uniform(-0.2, 0.2)) * period / (n_nodes + 1)
            ts = t0 + t + node * period / (n_nodes + 1) + jitter
            out.append(Packet(ts, node, FIRST_SEQ + i, data))
    out.sort(key=lambda p: p.ts)
    return out


def _amplitudes(data: bytes) -> np.ndarray:
    """The first 56 amplitudes of a CSI packet, float32 (imaginary byte first, then real)."""
    pairs = np.frombuffer(data, dtype=np.int8, offset=20).reshape(-1, 2).astype(np.float32)
    return np.sqrt(pairs[:56, 0] ** 2 + pairs[:56, 1] ** 2)


def variant_a_lines(packets: list[Packet]) -> list[dict[str, Any]]:
    """The raw-packet recording of ``packets`` (``rssi`` 1: the recorder's placeholder)."""
    return [
        {
            "timestamp": p.ts,
            "node_id": p.node_id,
            "magic": "0xC5110001",
            "size": len(p.data),
            "rssi": 1,
            "type": "raw_csi",
            "iq_hex": p.data[20:].hex(),
            "subcarriers": (len(p.data) - 20) // 2,
        }
        for p in packets
    ]


def server_frames(packets: list[Packet]) -> list[tuple[float, int, list[float]]]:
    """``(ts, node_id, amplitudes)`` of every packet, as the server reports its frame."""
    return [(p.ts, p.node_id, [float(v) for v in _amplitudes(p.data)]) for p in packets]


def variant_c_lines(
    updates: list[dict[str, Any]], repeat_every: int = 5, events_every: int = 10
) -> list[dict[str, Any]]:
    """The WebSocket lines of ``updates`` as the server's recorder writes them: every
    ``repeat_every``-th update twice (its 100 ms rebroadcast, same tick), and every
    ``events_every``-th preceded by the ``edge_vitals`` of its packet and followed by a
    ``wasm_event``."""
    out: list[dict[str, Any]] = []
    for k, u in enumerate(updates, start=1):
        if k % events_every == 0:
            out.append(edge_vitals(u))
        out.append(u)
        if k % repeat_every == 0:
            out.append(u)
        if k % events_every == 0:
            out.append(wasm_event(u))
    return out


def v1_messages(
    packets: list[Packet], period_s: float = 0.5
) -> tuple[list[dict[str, Any]], list[Packet]]:
    """The v1 Python server's messages over ``packets`` (one every ``period_s``: the last
    packet heard by then, stamped with the message time), and the packets they report."""
    messages: list[dict[str, Any]] = []
    reported: list[Packet] = []
    t = packets[0].ts + period_s
    k = 0
    while t <= packets[-1].ts:
        while k + 1 < len(packets) and packets[k + 1].ts <= t:
            k += 1
        p = packets[k]
        amps = [float(v) for v in _amplitudes(p.data)]
        messages.append(v1_update(round(t, 6), p.node_id, p.seq, amps))
        reported.append(p)
        t += period_s
    return messages, reported


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
