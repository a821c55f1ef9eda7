"""Sink node ``grpc_serve``: serve the graph's frames and vitals as a vitals worker (gRPC).

Threading: the grpc.aio server runs on the run's I/O loop. Items from the pipeline thread
reach it through the kernel's writer queue (``posecog.graph.connection.writer_sink``: bounded,
the oldest dropped as ``overflow``); the writer task publishes each to the hub, which keeps
every node's current state and fans the update out to the subscribers' own bounded buffers
(``posecog.nodes.vitals_worker.server``, imported when the server starts, so loading and
linting never load gRPC).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator
from reactivex import Observable

from posecog.graph.connection import writer_sink
from posecog.graph.context import BuildContext
from posecog.graph.errors import RuntimeFailure
from posecog.graph.node import NodeConfig
from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.registry import registry
from posecog.nodes.vitals_worker.protocol import (
    DEFAULT_ADDRESS,
    HEARTBEAT_MS_MAX,
    HEARTBEAT_MS_MIN,
    parse_address,
)

if TYPE_CHECKING:
    import asyncio

    from posecog.nodes.vitals_worker.server import VitalsServer

__all__ = ["GrpcServeConfig", "build"]


class GrpcServeConfig(NodeConfig):
    address: str = Field(
        DEFAULT_ADDRESS,
        description="host:port to listen on ([v6]:port for IPv6). Loopback by default: "
        "0.0.0.0:50054 serves other machines too (no TLS, no authentication). Port 0 picks "
        "a free one, reported in the sink.up event.",
    )
    buffer_size: int = Field(
        256,
        ge=1,
        le=1 << 20,
        description="A subscriber's buffer when it asks for 0 (updates): past it, that "
        "subscriber loses the oldest (counted, and told in the stream).",
    )
    max_buffer_size: int = Field(
        4096, ge=1, le=1 << 20, description="The largest buffer a subscriber may ask for."
    )
    heartbeat_ms: int = Field(
        1000,
        ge=HEARTBEAT_MS_MIN,
        le=HEARTBEAT_MS_MAX,
        description="A subscriber's heartbeat period when it asks for 0 (ms).",
    )
    queue: int = Field(
        1024,
        ge=1,
        le=1 << 20,
        description="Items waiting for the server (the oldest dropped as overflow when full).",
    )
    wait_for_subscribers: int = Field(
        0,
        ge=0,
        le=1000,
        description="Hold the items back until this many subscribers are connected (up to "
        "'queue' of them wait): a replay served from its first frame. 0: serve at once.",
    )
    grace_s: float = Field(
        1.0,
        ge=0,
        le=1.5,
        description="On shutdown, how long subscribers get to receive what their buffers "
        "hold before their streams are cut (s); the streams end with status OK.",
    )
    max_message_bytes: int = Field(
        1 << 20, ge=1024, le=64 << 20, description="Largest message sent (bytes)."
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_address(value, any_port=True)
        return value

    @model_validator(mode="after")
    def _buffers(self) -> GrpcServeConfig:
        if self.buffer_size > self.max_buffer_size:
            raise ValueError(
                f"buffer_size must be <= max_buffer_size; got {self.buffer_size} > "
                f"{self.max_buffer_size}"
            )
        return self


_EXAMPLES = (
    "id: worker\ntype: grpc_serve\ninputs: [esp32]\nconfig:\n  address: 127.0.0.1:50054\n",
    "id: worker\ntype: grpc_serve\ninputs: [replay]\nconfig:\n  address: 127.0.0.1:0\n"
    "  wait_for_subscribers: 1\n  queue: 65536\n  max_buffer_size: 65536\n",
)


@registry.sink(
    "grpc_serve",
    config=GrpcServeConfig,
    takes=(CsiFrame, Vitals),
    examples=_EXAMPLES,
)
def build(
    config: GrpcServeConfig, ctx: BuildContext
) -> Callable[[Observable[CsiFrame | Vitals]], Observable[Any]]:
    """Serve the frames and vitals that reach it as a vitals worker:
    ``cognitum.vitals.v1.VitalsService`` (docs/vitals-worker.md) and the standard
    ``grpc.health.v1`` health service, on ``address``. So ``run live-udp-worker`` turns ESP32
    UDP (or a replay) into a worker any gRPC client can subscribe to, ``grpc_vitals`` among
    them.

    Each node's latest frame and vitals are its current state: a new subscriber gets it
    first, then a sync marker, then every update, and a heartbeat when there is nothing to
    send. Any number of subscribers, each with its own bounded buffer (``buffer_size``, up
    to ``max_buffer_size`` when it asks for more): a subscriber that reads too slowly loses
    its oldest updates (counted here as ``subscriber_overflow``, with a WARN, and told in its
    stream); the others and the graph never wait for it. ``subscriber.joined`` and
    ``subscriber.left`` events say who subscribed (peer, nodes, buffer, heartbeat) and, when
    it left, what it got (``sent``, ``dropped``, ``duration_s``).

    The server starts when the run starts (``sink.up`` with the bound ``address``; an
    address that cannot be bound ends the run: exit 1, ``sink.down`` at error level) and
    stops when it ends, SIGTERM included: health turns NOT_SERVING, each stream sends what
    its buffer holds and ends with status OK (clients see the end of the stream, never a
    hang), after at most ``grace_s``. Gauges: ``subscribers``, ``subscriptions``,
    ``published``, ``subscriber_dropped`` (and the kernel's ``state``, ``up``).
    """
    return writer_sink(
        ctx,
        lambda: _ServeWriter(config, ctx),
        f"grpc://{config.address}",
        capacity=config.queue,
    )


class _ServeWriter:
    """The server of one run, on the I/O loop."""

    def __init__(self, config: GrpcServeConfig, ctx: BuildContext) -> None:
        self.config, self.ctx = config, ctx
        self.server: VitalsServer | None = None
        self._joined: asyncio.Event | None = None

    async def connect(self) -> Mapping[str, Any]:
        import asyncio

        from posecog.nodes.vitals_worker.server import HubLimits, VitalsHub, VitalsServer

        cfg, ctx = self.config, self.ctx
        gauges = ctx.metrics.gauges
        joined = self._joined = asyncio.Event()

        def on_drop(count: int) -> None:
            gauges["subscriber_dropped"] = hub.dropped
            ctx.drop("subscriber_overflow", "a subscriber reads slower than updates come", count)

        def report(event: str, fields: dict[str, Any]) -> None:
            gauges.update(subscribers=hub.subscribers, subscriptions=hub.subscriptions)
            if hub.subscribers >= cfg.wait_for_subscribers:
                joined.set()
            ctx.emit(event, fields)

        limits = HubLimits(cfg.buffer_size, cfg.max_buffer_size, cfg.heartbeat_ms)
        hub = VitalsHub(limits, on_drop, report)
        gauges.update(subscribers=0, subscriptions=0, published=0, subscriber_dropped=0)
        if cfg.wait_for_subscribers == 0:
            joined.set()
        self.server = VitalsServer(hub, cfg.address, cfg.max_message_bytes)
        try:
            port = await self.server.start()
        except OSError as exc:
            self.server = None
            raise RuntimeFailure(f"{ctx.node_id} (grpc_serve): {exc}") from None
        host = parse_address(cfg.address, any_port=True)[0]
        return {"kind": ctx.kind, "address": f"{host}:{port}", "port": port}

    async def write(self, item: CsiFrame | Vitals) -> None:
        server = self.server
        if server is None:
            return
        if self._joined is not None and not self._joined.is_set():
            await self._joined.wait()
        try:
            server.hub.publish(item)
        except Exception as exc:  # an item that cannot be encoded: that item only
            self.ctx.drop(f"error:{type(exc).__name__}", str(exc))
            return
        self.ctx.metrics.gauges["published"] = server.hub.published

    async def close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop(self.config.grace_s)
