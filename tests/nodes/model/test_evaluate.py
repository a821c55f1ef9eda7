"""``evaluate()``: batching, progress, held-out split and the mean-pose baseline."""

from __future__ import annotations

import io
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from posecog.graph.errors import ConfigError
from posecog.nodes.model import load_model
from posecog.nodes.model.evaluate import evaluate, mean_pose, terminal_progress
from posecog.nodes.model.paired import PairedSet
from tests.conftest import POSE_V1


def _set(n: int, seed: int = 0) -> PairedSet:
    rng = np.random.default_rng(seed)
    return PairedSet(
        frames=rng.uniform(0, 30, (n, 20, 56)).astype(np.float32),
        keypoints=rng.uniform(0.2, 0.8, (n, 17, 2)).astype(np.float32),
        conf=rng.uniform(0, 1, n).astype(np.float32),
        ts_start=1e9 + rng.permutation(n).astype(np.float64),
        path=Path("synthetic.paired.jsonl"),
        sha256="0" * 64,
    )


def test_batch_size_does_not_change_the_result() -> None:
    model, data = load_model(POSE_V1), _set(23)
    calls: list[tuple[int, int]] = []
    small = evaluate(model, data, batch_size=5, progress=lambda d, t: calls.append((d, t)))
    whole = evaluate(model, data, batch_size=256)
    total = small.n_windows
    assert calls[-1] == (total, total) and all(t == total for _, t in calls)
    assert all(0 < b - a <= 5 for (a, _), (b, _) in itertools.pairwise(calls))
    assert small.metrics.mpjpe == pytest.approx(whole.metrics.mpjpe, rel=1e-6)
    assert small.metrics.pck == whole.metrics.pck
    assert small.confidence.mean_confidence == pytest.approx(whole.confidence.mean_confidence)


def test_held_out_baseline_is_the_training_mean() -> None:
    data = _set(10)
    later = np.argsort(data.ts_start)[8:]
    result = evaluate(load_model(POSE_V1), data, held_out=True)
    assert result.n_samples == 2 and result.n_records == 10
    train_mean = data.keypoints[np.argsort(data.ts_start)[:8]].astype(np.float64).mean(axis=0)
    gt = data.keypoints[later].astype(np.float64)
    expected = np.linalg.norm(train_mean - gt, axis=2).mean()
    assert result.baseline.mpjpe == pytest.approx(expected, rel=1e-5)


def test_mean_pose_leaves_out_missing_joints() -> None:
    kp = np.full((3, 17, 2), 0.4, dtype=np.float32)
    kp[0, 0] = [0.0, 0.0]
    kp[1, 0] = [np.nan, 0.1]
    kp[2, 0] = [0.7, 0.1]
    kp[:, 1] = 0.0  # missing everywhere: 0.5
    mean = mean_pose(kp)
    assert mean[0].tolist() == pytest.approx([0.7, 0.1])
    assert mean[1].tolist() == [0.5, 0.5]
    assert mean[2].tolist() == pytest.approx([0.4, 0.4])


def test_misfit_data_and_too_few_records() -> None:
    model = load_model(POSE_V1)
    data = _set(4)
    with pytest.raises(ConfigError, match=r"\[20, 52\]"):
        evaluate(model, replace(data, frames=data.frames[:, :, :52]))
    with pytest.raises(ConfigError, match="at least 2"):
        evaluate(model, data.subset([0]), held_out=True)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_and_for_long_sets() -> None:
    tty, pipe = _Tty(), io.StringIO()
    terminal_progress(tty)(512, 1024)
    terminal_progress(tty)(1024, 1024)
    terminal_progress(pipe)(512, 1024)
    terminal_progress(tty)(100, 200)
    assert tty.getvalue() == "\revaluating 512/1024 (50 %)\revaluating 1024/1024 (100 %)\n"
    assert pipe.getvalue() == ""
