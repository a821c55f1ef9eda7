from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import reactivex
import yaml
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

from posecog.graph.context import BuildContext, RunServices
from posecog.graph.events import Event, EventStream
from posecog.graph.lint import validate_config
from posecog.nodes.items import CsiWindow, Pose
from posecog.nodes.kinds import pose_infer
from posecog.nodes.kinds.pose_infer import PoseInferConfig, build
from posecog.nodes.model import ModelError, load_model
from posecog.nodes.registry import registry
from tests.nodes.model._data import POSE_V1, excerpt_b_frames


class Harness:
    def __init__(self, base_dir: Path | None = None) -> None:
        self.sched = TestScheduler()
        self.events: list[Event] = []
        stream = EventStream()
        stream.listen(self.events.append)
        self.services = RunServices(events=stream, clock=lambda: self.sched.clock)
        if base_dir is not None:
            self.services.base_dir = base_dir
        self.ctx = BuildContext("pose", "pose_infer", self.services, self.sched)

    def build(self, **config: Any) -> Any:
        return build(PoseInferConfig(**config), self.ctx)

    def idle(self) -> None:
        for callback in self.services.idle_callbacks:
            callback()

    def drops(self) -> dict[str, int]:
        return dict(self.ctx.metrics.drops)


def real_windows() -> list[CsiWindow]:
    ts, amp = excerpt_b_frames()
    return [
        CsiWindow(
            ts_start=float(ts[i]),
            ts_end=float(ts[i + 19]),
            node_id=1,
            frames=amp[i : i + 20],
            seq=i,
        )
        for i in range(len(amp) - 19)
    ]


def run(op: Any, items: list[CsiWindow]) -> list[Pose]:
    out: list[Pose] = []
    done: list[bool] = []
    reactivex.from_iterable(items).pipe(op).subscribe(
        out.append, on_completed=lambda: done.append(True)
    )
    assert done == [True]
    return out


def assert_same(a: list[Pose], b: list[Pose]) -> None:
    assert [p.seq for p in a] == [p.seq for p in b]
    for p, q in zip(a, b, strict=True):
        np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-6)
        assert p.confidence == pytest.approx(q.confidence, abs=1e-5)
        assert (p.ts, p.ts_start, p.node_id) == (q.ts, q.ts_start, q.node_id)


def test_registered_with_types() -> None:
    kind = registry.get("pose_infer")
    assert kind.takes == (CsiWindow,) and kind.gives == (Pose,)
    assert "batch" in kind.doc and kind.examples
    for snippet in kind.examples:
        node = yaml.safe_load(snippet)
        assert node["type"] == "pose_infer"
        PoseInferConfig(**node["config"])


def test_defaults() -> None:
    cfg = PoseInferConfig()
    assert (cfg.model, cfg.backend, cfg.min_confidence, cfg.max_batch) == ("", "auto", 0.3, 64)


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (
            "native",
            "config.backend: must be numpy, onnxruntime or auto; got 'native': the native "
            "backend (a hand-written C kernel) was removed; onnxruntime is the fast path (use "
            "auto or onnxruntime)",
        ),
        ("tensorrt", "config.backend: input should be 'numpy', 'onnxruntime' or 'auto'; got"),
    ],
)
def test_a_removed_or_unknown_backend_is_a_config_error(backend: str, message: str) -> None:
    _, errors = validate_config(registry.get("pose_infer"), {"backend": backend})
    assert [loc for loc, _ in errors] == [("backend",)]
    assert errors[0][1].startswith(message), errors[0][1]


@pytest.mark.parametrize("max_batch", [1, 7, 64])
def test_batching_gives_the_same_poses_as_unbatched(max_batch: int) -> None:
    windows = real_windows()
    unbatched = run(Harness().build(model=str(POSE_V1), max_batch=1), windows)
    batched = run(Harness().build(model=str(POSE_V1), max_batch=max_batch), windows)
    assert len(unbatched) == len(windows)  # every real window passes the default threshold
    assert_same(batched, unbatched)
    direct_kp, _ = load_model(POSE_V1).infer(np.stack([w.frames for w in windows]))
    np.testing.assert_allclose(np.stack([p.keypoints for p in batched]), direct_kp, atol=1e-6)
    # the default backend is auto: onnxruntime, a runtime dependency
    assert batched[0].backend == load_model(POSE_V1, "auto").backend == "onnxruntime"
    assert batched[0].ts == windows[0].ts_end


