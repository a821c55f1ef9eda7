"""``mqtt_publish`` -> Mosquitto -> ``mqtt_subscribe``, for real: every item type round-trips,
a broker restart (SIGTERM and SIGKILL) loses nothing, an absent broker is waited for, a full
queue is counted, wrong credentials are said and retried, the password never leaks, status
and last will are retained."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posecog.graph.events import to_json_line
from posecog.nodes.codec import CODEC
from posecog.nodes.items import Pose
from tests.fakes.broker import Mosquitto, broker, tls_files
from tests.fakes.items import instance, same
from tests.fakes.live_source import LivePipeline
from tests.fakes.mqtt import publisher, retained, subscriber, wait_for


def _poses(n: int, node: int = 1) -> list[Pose]:
    kp = np.linspace(0, 1, 34, dtype=np.float32).reshape(17, 2)
    return [Pose(1000.0 + i / 25, node, kp, 0.9, seq=i) for i in range(n)]


def _lines(run: LivePipeline) -> str:
    return "\n".join(to_json_line(e) for e in run.events)


def _node(run: LivePipeline, node: str) -> dict[str, Any]:
    finished = run.named("run.finished")[-1].fields
    nodes: dict[str, Any] = finished["nodes"]
    return dict(nodes[node])


def test_every_item_type_round_trips_through_the_broker(tmp_path: Path) -> None:
    rng = random.Random(13)
    sent = [instance(cls, rng) for cls in CODEC.types for _ in range(3)]
    with broker(tmp_path / "b") as b:
        with subscriber(b.url, "all", tmp_path / "out.jsonl", arrived="source") as sub:
            sub.wait(lambda: sub.named("source.up"))
            pub = publisher(b.url, sent, "all").start()
            pub._thread.join(20)
            assert pub.status == 0, _lines(pub)
            sub.wait(lambda: len(sub.taps["sub"]) >= len(sent))
        got = sub.taps["sub"]
        assert len(got) == len(sent) and all(same(a, b) for a, b in zip(sent, got, strict=True))
        stats = _node(pub, "publish")
        assert stats["published"] == stats["acknowledged"] == len(sent)
        assert stats["unacked"] == 0 and "dropped" not in stats
        # the publisher ended cleanly: its retained status says so
        assert retained(b.port, "posecog/status/pub-all") == b"offline"
        topics = {CODEC.topic_name(type(i)) for i in sent}
        assert "joined_pose" in topics and "csi_window" in topics


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_broker_restart_with_qos1_loses_nothing_and_duplicates_are_removed(
    tmp_path: Path, sig: int
) -> None:
    n = 600
    b = Mosquitto(tmp_path / "b").start()
    try:
        sub = subscriber(b.url, "restart", tmp_path / "out.jsonl", backoff_max_s=0.2).start()
        sub.wait(lambda: sub.named("source.up"))
        pub = publisher(b.url, _poses(n), "restart", period_s=0.004, backoff_max_s=0.2).start()
        sub.wait(lambda: len(sub.taps["sub"]) >= 150)
        b.restart(sig)  # mid-run: both sides lose the connection
        pub._thread.join(30)
        assert pub.status == 0, _lines(pub)
        sub.wait(lambda: len(sub.taps["sub"]) >= n, timeout=15)
        sub.stop()
    finally:
        b.stop()
    seqs = [p.seq for p in sub.taps["sub"]]
    assert sorted(seqs) == list(range(n))  # nothing lost, nothing twice
    assert pub.named("sink.down") and pub.named("sink.up")[-1].fields["retries"] >= 0
    assert sub.named("source.down") and len(sub.named("source.up")) >= 2
    stats = _node(pub, "publish")
    assert "overflow" not in stats.get("dropped", {}) and stats["unacked"] == 0
    sub_stats = _node(sub, "sub")
    assert sub_stats["items"] == n and sub_stats["duplicates"] == sub_stats.get("dropped", {}).get(
        "duplicate", 0
    )


def test_a_broker_down_at_start_is_waited_for_and_a_full_queue_is_counted(
    tmp_path: Path,
) -> None:
    b = Mosquitto(tmp_path / "b")  # not started yet
    pub = publisher(b.url, _poses(20), "late", queue=5, backoff_max_s=0.2).start()
    pub.wait(lambda: pub.named("sink.down"))
    down = pub.named("sink.down")[0].fields
    assert "Connection refused" in down["reason"] and down["retry_in_s"] > 0
    b.start()
    try:
        sub = subscriber(b.url, "late", tmp_path / "out.jsonl").start()
        sub.wait(lambda: sub.named("source.up"))
        # the publisher is still waiting for the broker (backoff <= 0.2 s), or has just sent
        pub._thread.join(20)
        assert pub.status == 0
        stats = _node(pub, "publish")
        assert stats["dropped"]["overflow"] == 15  # the oldest, counted; the newest 5 kept
        assert stats["published"] == stats["acknowledged"] == 5
        assert pub.named("sink.up")[-1].fields["down_s"] > 0
        sub.stop()
    finally:
        b.stop()


def test_wrong_credentials_are_said_and_retried_and_no_password_ever_shows(
    tmp_path: Path,
) -> None:
    good, bad = "Very-s3cret-pass", "Wr0ng-s3cret-pass"
    with broker(tmp_path / "b", users={"edge": good}) as b:
        wrong = f"mqtt://edge:{bad}@127.0.0.1:{b.port}"
        right = f"mqtt://edge:{good}@127.0.0.1:{b.port}"
        with publisher(wrong, _poses(3), "creds", backoff_max_s=0.1) as pub:
            pub.wait(lambda: pub.named("sink.down"))
            reason = pub.named("sink.down")[0].fields["reason"]
            assert "refused by the broker" in reason and "user name and password" in reason
            gauges = pub.runtime.services.metrics.node("publish", "mqtt_publish").gauges
            pub.wait(lambda: gauges["attempts"] >= 3, timeout=5)  # retried, with backoff
            assert gauges["connects"] == 0
        assert pub.status == 0  # stopped by the test: never a crash
        assert len(pub.named("sink.down")) == 1  # one outage, retried with backoff
        with subscriber(right, "creds", tmp_path / "out.jsonl") as sub:
            sub.wait(lambda: sub.named("source.up"))
            with publisher(right.replace(good, good), _poses(3), "creds2") as pub2:
                pub2._thread.join(20)
            sub.wait(lambda: len(sub.taps["sub"]) == 3)
        for run in (pub, sub, pub2):
            text = _lines(run)
            assert good not in text and bad not in text and "edge:" not in text


def test_the_last_will_says_offline_when_the_publisher_dies(tmp_path: Path) -> None:
    """A publisher killed outright: the broker publishes its retained last will."""
    with broker(tmp_path / "b") as b:
        pipeline = tmp_path / "live.yaml"
        pipeline.write_text(
            "name: will\nnodes:\n"
            "  - id: sensing\n    type: http_poll\n"
            "    config: {url: 'http://127.0.0.1:9/none', backoff_max_s: 1}\n"
            "  - id: publish\n    type: mqtt_publish\n    inputs: [sensing]\n"
            f"    config: {{url: '{b.url}', client_id: dying}}\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "posecog.cog.cli", "run", str(pipeline)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # until the publisher is connected
                if json.loads(line)["event"] == "sink.up":
                    break
            assert wait_for(lambda: retained(b.port, "posecog/status/dying", 0.5) == b"online")
            proc.kill()
            proc.wait(10)
            assert wait_for(lambda: retained(b.port, "posecog/status/dying", 0.5) == b"offline")
        finally:
            proc.kill()
            proc.wait(10)


def test_the_password_never_shows_on_the_cli_run_or_lint(tmp_path: Path) -> None:
    """Through the real CLI: events, stderr, the run's parameters and lint errors."""
    secret = "Cli-s3cret-pass"
    with broker(tmp_path / "b", users={"edge": "other-password"}) as b:
        url = f"mqtt://edge:{secret}@127.0.0.1:{b.port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "posecog.cog.cli", "run", "edge-mqtt", "--set",
             f"broker={url}", "--set", "sensing_url=http://127.0.0.1:9/none"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # refused by the broker: the wrong password
                if '"sink.down"' in line:
                    break
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0
        text = line + out + err
        assert "refused by the broker" in text and secret not in text and "edge:" not in text
    bad = subprocess.run(
        [sys.executable, "-m", "posecog.cog.cli", "run", "edge-mqtt", "--set", f"broker={url}",
         "--set", "qos=2"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "qos" in bad.stderr
    assert secret not in bad.stdout + bad.stderr


def test_mqtts_verifies_the_broker_with_the_given_ca(tmp_path: Path) -> None:
    ca, listener = tls_files(tmp_path / "tls")
    port = int(listener.split()[1])
    with broker(tmp_path / "b", extra=listener) as b:
        url = f"mqtts://127.0.0.1:{port}"
        with subscriber(url, "tls", tmp_path / "out.jsonl", tls_ca_file=str(ca)) as sub:
            sub.wait(lambda: sub.named("source.up"))
            with publisher(url, _poses(5), "tls", tls_ca_file=str(ca)) as pub:
                pub._thread.join(20)
            sub.wait(lambda: len(sub.taps["sub"]) == 5)
        # without the CA the broker's certificate is not trusted: an outage, said so
        with publisher(url, _poses(1), "tls-untrusted", backoff_max_s=0.2) as untrusted:
            untrusted.wait(lambda: untrusted.named("sink.down"))
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.named("sink.down")[0].fields["reason"]
        assert b.port != port  # the plain listener is still there beside the TLS one


def test_an_outage_longer_than_the_queue_loses_exactly_what_it_counts(tmp_path: Path) -> None:
    n = 400
    b = Mosquitto(tmp_path / "b").start()
    try:
        sub = subscriber(b.url, "outage", tmp_path / "out.jsonl", backoff_max_s=0.1).start()
        sub.wait(lambda: sub.named("source.up"))
        pub = publisher(
            b.url, _poses(n), "outage", period_s=0.003, queue=20, backoff_max_s=0.1
        ).start()
        sub.wait(lambda: len(sub.taps["sub"]) >= 50)
        b.stop(signal.SIGKILL)
        drops = pub.runtime.services.metrics.node("publish", "mqtt_publish").drops
        wait_for(lambda: drops["overflow"] >= 30)  # the queue is full and spilling
        b.start()
        pub._thread.join(30)
        assert pub.status == 0
        overflow = _node(pub, "publish")["dropped"]["overflow"]
        sub.wait(lambda: len(sub.taps["sub"]) >= n - overflow, timeout=15)
        sub.stop()
    finally:
        b.stop()
    seqs = [p.seq for p in sub.taps["sub"]]
    assert len(seqs) == len(set(seqs)) == n - overflow  # all but the counted ones, once each
