"""Source node ``udp_esp32``: raw ESP32 CSI and vitals packets from UDP, as items.

Decision, event time: an ESP32 CSI packet carries no timestamp, so a frame's ``ts`` is the host
time at which its datagram was received (``time.time()`` right after ``recv``). That is the same
clock the RuView recorder writes into a recording's ``timestamp``, so live and replayed frames
share one time base. This edge is the only place the wall clock is read for event time.

Threading: subscribing binds the socket (on the subscribing thread, so a bind failure is
reported at once). Under the runtime the socket is then read **on the pipeline thread**
(``ctx.add_reader``): whenever it is readable, up to ``_BURST`` datagrams are read without
blocking, decoded and put into the source's hop, which delivers them at once, with no thread
hand-over (that hand-over cost 0.4 ms p50 on a 2-core VM, more than everything else the path
does without a model). The kernel's socket buffer (``recv_buffer``) is the queue in front of
the hop; when the graph falls behind, a burst read keeps the newest items (policy ``latest``)
and counts the rest as ``hop_overflow``. Without a pipeline loop (a plain scheduler), the
source falls back to a blocking receive loop on ``ctx.scheduler``; disposing sets a stop flag
and waits (at most ``_STOP_WAIT`` s) for the loop to close the socket. Under the virtual-time
harness, replace this source with fed items.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

import reactivex
from pydantic import Field, field_validator
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from posecog.graph.context import BuildContext
from posecog.graph.errors import RuntimeFailure
from posecog.graph.node import NodeConfig
from posecog.nodes.csi.datagrams import DatagramDecoder
from posecog.nodes.csi.esp32_udp import bind_hint, open_udp_socket, socket_drops
from posecog.nodes.csi.subcarriers import Selection
from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.registry import registry

__all__ = ["UdpEsp32Config", "build"]

#: Seconds a blocking ``recv`` waits before the loop looks at its stop flag.
_POLL_S = 0.05
#: Longest wait of ``dispose`` for the loop to close the socket.
_STOP_WAIT = 2.0
#: Larger than any ESP32 packet (a 192-subcarrier CSI packet is 404 bytes).
_MAX_DATAGRAM = 4096
#: Datagrams read per readiness call on the pipeline thread before other work gets a turn.
_BURST = 64


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
    gives=(CsiFrame, Vitals),
    hop="latest",
    examples=_EXAMPLES,
)
def build(config: UdpEsp32Config, ctx: BuildContext) -> Observable[CsiFrame | Vitals]:
    """Listen for ESP32 sensing nodes' UDP packets; give CSI frames and vitals.

    Packets are told apart by their magic. CSI packets (0xC5110001; 64, 128 or 192
    subcarriers, interleaved on one node) become ``CsiFrame`` items of the 56 amplitudes chosen
    by ``subcarriers``, with the node id, its ``seq``, ``n_subcarriers``, the ``rssi`` byte of the
    packet (a real dBm value here, unlike the sensing-server's) and ``ts`` = the host time of
    reception (the packet has no timestamp). Vitals packets (0xC5110002) become ``Vitals``
    (``extra`` holds ``rssi`` and the node's ``node_timestamp_ms``), stamped the same way.

    Nothing is fatal but a port that cannot be bound. Counted drops: the other known packets
    quietly, by name (``features_packet``, ``wasm_events_packet``, ``compressed_csi_packet``,
    ``feature_state_packet``, ``type7_packet``) and ``no_htltf`` (a 64-subcarrier frame under
    htltf56); broken datagrams with a WARN: ``unknown_magic``, ``truncated``,
    ``size_mismatch``, ``bad_header``, ``too_few_subcarriers``, ``recv_error``; and
    ``socket_overflow`` with a WARN: datagrams the kernel dropped because the socket's receive
    buffer was full (read from ``/proc/net/udp`` on Linux when a sequence gap shows a loss, and
    when the socket closes).

    Gauges ``datagrams``, ``frames`` and ``vitals`` count what was received and given.
    Sequence numbers are tracked per node: gauges ``seq_gaps`` (jumps of more than one),
    ``seq_lost`` (packets missing in them), ``seq_duplicates``, ``seq_reordered``, ``seq_resets``
    and ``seq_by_node``; such packets still come through. Reports ``source.up`` with the bound
    address when listening, ``source.stopped`` with the counts when the socket is closed, and a
    runtime failure (exit 1, ``source.down``) when the port cannot be bound.
    """

    def subscribe(
        observer: abc.ObserverBase[CsiFrame | Vitals], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return _Receiver(config, ctx, observer).start()

    return reactivex.create(subscribe)


class _Receiver:
    """One subscription: the socket, the receive loop's lifecycle and the per-packet decode."""

    def __init__(
        self,
        config: UdpEsp32Config,
        ctx: BuildContext,
        observer: abc.ObserverBase[CsiFrame | Vitals],
    ) -> None:
        self.config, self.ctx, self.observer = config, ctx, observer
        # A sequence change may be the kernel dropping datagrams: look when one is seen.
        self.decoder = DatagramDecoder(
            config.subcarriers, ctx.drop, ctx.metrics.gauges, self._count_kernel_drops
        )
        self._sock: socket.socket | None = None
        # Reentrant: a delivery made while reading may end the run and dispose the source.
        self._lock = threading.RLock()
        self._stopping = self._started = False
        self._closed = threading.Event()
        self._kernel_drops = 0  # the socket's kernel drop count already reported
        self._loop_thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> abc.DisposableBase:
        cfg, ctx = self.config, self.ctx
        try:
            sock = open_udp_socket(cfg.bind, cfg.port, cfg.recv_buffer, _POLL_S)
        except OSError as exc:
            message = (
                f"{ctx.node_id} (udp_esp32): cannot listen on UDP {cfg.bind}:{cfg.port}: "
                f"{exc.strerror or exc}{bind_hint(exc)}"
            )
            ctx.emit("source.down", {"kind": ctx.kind, "error": message}, "error")
            self.observer.on_error(RuntimeFailure(message))
            return Disposable()
        self._sock = sock
        host, port = sock.getsockname()[:2]
        ctx.emit(
            "source.up",
            {
                "kind": ctx.kind,
                "address": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "port": port,
                "recv_buffer": sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
                "subcarriers": self.config.subcarriers,
            },
        )
        if ctx.can_read_inline:
            sock.setblocking(False)
            reader = ctx.add_reader(sock, self._on_readable)
            return Disposable(lambda: self._dispose_inline(reader))
        task = ctx.scheduler.schedule(self._run)
        return Disposable(lambda: self._dispose(task))

    def _dispose_inline(self, reader: abc.DisposableBase) -> None:
        reader.dispose()
        with self._lock:  # not while the pipeline thread is reading
            self._stopping = True
            self._close()

    def _dispose(self, task: abc.DisposableBase) -> None:
        with self._lock:
            self._stopping = True
            started = self._started
        task.dispose()
        if not started:  # the loop will never run: close here
            self._close()
        elif threading.current_thread() is not self._loop_thread:
            self._closed.wait(_STOP_WAIT)

    def _close(self) -> None:
        if self._sock is not None and not self._closed.is_set():
            self._count_kernel_drops()
            self._sock.close()
            self.decoder.seq.publish(self.ctx.metrics.gauges)
            self.ctx.emit("source.stopped", {"kind": self.ctx.kind, **self.decoder.counts()})
            self._closed.set()

    # -- inline reading (pipeline thread) --------------------------------------------------------

    def _on_readable(self) -> None:
        """Read what the socket holds (at most ``_BURST`` datagrams), never blocking."""
        with self._lock:
            sock = self._sock
            for _ in range(_BURST):
                if self._stopping or sock is None or not self._receive(sock):
                    return

    # -- the receive loop (source thread, without a pipeline loop) -----------------------------

    def _run(self, _scheduler: abc.SchedulerBase, _state: Any = None) -> None:
        with self._lock:
            if self._stopping or self._sock is None:
                return
            self._started = True
            self._loop_thread = threading.current_thread()
        sock = self._sock
        try:
            while not self._stopping:
                self._receive(sock)
        finally:
            self._close()

    def _receive(self, sock: socket.socket) -> bool:
        """Receive one datagram and give its item; False when none is waiting (the
        non-blocking socket is empty, or the blocking one's timeout passed)."""
        try:
            data = sock.recv(_MAX_DATAGRAM)
        except (BlockingIOError, TimeoutError):
            return False
        except OSError as exc:  # e.g. ICMP errors surfacing; the socket stays usable
            self.ctx.drop("recv_error", str(exc))
            return True
        # ts: wall time right after recv (event time); arrived: processing clock (latency)
        item = self.decoder.decode(data, time.time(), self.ctx.now())
        if item is not None:
            self.observer.on_next(item)
        return True

    def _count_kernel_drops(self) -> None:
        """Count what the kernel dropped on a full receive buffer since the last look."""
        if self._sock is None:
            return
        total = socket_drops(self._sock)
        if total is not None and total > self._kernel_drops:
            lost, self._kernel_drops = total - self._kernel_drops, total
            self.ctx.drop(
                "socket_overflow",
                f"the kernel dropped {lost} datagrams: the receive buffer was full (raise "
                "recv_buffer, or the graph is too slow for the input)",
                count=lost,
            )