def test_onnxruntime_node_agrees() -> None:
    windows = real_windows()
    a = run(Harness().build(model=str(POSE_V1)), windows)
    b = run(Harness().build(model=str(POSE_V1), backend="onnxruntime"), windows)
    assert [p.backend for p in b[:1]] == ["onnxruntime"]
    for p, q in zip(a, b, strict=True):
        assert np.abs(p.keypoints - q.keypoints).max() <= 1e-5


def test_flushes_when_idle_and_when_full() -> None:
    h = Harness()
    subject: Subject[CsiWindow] = Subject()
    out: list[Pose] = []
    subject.pipe(h.build(model=str(POSE_V1), max_batch=4)).subscribe(out.append)
    windows = real_windows()
    for w in windows[:3]:
        subject.on_next(w)
    assert out == []
    h.idle()
    assert [p.seq for p in out] == [0, 1, 2]
    h.idle()  # nothing pending: nothing happens
    for w in windows[3:7]:
        subject.on_next(w)
    assert [p.seq for p in out] == [0, 1, 2, 3, 4, 5, 6]  # max_batch reached
    subject.on_next(windows[7])
    subject.on_completed()
    assert [p.seq for p in out][-1] == 7


def test_bad_windows_are_dropped_in_place() -> None:
    h = Harness()
    windows = real_windows()[:4]
    nan = windows[1].frames.copy()
    nan[3, 5] = np.nan
    bad = [
        windows[0],
        CsiWindow(0.0, 1.0, 1, nan, seq=100),
        windows[2],
        CsiWindow(0.0, 1.0, 1, np.zeros((20, 64), np.float32), seq=101),
        windows[3],
    ]
    out = run(h.build(model=str(POSE_V1)), bad)
    assert [p.seq for p in out] == [0, 2, 3]
    assert h.drops() == {"non_finite": 1, "wrong_shape": 1}
    assert any(e.event == "item.dropped" for e in h.events)


def test_low_confidence_is_counted() -> None:
    h = Harness()
    windows = real_windows()
    zeros = CsiWindow(0.0, 1.0, 1, np.zeros((20, 56), np.float32), seq=99)
    out = run(h.build(model=str(POSE_V1), min_confidence=0.5), [windows[0], zeros, windows[1]])
    assert [p.seq for p in out] == [0, 1]
    assert h.drops() == {"low_confidence": 1}
    h2 = Harness()
    assert run(h2.build(model=str(POSE_V1), min_confidence=1.0), windows[:5]) == []
    assert h2.drops() == {"low_confidence": 5}


def test_model_loaded_event() -> None:
    h = Harness()
    h.build(model=str(POSE_V1), backend="onnxruntime")
    (ev,) = [e for e in h.events if e.event == "model.loaded"]
    assert ev.level == "info"
    assert ev.fields["backend"] == "onnxruntime" and ev.fields["path"] == str(POSE_V1)
    assert ev.fields["sha256"].startswith("eb249b9a") and ev.fields["layout"] == "flat_frame_major"
    assert ev.fields["architecture"] == "pose_v1" and ev.fields["node"] == "pose"


def test_stub_is_reported_as_stub() -> None:
    h = Harness()
    op = h.build(min_confidence=0.0)
    (ev,) = [e for e in h.events if e.event == "model.loaded"]
    assert ev.level == "warn" and ev.fields["backend"] == "stub"
    out = run(op, real_windows()[:3])
    assert [p.backend for p in out] == ["stub"] * 3 and [p.confidence for p in out] == [0.0] * 3
    h2 = Harness()
    assert run(h2.build(), real_windows()[:3]) == []  # confidence 0 never passes 0.3
    assert h2.drops() == {"low_confidence": 3}


