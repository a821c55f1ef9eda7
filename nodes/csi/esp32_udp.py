"""The UDP side of the ESP32 packets: the listening socket and packet-to-item conversions that
the ``udp_esp32`` node uses. Opening a socket is the only I/O here, and only when asked."""

from __future__ import annotations

import errno
import os
import socket

from posecog.nodes.items import Features, Vitals, WasmEvents

from .esp32 import VitalsPacket
from .siblings import (
    FEATURE_NAMES,
    FEATURE_STATE_NAMES,
    FeatureStatePacket,
    FeatureVectorPacket,
    FusedVitalsPacket,
    MeshHealth,
    WasmPacket,
)

__all__ = [
    "bind_hint",
    "features_item",
    "health_fields",
    "open_udp_socket",
    "socket_drops",
    "vitals_item",
    "wasm_item",
]


def open_udp_socket(bind: str, port: int, recv_buffer: int, timeout: float) -> socket.socket:
    """A UDP socket bound to ``(bind, port)`` (IPv6 when ``bind`` holds a colon) with
    ``SO_RCVBUF`` set to ``recv_buffer`` (0: the OS default) and a ``recv`` timeout.
    No ``SO_REUSEADDR``: a second listener on the port must fail, not share the packets.
    Raises ``OSError`` (the socket closed)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if recv_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        sock.bind((bind, port))
        sock.settimeout(timeout)
    except OSError:
        sock.close()
        raise
    return sock


def bind_hint(exc: OSError) -> str:
    """``"; <what to do>"`` for the usual reasons a bind fails, else an empty string."""
    if exc.errno == errno.EADDRINUSE:
        return (
            "; another process holds the port (the sensing-server listens on 5005 too): "
            "stop it or set 'port'"
        )
    if exc.errno == errno.EACCES:
        return "; ports below 1024 need privileges: set 'port' to 1024 or above"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "; 'bind' must be an address of this machine (0.0.0.0 for all)"
    return ""


def socket_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped on ``sock`` because its receive buffer was full, since it
    was opened: the ``drops`` column of ``/proc/net/udp`` (or ``udp6``) for the socket's
    inode. None where that is not available (not Linux, or the socket is closed)."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except OSError:
        return None
    table = "/proc/net/udp6" if sock.family == socket.AF_INET6 else "/proc/net/udp"
    try:
        with open(table, encoding="ascii") as f:
            next(f)  # the header
            for line in f:
                cols = line.split()
                if len(cols) >= 13 and cols[9] == inode:
                    return int(cols[12])
    except (OSError, ValueError, StopIteration):
        return None
    return None


def vitals_item(p: VitalsPacket | FusedVitalsPacket, ts: float, arrived: float) -> Vitals:
    """The ``Vitals`` item of a vitals packet received at event time ``ts``; ``extra`` holds the
    packet's ``rssi`` (dBm) and the node's own clock ``node_timestamp_ms``; a fused packet adds
    ``fusion_confidence`` (0..100), ``mmwave_present`` and the mmWave sensor's own
    ``mmwave_hr_bpm``, ``mmwave_br_bpm``, ``mmwave_distance_cm``, ``mmwave_targets``,
    ``mmwave_confidence`` (0..100) and ``mmwave_type``."""
    extra: dict[str, float | int | bool] = {
        "rssi": float(p.rssi),
        "node_timestamp_ms": float(p.timestamp_ms),
    }
    if isinstance(p, FusedVitalsPacket):
        extra.update(
            fusion_confidence=p.fusion_confidence,
            mmwave_present=p.mmwave_present,
            mmwave_hr_bpm=p.mmwave_hr_bpm,
            mmwave_br_bpm=p.mmwave_br_bpm,
            mmwave_distance_cm=p.mmwave_distance_cm,
            mmwave_targets=p.mmwave_targets,
            mmwave_confidence=p.mmwave_confidence,
            mmwave_type=p.mmwave_type,
        )
    return Vitals(
        ts=ts,
        node_id=p.node_id,
        breathing_bpm=p.breathing_bpm,
        heartrate_bpm=p.heartrate_bpm,
        presence=p.presence,
        fall_detected=p.fall_detected,
        motion=p.motion,
        n_persons=p.n_persons,
        motion_energy=p.motion_energy,
        presence_score=p.presence_score,
        arrived=arrived,
        extra=extra,
    )


def wasm_item(p: WasmPacket, ts: float, arrived: float) -> WasmEvents:
    return WasmEvents(ts, p.node_id, p.module_id, p.events, arrived=arrived)


def features_item(
    p: FeatureVectorPacket | FeatureStatePacket, ts: float, arrived: float
) -> Features:
    """A feature vector (``kind`` "vector") or feature state (``kind`` "state", its
    ``quality_flags`` among the values) as a ``Features`` item."""
    if isinstance(p, FeatureVectorPacket):
        values = dict(zip(FEATURE_NAMES, p.values, strict=True))
        return Features(ts, p.node_id, "vector", values, p.seq, p.timestamp_us, arrived)
    values = dict(zip(FEATURE_STATE_NAMES, p.values, strict=True))
    values["quality_flags"] = float(p.quality_flags)
    values["mode"] = float(p.mode)
    return Features(ts, p.node_id, "state", values, p.seq, p.ts_us, arrived)


def health_fields(h: MeshHealth) -> dict[str, int]:
    """A mesh HEALTH report as the fields of a ``node.health`` event and the ``node_health``
    gauge."""
    return {
        "node_id": h.node_id,
        "pkt_yield": h.pkt_yield,
        "channel": h.channel,
        "bandwidth_mhz": h.bandwidth_mhz,
        "noise_floor_dbm": h.noise_floor_dbm,
        "sync_error_us": h.sync_error_us,
        "role": h.role,
        "health_flags": h.flags,
    }
