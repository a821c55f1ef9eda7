"""udp_esp32 on real loopback sockets: the UDP path gives the poses of the replay path, broken
datagrams are counted by reason, sequences are tracked, vitals come through, the htltf56
selection picks the documented bins, and disposal closes the socket and ends the thread."""

from __future__ import annotations

import itertools
import json
import socket
import struct
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from reactivex.scheduler import EventLoopScheduler

from posecog.cog.pipelines import resolve_pipeline
from posecog.graph.aio import IoLoop
from posecog.graph.context import BuildContext, RunServices
from posecog.graph.events import Event, EventStream
from posecog.graph.lint import lint_file
from posecog.graph.runtime import Runtime
from posecog.graph.testing import run_pipeline_test
from posecog.nodes.csi.esp32 import MAGIC_COMPRESSED_CSI, MAGIC_CSI, MAGIC_TYPE7
from posecog.nodes.csi.recording import read_recording
from posecog.nodes.csi.siblings import (
    FeatureStatePacket,
    FusedVitalsPacket,
    MeshHealth,
    WasmPacket,
    encode_feature_state,
    encode_fused_vitals,
    encode_mesh,
    encode_mesh_health,
    encode_wasm,
)
from posecog.nodes.items import CsiFrame, Features, Pose, Vitals
from posecog.nodes.kinds.udp_esp32 import UdpEsp32Config, build
from posecog.nodes.registry import default_registry
from tests.conftest import EXCERPT_A, POSE_V1
from tests.fakes.esp32_sender import (
    Esp32Sender,
    csi_datagram,
    recording_datagrams,
    synthetic_datagrams,
    wait_for,
)

SOURCE_ONLY = """
name: udp_only
nodes:
  - id: udp
    type: udp_esp32
    hop: {policy: block}
    config: {bind: 127.0.0.1, port: PORT, subcarriers: SELECTION}
  - id: out
    type: stdout_events
    inputs: [udp]
"""

POSES = """
name: udp_pose
nodes:
  - id: udp
    type: udp_esp32
    hop: {policy: block}
    config: {bind: 127.0.0.1, port: 0}
  - id: window
    type: sliding_window
    inputs: [udp]
  - id: pose
    type: pose_infer
    inputs: [window]
    config: {model: MODEL, min_confidence: 0}
  - id: out
    type: stdout_events
    inputs: [pose, udp]
"""


class Live:
    """A pipeline text run by the real runtime on a thread, its source's items tapped."""

    def __init__(self, text: str, taps: tuple[str, ...] = ("udp",)) -> None:
        reg = default_registry()
        spec, problems = lint_file("test.yaml", reg, text=text)
        assert not problems, problems
        self.events: list[Event] = []
        stream = EventStream()
        stream.listen(self.events.append)
        self.rt = Runtime(spec, reg, stream, stats_interval=0)
        self.taps: dict[str, list] = {t: [] for t in taps}
        for t in taps:
            self.rt.graph.tap(t, self.taps[t].append)
        self.status: int | None = None
        self.thread = threading.Thread(target=self._run, name="runtime")

    def _run(self) -> None:
        self.status = self.rt.run()

    def __enter__(self) -> Live:
        self.thread.start()
        wait_for(lambda: self.named("source.up") or self.named("run.finished"), 5, "source.up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.rt.stop()
        self.thread.join(5)
        assert not self.thread.is_alive()

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event == name]

    @property
    def port(self) -> int:
        return int(self.named("source.up")[0].fields["port"])

    @property
    def gauges(self) -> dict:
        return self.rt.services.metrics.nodes["udp"].gauges

    @property
    def drops(self) -> dict:
        return dict(self.rt.services.metrics.nodes["udp"].drops)

    def send(self, datagrams: list) -> None:
        with Esp32Sender(self.port) as sender:
            sender.send_acked(datagrams, lambda: self.gauges["datagrams"])

    def wait_items(self, tap: str, n: int) -> list:
        wait_for(lambda: len(self.taps[tap]) >= n, 5, f"{n} items from {tap}")
        return self.taps[tap]


def source_only(selection: str = "lltf56", port: int = 0) -> Live:
    text = SOURCE_ONLY.replace("PORT", str(port)).replace("SELECTION", selection)
    return Live(text)


def by_node(items: list) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for item in items:
        out[item.node_id].append(item)
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# -- the UDP path equals the replay path -----------------------------------------------------------


