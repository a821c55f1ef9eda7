"""The appliance contract verbs and the user-facing error behaviour of the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSE_V1, RUVIEW

from .conftest import cli


def test_version() -> None:
    r = cli(["version"])
    assert r.code == 0
    name, version = r.stdout.split()
    assert name == "pose-estimation"
    assert version[0].isdigit()


def test_version_and_manifest_import_no_numpy() -> None:
    code = (
        "import sys; from posecog.cog.cli import main; main(['version']); main(['manifest']);"
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'reactivex') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_manifest_is_the_contract_json() -> None:
    r = cli(["manifest"])
    assert r.code == 0
    data = json.loads(r.stdout)
    reference = json.loads((RUVIEW / "manifest.template.json").read_text())
    assert set(reference) <= set(data)  # every field of the reference manifest
    assert data["id"] == "pose-estimation"
    assert data["status"] in {"installed", "running", "stopped", "failed", "updating"}


def test_health_with_pose_v1() -> None:
    r = cli(["health", "--model", str(POSE_V1)])
    assert r.code == 0, r.stderr
    (ok,) = r.named("health.ok")
    assert ok["fields"]["backend"] == "onnxruntime"  # auto: installed, a runtime dependency
    assert ok["fields"]["model_sha256"] == (
        "eb249b9a6b2e10130437a10976ed0230b0d085f86a0553d7226e1ae6eae4b9e5"
    )
    assert 0.0 < ok["fields"]["synthetic_output_confidence"] <= 1.0


@pytest.mark.parametrize(
    ("backend", "resolved"),
    [("onnxruntime", "onnxruntime"), ("numpy", "numpy")],
)
def test_health_other_backends(backend: str, resolved: str) -> None:
    r = cli(["health", "--model", str(POSE_V1), "--backend", backend])
    assert r.code == 0, r.stderr
    assert r.named("health.ok")[0]["fields"]["backend"] == resolved


def test_backend_choices_are_the_model_backends() -> None:
    from typing import get_args

    from posecog.cog.cli import BACKENDS
    from posecog.nodes.model import BackendName

    assert get_args(BackendName) == BACKENDS


def test_health_fails_with_diagnostic(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(POSE_V1.read_bytes()[:1000])
    r = cli(["health", "--model", str(broken)])
    assert r.code != 0
    assert r.stdout == ""
    assert "health:" in r.stderr and "broken.safetensors" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(["health", "--model", str(RUVIEW / "pose_v1.onnx")])
    assert r.code != 0
    assert "external data" in r.stderr


def test_user_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    for args, needle in [
        (["run", "replya"], "did you mean 'replay'"),
        (["run", "replay", "--set", "recordng=x"], "did you mean 'recording'"),
        (["run", "replay", "--set", "recording=/nonexistent/file.jsonl"], "/nonexistent/file"),
        (["run", "replay", "--set", "model=/nonexistent/m.safetensors"], "m.safetensors"),
        (["nodes", "sliding_windw"], "did you mean 'sliding_window'"),
        (["run", "--config", str(tmp_path / "missing.json")], "missing.json"),
    ]:
        r = cli(args)
        assert r.code == 2, (args, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert not r.named("pose.frame")


def test_nodes_and_pipelines_listings() -> None:
    r = cli(["nodes"])
    assert r.code == 0
    for kind in ("jsonl_replay", "sliding_window", "pose_infer", "stdout_events", "jsonl_file"):
        assert kind in r.stdout
    r = cli(["nodes", "sliding_window"])
    assert "max_gap_s" in r.stdout and "example:" in r.stdout
    r = cli(["nodes", "sliding_window", "--schema"])
    schema = json.loads(r.stdout)
    assert schema["additionalProperties"] is False
    assert all("description" in p for p in schema["properties"].values())
    r = cli(["pipelines"])
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert {"replay", "live-http", "live-ws", "live-udp", "appliance"} <= set(names)


def test_stats_interval_must_be_non_negative_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    from posecog.cog.cli import main

    for bad in ("-1", "nan", "inf", "soon"):
        with pytest.raises(SystemExit) as exit_:
            main(["run", "--stats-interval", bad])
        assert exit_.value.code == 2
        assert "--stats-interval: must be" in capsys.readouterr().err
