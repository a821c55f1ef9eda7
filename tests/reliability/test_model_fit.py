"""A model that does not fit the pipeline, or does not work, is refused before the run
(issue 10 point 8): through the real CLI, one ``Error:`` line, no frame read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posecog.nodes.model import load_bundle, save_bundle
from tests.cog.conftest import cli
from tests.conftest import REPO

DEMO = REPO / "pipelines" / "models" / "demo.safetensors"
PROBE = "model files that do not fit or do not work"
REPLAY = (REPO / "pipelines" / "replay.yaml").read_text()


def _variant(tmp_path: Path, name: str, **head: float) -> Path:
    """The demo bundle with its output layer replaced: zero weights and bias ``head['bias']``
    (a model that ignores its input), or scaled weights (``head['scale']``)."""
    bundle = load_bundle(DEMO)
    weights = dict(bundle.weights)
    if "bias" in head:
        weights["head.fc2.weight"] = np.zeros_like(weights["head.fc2.weight"])
        weights["head.fc2.bias"] = np.full_like(weights["head.fc2.bias"], head["bias"])
    if "scale" in head:
        weights["head.fc2.weight"] = weights["head.fc2.weight"] * head["scale"]
    path = tmp_path / f"{name}.safetensors"
    save_bundle(path, weights, bundle.metadata, bundle.input_norm)
    return path


@pytest.mark.parametrize(
    ("kind", "head", "says"),
    [
        ("constant", {"bias": 0.3}, "ignores its input"),
        ("saturated", {"scale": 1e4}, "saturated"),
    ],
)
def test_health_fails_a_model_whose_output_is_constant_or_saturated(
    tmp_path: Path, kind: str, head: dict[str, float], says: str, probes: Any
) -> None:
    r = cli(["health", "--model", str(_variant(tmp_path, kind, **head))])
    probes.record(PROBE, 1, crashes=int("Traceback" in r.stderr))
    assert r.code == 1 and not r.named("health.ok")
    assert says in r.stderr and "Traceback" not in r.stderr


def test_health_passes_the_shipped_model() -> None:
    r = cli(["health", "--model", str(DEMO)])
    assert r.code == 0 and r.named("health.ok")


def test_a_window_the_model_does_not_take_is_refused_before_the_run(
    tmp_path: Path, probes: Any
) -> None:
    pipeline = tmp_path / "small.yaml"
    pipeline.write_text(
        REPLAY.replace("${pipeline_dir}", str(REPO / "pipelines")).replace("size: 20", "size: 10")
    )
    r = cli(["run", str(pipeline)])
    probes.record(PROBE, 1, crashes=int("Traceback" in r.stderr))
    assert r.code == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr
    assert "20 frames x 56 subcarriers" in errors[0] and "set size: 20" in errors[0]
    assert not r.named("pose.frame") and not r.named("source.finished")  # nothing was read


def test_a_model_path_that_is_not_a_file_says_what_it_is(tmp_path: Path, probes: Any) -> None:
    import os

    (tmp_path / "dir.safetensors").mkdir()
    os.mkfifo(tmp_path / "fifo.safetensors")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    cases = {
        "dir.safetensors": "a directory",
        "fifo.safetensors": "a named pipe (FIFO)",
        "a": "a symbolic link loop",
        "dangling": "a symbolic link to",
        "missing.safetensors": "model file not found",
    }
    for name, says in cases.items():
        r = cli(["run", "replay", "--set", f"model={tmp_path / name}"], timeout=60)
        probes.record(PROBE, 1, crashes=int("Traceback" in r.stderr))
        errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
        assert r.code == 2 and len(errors) == 1 and says in errors[0], (name, r.stderr)
