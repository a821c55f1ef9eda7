"""Source node ``grpc_vitals``: CSI frames and vitals from the appliance's vitals worker (gRPC).

Threading: a grpc.aio channel on the run's I/O loop; each ``read`` awaits one message of the
subscription and decodes it there, and the items go through the source's hop to the pipeline
thread. The kernel owns the connection (``posecog.graph.connection``); the reader is
``posecog.nodes.vitals_worker.client.VitalsReader``, imported when the node is built, so
loading and linting a pipeline never load gRPC.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from reactivex import Observable

from posecog.graph.connection import Retry, reader_source
from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig
from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.registry import registry
from posecog.nodes.vitals_worker.protocol import (
    DEFAULT_ADDRESS,
    HEARTBEAT_MS_MAX,
    HEARTBEAT_MS_MIN,
    MIN_CLIENT_PING_S,
    parse_address,
)

__all__ = ["GrpcVitalsConfig", "build"]


class GrpcVitalsConfig(NodeConfig):
    address: str = Field(
        DEFAULT_ADDRESS,
        description="The worker's host:port ([v6]:port for an IPv6 literal). The appliance's "
        "vitals worker listens on 127.0.0.1:50054; so does grpc_serve by default.",
    )
    node_ids: list[int] = Field(
        default_factory=list,
        description="Nodes to subscribe to; empty: every node the worker has.",
    )
    buffer_size: int = Field(
        256,
        ge=1,
        le=1 << 20,
        description="Updates the worker may hold for this subscriber while it reads slower "
        "than they come; past that the worker drops the oldest and says so (drops "
        "server_overflow). The worker may grant less (gauge granted_buffer_size).",
    )
    heartbeat_ms: int = Field(
        1000,
        ge=HEARTBEAT_MS_MIN,
        le=HEARTBEAT_MS_MAX,
        description="The worker sends a heartbeat after this long without a message (ms); "
        "three periods without any message (at least 1 s) are a stalled worker: reconnect.",
    )
    vitals: bool = Field(True, description="Also give the worker's Vitals items.")
    connect_timeout_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Deadline of each connection attempt: the health check, and the "
        "subscription's first message (s).",
    )
    keepalive_s: float = Field(
        10.0,
        ge=MIN_CLIENT_PING_S,
        le=3600,
        description="Ping the worker this often (s) and give the connection up when a ping "
        f"goes unanswered for 5 s. At least {MIN_CLIENT_PING_S:g} s: what the project's "
        "worker accepts (gRPC servers close connections that ping more often than allowed).",
    )
    max_message_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=64 << 20,
        description="Largest message accepted (bytes); a larger one ends the subscription "
        "(drop oversized_message) and it is made again. A 192-subcarrier frame is ~1 kB.",
    )
    backoff_min_s: float = Field(
        0.1, gt=0, le=60, description="Delay before the first retry after a failure (s)."
    )
    backoff_max_s: float = Field(
        1.0,
        gt=0,
        le=600,
        description="Longest delay between two retries (s): a worker that restarts is "
        "noticed within this (plus one connection).",
    )
    backoff_jitter: float = Field(
        0.2, ge=0, lt=1, description="Each retry delay is shortened by up to this fraction."
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_address(value)
        return value

    @field_validator("node_ids")
    @classmethod
    def _node_ids(cls, value: list[int]) -> list[int]:
        bad = [n for n in value if not 0 <= n < 1 << 32]
        if bad:
            raise ValueError(f"node ids must be 0..2^32-1; got {bad}")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> GrpcVitalsConfig:
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_min_s must be <= backoff_max_s; got {self.backoff_min_s} > "
                f"{self.backoff_max_s}"
            )
        return self


_EXAMPLES = (
    "id: worker\ntype: grpc_vitals\nconfig:\n  address: 127.0.0.1:50054\n",
    "id: worker\ntype: grpc_vitals\nconfig:\n  address: 127.0.0.1:50054\n  node_ids: [1, 2]\n"
    "  heartbeat_ms: 500\n  vitals: false\n",
)


@registry.source(
    "grpc_vitals",
    config=GrpcVitalsConfig,
    gives=(CsiFrame, Vitals),
    hop="latest",
    examples=_EXAMPLES,
)
def build(config: GrpcVitalsConfig, ctx: BuildContext) -> Observable[CsiFrame | Vitals]:
    """Subscribe to the appliance's vitals worker (``cognitum.vitals.v1.VitalsService``,
    docs/vitals-worker.md) and give its CSI frames and vitals.

    The worker first sends each node's current state (its latest frame and vitals), then every
    update, and a heartbeat when it has nothing to send. Frames become ``CsiFrame`` items
    (``ts`` = the frame's event time, ``seq`` its sequence, ``n_subcarriers`` and ``rssi`` as
    the worker sends them), vitals ``Vitals`` items (INTERFACES §7: each rate with its
    confidence and status, presence, person count, motion energy, signal quality; anything
    else in ``extra``); typed routing sends each to the nodes that take it.

    Duplicates are given once: a frame whose ``(node_id, seq)`` was given lately (the state
    sent again on every reconnect, a restarted worker re-sending), vitals with the same
    node and time (gauge ``duplicates``). Sequence gaps, late frames and restarted counters
    are counted per node as by ``udp_esp32`` (gauges ``seq_gaps``, ``seq_lost``,
    ``seq_reordered``, ``seq_resets``, ``seq_by_node``); nothing is dropped for its sequence.

    The kernel owns the connection: a worker that cannot be reached (down at start,
    restarted, stalled for three heartbeats, keepalive unanswered), ends the stream (shut
    down) or refuses the subscription is an outage: ``source.down {url, reason, retry_in_s}``
    once, retries with capped exponential backoff and jitter, ``source.up {url, down_s,
    retries, health}`` when the subscription is back. A worker of another protocol version
    (UNIMPLEMENTED, or its health service does not know the vitals service) is an outage with
    a reason that says so. Counted drops with a WARN: ``bad_message`` (bytes that are no
    message of the protocol), ``bad_frame``, ``bad_vitals``, ``bad_time`` (messages that are
    no usable item), ``server_overflow`` (updates the worker dropped because this source read
    too slowly), ``oversized_message`` (over ``max_message_bytes``); quietly:
    ``unknown_update`` (a message type of a newer revision). Gauges: ``messages``, ``frames``,
    ``vitals``, ``heartbeats``, ``duplicates``, ``server_dropped``, ``revision``,
    ``granted_buffer_size`` (and the kernel's ``state``, ``up``, ``connects``, ``outages``).
    """
    from posecog.nodes.vitals_worker.client import VitalsReader

    retry = Retry(
        first_s=config.backoff_min_s, max_s=config.backoff_max_s, jitter=config.backoff_jitter
    )
    return reader_source(ctx, lambda: VitalsReader(config, ctx), f"grpc://{config.address}", retry)
