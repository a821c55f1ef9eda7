"""grpc_vitals against real gRPC servers on loopback (the project's worker and bare grpc.aio
servers), on a real I/O loop in real time: the connection is the point. Every wait bounded."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from pydantic import ValidationError

from posecog.nodes.items import CsiFrame, Vitals
from posecog.nodes.kinds.grpc_vitals import GrpcVitalsConfig
from posecog.nodes.vitals_worker.server import HubLimits
from posecog.nodes.vitals_worker.v1 import vitals_pb2 as pb
from tests.fakes.live_source import LiveRun
from tests.fakes.vitals_worker import BareServer, Worker, response

T0 = 1779210883.0
FAST = {"backoff_min_s": 0.02, "backoff_max_s": 0.05, "heartbeat_ms": 50}


def frame(node, seq):
    amp = np.arange(56, dtype=np.float32) + seq
    return CsiFrame(T0 + seq * 0.05, node, amp, seq=seq, rssi=-40.0, n_subcarriers=128)


def seqs(run, node=None):
    return [f.seq for f in run.of_type(CsiFrame) if node is None or f.node_id == node]


def test_frames_and_vitals_from_the_worker(registry):
    vitals = Vitals(T0 + 0.5, 2, breathing_bpm=14.0, heartrate_bpm=70.0, presence=True,
                    n_persons=1, breathing_confidence=0.8, breathing_status="valid",
                    extra={"rssi": -50})  # fmt: skip
    with Worker() as worker:
        worker.publish([frame(1, 1), frame(2, 1), vitals])
        with LiveRun(registry, "grpc_vitals", {"address": worker.address, **FAST}) as run:
            run.wait(lambda: run.gauges.get("revision") == 1)  # the state, then sync
            worker.publish([frame(1, s) for s in range(2, 6)])
            run.wait(lambda: seqs(run, 1) == [1, 2, 3, 4, 5])
    f = run.of_type(CsiFrame)[-1]
    assert (f.ts, f.node_id, f.rssi, f.n_subcarriers) == (T0 + 0.25, 1, -40.0, 128)
    assert np.array_equal(f.amplitude, np.arange(56, dtype=np.float32) + 5) and f.arrived > 0
    (got,) = run.of_type(Vitals)
    assert got == dataclasses.replace(vitals, arrived=got.arrived) and got.arrived > 0
    (up,) = run.named("source.up")
    assert up.fields["url"] == f"grpc://{worker.address}" and up.fields["health"] == "serving"
    assert run.gauges["granted_buffer_size"] == 256 and run.gauges["frames"] == 6
    assert not run.named("source.down") and run.error is None


def test_worker_down_at_start_then_frames_once_it_starts(registry):
    worker = Worker()  # its port is known, nothing listens on it
    with LiveRun(registry, "grpc_vitals", {"address": worker.address, **FAST}) as run:
        (down,) = run.wait(lambda: run.named("source.down"))
        assert down.level == "warn" and "UNAVAILABLE" in down.fields["reason"]
        assert 0 < down.fields["retry_in_s"] <= FAST["backoff_min_s"]
        run.wait(lambda: run.gauges["connects"] == 0 and len(run.named("source.down")) == 1)
        with worker:
            worker.publish([frame(1, 1)])
            run.wait(lambda: seqs(run) == [1])
            (up,) = run.wait(lambda: run.named("source.up"))
            assert up.fields["down_s"] > 0 and up.fields["retries"] >= 1
            assert len(run.named("source.down")) == 1  # once per outage, however many retries
            run.stop()  # before the worker stops: its leaving would be an outage


def test_worker_restarted_mid_run_as_a_new_server_object(registry):
    with Worker() as worker:
        worker.publish([frame(1, s) for s in range(1, 6)])
        with LiveRun(registry, "grpc_vitals", {"address": worker.address, **FAST}) as run:
            run.wait(lambda: run.gauges.get("revision") == 1)
            worker.publish([frame(1, 6)])
            run.wait(lambda: seqs(run) == [5, 6])  # the state (the latest), then updates
            worker.stop()
            run.wait(lambda: run.named("source.down"))
            worker.start()  # a new hub and server on the same port, which heard 4..6 again
            back = time.monotonic()
            worker.publish([frame(1, s) for s in range(4, 7)])
            run.wait(lambda: len(run.named("source.up")) == 2)
            worker.publish([frame(1, 7), frame(1, 8)])
            run.wait(lambda: seqs(run)[-1:] == [8])
            took = time.monotonic() - back
    assert took < 1.0  # the stream is back within a second
    assert seqs(run) == [5, 6, 7, 8]  # nothing given twice: its state (6) was seen
    assert run.gauges["duplicates"] == 1 and run.gauges["seq_gaps"] == 0
    (down,) = run.named("source.down")
    assert "ended the stream" in down.fields["reason"]
    assert run.gauges["connects"] == 2 and run.gauges["outages"] == 1 and run.error is None


def test_a_slow_consumer_loses_the_oldest_and_counts_it(registry):
    with Worker() as worker:
        config = {"address": worker.address, "buffer_size": 8, **FAST}
        with LiveRun(registry, "grpc_vitals", config) as run:
            worker.publish([frame(1, 0)])
            run.wait(lambda: seqs(run) == [0])
            worker.publish([frame(1, s) for s in range(1, 1001)])  # faster than anyone reads
            run.wait(lambda: seqs(run)[-1:] == [1000])
            run.wait(lambda: run.gauges.get("heartbeats", 0) >= 1)
    assert seqs(run) == [0, *range(993, 1001)]  # the newest, in order
    assert run.drops == {"server_overflow": 992} and run.gauges["server_dropped"] == 992
    (warn,) = [e for e in run.named("item.dropped") if e.fields["reason"] == "server_overflow"]
    assert "buffer_size 8" in warn.fields["detail"] and worker.drops == 992
    assert run.gauges["seq_gaps"] == 1 and run.gauges["seq_lost"] == 992  # the same loss


def test_heartbeats_only_keep_the_subscription_up(registry):
    with (
        Worker() as worker,
        LiveRun(registry, "grpc_vitals", {"address": worker.address, **FAST}) as run,
    ):
        run.wait(lambda: run.gauges.get("heartbeats", 0) >= 6, timeout=5)
    assert run.items == [] and run.gauges["connects"] == 1 and not run.named("source.down")


def test_a_silent_worker_is_a_stalled_one(registry):
    sync = response(sync=pb.SyncComplete(revision=1))
    with BareServer([sync], heartbeat_s=None) as bare:  # no health service, then silence
        config = {"address": bare.address, **FAST, "heartbeat_ms": 100}
        with LiveRun(registry, "grpc_vitals", config) as run:
            (down,) = run.wait(lambda: run.named("source.down"), timeout=5)
            assert "no message for 1 s" in down.fields["reason"]
            assert "the worker stalled" in down.fields["reason"]
            run.wait(lambda: len(run.named("source.up")) == 2, timeout=5)
    assert run.named("source.up")[0].fields["health"] == "unimplemented"
    assert bare.requests[0].heartbeat_ms == 100 and bare.requests[0].buffer_size == 256


def test_malformed_messages_are_counted_and_the_stream_goes_on(registry):
    good = response(frame=pb.CsiFrame(node_id=1, seq=7, ts_ns=5 * 10**18, amplitude=[1.0] * 56))
    script = [
        b"\xff\xff\xff\xff",  # no protobuf
        response(frame=pb.CsiFrame(node_id=1, seq=1, ts_ns=10**18)),  # no amplitudes
        response(vitals=pb.Vitals(node_id=1, ts_ns=10**18, signal_quality=3.0)),
        response(frame=pb.CsiFrame(node_id=1, seq=2, amplitude=[1.0])),  # no time
        response(),  # no update set (a newer revision's message, to an older client)
        good,
        good,  # the same frame again
    ]
    with (
        BareServer(script) as bare,
        LiveRun(registry, "grpc_vitals", {"address": bare.address, **FAST}) as run,
    ):
        run.wait(lambda: seqs(run) == [7])
        run.wait(lambda: run.gauges.get("heartbeats", 0) >= 1)
    assert run.drops == {
        "bad_message": 1,
        "bad_frame": 1,
        "bad_vitals": 1,
        "bad_time": 1,
        "unknown_update": 1,
    }
    warned = {e.fields["reason"] for e in run.named("item.dropped")}
    assert warned == {"bad_message", "bad_frame", "bad_vitals", "bad_time"}
    assert run.gauges["duplicates"] == 1 and not run.named("source.down")


def test_an_oversized_message_is_counted_and_the_subscription_made_again(registry):
    big = response(frame=pb.CsiFrame(node_id=1, seq=1, ts_ns=10**18, amplitude=[1.0] * 70_000))
    with BareServer([big]) as bare:
        config = {"address": bare.address, "max_message_bytes": 100_000, **FAST}
        with LiveRun(registry, "grpc_vitals", config) as run:
            run.wait(lambda: run.drops.get("oversized_message", 0) >= 2)
    down = run.named("source.down")[0]
    assert down.fields["reason"].startswith("RESOURCE_EXHAUSTED")
    (warn,) = run.named("item.dropped")[:1]
    assert "max_message_bytes 100000" in warn.fields["detail"] and run.items == []


@pytest.mark.parametrize("health", [False, True])
def test_a_worker_of_another_protocol_version_is_a_clear_outage(registry, health):
    other = "cognitum.vitals.v2.VitalsService"
    with (
        BareServer(service=other, health_service=health) as bare,
        LiveRun(registry, "grpc_vitals", {"address": bare.address, **FAST}) as run,
    ):
        (down,) = run.wait(lambda: run.named("source.down"))
        run.wait(lambda: run.gauges["outages"] == 1)
    reason = down.fields["reason"]
    assert "does not serve cognitum.vitals.v1.VitalsService" in reason
    assert "another protocol version" in reason
    assert ("NOT_FOUND" if health else "UNIMPLEMENTED") in reason or "health" in reason
    assert not run.named("source.up") and run.items == []


def test_a_third_party_worker_on_the_generated_servicer(registry):
    frames = [response(frame=pb.CsiFrame(node_id=3, seq=s, ts_ns=10**18 + s, amplitude=[2.0] * 56))
              for s in range(3)]  # fmt: skip
    with BareServer(frames, generated=True) as bare:
        config = {"address": bare.address, "node_ids": [3], **FAST}
        with LiveRun(registry, "grpc_vitals", config) as run:
            run.wait(lambda: seqs(run) == [0, 1, 2])
    assert list(bare.requests[0].node_ids) == [3]


def test_dispose_is_prompt_and_leaves_no_thread(registry):
    with Worker(limits=HubLimits(heartbeat_ms=1000)) as worker:
        before = set(threading.enumerate())
        with LiveRun(registry, "grpc_vitals", {"address": worker.address}) as run:
            run.wait(lambda: run.gauges.get("revision") == 1)
            run.wait(lambda: worker.subscribers() == 1)
            t0 = time.monotonic()
            run.stop()
            assert run.idle(1.0) and time.monotonic() - t0 < 1.0
            run.wait(lambda: worker.subscribers() == 0)  # the worker saw the call end
            assert run.gauges["state"] == "closed" and run.gauges["up"] is False
        run.wait(lambda: set(threading.enumerate()) <= before, timeout=2.0)
    assert not run.named("source.down") and run.error is None


def test_config_checks_the_address_and_keepalive():
    assert GrpcVitalsConfig(address="[::1]:50054").address == "[::1]:50054"
    for bad in ("50054", "localhost", "::1:50054", "host:0", "a b:1", "[::zz]:1"):
        with pytest.raises(ValidationError):
            GrpcVitalsConfig(address=bad)
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        GrpcVitalsConfig(keepalive_s=1)


def test_cli_fast_paths_and_lint_do_not_load_grpc():
    code = (
        "import sys; from posecog.cog.cli import main; main(['version']); main(['manifest']);"
        "assert main(['lint', 'appliance-grpc', 'live-udp-worker']) == 0;"
        "assert main(['nodes', 'grpc_serve']) == 0;"
        "print(sorted(m for m in ('grpc', 'grpc_health') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
