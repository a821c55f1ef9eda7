"""Real gRPC vitals workers on loopback for the tests, each on an asyncio loop of its own thread.

* ``Worker``: the project's own server (``VitalsHub`` + ``VitalsServer``, as ``grpc_serve``
  runs it). ``publish`` items (thread-safe, in one loop step: a burst reaches the hub before
  any stream writes), ``stop`` it, ``restart`` it as a new server object on the same port.
* ``BareServer``: a bare ``grpc.aio`` server with a scripted Subscribe handler: the raw bytes
  it is given, then heartbeats (or silence), under any service name (another protocol
  version), with or without the health service; or the generated servicer base
  (``vitals_pb2_grpc``), to check the generated code interoperates.

Ports are picked below the kernel's ephemeral range (as ``sensing_server`` does), so a
stopped worker's port stays free for its restart.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from posecog.graph.aio import IoLoop
from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.vitals_worker.protocol import SERVICE
from posecog.nodes.vitals_worker.server import HubLimits, VitalsHub, VitalsServer
from posecog.nodes.vitals_worker.v1 import vitals_pb2 as pb
from posecog.nodes.vitals_worker.v1 import vitals_pb2_grpc as pb_grpc

__all__ = ["BareServer", "Worker", "free_port", "heartbeat", "response"]

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A free loopback TCP port below the ephemeral range (see the module docstring)."""
    rng = random.Random()
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def response(**update: Any) -> bytes:
    """One serialized ``SubscribeResponse`` (``frame=pb.CsiFrame(...)``, ...)."""
    return pb.SubscribeResponse(**update).SerializeToString()


def heartbeat(dropped: int = 0) -> bytes:
    return response(heartbeat=pb.Heartbeat(server_time_ns=time.time_ns(), dropped_total=dropped))


class _Loop:
    def __init__(self, name: str) -> None:
        self.io = IoLoop(name)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 5.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.io.loop).result(timeout)

    def call(self, fn: Callable[[], Any]) -> Any:
        async def step() -> Any:
            return fn()

        return self.run(step())


class Worker(_Loop):
    """The project's worker on ``127.0.0.1:<port>``. ``with Worker() as w: w.publish(...)``."""

    def __init__(self, port: int | None = None, limits: HubLimits | None = None) -> None:
        super().__init__("worker")
        self.port = port or free_port()
        self.limits = limits or HubLimits()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.hub: VitalsHub | None = None
        self.server: VitalsServer | None = None
        self.drops = 0

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> Worker:
        """A new hub and server (a restarted worker knows nothing of the old one's state)."""

        def on_drop(n: int) -> None:
            self.drops += n

        async def start() -> None:
            self.hub = VitalsHub(self.limits, on_drop, lambda e, f: self.events.append((e, f)))
            self.server = VitalsServer(self.hub, self.address)
            await self.server.start()

        self.run(start())
        return self

    def stop(self, grace: float = 0.5) -> None:
        server, self.server = self.server, None
        if server is not None:
            self.run(server.stop(grace))

    def restart(self) -> None:
        self.stop()
        self.start()

    def publish(self, items: Iterable[CsiFrame | Vitals]) -> None:
        """Publish every item in one step of the worker's loop."""
        batch = list(items)

        def publish() -> None:
            assert self.hub is not None, "the worker is not started"
            for item in batch:
                self.hub.publish(item)

        self.call(publish)

    def subscribers(self) -> int:
        return self.call(lambda: self.hub.subscribers if self.hub else 0)

    def close(self) -> None:
        self.stop(0.1)
        self.io.close()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class BareServer(_Loop):
    """A bare grpc.aio server: Subscribe gives ``script`` (raw bytes, in order), then a
    heartbeat every ``heartbeat_s`` (None: silence) until cancelled; ``end=True`` ends the
    stream after the script instead. ``service`` names what it serves (another version:
    ``cognitum.vitals.v2.VitalsService``); ``health`` adds the standard health service with
    that service SERVING; ``generated`` serves through the generated servicer base instead
    (``script`` then holds ``SubscribeResponse`` messages' bytes, parsed back)."""

    def __init__(
        self,
        script: Iterable[bytes] = (),
        *,
        heartbeat_s: float | None = 0.05,
        end: bool = False,
        service: str = SERVICE,
        health_service: bool = False,
        generated: bool = False,
        port: int | None = None,
    ) -> None:
        super().__init__("bare-server")
        self.script = list(script)
        self.heartbeat_s, self.end = heartbeat_s, end
        self.service, self.health, self.generated = service, health_service, generated
        self.port = port or free_port()
        self.requests: list[pb.SubscribeRequest] = []
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    async def _subscribe(self, request: pb.SubscribeRequest, _context: Any) -> AsyncIterator[bytes]:
        self.requests.append(request)
        for data in self.script:
            yield data
        if self.end:
            return
        while True:
            if self.heartbeat_s is None:
                await asyncio.sleep(3600)
            else:
                await asyncio.sleep(self.heartbeat_s)
                yield heartbeat()

    def start(self) -> BareServer:
        async def start() -> None:
            server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
            if self.generated:
                pb_grpc.add_VitalsServiceServicer_to_server(_Generated(self), server)
            else:
                handler = grpc.unary_stream_rpc_method_handler(
                    self._subscribe,
                    request_deserializer=pb.SubscribeRequest.FromString,
                    response_serializer=None,
                )
                generic = grpc.method_handlers_generic_handler(self.service, {"Subscribe": handler})
                server.add_generic_rpc_handlers((generic,))
            if self.health:
                servicer = health.aio.HealthServicer()
                await servicer.set(self.service, health_pb2.HealthCheckResponse.SERVING)
                health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
            server.add_insecure_port(self.address)
            await server.start()
            self._server = server

        self.run(start())
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self.run(server.stop(None))

    def close(self) -> None:
        self.stop()
        self.io.close()

    def __enter__(self) -> BareServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Generated(pb_grpc.VitalsServiceServicer):  # type: ignore[misc]
    """The generated servicer base, implemented: what a third-party worker would write."""

    def __init__(self, bare: BareServer) -> None:
        self.bare = bare

    async def Subscribe(self, request: pb.SubscribeRequest, context: Any) -> AsyncIterator[Any]:
        self.bare.requests.append(request)
        for data in self.bare.script:
            yield pb.SubscribeResponse.FromString(data)
        while not self.bare.end:
            await asyncio.sleep(self.bare.heartbeat_s or 3600)
            yield pb.SubscribeResponse.FromString(heartbeat())

    async def GetLatest(self, request: pb.GetLatestRequest, context: Any) -> pb.GetLatestResponse:
        return pb.GetLatestResponse(revision=1)
