from __future__ import annotations

from pathlib import Path

from .conftest import cli

BROKEN = """\
name: broken
nodes:
  - id: replay
    type: jsonl_replay
    config: {path: x.jsonl, pacing: warp}
  - id: window
    type: sliding_windw
    inputs: [replay]
  - id: pose
    type: pose_infer
    inputs: [replay]
    config: {min_confidence: 2}
  - id: out
    type: stdout_events
    inputs: [psoe]
"""


def test_lint_broken_reports_everything(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    r = cli(["lint", str(path)])
    assert r.code == 2
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 5, r.stdout
    assert all(line.startswith(f"{path}:") for line in lines)
    text = r.stdout
    assert f"{path}:5:37: nodes[0] 'replay' (jsonl_replay): config.pacing:" in text
    assert "did you mean 'sliding_window'" in text
    assert "inputs[0] must give CsiWindow; got 'replay' (jsonl_replay) giving CsiFrame" in text
    assert "config.min_confidence: input should be less than or equal to 1; got 2" in text
    assert "got 'psoe'; did you mean 'pose'?" in text


def test_lint_shipped_pipelines_clean() -> None:
    r = cli(["lint"])
    assert r.code == 0, r.stdout + r.stderr
