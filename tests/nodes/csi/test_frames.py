from __future__ import annotations

import json
from collections import Counter

from posecog.nodes.csi.frames import RecordingFrames
from tests.conftest import EXCERPT_A


def test_frames_of_one_node_with_every_skip_reported():
    lines = [json.loads(t) for t in EXCERPT_A.read_text().splitlines()]
    node1 = [d["timestamp"] for d in lines if d.get("type") == "raw_csi" and d["node_id"] == 1]
    reported: list[tuple[str, str]] = []

    frames = RecordingFrames(EXCERPT_A, nodes=[1], on_skip=lambda r, d: reported.append((r, d)))
    got = [f.ts for f in frames]
    frames.close()

    assert got == node1
    assert frames.lines == len(lines) and frames.frames == len(node1)
    assert Counter(r for r, _ in reported) == frames.skipped
    assert frames.skipped["node_not_selected"] == sum(
        d.get("type") == "raw_csi" and d["node_id"] == 2 for d in lines
    )
    assert frames.skipped["vitals_line"] == sum(d.get("type") == "vitals" for d in lines)


def test_loop_shifts_each_pass_after_the_previous_one(tmp_path):
    path = tmp_path / "two.jsonl"
    rows = [{"timestamp": 10.0 + 0.5 * k, "subcarriers": [0.0] * 56} for k in range(2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frames = RecordingFrames(path, loop=True)
    got = [frames.next_frame() for _ in range(6)]
    frames.stop()
    assert frames.next_frame() is None
    frames.close()
    assert [f.ts for f in got] == [10.0, 10.5, 11.0, 11.5, 12.0, 12.5]
    assert [f.seq for f in got] == [1, 2, 4, 5, 7, 8]
    assert frames.passes == 2


def test_loop_over_a_file_without_frames_ends(tmp_path):
    path = tmp_path / "none.jsonl"
    path.write_text('{"type": "feature", "features": []}\n')
    frames = RecordingFrames(path, loop=True)
    assert list(frames) == []
    assert frames.skipped == {"feature_line": 1}
    frames.close()