def test_poses_from_udp_equal_poses_from_replay() -> None:
    replay = run_pipeline_test(
        resolve_pipeline("replay"),
        overrides={"recording": str(EXCERPT_A), "model": str(POSE_V1), "min_confidence": 0},
        taps=["replay", "pose"],
        registry=default_registry(),
    )
    expected = [p for _, p in replay.taps["pose"]]
    with Live(POSES.replace("MODEL", str(POSE_V1)), taps=("udp", "pose")) as live:
        live.send(recording_datagrams(EXCERPT_A))
        got = live.wait_items("pose", len(expected))
        items = live.wait_items("udp", 551 + 24 + 24)  # frames, vitals, feature vectors
    assert live.status == 0 and len(got) == len(expected) == 513
    # frames: the same amplitudes per node in order
    want_frames = by_node([f for _, f in replay.taps["replay"] if isinstance(f, CsiFrame)])
    got_frames = by_node([i for i in items if isinstance(i, CsiFrame)])
    assert sorted(got_frames) == sorted(want_frames) == [1, 2]
    for node, frames in want_frames.items():
        assert [f.n_subcarriers for f in got_frames[node]] == [f.n_subcarriers for f in frames]
        np.testing.assert_array_equal(
            np.stack([f.amplitude for f in got_frames[node]]),
            np.stack([f.amplitude for f in frames]),
        )
    # poses: the same keypoints per node in order
    want, have = by_node(expected), by_node(got)
    for node in want:
        assert all(isinstance(p, Pose) for p in have[node])
        np.testing.assert_allclose(
            np.stack([p.keypoints for p in have[node]]),
            np.stack([p.keypoints for p in want[node]]),
            atol=1e-6,
            rtol=0,
        )
    assert not live.rt.services.metrics.nodes["udp"].drops.get("overflow")
    assert live.drops == {"compressed_csi_packet": 1}  # it cannot be decoded alone
    assert live.gauges["seq_gaps"] == 0 and live.gauges["frames"] == 551
    assert live.gauges["features"] == 24 == sum(isinstance(i, Features) for i in items)
    assert not [e for e in live.events if e.level == "warn"]


def test_vitals_packets_become_vitals() -> None:
    recorded = [e.value for e in read_recording(EXCERPT_A) if isinstance(e.value, Vitals)]
    with source_only() as live:
        live.send([d for d in recording_datagrams(EXCERPT_A) if d.kind == "vitals"])
        got = live.wait_items("udp", len(recorded))
    assert len(got) == len(recorded) == 24
    for v, r in zip(got, recorded, strict=True):
        assert isinstance(v, Vitals) and v.node_id == r.node_id
        assert v.breathing_bpm == pytest.approx(r.breathing_bpm, abs=0.005)
        assert v.heartrate_bpm == pytest.approx(r.heartrate_bpm, abs=5e-5)
        assert (v.presence, v.fall_detected, v.motion, v.n_persons) == (
            r.presence,
            r.fall_detected,
            r.motion,
            r.n_persons,
        )
        assert v.motion_energy == pytest.approx(r.motion_energy)
        assert v.extra["rssi"] == r.extra["rssi"]
        assert v.arrived > 0 and abs(v.ts - got[0].ts) < 5  # host receive time, wall clock
    assert len(live.named("vitals")) == 24  # the sink's events


def test_every_sibling_packet_reaches_the_sink_or_the_stats_and_none_warns() -> None:
    fused = FusedVitalsPacket(
        4, 9, 15.5, 72.25, -52, 1, 2, 87, 0.25, 0.75, 1, 71.5, 15.0, 142.0, 1, 90
    )
    state = FeatureStatePacket(4, 1, 9, 8, (0.5,) * 9, 3)
    health = MeshHealth(4, b"", 10**6, 2, 6, 20, -91, 23, 5, 0)
    packets = [
        encode_fused_vitals(fused),
        encode_wasm(WasmPacket(4, 2, ((1, 0.5), (3, 2.0)))),
        encode_wasm(WasmPacket(4, 3, ((9, 1.0),)), magic=MAGIC_TYPE7),
        encode_feature_state(state),
        encode_mesh_health(health),
    ]
    with source_only() as live:
        live.send(packets)
        items = live.wait_items("udp", 4)
        wait_for(lambda: bool(live.named("node.health")))
    assert [type(i).__name__ for i in items] == ["Vitals", "WasmEvents", "WasmEvents", "Features"]
    assert items[0].extra["mmwave_hr_bpm"] == 71.5 and items[0].extra["fusion_confidence"] == 87
    (report,) = live.named("node.health")
    assert (report.fields["node_id"], report.fields["pkt_yield"]) == (4, 23)
    assert live.gauges["node_health"]["4"]["noise_floor_dbm"] == -91
    assert (live.gauges["fused_vitals"], live.gauges["wasm_packets"]) == (1, 2)
    # the sink renders each: vitals, wasm.events, features
    assert len(live.named("wasm.events")) == 2 and len(live.named("features")) == 1
    assert live.named("wasm.events")[0].fields["events"] == [
        {"event_type": 1, "value": 0.5},
        {"event_type": 3, "value": 2.0},
    ]
    assert live.drops == {} and not [e for e in live.events if e.level == "warn"]


