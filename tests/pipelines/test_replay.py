"""The replay pipeline end to end on the real RuView excerpts, on virtual time."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from posecog.cog.pipelines import resolve_pipeline
from posecog.graph.registry import Registry
from posecog.graph.testing import run_pipeline_test
from posecog.nodes.items import CsiWindow, Pose
from posecog.nodes.registry import default_registry
from tests.conftest import EXCERPT_A, EXCERPT_B, POSE_V1

REPLAY = resolve_pipeline("replay")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def csi_lines_per_node(path: Path) -> Counter[int]:
    """Valid CSI lines per node, counted straight from the file (independently of the parser)."""
    counts: Counter[int] = Counter()
    for text in path.read_text().splitlines():
        rec = json.loads(text)
        if "iq_hex" in rec and rec.get("type") == "raw_csi":
            counts[rec["node_id"]] += 1
        elif isinstance(rec.get("subcarriers"), list) and len(rec["subcarriers"]) == 56:
            counts[rec.get("node_id", 0)] += 1
    return counts


@pytest.mark.parametrize("excerpt", [EXCERPT_A, EXCERPT_B], ids=["variant_a", "variant_b"])
def test_one_window_per_valid_line_after_the_first_19(excerpt: Path, registry: Registry) -> None:
    run = run_pipeline_test(
        REPLAY,
        overrides={"recording": str(excerpt), "model": str(POSE_V1), "min_confidence": 0},
        taps=["window", "pose"],
        registry=registry,
    )
    lines = csi_lines_per_node(excerpt)
    windows: list[CsiWindow] = [w for _, w in run.taps["window"]]
    poses: list[Pose] = [p for _, p in run.taps["pose"]]
    assert Counter(w.node_id for w in windows) == {n: c - 19 for n, c in lines.items()}
    assert [(p.node_id, p.seq, p.ts) for p in poses] == [
        (w.node_id, w.seq, w.ts_end) for w in windows
    ]
    assert run.sinks_completed == {"out"}
    frames = run.events_named("pose.frame")
    assert len(frames) == len(poses)
    assert all(len(e.fields["persons"][0]["keypoints"]) == 17 for e in frames)


@pytest.mark.parametrize("excerpt", [EXCERPT_A, EXCERPT_B], ids=["variant_a", "variant_b"])
def test_default_threshold_lets_a_real_recording_through(excerpt: Path, registry: Registry) -> None:
    run = run_pipeline_test(
        REPLAY,
        overrides={"recording": str(excerpt), "model": str(POSE_V1)},
        taps=["window", "pose"],
        registry=registry,
    )
    assert len(run.taps["pose"]) >= 0.95 * len(run.taps["window"]) > 0
    confidences = {round(p.confidence, 3) for _, p in run.taps["pose"]}
    assert len(confidences) > 10  # per frame, never a constant


# Pinned outputs of pose_v1 on the real raw-packet excerpt (variant A): the first window of each
# node, keypoints nose, left_shoulder, right_hip. They pin decoding (imaginary-first int8 pairs,
# LLTF bins 0..55), windowing and pose_v1's flat frame-major input layout together.
PINNED_A = {
    1: [[0.3964, 0.4509], [0.4064, 0.4692], [0.4230, 0.4711]],
    2: [[0.3825, 0.4545], [0.3933, 0.4661], [0.4075, 0.4946]],
}


def hand_decoded_first_window(node: int) -> np.ndarray:
    """The node's first 20 raw_csi lines decoded by hand: int8 pairs, imaginary first, the
    amplitude of LLTF bins 0..55, frame-major ``[20, 56]``."""
    rows = []
    for text in EXCERPT_A.read_text().splitlines():
        rec = json.loads(text)
        if rec.get("type") == "raw_csi" and rec["node_id"] == node:
            raw = np.frombuffer(bytes.fromhex(rec["iq_hex"]), dtype=np.int8).astype(np.float64)
            imag, real = raw[0::2], raw[1::2]
            rows.append(np.sqrt(real**2 + imag**2)[:56])
        if len(rows) == 20:
            break
    return np.array(rows, dtype=np.float32)


def test_pose_v1_pinned_on_variant_a(registry: Registry) -> None:
    from posecog.nodes.model import load_model

    run = run_pipeline_test(
        REPLAY,
        overrides={"recording": str(EXCERPT_A), "model": str(POSE_V1), "min_confidence": 0},
        taps=["pose"],
        registry=registry,
    )
    first: dict[int, Pose] = {}
    for _, p in run.taps["pose"]:
        first.setdefault(p.node_id, p)
    model = load_model(POSE_V1, "numpy")
    for node, pinned in PINNED_A.items():
        got = first[node].keypoints
        assert np.allclose(got[[0, 5, 12]], pinned, atol=1e-4), (node, got[[0, 5, 12]])
        direct, _ = model.infer(hand_decoded_first_window(node)[None])
        assert np.allclose(got, direct[0], atol=1e-6)


def test_realtime_replay_on_virtual_time(registry: Registry) -> None:
    stamps = [json.loads(t)["timestamp"] for t in EXCERPT_B.read_text().splitlines()]
    run = run_pipeline_test(
        REPLAY,
        overrides={
            "recording": str(EXCERPT_B),
            "model": str(POSE_V1),
            "pacing": "realtime",
            "speed": 2.0,
            "min_confidence": 0,
        },
        taps=["pose"],
        registry=registry,
        start=100.0,
    )
    times = [t for t, _ in run.taps["pose"]]
    expected = [100.0 + (s - stamps[0]) / 2.0 for s in stamps[19:]]
    assert np.allclose(times, expected, atol=1e-6)
