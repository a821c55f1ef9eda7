"""The client end of ``cognitum.vitals.v1``: the ``grpc_vitals`` reader and ``check_worker``.

``VitalsReader`` implements the kernel's ``Reader`` (``posecog.graph.connection``): the kernel
runs the retry loop, the backoff and the ``source.down`` / ``source.up`` reports; the reader
opens one subscription per ``connect`` and turns its messages into items.

``connect``: a new channel (its own subchannels, so no backoff state of an earlier channel
delays it), a health check of the vitals service (deadline ``connect_timeout_s``; fails fast
when nothing listens; a worker without the health service is accepted), then ``Subscribe``
with ``wait_for_ready`` and its first message (same deadline), so a refused subscription (a
wrong protocol version: UNIMPLEMENTED) is an outage with a clear reason, never a
``source.up``. gRPC does not retry streams; the kernel's loop around ``connect`` does.

``read``: one message. A stream that ends (the worker shut down, status OK), fails (the
connection was lost, keepalive unanswered) or stays silent for three heartbeat periods (a
stalled worker) is an outage: the kernel closes the reader (the call cancelled, the channel
closed) and connects again. The reader outlives its connections, so de-duplication does too:
the state the worker sends first on every subscription is not given twice.

Responses are read as bytes and parsed here, so a message that does not parse is one counted
drop (``bad_message``) and the stream goes on; a message over ``max_message_bytes`` ends the
call in gRPC itself (RESOURCE_EXHAUSTED): counted (``oversized_message``) and reconnected.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2

from posecog.graph.connection import NotConnected
from posecog.graph.context import BuildContext
from posecog.nodes.csi.sequence import SequenceTracker
from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.rejection import Rejected

from .convert import frame_item, vitals_item
from .protocol import GET_LATEST, REVISION, SERVICE, SUBSCRIBE, client_options
from .v1 import vitals_pb2 as pb

if TYPE_CHECKING:
    from posecog.nodes.kinds.grpc_vitals import GrpcVitalsConfig

__all__ = ["FrameDedupe", "VitalsReader", "WorkerUnhealthy", "check_worker"]

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
#: A subscription with no message for this many heartbeat periods has stalled.
STALL_HEARTBEATS = 3
#: ... but never sooner than this (s): a loaded machine may be late by a few ms.
STALL_MIN_S = 1.0

Item = CsiFrame | Vitals


class FrameDedupe:
    """De-duplication and gap counting by ``(node_id, seq)``. A frame whose seq is among the
    last ``WINDOW`` seqs given for its node is a duplicate (the state a worker sends again
    after a reconnect, a restarted worker sending what it had); the others are tracked by
    ``SequenceTracker`` (gaps, late frames, restarted counters) and given. Frames without a
    seq are always given."""

    WINDOW = 1024

    def __init__(self) -> None:
        self._seen: dict[int, tuple[deque[int], set[int]]] = {}
        self.sequences = SequenceTracker()
        self.duplicates = 0
        #: A sequence count changed since the gauges were last published.
        self.changed = False

    def fresh(self, node_id: int, seq: int) -> bool:
        if seq < 0:
            return True
        order, seen = self._seen.setdefault(node_id, (deque(), set()))
        if seq in seen:
            self.duplicates += 1
            return False
        order.append(seq)
        seen.add(seq)
        if len(order) > self.WINDOW:
            seen.discard(order.popleft())
        if self.sequences.track(node_id, seq):
            self.changed = True
        return True


class VitalsReader:
    """One subscription at a time to the worker (see the module docstring)."""

    def __init__(self, config: GrpcVitalsConfig, ctx: BuildContext) -> None:
        self.config, self.ctx = config, ctx
        self.shown = f"grpc://{config.address}"
        self.dedupe = FrameDedupe()
        self._last_vitals: dict[int, int] = {}  # node -> ts_ns of the last vitals given
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.UnaryStreamCall[pb.SubscribeRequest, bytes] | None = None
        self._first: bytes | None = None
        self._stall_s = max(STALL_HEARTBEATS * config.heartbeat_ms / 1000, STALL_MIN_S)
        self.gauges = ctx.metrics.gauges
        self.gauges.update(
            {
                "messages": 0,
                "frames": 0,
                "vitals": 0,
                "heartbeats": 0,
                "duplicates": 0,
                "server_dropped": 0,
                "revision": None,
                "granted_buffer_size": None,
            }
        )

    # -- connection ---------------------------------------------------------------------------

    async def connect(self) -> Mapping[str, Any]:
        cfg = self.config
        self._channel = grpc.aio.insecure_channel(
            cfg.address,
            options=client_options(
                cfg.keepalive_s, cfg.max_message_bytes, (cfg.backoff_min_s, cfg.backoff_max_s)
            ),
        )
        health = await self._check_health(self._channel)
        request = pb.SubscribeRequest(
            node_ids=cfg.node_ids, buffer_size=cfg.buffer_size, heartbeat_ms=cfg.heartbeat_ms
        )
        subscribe: grpc.aio.UnaryStreamMultiCallable[pb.SubscribeRequest, bytes]
        subscribe = self._channel.unary_stream(
            SUBSCRIBE,
            request_serializer=pb.SubscribeRequest.SerializeToString,
            response_deserializer=None,  # bytes: parsed here, a bad one is one drop
        )
        self._call = subscribe(request, wait_for_ready=True)
        self._first = await self._next(cfg.connect_timeout_s)
        return {"kind": self.ctx.kind, "health": health, "protocol": SERVICE}

    async def _check_health(self, channel: grpc.aio.Channel) -> str:
        check = channel.unary_unary(
            HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            answer = await check(
                health_pb2.HealthCheckRequest(service=SERVICE),
                timeout=self.config.connect_timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return "unimplemented"  # a worker without the health service: subscribe
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                why = "its health service does not know it"
                raise NotConnected(self._wrong_version(why)) from None
            raise self._lost(exc) from None
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            raise NotConnected(f"the worker's health service says {status}")
        return status.lower()

    async def close(self) -> None:
        call, self._call = self._call, None
        channel, self._channel = self._channel, None
        self._first = None
        if call is not None:
            call.cancel()
        if channel is not None:
            await channel.close(None)

    # -- reading ------------------------------------------------------------------------------

    async def read(self) -> list[Item]:
        data, self._first = self._first, None
        if data is None:
            data = await self._next(self._stall_s)
        return self._items(data)

    async def _next(self, timeout_s: float) -> bytes:
        call = self._call
        if call is None:
            raise NotConnected("not connected")
        try:
            async with asyncio.timeout(timeout_s):
                data = await call.read()
        except TimeoutError:
            raise NotConnected(
                f"no message for {timeout_s:g} s (heartbeat_ms {self.config.heartbeat_ms}): "
                "the worker stalled"
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise self._lost(exc) from None
        if data is grpc.aio.EOF:
            raise NotConnected("the worker ended the stream (it is shutting down)")
        assert isinstance(data, bytes)
        return data

    def _items(self, data: bytes) -> list[Item]:
        gauges = self.gauges
        gauges["messages"] += 1
        try:
            msg = pb.SubscribeResponse.FromString(data)
        except DecodeError as exc:
            self.ctx.drop("bad_message", f"{self.shown}: {len(data)} bytes: {exc}")
            return []
        update = msg.WhichOneof("update")
        try:
            if update == "frame":
                frame = frame_item(msg.frame, self.ctx.now())
                if not self.dedupe.fresh(frame.node_id, frame.seq):
                    gauges["duplicates"] = self.dedupe.duplicates
                    return []
                gauges["frames"] += 1
                if self.dedupe.changed:  # a gap, a late frame, a new node: rarely
                    self.dedupe.changed = False
                    self.dedupe.sequences.publish(gauges)
                return [frame]
            if update == "vitals":
                if not self.config.vitals:
                    return []
                vitals = vitals_item(msg.vitals, self.ctx.now())
                if self._last_vitals.get(vitals.node_id) == msg.vitals.ts_ns:
                    self.dedupe.duplicates += 1
                    gauges["duplicates"] = self.dedupe.duplicates
                    return []
                self._last_vitals[vitals.node_id] = msg.vitals.ts_ns
                gauges["vitals"] += 1
                return [vitals]
        except Rejected as rejected:
            self.ctx.drop(rejected.reason, f"{self.shown}: {rejected.detail}")
            return []
        if update == "heartbeat":
            gauges["heartbeats"] += 1
            gauges["server_dropped"] = msg.heartbeat.dropped_total
        elif update == "overflow":
            gauges["server_dropped"] = msg.overflow.dropped_total
            self.ctx.drop(
                "server_overflow",
                f"{self.shown}: the worker dropped {msg.overflow.dropped} updates this "
                f"subscriber read too slowly (buffer_size {gauges['granted_buffer_size']})",
                count=msg.overflow.dropped,
            )
        elif update == "sync":
            gauges["revision"] = msg.sync.revision
            gauges["granted_buffer_size"] = msg.sync.buffer_size
        else:  # a message type of a newer revision (or none set): nothing for us
            self.ctx.drop("unknown_update", f"{self.shown}: {len(data)} bytes", warn=False)
        return []

    # -- reasons ------------------------------------------------------------------------------

    def _wrong_version(self, why: str) -> str:
        return (
            f"{self.shown} does not serve {SERVICE} ({why}): a worker of another protocol "
            f"version, or no vitals worker (this client speaks v1 revision {REVISION})"
        )

    def _lost(self, exc: grpc.aio.AioRpcError) -> NotConnected:
        code, details = exc.code(), exc.details() or ""
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return NotConnected(self._wrong_version(f"UNIMPLEMENTED: {details}"))
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            self.ctx.drop(
                "oversized_message",
                f"{self.shown}: {details} (max_message_bytes {self.config.max_message_bytes})",
            )
        return NotConnected(f"{code.name}: {details}")


class WorkerUnhealthy(Exception):
    """``check_worker``: the worker is not there, not serving, or speaks another protocol."""


async def check_worker(address: str, timeout_s: float = 2.0) -> dict[str, Any]:
    """Ask the worker at ``address`` for its health (waiting up to ``timeout_s`` for it to come
    up) and its current state (``GetLatest``, same deadline): what ``health --deep`` reports.
    ``WorkerUnhealthy`` saying why otherwise."""
    options = client_options(10.0, 4 << 20, (0.1, 1.0))
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        check = channel.unary_unary(
            HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        latest = channel.unary_unary(
            GET_LATEST,
            request_serializer=pb.GetLatestRequest.SerializeToString,
            response_deserializer=pb.GetLatestResponse.FromString,
        )
        try:
            answer = await check(
                health_pb2.HealthCheckRequest(service=SERVICE),
                timeout=timeout_s,
                wait_for_ready=True,
            )
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            if answer.status != health_pb2.HealthCheckResponse.SERVING:
                raise WorkerUnhealthy(f"the worker at {address} says {status}")
            state = await latest(pb.GetLatestRequest(), timeout=timeout_s, wait_for_ready=True)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED):
                raise WorkerUnhealthy(
                    f"the worker at {address} does not serve {SERVICE} ({code.name}): another "
                    "protocol version, or no vitals worker"
                ) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise WorkerUnhealthy(
                    f"no answer from the worker at {address} within {timeout_s:g} s"
                ) from None
            raise WorkerUnhealthy(f"{address}: {code.name}: {exc.details()}") from None
    nodes = {}
    for node in state.nodes:
        entry: dict[str, Any] = {}
        if node.HasField("frame"):
            entry["frame_ts"] = node.frame.ts_ns / 1e9
        if node.HasField("vitals"):
            entry["vitals_ts"] = node.vitals.ts_ns / 1e9
        nodes[str(node.node_id)] = entry
    return {
        "address": address,
        "status": status,
        "revision": state.revision,
        "server_time": state.server_time_ns / 1e9,
        "nodes": nodes,
    }