# -- broken input ---------------------------------------------------------------------------------


def test_broken_datagrams_are_counted_by_reason_and_valid_ones_come_through() -> None:
    iq = bytes(range(128))  # 64 subcarriers
    good = [csi_datagram(7, 100 + k, iq) for k in range(6)]
    # the packets nothing is made of (the others give items: tests/nodes/csi/test_datagrams.py)
    other = {
        "compressed_csi": struct.pack("<I", MAGIC_COMPRESSED_CSI) + b"\0" * 40,
        "type7": struct.pack("<I", MAGIC_TYPE7) + b"\0" * 40,
        "mesh": encode_mesh(0x01, bytes(16)),  # TIME_SYNC
    }
    bad = [
        good[0][:30],  # truncated CSI buffer
        good[0][:12],  # truncated header
        b"",  # empty datagram
        b"\x01\x00",  # shorter than a magic
        good[0] + b"\0\0",  # size_mismatch
        struct.pack("<IBBHIIbb2x", MAGIC_CSI, 7, 1, 0, 2437, 1, -40, -95),  # bad_header
        csi_datagram(7, 200, bytes(80)),  # 40 subcarriers: too few for lltf56
        b"\xde\xad\xbe\xef" + bytes(100),  # unknown magic
        struct.pack("<I", 0xC5110009) + bytes(28),  # unknown magic of the family
        struct.pack("<I", MAGIC_CSI + 1) + bytes(5),  # vitals magic, truncated
        encode_mesh(0x06, bytes(28))[:-1],  # a mesh HEALTH cut short
        encode_mesh(0x06, bytes(28))[:-4] + bytes(4),  # a mesh HEALTH with a wrong CRC
    ]
    mixed = [good[0], *bad[:5], good[1], *other.values(), good[2], *bad[5:], *good[3:]]
    with source_only() as live:
        live.send(mixed)
        frames = live.wait_items("udp", len(good))
        wait_for(lambda: live.gauges["datagrams"] == len(mixed))
    assert [f.seq for f in frames] == [100, 101, 102, 103, 104, 105]
    expected = {
        "truncated": 6,
        "bad_crc": 1,
        "size_mismatch": 1,
        "bad_header": 1,
        "too_few_subcarriers": 1,
        "unknown_magic": 2,
        **{f"{name}_packet": 1 for name in other},
    }
    assert live.drops == expected
    warned = {e.fields["reason"] for e in live.named("item.dropped")}
    assert warned == {
        "truncated",
        "bad_crc",
        "size_mismatch",
        "bad_header",
        "too_few_subcarriers",
        "unknown_magic",
    }
    assert live.status == 0


def test_a_datagram_larger_than_the_buffer_is_never_decoded_as_a_frame() -> None:
    # its first 4096 bytes are a whole valid CSI packet (2038 subcarriers): read cut off, it
    # would pass for one; MSG_TRUNC says it was cut
    big = csi_datagram(3, 1, bytes(range(256)) * 15 + bytes(236)) + bytes(100)
    assert len(big) == 4096 + 100
    with source_only() as live:
        live.send([big, csi_datagram(3, 2, bytes(128))])
        (frame,) = live.wait_items("udp", 1)
        wait_for(lambda: live.gauges["datagrams"] == 2)
    assert frame.seq == 2 and frame.n_subcarriers == 64
    assert live.drops == {"size_mismatch": 1}


