"""grpc_serve in the real runtime, read by clients on the generated stub: a replay served from
its first frame to its end, several subscribers each with their own buffer, a stop that ends
the streams cleanly, an address that cannot be bound."""

from __future__ import annotations

import socket
import threading

import grpc
import pytest
from pydantic import ValidationError

from posecog.nodes.kinds.grpc_serve import GrpcServeConfig
from posecog.nodes.vitals_worker.v1 import vitals_pb2 as pb
from posecog.nodes.vitals_worker.v1 import vitals_pb2_grpc as pb_grpc
from tests.conftest import EXCERPT_A
from tests.fakes.esp32_sender import Esp32Sender, synthetic_datagrams
from tests.fakes.live_source import LivePipeline

REPLAY = f"""
name: replay-served
nodes:
  - id: replay
    type: jsonl_replay
    config: {{path: {EXCERPT_A}}}
  - id: worker
    type: grpc_serve
    inputs: [replay]
    config: {{address: "127.0.0.1:0", wait_for_subscribers: SUBS, queue: 65536,
              max_buffer_size: 65536}}
"""

LIVE = """
name: udp-served
nodes:
  - id: esp32
    type: udp_esp32
    config: {bind: 127.0.0.1, port: 0}
  - id: worker
    type: grpc_serve
    inputs: [esp32]
    config: {address: "127.0.0.1:0", grace_s: 1.0}
"""


class Reader(threading.Thread):
    """A subscriber on the generated stub, reading on a thread until its stream ends."""

    def __init__(self, address, **request):
        super().__init__(daemon=True)
        self.channel = grpc.insecure_channel(address)
        stub = pb_grpc.VitalsServiceStub(self.channel)
        self.stream = stub.Subscribe(pb.SubscribeRequest(**request), timeout=30)
        self.messages, self.code = [], None
        self.start()

    def run(self):
        try:
            for msg in self.stream:
                self.messages.append(msg)
        finally:
            self.code = self.stream.code()
            self.channel.close()

    def of(self, kind):
        return [getattr(m, kind) for m in self.messages if m.WhichOneof("update") == kind]


def bound_address(run):
    (up,) = run.wait(lambda: run.named("sink.up"))
    return up.fields["address"]


def test_a_replay_served_from_its_first_frame_to_the_end_of_the_stream():
    with LivePipeline(None, text=REPLAY.replace("SUBS", "1")) as run:
        reader = Reader(bound_address(run), buffer_size=65536)
        reader.join(20)
        run.wait(lambda: run.status is not None or run.named("run.finished"))
    assert not reader.is_alive() and reader.code == grpc.StatusCode.OK  # ended, no hang
    stats = run.named("run.finished")[0].fields["nodes"]
    replayed = stats["replay"]
    frames, vitals = reader.of("frame"), reader.of("vitals")
    assert len(frames) == stats["worker"]["published"] - len(vitals) > 100
    assert {f.node_id for f in frames} == {1, 2} and vitals
    assert reader.of("sync")[0].nodes == 0  # subscribed before the first frame
    by_node = {n: [f.seq for f in frames if f.node_id == n] for n in (1, 2)}
    assert all(s == sorted(s) for s in by_node.values())
    assert replayed["out"] >= len(frames) + len(vitals)  # and presence, not served
    assert run.status == 0


def test_each_subscriber_has_its_own_buffer():
    with LivePipeline(None, text=REPLAY.replace("SUBS", "2")) as run:
        address = bound_address(run)
        small, big = Reader(address, buffer_size=1), Reader(address, buffer_size=65536)
        small.join(20), big.join(20)
    published = run.named("run.finished")[0].fields["nodes"]["worker"]
    updates = published["published"]
    got_small = len(small.of("frame")) + len(small.of("vitals"))
    assert len(big.of("frame")) + len(big.of("vitals")) == updates
    lost = sum(o.dropped for o in small.of("overflow"))
    assert got_small + lost == updates
    assert published.get("dropped", {}).get("subscriber_overflow", 0) == lost
    assert published["subscriber_dropped"] == lost


def test_stop_ends_the_subscribers_streams_cleanly():
    with LivePipeline(None, text=LIVE) as run:
        address = bound_address(run)
        (udp_up,) = run.wait(lambda: run.named("source.up"))
        reader = Reader(address, heartbeat_ms=50)
        run.wait(lambda: run.named("subscriber.joined"))
        with Esp32Sender(udp_up.fields["port"]) as sender:
            sender.send_all(synthetic_datagrams(2, 20, 1.0))
        run.wait(lambda: len(reader.of("frame")) >= 10)
        status = run.stop()  # as SIGTERM does
    reader.join(3)
    assert not reader.is_alive() and reader.code == grpc.StatusCode.OK
    assert status == 0
    (left,) = run.named("subscriber.left")
    assert left.fields["sent"] >= 10 and left.fields["dropped"] == 0


def test_an_address_that_cannot_be_bound_ends_the_run():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = LIVE.replace('"127.0.0.1:0", grace_s', f'"127.0.0.1:{port}", grace_s')
        run = LivePipeline(None, text=text).start()
        run.wait(lambda: run.status is not None or run.named("run.finished"))
        run.stop()
    assert run.status == 1
    (down,) = run.named("sink.down")
    assert down.level == "error" and f"cannot listen on 127.0.0.1:{port}" in down.fields["error"]


def test_config():
    assert GrpcServeConfig(address="0.0.0.0:0").address == "0.0.0.0:0"
    with pytest.raises(ValidationError, match="buffer_size must be <= max_buffer_size"):
        GrpcServeConfig(buffer_size=10, max_buffer_size=5)
    with pytest.raises(ValidationError, match="host:port"):
        GrpcServeConfig(address="50054")
