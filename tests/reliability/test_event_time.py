"""Event-time poisoning (issue 10 point 2), on the real recording: frames stamped far in the
future or past, one at a time, do not silence a node; replay gives the clean file's poses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cog.conftest import cli
from tests.conftest import EXCERPT_A


def _poses(path: Path) -> list[tuple[int, float, list[Any]]]:
    r = cli(["run", "replay", "--set", f"recording={path}", "--set", "backend=numpy"])
    assert r.code == 0, r.stderr
    return [
        (e["fields"]["node_id"], e["fields"]["ts_event"], e["fields"]["persons"])
        for e in r.named("pose.frame")
    ]


@pytest.mark.parametrize("offset", [1e6, -1e6, 3600.0])
def test_lone_frames_off_the_timeline_lose_no_pose(
    tmp_path: Path, offset: float, probes: Any
) -> None:
    lines = EXCERPT_A.read_text().splitlines()
    csi = [i for i, t in enumerate(lines) if '"raw_csi"' in t]
    poisoned = list(lines)
    for k, i in enumerate(csi[50::97]):  # a few frames of both nodes, far off their clocks
        row = json.loads(lines[i])
        row["timestamp"] += offset * (1 + k)
        poisoned.insert(i + 1 + k, json.dumps(row))
    clean_path, bad_path = tmp_path / "clean.jsonl", tmp_path / "poisoned.jsonl"
    clean_path.write_text("\n".join(lines) + "\n")
    bad_path.write_text("\n".join(poisoned) + "\n")
    clean, bad = _poses(clean_path), _poses(bad_path)
    lost = len(clean) - len(bad)
    probes.record("event time off the node's clock (real recording)", len(csi[50::97]), lost=lost)
    assert len(clean) > 300 and bad == clean  # every pose, bit for bit
