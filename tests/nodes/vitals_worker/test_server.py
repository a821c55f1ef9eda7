"""The project's worker (VitalsHub + VitalsServer) on a real loopback port, read through the
generated stub (what any client of the protocol would use)."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.vitals_worker.protocol import REVISION, SERVICE
from posecog.nodes.vitals_worker.server import HubLimits
from posecog.nodes.vitals_worker.v1 import vitals_pb2 as pb
from posecog.nodes.vitals_worker.v1 import vitals_pb2_grpc as pb_grpc
from tests.fakes.vitals_worker import Worker

T0 = 1779210883.0


def frame(node, seq, dt=0.05):
    amp = np.full(56, seq, np.float32)
    return CsiFrame(T0 + seq * dt + node * 0.001, node, amp, seq=seq, n_subcarriers=64)


@pytest.fixture
def worker():
    with Worker(limits=HubLimits(buffer_size=256, max_buffer_size=512, heartbeat_ms=1000)) as w:
        yield w


@pytest.fixture
def stub(worker):
    channel = grpc.insecure_channel(worker.address)
    yield pb_grpc.VitalsServiceStub(channel)
    channel.close()


def until_sync(stream):
    before = []
    for msg in stream:
        if msg.WhichOneof("update") == "sync":
            return before, msg.sync
        before.append(msg)
    raise AssertionError("no sync")


def test_state_first_in_event_time_then_sync_then_updates(worker, stub):
    worker.publish([frame(1, s) for s in range(1, 4)] + [frame(2, s) for s in range(1, 4)])
    worker.publish([Vitals(T0 + 0.16, 1, breathing_bpm=15.0)])
    stream = stub.Subscribe(pb.SubscribeRequest(), timeout=5)
    state, sync = until_sync(stream)
    got = [(m.WhichOneof("update"), getattr(m, m.WhichOneof("update")).node_id) for m in state]
    assert got == [("frame", 1), ("frame", 2), ("vitals", 1)]  # ts 3.151, 3.152, 3.16
    assert state[0].frame.seq == 3 and state[1].frame.seq == 3
    assert (sync.nodes, sync.buffer_size, sync.heartbeat_ms) == (2, 256, 1000)
    assert sync.revision == REVISION
    worker.publish([frame(1, 4)])
    update = next(stream)
    assert update.frame.seq == 4 and list(update.frame.amplitude) == [4.0] * 56
    stream.cancel()


def test_node_filter(worker, stub):
    worker.publish([frame(1, 1), frame(2, 1)])
    stream = stub.Subscribe(pb.SubscribeRequest(node_ids=[2]), timeout=5)
    state, sync = until_sync(stream)
    assert [m.frame.node_id for m in state] == [2] and sync.nodes == 1
    worker.publish([frame(1, 2), frame(2, 2)])
    assert next(stream).frame.node_id == 2
    stream.cancel()


def test_heartbeats_when_idle(worker, stub):
    stream = stub.Subscribe(pb.SubscribeRequest(heartbeat_ms=20), timeout=5)
    state, sync = until_sync(stream)
    assert state == [] and sync.nodes == 0 and sync.heartbeat_ms == 20
    t0 = time.monotonic()
    beats = [next(stream) for _ in range(5)]
    assert all(b.WhichOneof("update") == "heartbeat" for b in beats)
    assert all(b.heartbeat.dropped_total == 0 and b.heartbeat.server_time_ns > 0 for b in beats)
    assert 0.08 < time.monotonic() - t0 < 2.0
    stream.cancel()


def test_a_slow_subscriber_loses_the_oldest_and_hears_of_it(worker, stub):
    slow = stub.Subscribe(pb.SubscribeRequest(buffer_size=4, heartbeat_ms=50), timeout=5)
    fast = stub.Subscribe(pb.SubscribeRequest(), timeout=5)
    until_sync(slow), until_sync(fast)
    worker.publish([frame(1, s) for s in range(1, 101)])  # one burst, in one loop step
    overflow = next(slow)
    assert overflow.WhichOneof("update") == "overflow"
    assert (overflow.overflow.dropped, overflow.overflow.dropped_total) == (96, 96)
    assert [next(slow).frame.seq for _ in range(4)] == [97, 98, 99, 100]  # the newest
    assert next(slow).heartbeat.dropped_total == 96
    assert [next(fast).frame.seq for _ in range(100)] == list(range(1, 101))  # its own buffer
    assert worker.drops == 96
    slow.cancel(), fast.cancel()


def test_granted_buffer_is_capped_and_defaulted(worker, stub):
    for asked, granted in ((0, 256), (100, 100), (10_000, 512)):
        stream = stub.Subscribe(pb.SubscribeRequest(buffer_size=asked), timeout=5)
        assert until_sync(stream)[1].buffer_size == granted
        stream.cancel()


def test_a_heartbeat_out_of_range_is_invalid(stub):
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Subscribe(pb.SubscribeRequest(heartbeat_ms=5), timeout=5))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "heartbeat_ms must be 0 or 10..3600000; got 5" in info.value.details()


def test_get_latest(worker, stub):
    worker.publish([frame(2, 1), frame(1, 1), frame(1, 2), Vitals(T0, 2, heartrate_bpm=70.0)])
    latest = stub.GetLatest(pb.GetLatestRequest(), timeout=2)
    assert [n.node_id for n in latest.nodes] == [1, 2] and latest.revision == REVISION
    assert latest.nodes[0].frame.seq == 2 and not latest.nodes[0].HasField("vitals")
    assert latest.nodes[1].vitals.heart_rate.value_bpm == 70.0
    only = stub.GetLatest(pb.GetLatestRequest(node_ids=[2, 9]), timeout=2)
    assert [n.node_id for n in only.nodes] == [2]


def test_shutdown_ends_streams_cleanly_and_health_says_so(worker, stub):
    channel = grpc.insecure_channel(worker.address)
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE):
        answer = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    stream = stub.Subscribe(pb.SubscribeRequest(), timeout=10)
    until_sync(stream)
    worker.publish([frame(1, 1)])
    ended = threading.Event()
    rest = []

    def drain():
        rest.extend(stream)  # ends without an error: status OK
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    t0 = time.monotonic()
    worker.stop(grace=1.0)
    assert ended.wait(2.0), "the stream hung"
    assert time.monotonic() - t0 < 1.0  # not the grace period: the stream ended by itself
    assert stream.code() == grpc.StatusCode.OK
    assert [m.frame.seq for m in rest if m.WhichOneof("update") == "frame"] == [1]
    with pytest.raises(grpc.RpcError) as info:
        health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=0.5)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    channel.close()
    joined, left = (name for name, _ in worker.events if name.startswith("subscriber."))
    assert (joined, left) == ("subscriber.joined", "subscriber.left")
    assert worker.events[-1][1]["sent"] == 1 and worker.events[-1][1]["dropped"] == 0
