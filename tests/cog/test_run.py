"""`run` as a process: real files, real signals, the events on stdout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.conftest import EXCERPT_A, EXCERPT_B, POSE_V1, REPO, RUVIEW

from .conftest import cli


def test_run_replay_on_real_excerpt_with_pose_v1() -> None:
    """The issue's acceptance command: one pose.frame per window per node, then run.finished."""
    r = cli(
        [
            "run",
            "replay",
            "--set",
            f"recording={EXCERPT_A}",
            "--set",
            f"model={POSE_V1}",
            "--set",
            "min_confidence=0",
        ]
    )
    assert r.code == 0, r.stderr
    lines = [json.loads(t) for t in EXCERPT_A.read_text().splitlines()]
    per_node = Counter(rec["node_id"] for rec in lines if rec.get("type") == "raw_csi")
    frames = r.named("pose.frame")
    assert Counter(e["fields"]["node_id"] for e in frames) == {
        n: c - 19 for n, c in per_node.items()
    }
    first = frames[0]
    assert set(first) == {"ts", "level", "event", "fields"}
    assert {"tick", "n_persons", "persons", "node_id", "ts_event", "latency_ms"} <= set(
        first["fields"]
    )
    assert first["fields"]["n_persons"] == 1
    kps = first["fields"]["persons"][0]["keypoints"]
    assert len(kps) == 17 and all(0 <= v <= 1 for kp in kps for v in kp)
    (finished,) = r.named("run.finished")
    assert r.events[-1] == finished
    fields = finished["fields"]
    assert fields["reason"] == "completed"
    n_other = Counter(
        rec.get("type", "compressed") for rec in lines if rec.get("type") != "raw_csi"
    )
    assert fields["dropped"] == {  # vitals lines are given (to no node here), not dropped
        "feature_line": n_other["feature"],
        "compressed_csi": n_other["compressed"],
    }
    assert fields["nodes"]["out"]["in"] == len(frames)


def test_bad_input_corpus_counts_everything_and_keeps_the_good(tmp_path: Path) -> None:
    good = EXCERPT_B.read_text().splitlines()
    bad = [
        "{not json",
        json.dumps({"timestamp": 1.0, "subcarriers": [1.0] * 55}),
        '{"timestamp": 2.0, "subcarriers": [NaN' + ", 1.0" * 55 + "]}",
        json.dumps(
            {
                "timestamp": 3.0,
                "node_id": 1,
                "magic": "0xC51100FF",
                "type": "raw_csi",
                "iq_hex": "00" * 128,
                "subcarriers": 64,
                "size": 148,
            }
        ),
        json.dumps({"timestamp": "late", "subcarriers": [1.0] * 56}),
    ]
    mixed = []
    for i, line in enumerate(good):
        mixed.append(line)
        if i % 10 == 5 and bad:
            mixed.append(bad.pop())
    text = "\n".join(mixed) + '\n{"timestamp": 9e9, "subcarr'  # a truncated last line
    rec = tmp_path / "corrupt.jsonl"
    rec.write_text(text)
    r = cli(
        [
            "run",
            "replay",
            "--set",
            f"recording={rec}",
            "--set",
            f"model={POSE_V1}",
            "--set",
            "min_confidence=0",
        ]
    )
    assert r.code == 0, r.stderr
    assert len(r.named("pose.frame")) == len(good) - 19  # every valid line still came through
    dropped = r.named("run.finished")[0]["fields"]["dropped"]
    assert sum(dropped.values()) == 6, dropped
    assert "truncated_line" in dropped and "bad_json" in dropped
    warned = {e["fields"]["reason"] for e in r.named("item.dropped")}
    assert warned == set(dropped)