def test_relative_model_path_and_missing_model(tmp_path: Path) -> None:
    (tmp_path / "m.safetensors").write_bytes(POSE_V1.read_bytes())
    h = Harness(base_dir=tmp_path)
    h.build(model="m.safetensors")
    assert h.events[0].fields["path"] == str(tmp_path / "m.safetensors")
    with pytest.raises(ModelError, match="not found"):
        Harness(base_dir=tmp_path).build(model="absent.safetensors")


def test_a_failing_batch_falls_back_to_single_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    real = load_model(POSE_V1)

    class Flaky:
        """The real model, except that it raises on any batch holding a poisoned window."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def infer(self, frames: np.ndarray) -> Any:
            if (frames[:, 0, 1] == 123.0).any():
                raise RuntimeError("poisoned")
            return real.infer(frames)

    monkeypatch.setattr(pose_infer, "load_model", lambda *a, **k: Flaky())
    h = Harness()
    windows = real_windows()[:5]
    poisoned = windows[2].frames.copy()
    poisoned[0, 1] = 123.0
    items = [*windows[:2], CsiWindow(0.0, 1.0, 1, poisoned, seq=77), *windows[2:]]
    out = run(h.build(model=str(POSE_V1)), items)
    assert [p.seq for p in out] == [0, 1, 2, 3, 4]
    assert h.drops() == {"error:RuntimeError": 1}


def as_node(window: CsiWindow, node_id: int, frames: np.ndarray | None = None) -> CsiWindow:
    f = window.frames if frames is None else frames
    return CsiWindow(window.ts_start, window.ts_end, node_id, f, window.seq)


def test_poses_carry_keypoint_confidences_from_the_other_nodes() -> None:
    """Nodes 1, 2 and 4 see the same frames (the median of the others is their own pose);
    node 3 sees other frames of the recording, so its poses differ from that median."""
    windows = real_windows()
    mixed = []
    for i, w in enumerate(windows[:10]):
        same = windows[0].frames
        other = as_node(w, 3, windows[-1 - i].frames)
        mixed += [as_node(w, 1, same), as_node(w, 2, same), other, as_node(w, 4, same)]
    out = run(Harness().build(model=str(POSE_V1), min_confidence=0.0), mixed)
    assert len(out) == 40
    for pose in out:
        kc = pose.keypoint_confidence
        assert kc is not None and kc.shape == (17,) and kc.min() >= 0.0 and kc.max() <= 1.0
        assert pose.confidence == pytest.approx(float(kc.mean()), abs=1e-6)
    later = out[4:]  # from the second round on, every node has the others to compare with
    assert all(p.confidence == pytest.approx(1.0) for p in later if p.node_id in (2, 4))
    assert all(p.confidence < 0.999 for p in later if p.node_id == 3)
    _, fields = out[5].event(0.0)
    assert len(fields["persons"][0]["keypoint_confidence"]) == 17


def test_agreement_node_ignores_the_other_nodes() -> None:
    windows = real_windows()
    far = [as_node(w, 3, windows[-1 - i].frames) for i, w in enumerate(windows[:10])]
    alone = run(Harness().build(model=str(POSE_V1), min_confidence=0.0), windows[:10])
    mixed = [x for pair in zip(windows[:10], far, strict=True) for x in pair]
    own = run(Harness().build(model=str(POSE_V1), min_confidence=0.0, agreement="node"), mixed)
    node1 = [p for p in own if p.node_id == 1]
    assert [p.confidence for p in node1] == pytest.approx([p.confidence for p in alone])


def test_a_garbage_node_scores_zero_and_does_not_drag_the_others_down() -> None:
    windows = real_windows()
    zeros = np.zeros((20, 56), np.float32)
    mixed = [x for w in windows[:10] for x in (w, as_node(w, 2), as_node(w, 9, zeros))]
    out = run(Harness().build(model=str(POSE_V1), min_confidence=0.0), mixed)
    assert all(p.confidence == 0.0 for p in out if p.node_id == 9)
    assert all(p.confidence > 0.99 for p in out if p.node_id == 2)