def test_broken_packets_do_not_feed_the_sequence_tracking() -> None:
    rng = np.random.default_rng(3)
    good = [csi_datagram(1, 100 + k, bytes(128)) for k in range(10)]
    # valid headers, random sequence numbers, too few subcarriers: noise, not the node's count
    noise = [csi_datagram(1, int(s), bytes(40)) for s in rng.integers(0, 2**32, 30)]
    with source_only() as live:
        live.send([*good[:5], *noise, *good[5:]])
        frames = live.wait_items("udp", 10)
        wait_for(lambda: live.gauges["datagrams"] == 40)
    assert [f.seq for f in frames] == list(range(100, 110))
    assert live.drops == {"too_few_subcarriers": 30}
    assert live.gauges["seq_lost"] == 0 and live.gauges["seq_gaps"] == 0
    assert live.gauges["seq_resets"] == 0


def test_sequence_gaps_duplicates_reordering_and_restarts_are_counted() -> None:
    iq = bytes(128)
    seqs = [(1, 1000), (1, 1001), (1, 1003), (1, 1003), (1, 1002), (1, 1010), (2, 5000)]
    seqs += [
        (2, 5001),
        (2, 0),
        (2, 1),
        (3, 0xFFFFFFFF),
        (3, 0),
    ]  # node 2 restarts; node 3 wraps around
    with source_only() as live:
        live.send([csi_datagram(n, s, iq) for n, s in seqs])
        frames = live.wait_items("udp", len(seqs))
    assert [(f.node_id, f.seq) for f in frames] == seqs  # counted, never dropped
    g = live.gauges
    assert (g["seq_gaps"], g["seq_lost"], g["seq_duplicates"]) == (2, 7, 1)
    assert (g["seq_reordered"], g["seq_resets"]) == (1, 1)
    assert g["seq_by_node"]["1"] == {
        "gaps": 2,
        "lost": 7,
        "duplicates": 1,
        "reordered": 1,
        "resets": 0,
    }
    assert g["seq_by_node"]["2"]["resets"] == 1
    assert g["seq_by_node"]["3"] == dict.fromkeys(
        ("gaps", "lost", "duplicates", "reordered", "resets"), 0
    )
    stopped = live.named("source.stopped")[0].fields
    assert stopped["frames"] == len(seqs) == stopped["datagrams"]


# -- subcarrier selections ------------------------------------------------------------------------


def _raw_lines(n_sub: int) -> list[dict]:
    lines = [json.loads(t) for t in Path(EXCERPT_A).read_text().splitlines()]
    return [d for d in lines if d.get("subcarriers") == n_sub]


def _hand_amplitude(iq: bytes, k: int) -> float:
    im, re = struct.unpack_from("<bb", iq, 2 * k)  # imaginary byte first
    return float(np.sqrt(np.float32(re * re + im * im)))


def test_htltf56_picks_the_56_real_ht20_tones_of_the_htltf_block() -> None:
    d128, d192 = _raw_lines(128)[0], _raw_lines(192)[0]
    d64 = _raw_lines(64)[0]
    packets = [
        csi_datagram(1, 1, bytes.fromhex(d128["iq_hex"])),
        csi_datagram(1, 2, bytes.fromhex(d64["iq_hex"])),
        csi_datagram(1, 3, bytes.fromhex(d192["iq_hex"])),
    ]
    bins = [*range(65, 93), *range(100, 128)]  # HT-LTF block bins 1..28 and 36..63
    with source_only("htltf56") as live:
        live.send(packets)
        got = live.wait_items("udp", 2)
    assert [f.n_subcarriers for f in got] == [128, 192]
    assert _hand_amplitude(bytes.fromhex(d128["iq_hex"]), 64) == 0  # DC (not always 0 on STBC)
    for frame, d in zip(got, (d128, d192), strict=True):
        iq = bytes.fromhex(d["iq_hex"])
        hand = [_hand_amplitude(iq, k) for k in bins]
        assert frame.amplitude.dtype == np.float32 and frame.amplitude.shape == (56,)
        np.testing.assert_allclose(frame.amplitude, hand, rtol=1e-6)
        assert all(_hand_amplitude(iq, k) == 0 for k in range(93, 100))  # guard bins
        assert np.all(frame.amplitude > 0)  # every selected tone is a real one
    assert live.drops == {"no_htltf": 1}
    assert not live.named("item.dropped")  # expected under htltf56: counted quietly


