"""``live_scores``: a paired set's confidences as the live graph gives them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from posecog.cog.pipelines import pipeline_dir, resolve_pipeline
from posecog.graph.testing import run_pipeline_test
from posecog.nodes.items import Pose
from posecog.nodes.model import load_model
from posecog.nodes.model.live_scores import live_scores
from posecog.nodes.model.paired import PairedSet, load_paired, stream_ids
from posecog.nodes.registry import default_registry
from posecog.nodes.sim import SimConfig, simulate

DEMO = pipeline_dir() / "models" / "demo.safetensors"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PairedSet]:
    tmp = tmp_path_factory.mktemp("live")
    simulate(
        SimConfig(seed=9, duration_s=20.0, n_nodes=3),
        tmp / "r.csi.jsonl",
        truth=False,
        paired_path=tmp / "r.paired.jsonl",
    )
    return tmp / "r.csi.jsonl", load_paired(tmp / "r.paired.jsonl")


def test_each_record_gets_its_own_windows_pose(recorded: tuple[Path, PairedSet]) -> None:
    _, data = recorded
    model = load_model(DEMO, "numpy")
    scores = live_scores(model, data)
    direct, _ = model.infer(data.frames)
    assert np.allclose(scores.keypoints, direct, atol=1e-6)
    assert scores.n_streams == 3 and scores.n_segments == 3  # one run of records per node
    assert scores.n_windows == 20 * len(data) - 3 * 19  # every frame after a node's first 19
    assert scores.keypoint_confidence.shape == (len(data), 17)
    assert np.allclose(scores.confidence, scores.keypoint_confidence.mean(axis=1), atol=1e-6)


def test_it_is_what_the_replay_pipeline_gives(recorded: tuple[Path, PairedSet]) -> None:
    """The same recording through the real graph: each record's pose and confidence is the
    pipeline's for the window ending on the record's last frame (the paired csi is rounded
    to 3 decimals and its frame times come from ts_start/ts_end, hence the tolerances)."""
    recording, data = recorded
    run = run_pipeline_test(
        resolve_pipeline("replay"),
        overrides={
            "recording": str(recording),
            "model": str(DEMO),
            "min_confidence": 0,
            "backend": "numpy",
        },
        taps=["pose"],
        registry=default_registry(),
    )
    by_node: dict[int, list[Pose]] = {}
    for _, pose in run.taps["pose"]:
        by_node.setdefault(pose.node_id, []).append(pose)
    scores = live_scores(load_model(DEMO, "numpy"), data)
    assert data.ts_end is not None
    live, ours = [], []
    for i, stream in enumerate(stream_ids(data.ts_start)):
        poses = by_node[int(stream) + 1]  # the simulator writes node 1's records first
        ts = np.array([p.ts for p in poses])
        j = int(np.argmin(np.abs(ts - data.ts_end[i])))
        assert abs(ts[j] - data.ts_end[i]) < 2e-3  # ts_end has milliseconds
        assert np.allclose(poses[j].keypoints, scores.keypoints[i], atol=1e-4)
        live.append(poses[j].confidence)
        ours.append(float(scores.confidence[i]))
    diff = np.abs(np.array(live) - np.array(ours))
    assert np.median(diff) < 1e-3 and np.quantile(diff, 0.9) < 0.02, np.sort(diff)[-5:]
    assert np.corrcoef(live, ours)[0, 1] > 0.99


def test_a_pause_starts_a_new_segment(recorded: tuple[Path, PairedSet]) -> None:
    _, data = recorded
    first = np.flatnonzero(stream_ids(data.ts_start) == 0)
    node1 = data.subset(first)
    assert node1.ts_end is not None
    later = np.arange(len(node1)) >= 5  # 2 s of pause before the sixth record
    paused = replace(
        node1,
        ts_start=node1.ts_start + 2.0 * later,
        ts_end=node1.ts_end + 2.0 * later,
    )
    scores = live_scores(load_model(DEMO, "numpy"), paused)
    assert scores.n_segments == 2 and scores.n_streams == 1
    assert scores.n_windows == 20 * len(node1) - 2 * 19
    # Without ts_end the frames are taken 50 ms apart: the same runs.
    assert live_scores(load_model(DEMO, "numpy"), replace(paused, ts_end=None)).n_segments == 2
