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


def _nothing(path, **kwargs):
    frames = RecordingFrames(path, **kwargs)
    assert list(frames) == []
    frames.close()
    return frames.why_nothing()


def test_why_nothing_is_none_when_frames_came_out():
    frames = RecordingFrames(EXCERPT_A)
    assert list(frames)
    frames.close()
    assert frames.why_nothing() is None


def test_why_nothing_tells_empty_filtered_and_foreign_files_apart(tmp_path):
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")
    assert _nothing(blank) == f"{blank} is empty: no line to replay"

    assert "none of its frames is of the selected nodes [7]" in _nothing(EXCERPT_A, nodes=[7])

    other = tmp_path / "other.json"
    other.write_text('{"kind": "something else", "value": 1}\n' * 3)
    why = _nothing(other)
    assert why.startswith(f"{other}: no CSI frame in 3 lines (skipped: unknown_record 3; ")
    assert "the first skipped: unknown_record: line 1: " in why
    assert """the first line reads '{"kind": "something else", "value": 1}'""" in why
    for variant in ("A", "A-legacy", "A-filtered", "B", "C"):
        assert f"variant {variant}, " in why
    assert "'raw_csi' lines with 'magic'" in why and "'sensing_update' lines" in why
    assert "'iq_hex' = packet bytes 8.." in why and "'subcarriers' list" in why


def test_why_nothing_names_known_formats_that_replay_does_not_read(tmp_path):
    paired = tmp_path / "x.paired.jsonl"
    paired.write_text(json.dumps({"csi": [0.0] * 1120, "csi_shape": [56, 20], "kp": []}) + "\n")
    assert "it looks like camera-paired training data" in _nothing(paired)
    # A-legacy is read now: a broken line of it is just that, with no "looks like" of a format
    # replay does not read
    legacy = tmp_path / "legacy.jsonl"
    line = {"type": "raw_csi", "timestamp": "2026-05-19T12:00:00.123Z", "iq_hex": "00"}
    legacy.write_text(json.dumps(line) + "\n")
    why = _nothing(legacy)
    assert "no CSI frame in 1 line (skipped: missing_field 1; " in why
    assert "it looks like" not in why
    long = tmp_path / "long.jsonl"
    long.write_text(json.dumps({"x": "y" * 200}) + "\n")
    assert """reads '{"x": "yyyy""" in _nothing(long) and "yyy...'" in _nothing(long)