def test_lltf56_is_bins_0_to_55_and_rssi_is_the_packets() -> None:
    d = _raw_lines(128)[0]
    iq = bytes.fromhex(d["iq_hex"])
    with source_only() as live:
        live.send([csi_datagram(3, 9, iq, rssi=-61)])
        (frame,) = live.wait_items("udp", 1)
    np.testing.assert_allclose(
        frame.amplitude, [_hand_amplitude(iq, k) for k in range(56)], rtol=1e-6
    )
    assert (frame.node_id, frame.seq, frame.rssi, frame.n_subcarriers) == (3, 9, -61.0, 128)


# -- lifecycle ------------------------------------------------------------------------------------


def test_dispose_closes_the_socket_and_leaves_the_io_loop_free() -> None:
    events: list[Event] = []
    stream = EventStream()
    stream.listen(events.append)
    io = IoLoop("udp-test-io")
    ctx = BuildContext("udp", "udp_esp32", RunServices(events=stream, io=io), EventLoopScheduler())
    port = free_port()
    source = build(UdpEsp32Config(bind="127.0.0.1", port=port), ctx)
    assert can_bind(port)  # building opens nothing
    got: list = []
    sub = source.subscribe(got.append)
    wait_for(lambda: any(e.event == "source.up" for e in events), 5, "source.up")
    assert [e.fields["port"] for e in events if e.event == "source.up"] == [port]
    assert not can_bind(port)
    with Esp32Sender(port) as sender:
        sender.send(csi_datagram(1, 1, bytes(128)))
        wait_for(lambda: len(got) == 1)
    sub.dispose()  # a task cancellation: the reader closes the socket on the loop
    wait_for(lambda: any(e.event == "source.stopped" for e in events), 5, "source.stopped")
    assert [e.event for e in events] == ["source.up", "source.stopped"]
    assert can_bind(port)
    io.close()
    assert not any(t.name == "udp-test-io" for t in threading.enumerate())


def test_a_stopped_run_releases_the_port_and_every_thread() -> None:
    port = free_port()
    with source_only(port=port) as live:
        assert live.port == port and not can_bind(port)
    assert live.status == 0 and live.named("source.stopped")
    assert can_bind(port)
    names = {t.name for t in threading.enumerate()}
    assert not names & {"io", "pipeline", "source:udp"}