def test_sigterm_drains_flushes_and_exits_zero(tmp_path: Path) -> None:
    out_file = tmp_path / "poses.jsonl"
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"""\
name: sigterm
nodes:
  - id: replay
    type: jsonl_replay
    config: {{path: {EXCERPT_B}, pacing: realtime, loop: true}}
  - id: window
    type: sliding_window
    inputs: [replay]
  - id: pose
    type: pose_infer
    inputs: [window]
    config: {{model: {POSE_V1}, min_confidence: 0}}
  - id: out
    type: stdout_events
    inputs: [pose]
  - id: save
    type: jsonl_file
    inputs: [pose]
    config: {{path: {out_file}, flush_every: 1000}}
""")
    proc = subprocess.Popen(
        [sys.executable, "-m", "posecog.cog.cli", "run", str(pipeline)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:  # wait for a few live poses, then ask it to stop
        if '"pose.frame"' in line:
            seen += 1
            if seen == 5:
                break
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    events = [json.loads(t) for t in rest.splitlines() if t.startswith("{")]
    finished = events[-1]
    assert finished["event"] == "run.finished"
    assert finished["fields"]["reason"] == "stopped"
    written = finished["fields"]["nodes"]["save"]["in"]
    assert written >= 5
    saved = out_file.read_text().splitlines()  # flushed although fewer than flush_every lines
    assert len(saved) == written
    assert all(json.loads(t)["event"] == "pose.frame" for t in saved)


def test_run_with_reference_config_json(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "pose_v1.safetensors").write_bytes(POSE_V1.read_bytes())
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "sensing_url": "http://127.0.0.1:3000/api/v1/sensing/latest",
                "model_path": "weights/pose_v1.safetensors",  # relative to the install dir
                "poll_ms": 40,
                "min_confidence": 0.0,
                "pipeline": "replay",
                "parameters": {"recording": str(EXCERPT_B)},
            }
        )
    )
    r = cli(["run", "--config", str(config)], cwd=RUVIEW)
    assert r.code == 0, r.stderr
    started = r.named("run.started")[0]["fields"]
    assert started["unused_config"] == ["poll_ms", "sensing_url"]
    assert started["model_path"] == str(tmp_path / "weights" / "pose_v1.safetensors")
    assert started["parameters"]["model"] == str(tmp_path / "weights" / "pose_v1.safetensors")
    assert len(r.named("pose.frame")) == 60 - 19
    config.write_text(json.dumps({"model_path": "x", "colour": "red"}))
    r = cli(["run", "--config", str(config)])
    assert r.code == 2
    assert "colour: unknown key" in r.stderr
    config.write_text(
        json.dumps(
            {"model_path": "x", "pipeline": "replay", "parameters": {"recordng": "a", "pace.x": 1}}
        )
    )
    r = cli(["run", "--config", str(config)])
    assert r.code == 2 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert f"{config}: parameters.recordng: must be a parameter of pipeline 'replay'" in lines[0]
    assert "did you mean 'recording'?" in lines[0]
    assert f"{config}: parameters.pace.x:" in lines[1] and "unknown node id" in lines[1]
    assert "--set" not in r.stderr  # the config file is named, not the command line


def _saving_pipeline(tmp_path: Path, target: str) -> Path:
    """A pipeline file: the real excerpt through pose_v1 into a jsonl_file sink at ``target``."""
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"""\
name: save
nodes:
  - {{id: replay, type: jsonl_replay, config: {{path: {EXCERPT_B}}}}}
  - {{id: window, type: sliding_window, inputs: [replay]}}
  - {{id: pose, type: pose_infer, inputs: [window], config: {{model: {POSE_V1}}}}}
  - {{id: save, type: jsonl_file, inputs: [pose], config: {{path: {target}}}}}
""")
    return pipeline


def test_unwritable_sink_is_a_runtime_failure_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    r = cli(["run", str(_saving_pipeline(tmp_path, f"{blocker}/poses.jsonl"))])
    assert r.code == 1, (r.stdout[-500:], r.stderr)
    finished = r.named("run.finished")[0]
    assert finished["level"] == "error" and finished["fields"]["reason"] == "failed"
    assert "cannot write" in finished["fields"]["error"]
    assert "RuntimeFailure" not in finished["fields"]["error"]
    assert r.stderr.startswith("Error: save: cannot write")
    assert "Traceback" not in r.stderr


def test_a_stdout_that_cannot_be_written_exits_1_with_one_error_line() -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "posecog.cog.cli", "run", "replay"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 1  # never 0 with the events lost
    assert proc.stderr.splitlines() == ["Error: cannot write events: No space left on device"]


def test_a_reader_that_leaves_ends_the_run_quietly() -> None:
    """``run replay | head -n 3``: the pipe closes under the run; no traceback, no noise."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "posecog.cog.cli", "run", "replay"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()  # what head does after its third line
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 1
    assert all(line.startswith(b"{") for line in lines)
    assert err == ""


def test_a_replay_of_a_file_that_is_no_recording_is_an_error_that_says_why(tmp_path: Path) -> None:
    r = cli(["run", "replay", "--set", f"recording={REPO / 'README.md'}"])
    assert r.code == 1
    (line,) = r.stderr.splitlines()
    assert line.startswith("Error: replay: ") and "no CSI frame in" in line
    assert "the first line reads '# cog-pose-estimation'" in line
    assert "raw_csi" in line and "subcarriers" in line and "sensing_update" in line
    empty = tmp_path / "empty.csi.jsonl"
    empty.write_text("\n\n")
    r = cli(["run", "replay", "--set", f"recording={empty}"])
    assert r.code == 1 and r.stderr.splitlines() == [
        f"Error: replay: {empty} is empty: no line to replay"
    ]
    r = cli(["run", "replay", "--set", "replay.nodes=[7]"])
    assert r.code == 1 and "none of its frames is of the selected nodes [7]" in r.stderr


def test_a_file_sink_that_fails_on_write_and_on_close_reports_one_error(tmp_path: Path) -> None:
    r = cli(["run", str(_saving_pipeline(tmp_path, "/dev/full"))])
    assert r.code == 1
    assert r.stderr.splitlines() == [
        "Error: save: cannot write /dev/full: [Errno 28] No space left on device"
    ]
