"""The server end of ``cognitum.vitals.v1``: ``VitalsHub`` (state and subscribers) and
``VitalsServer`` (the grpc.aio server around it, with the standard health service).

Threading: everything runs on one asyncio loop (the run's I/O loop under ``grpc_serve``, a
test's loop in tests); ``publish`` is called there, so the hub needs no lock.

Each update is serialized once, as the ``SubscribeResponse`` every subscriber gets (the
Subscribe handler sends those bytes as they are: one serialization for any number of
subscribers and for the state kept per node). Each subscriber has its own bounded buffer:
when it is full the oldest update is dropped and counted, and the subscriber hears of it in
an ``Overflow`` message before the next update it gets, and in every ``Heartbeat``. A
subscriber that reads as fast as updates come never loses one; a stalled one never holds up
the others or the graph.

Shutdown (``close``, then ``VitalsServer.stop``): health turns NOT_SERVING, each stream sends
what its buffer holds and ends with status OK (clients see the end of the stream, not a hang;
one stuck behind a stalled reader is cancelled after the grace period), new calls are refused.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from posecog.nodes.items import CsiFrame, Vitals

from .convert import frame_message, vitals_message
from .protocol import HEARTBEAT_MS_MAX, HEARTBEAT_MS_MIN, REVISION, SERVICE, server_options
from .v1 import vitals_pb2 as pb

__all__ = ["HubLimits", "VitalsHub", "VitalsServer"]

#: What the hub reports: an event name and its fields (``subscriber.joined`` / ``.left``).
Report = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class HubLimits:
    """A subscriber's buffer (updates) and heartbeat period (ms) when it asks for 0, and the
    largest buffer it may have."""

    buffer_size: int = 256
    max_buffer_size: int = 4096
    heartbeat_ms: int = 1000


@dataclass
class _Node:
    frame: pb.CsiFrame | None = None
    frame_bytes: bytes = b""
    vitals: pb.Vitals | None = None
    vitals_bytes: bytes = b""


@dataclass(eq=False)
class _Subscriber:
    peer: str
    nodes: frozenset[int]  # empty: every node
    capacity: int
    heartbeat_s: float
    queue: deque[bytes] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    reported: int = 0
    sent: int = 0

    def wants(self, node_id: int) -> bool:
        return not self.nodes or node_id in self.nodes

    def offer(self, data: bytes) -> int:
        """Queue one update; 1 when the oldest had to go for it."""
        lost = 0
        if len(self.queue) >= self.capacity:
            self.queue.popleft()
            self.dropped += 1
            lost = 1
        self.queue.append(data)
        self.wake.set()
        return lost


class VitalsHub:
    """The latest frame and vitals of every node, and the subscriptions. ``on_drop(count)``
    hears of updates a slow subscriber lost; ``report`` of subscribers joining and leaving."""

    def __init__(
        self,
        limits: HubLimits | None = None,
        on_drop: Callable[[int], None] | None = None,
        report: Report | None = None,
    ) -> None:
        self.limits = limits or HubLimits()
        self._nodes: dict[int, _Node] = {}
        self._subs: set[_Subscriber] = set()
        self._on_drop = on_drop
        self._report = report
        self._closing = False
        self.published = 0
        self.subscriptions = 0
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    # -- publishing (the graph's side) --------------------------------------------------------

    def publish(self, item: CsiFrame | Vitals) -> None:
        """Make ``item`` the current state of its node and send it to every subscriber that
        hears its node."""
        if isinstance(item, CsiFrame):
            self.publish_frame(frame_message(item))
        else:
            self.publish_vitals(vitals_message(item))

    def publish_frame(self, msg: pb.CsiFrame) -> None:
        data = pb.SubscribeResponse(frame=msg).SerializeToString()
        node = self._nodes.setdefault(msg.node_id, _Node())
        node.frame, node.frame_bytes = msg, data
        self._fan_out(msg.node_id, data)

    def publish_vitals(self, msg: pb.Vitals) -> None:
        data = pb.SubscribeResponse(vitals=msg).SerializeToString()
        node = self._nodes.setdefault(msg.node_id, _Node())
        node.vitals, node.vitals_bytes = msg, data
        self._fan_out(msg.node_id, data)

    def _fan_out(self, node_id: int, data: bytes) -> None:
        self.published += 1
        lost = 0
        for sub in self._subs:
            if sub.wants(node_id):
                lost += sub.offer(data)
        if lost:
            self.dropped += lost
            if self._on_drop is not None:
                self._on_drop(lost)

    def close(self) -> None:
        """End every stream once it has sent what its buffer holds; refuse new ones."""
        self._closing = True
        for sub in self._subs:
            sub.wake.set()

    # -- the service (the subscribers' side) --------------------------------------------------

    def _state(self, nodes: Iterable[int]) -> tuple[list[tuple[int, bytes]], int]:
        """The current state of ``nodes`` as (ts_ns, message bytes), in event-time order, and
        how many nodes it covers."""
        out = []
        count = 0
        for node_id in sorted(nodes):
            node = self._nodes.get(node_id)
            if node is None:
                continue
            count += 1
            if node.frame is not None:
                out.append((node.frame.ts_ns, node.frame_bytes))
            if node.vitals is not None:
                out.append((node.vitals.ts_ns, node.vitals_bytes))
        out.sort(key=lambda entry: entry[0])
        return out, count

    async def subscribe(
        self, request: pb.SubscribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        """The Subscribe handler: state, SyncComplete, then updates and heartbeats."""
        heartbeat_ms = request.heartbeat_ms or self.limits.heartbeat_ms
        if not HEARTBEAT_MS_MIN <= heartbeat_ms <= HEARTBEAT_MS_MAX:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"heartbeat_ms must be 0 or {HEARTBEAT_MS_MIN}..{HEARTBEAT_MS_MAX}; "
                f"got {heartbeat_ms}",
            )
        if self._closing:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the worker is shutting down")
        limits = self.limits
        buffer_size = min(request.buffer_size or limits.buffer_size, limits.max_buffer_size)
        sub = _Subscriber(
            context.peer(), frozenset(request.node_ids), buffer_size, heartbeat_ms / 1000
        )
        # Registered and the state taken in one step of the loop: no update falls between.
        self._subs.add(sub)
        self.subscriptions += 1
        state, n_nodes = self._state(sub.nodes or self._nodes)
        started = time.monotonic()
        self._emit("subscriber.joined", sub, buffer_size=buffer_size, heartbeat_ms=heartbeat_ms)
        try:
            for _ts, data in state:
                yield data
            sync = pb.SyncComplete(
                nodes=n_nodes,
                buffer_size=buffer_size,
                heartbeat_ms=heartbeat_ms,
                revision=REVISION,
            )
            yield pb.SubscribeResponse(sync=sync).SerializeToString()
            async for data in self._updates(sub):
                yield data
        finally:
            self._subs.discard(sub)
            self._emit(
                "subscriber.left",
                sub,
                sent=sub.sent,
                dropped=sub.dropped,
                duration_s=round(time.monotonic() - started, 3),
            )

    async def _updates(self, sub: _Subscriber) -> AsyncIterator[bytes]:
        while True:
            while sub.queue:
                if sub.dropped != sub.reported:
                    overflow = pb.Overflow(
                        dropped=sub.dropped - sub.reported, dropped_total=sub.dropped
                    )
                    sub.reported = sub.dropped
                    yield pb.SubscribeResponse(overflow=overflow).SerializeToString()
                    continue  # more may have gone while the report was sent: say so first
                sub.sent += 1
                yield sub.queue.popleft()
            if self._closing:
                return
            sub.wake.clear()
            try:
                async with asyncio.timeout(sub.heartbeat_s):
                    await sub.wake.wait()
            except TimeoutError:
                beat = pb.Heartbeat(server_time_ns=time.time_ns(), dropped_total=sub.dropped)
                yield pb.SubscribeResponse(heartbeat=beat).SerializeToString()

    async def get_latest(
        self, request: pb.GetLatestRequest, _context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetLatestResponse:
        wanted = request.node_ids or self._nodes
        response = pb.GetLatestResponse(server_time_ns=time.time_ns(), revision=REVISION)
        for node_id in sorted(set(wanted)):
            node = self._nodes.get(node_id)
            if node is None:
                continue
            state = response.nodes.add(node_id=node_id)
            if node.frame is not None:
                state.frame.CopyFrom(node.frame)
            if node.vitals is not None:
                state.vitals.CopyFrom(node.vitals)
        return response

    def _emit(self, event: str, sub: _Subscriber, **fields: Any) -> None:
        if self._report is not None:
            nodes = sorted(sub.nodes) or "all"
            self._report(event, {"peer": sub.peer, "nodes": nodes, **fields})


class VitalsServer:
    """A grpc.aio server of ``hub`` on ``address`` (``host:port``; port 0 picks a free one),
    with ``grpc.health.v1``. Create, ``start`` and ``stop`` it on the loop it serves from."""

    def __init__(self, hub: VitalsHub, address: str, max_message_bytes: int = 1 << 20) -> None:
        self.hub = hub
        self.address = address
        self.port = 0
        self._options = [*server_options(max_message_bytes), ("grpc.so_reuseport", 0)]
        self._server: grpc.aio.Server | None = None
        self._health: Any = None

    async def start(self) -> int:
        """Listen and serve; the bound port. ``OSError`` when the address cannot be bound."""
        server = grpc.aio.server(options=self._options)
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            "Subscribe": grpc.unary_stream_rpc_method_handler(
                self.hub.subscribe,
                request_deserializer=pb.SubscribeRequest.FromString,
                response_serializer=None,  # already bytes: serialized once per update
            ),
            "GetLatest": grpc.unary_unary_rpc_method_handler(
                self.hub.get_latest,
                request_deserializer=pb.GetLatestRequest.FromString,
                response_serializer=pb.GetLatestResponse.SerializeToString,
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        try:
            port = server.add_insecure_port(self.address)
        except RuntimeError as exc:  # grpc: "Failed to bind to address ..."
            await server.stop(None)
            raise OSError(f"cannot listen on {self.address}: {exc}") from None
        if not port:
            await server.stop(None)
            raise OSError(f"cannot listen on {self.address}")
        await server.start()
        for name in ("", SERVICE):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server, self.port = server, port
        return port

    async def stop(self, grace: float = 1.0) -> None:
        """Health NOT_SERVING, every stream ended once its buffer is sent (at most ``grace``
        seconds, then cancelled), the port closed. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        self.hub.close()
        await server.stop(grace)