def test_a_port_in_use_is_a_runtime_failure_with_a_hint(capfd: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        live = source_only(port=port)
        live.rt.run()
    (finished,) = live.named("run.finished")
    assert finished.level == "error" and finished.fields["reason"] == "failed"
    assert f"cannot listen on UDP 127.0.0.1:{port}" in finished.fields["error"]
    assert "another process holds the port" in finished.fields["error"]
    assert live.named("source.down")[0].level == "error"
    assert "Traceback" not in capfd.readouterr().err


def test_config_is_validated_without_io() -> None:
    assert UdpEsp32Config().port == 5005 and UdpEsp32Config().subcarriers == "lltf56"
    for bad in (
        {"bind": "localhost"},
        {"port": 70000},
        {"subcarriers": "all"},
        {"recv_buffer": -1},
    ):
        with pytest.raises(ValidationError):
            UdpEsp32Config(**bad)
    UdpEsp32Config(bind="::1", port=0)


def test_synthetic_sender_interleaves_frame_sizes() -> None:
    grams = synthetic_datagrams(nodes=4, rate_hz=25, seconds=2, seed=3)
    csi = [g for g in grams if g.kind == "csi"]
    assert len(csi) == 200 and {g.node_id for g in csi} == {1, 2, 3, 4}
    sizes = {len(g.data) for g in csi}
    assert 148 in sizes and 276 in sizes  # 64 and 128 subcarriers interleaved
    assert all(a.t <= b.t for a, b in itertools.pairwise(grams))


def test_the_socket_is_read_on_the_io_loop_and_items_processed_on_the_pipeline_thread() -> None:
    threads: list[str] = []
    live = source_only()
    live.rt.graph.tap("udp", lambda _f: threads.append(threading.current_thread().name))
    with live:
        live.send([csi_datagram(1, k, bytes(128)) for k in range(5)])
        live.wait_items("udp", 5)
        names = {t.name for t in threading.enumerate()}
    assert set(threads) == {"pipeline"}
    assert "io" in names and "source:udp" not in names  # no thread of its own


def test_a_stalled_graph_keeps_the_newest_frames_with_their_true_receive_times() -> None:
    """500 datagrams/s while the graph stalls for 1 s: the hop (latest, 40) keeps the newest,
    the oldest are counted as overflow, and each frame's ts is its datagram's receive time."""
    text = SOURCE_ONLY.replace("PORT", "0").replace("SELECTION", "lltf56")
    live = Live(text.replace("    hop: {policy: block}\n", ""))  # the live default: latest
    stalled = threading.Event()
    stall_at: list[float] = []

    def stall(frame: CsiFrame) -> None:
        if frame.seq == 0:
            stall_at.append(time.time())
            stalled.set()
            time.sleep(1.0)  # the pipeline thread is busy; the I/O loop is not

    live.rt.graph.tap("udp", stall)
    sent_at: dict[int, float] = {}
    with live:
        with Esp32Sender(live.port) as sender:
            sender.send(csi_datagram(1, 0, bytes(128)))
            sent_at[0] = time.time()
            assert stalled.wait(5)
            t0 = time.monotonic()
            seq = 1
            while time.monotonic() - t0 < 1.2:  # through the stall and a little after
                # paced by sleeping: a busy wait here would hold the GIL from the I/O loop
                time.sleep(max(0.0, t0 + seq / 500 - time.monotonic()))
                sender.send(csi_datagram(1, seq, bytes(128)))
                sent_at[seq] = time.time()
                seq += 1
        last = seq - 1
        wait_for(lambda: any(f.seq == last for f in live.taps["udp"]), 5, "the last frame")
        got = list(live.taps["udp"])
    assert live.gauges["datagrams"] == last + 1  # the I/O loop read every datagram
    seqs = [f.seq for f in got]
    assert seqs == sorted(seqs) and seqs[-1] == last
    lost = (last + 1) - len(got)
    # all but the hop's 40 of what came during the stall were dropped, and counted
    during = sum(stall_at[0] < t < stall_at[0] + 1.0 for t in sent_at.values())
    assert during > 200 and lost >= during - 40 - 5, (during, lost)
    assert live.drops["overflow"] == lost
    # the oldest were dropped: the stall's first frame out came after dropped ones, and the
    # stream ends with the newest, none missing (on a busy machine the graph may fall behind
    # again later, so not every drop need be from the stall)
    assert 1 < seqs[1] <= lost + 1, seqs[:60]
    assert seqs[-10:] == list(range(last - 9, last + 1))
    errors = [abs(f.ts - sent_at[f.seq]) for f in got]
    assert max(errors) < 0.002, max(errors)


def test_datagrams_the_kernel_drops_on_a_full_buffer_are_counted() -> None:
    text = SOURCE_ONLY.replace("PORT", "0").replace("SELECTION", "lltf56")
    text = text.replace("subcarriers: lltf56}", "subcarriers: lltf56, recv_buffer: 4096}")
    # a small blocking hop: when the graph stalls, the I/O loop waits and the kernel drops
    live = Live(text.replace("hop: {policy: block}", "hop: {policy: block, capacity: 2}"))
    gate = threading.Event()
    live.rt.graph.tap("udp", lambda _f: gate.wait(5))  # the graph stalls on its first item
    sent = 300
    with live:
        with Esp32Sender(live.port) as sender:
            sender.send(csi_datagram(1, 0, bytes(128)))
            wait_for(lambda: live.gauges["datagrams"] == 1, 5, "the first datagram")
            for seq in range(1, sent):  # meanwhile the socket's small buffer overflows
                sender.send(csi_datagram(1, seq, bytes(128)))
            gate.set()
            # the stream goes on until a datagram gets through the drained buffer
            for seq in itertools.count(sent):
                sender.send(csi_datagram(1, seq, bytes(128)))
                sent += 1
                try:
                    wait_for(lambda s=seq: any(f.seq == s for f in live.taps["udp"]), 0.2)
                    break
                except TimeoutError:
                    assert seq < 350, "nothing got through"
        received = live.gauges["datagrams"]
        assert live.gauges["seq_lost"] == sent - received
        assert live.drops["socket_overflow"] == sent - received  # counted while running
        assert live.gauges["kernel_drops"] == sent - received
    assert 2 < received < sent
    assert live.drops["socket_overflow"] == sent - received  # and no more at close
    warn = [e for e in live.named("item.dropped") if e.fields["reason"] == "socket_overflow"]
    assert warn and "receive buffer was full" in warn[0].fields["detail"]
