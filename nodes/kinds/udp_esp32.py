"""Source node ``udp_esp32``: raw ESP32 CSI and vitals packets from UDP, as items.

Decision, event time: an ESP32 CSI packet carries no timestamp, so a frame's ``ts`` is the time
the kernel received its datagram (``SO_TIMESTAMPNS``, read with ``recvmsg``; the wall clock
right after ``recv`` where the kernel gives none). That is the clock the RuView recorder writes
into a recording's ``timestamp``, so live and replayed frames share one time base, and a burst
read late still carries each datagram's own receive time. ``arrived`` (latency) is moved back
by the same amount, so source-to-sink latency includes the time a datagram waited in the
kernel. This edge is the only place the wall clock is read for event time.

Threading: the socket is read on the run's I/O loop (``loop.add_reader``): on each readiness
the socket is drained to EAGAIN, each datagram decoded, and the items go through the source's
hop to the pipeline thread. When the graph falls behind, the hop (policy ``latest``) keeps the
newest items and counts the oldest as ``overflow``; the kernel's receive buffer is never the
queue. ``loop.create_datagram_endpoint`` is not used: its transport reads one datagram per
readiness with ``recvfrom``, which can neither drain a burst nor read kernel timestamps.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field, field_validator
from reactivex import Observable

from posecog.graph.connection import Retry, reader_source
from posecog.graph.context import BuildContext
from posecog.graph.errors import RuntimeFailure
from posecog.graph.node import NodeConfig
from posecog.nodes.csi.datagrams import DatagramDecoder, Decoded
from posecog.nodes.csi.esp32_udp import bind_hint, open_udp_socket, socket_drops
from posecog.nodes.csi.subcarriers import Selection
from posecog.nodes.items import CsiFrame, Features, Vitals, WasmEvents
from posecog.nodes.registry import registry

__all__ = ["UdpEsp32Config", "build"]

#: Larger than any ESP32 packet (a 192-subcarrier CSI packet is 404 bytes).
_MAX_DATAGRAM = 4096
#: Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS; Python's socket module does not name it): each
#: datagram comes with the kernel's receive time as a ``struct timespec``.
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
#: How often (s, while datagrams come) the kernel's drop counter of the socket is read, so
#: kernel drops show in the periodic stats as they happen, not only at shutdown.
_DROPS_CHECK_S = 1.0


class UdpEsp32Config(NodeConfig):
    port: int = Field(
        5005,
        ge=0,
        le=65535,
        description="UDP port the ESP32 nodes send to (firmware default 5005; the "
        "sensing-server listens there too, so only one of them can run). 0 picks a free port, "
        "reported in the source.up event.",
    )
    bind: str = Field(
        "0.0.0.0",
        description="Local address to listen on, an IPv4 or IPv6 literal: 0.0.0.0 hears every "
        "interface, 127.0.0.1 only this machine.",
    )
    subcarriers: Selection = Field(
        "lltf56",
        description="The 56 amplitudes of a frame. 'lltf56': LLTF bins 0..55, null bins "
        "included, as the sensing-server and pose_v1 use. 'htltf56': the 56 real HT20 tones "
        "of the HT-LTF block (its bins 1..28 and 36..63, i.e. frame bins 65..92 and 100..127); "
        "64-subcarrier frames have none and are dropped (reason no_htltf).",
    )
    recv_buffer: int = Field(
        1 << 20,
        ge=0,
        description="Socket receive buffer (SO_RCVBUF) in bytes; 0 keeps the OS default. The "
        "kernel may grant less (net.core.rmem_max); source.up reports what it granted.",
    )

    @field_validator("bind")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"must be an IP address literal; got {value!r}") from None
        return value


_EXAMPLES = (
    "id: esp32\ntype: udp_esp32\nconfig:\n  port: 5005\n",
    "id: esp32\ntype: udp_esp32\nconfig:\n  bind: 127.0.0.1\n  port: 5006\n"
    "  subcarriers: htltf56\n  recv_buffer: 4194304\n",
)


@registry.source(
    "udp_esp32",
    config=UdpEsp32Config,
    gives=(CsiFrame, Vitals, WasmEvents, Features),
    hop="latest",
    examples=_EXAMPLES,
)
def build(config: UdpEsp32Config, ctx: BuildContext) -> Observable[Decoded]:
    """Listen for ESP32 sensing nodes' UDP packets; give CSI frames, vitals, WASM output and
    the nodes' own features.

    Packets are told apart by their magic. CSI packets (0xC5110001; 64, 128 or 192
    subcarriers, interleaved on one node) become ``CsiFrame`` items of the 56 amplitudes chosen
    by ``subcarriers``, with the node id, its ``seq``, ``n_subcarriers``, the ``rssi`` byte of the
    packet (a real dBm value here, unlike the sensing-server's) and ``ts`` = the host time of
    reception (the packet has no timestamp). Every other item is stamped the same way. Vitals
    packets (0xC5110002) and fused vitals (0xC5110004, 48 bytes, with an mmWave sensor) become
    ``Vitals`` (``extra`` holds ``rssi``, the node's ``node_timestamp_ms`` and, fused, the
    mmWave fields); WASM output (0xC5110004, or 0xC5110007 on newer firmware) becomes
    ``WasmEvents``; feature vectors (0xC5110003) and feature states (0xC5110006) become
    ``Features``. A 48-byte 0xC5110004 fits both layouts: it is fused vitals unless it reads as
    exactly 8 WASM events (gauges ``fused_vitals`` and ``wasm_packets`` count the choices).
    Mesh HEALTH reports (0xC5118100, every 30 s a node) are ``node.health`` events and the
    ``node_health`` gauge (per node: ``pkt_yield`` CSI callbacks/s, ``channel``,
    ``noise_floor_dbm``, ...); ANOMALY_ALERTs are ``node.anomaly`` events.

    Nothing is fatal but a port that cannot be bound. Counted drops: packets nothing is made of
    quietly, by name (``compressed_csi_packet``: it is an XOR against a frame this receiver may
    never have seen; ``type7_packet``; ``mesh_packet``: mesh control messages) and
    ``no_htltf`` (a 64-subcarrier frame under htltf56); broken datagrams with a WARN:
    ``unknown_magic``, ``truncated``, ``size_mismatch``, ``bad_header``, ``bad_crc``,
    ``too_few_subcarriers``, ``recv_error``; and
    ``socket_overflow`` with a WARN: datagrams the kernel dropped because the socket's receive
    buffer was full (read from ``/proc/net/udp`` on Linux at most once a second while
    datagrams come, when a sequence gap shows a loss, and when the socket closes; gauge
    ``kernel_drops``). A datagram larger than any ESP32 packet (cut off by the receive buffer,
    ``MSG_TRUNC``) is a ``size_mismatch``, never decoded. Only packets that decode feed the
    sequence tracking.

    Gauges ``datagrams``, ``frames``, ``vitals`` and ``features`` count what was received and
    given.
    Sequence numbers are tracked per node: gauges ``seq_gaps`` (jumps of more than one),
    ``seq_lost`` (packets missing in them), ``seq_duplicates``, ``seq_reordered``, ``seq_resets``
    and ``seq_by_node``; such packets still come through. Reports ``source.up`` with the bound
    address when listening, ``source.stopped`` with the counts when the socket is closed, and a
    runtime failure (exit 1, ``source.down``) when the port cannot be bound.
    """

    address = f"udp://{config.bind}:{config.port}"
    return reader_source(ctx, lambda: _UdpReader(config, ctx), address, Retry())


def _unset(_item: Decoded) -> None:
    raise RuntimeError("udp_esp32: the kernel did not set emit")


class _UdpReader:
    """The socket of one subscription, read on the I/O loop (see the module docstring)."""

    def __init__(self, config: UdpEsp32Config, ctx: BuildContext) -> None:
        self.config, self.ctx = config, ctx
        # A sequence change may be the kernel dropping datagrams: look when one is seen.
        self.decoder = DatagramDecoder(
            config.subcarriers,
            ctx.drop,
            ctx.metrics.gauges,
            self._count_kernel_drops,
            ctx.emit,
        )
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kernel_drops = 0  # the socket's kernel drop count already reported
        self._drops_checked = 0.0  # wall time of the last look at it
        self._timestamps = False
        #: Set by the kernel: items are handed on from the readiness callback directly.
        self.emit: Callable[[Decoded], None] = _unset
        self._closed: asyncio.Future[None] | None = None

    async def connect(self) -> Mapping[str, Any]:
        cfg, ctx = self.config, self.ctx
        try:
            sock = open_udp_socket(cfg.bind, cfg.port, cfg.recv_buffer, 0.0)
        except OSError as exc:
            raise RuntimeFailure(
                f"{ctx.node_id} (udp_esp32): cannot listen on UDP {cfg.bind}:{cfg.port}: "
                f"{exc.strerror or exc}{bind_hint(exc)}"
            ) from None
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            self._timestamps = True
        except OSError:  # not Linux: the loop's receive time, per datagram
            self._timestamps = False
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._on_readable)
        host, port = sock.getsockname()[:2]
        return {
            "kind": ctx.kind,
            "address": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "port": port,
            "recv_buffer": sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
            "subcarriers": cfg.subcarriers,
            "kernel_timestamps": self._timestamps,
        }

    async def read(self) -> list[Decoded]:
        """Items go out through ``emit`` as they come: wait until the socket closes."""
        assert self._loop is not None
        self._closed = self._loop.create_future()
        await self._closed
        return []

    async def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(sock.fileno())
        self._count_kernel_drops(sock)
        sock.close()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self.decoder.seq.publish(self.ctx.metrics.gauges)
        self.ctx.emit("source.stopped", {"kind": self.ctx.kind, **self.decoder.counts()})

    def _on_readable(self) -> None:
        """Drain the socket to EAGAIN (on the I/O loop), decoding each datagram."""
        sock = self._sock
        if sock is None:
            return
        now, clock, ctx, decode, emit = (
            time.time,
            self.ctx.now,
            self.ctx,
            self.decoder.decode,
            self.emit,
        )
        while True:
            try:
                data, ancillary, flags, _addr = sock.recvmsg(_MAX_DATAGRAM, _ANCILLARY)
            except BlockingIOError:
                break
            except OSError as exc:  # e.g. ICMP errors surfacing; the socket stays usable
                ctx.drop("recv_error", str(exc))
                break
            wall, arrived = now(), clock()
            if flags & socket.MSG_TRUNC:  # larger than any ESP32 packet: never a frame
                self.decoder.gauges["datagrams"] += 1
                ctx.drop("size_mismatch", f"a datagram over {_MAX_DATAGRAM} bytes (cut off)")
                continue
            if wall - self._drops_checked >= _DROPS_CHECK_S:
                self._count_kernel_drops(sock)
            ts = wall
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(payload)
                    ts = sec + nsec * 1e-9
                    # latency counts from the kernel's receive time too
                    arrived -= max(0.0, wall - ts)
            # ts: event time (kernel receive time); arrived: processing clock (latency)
            item = decode(data, ts, arrived)
            if item is not None:
                emit(item)

    def _count_kernel_drops(self, sock: socket.socket | None = None) -> None:
        """Count what the kernel dropped on a full receive buffer since the last look."""
        sock = sock or self._sock
        if sock is None:
            return
        self._drops_checked = time.time()
        total = socket_drops(sock)
        if total is not None and total > self._kernel_drops:
            lost, self._kernel_drops = total - self._kernel_drops, total
            self.ctx.metrics.gauges["kernel_drops"] = total
            self.ctx.drop(
                "socket_overflow",
                f"the kernel dropped {lost} datagrams: the receive buffer was full (raise "
                "recv_buffer, or the graph is too slow for the input)",
                count=lost,
            )
