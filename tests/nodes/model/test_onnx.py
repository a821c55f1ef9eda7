"""The ONNX graph and the onnxruntime backend: validity, parity with numpy, session settings."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from posecog.nodes.csi.recording import read_recording
from posecog.nodes.items import CsiFrame
from posecog.nodes.model import load_bundle, load_model, to_model_input
from posecog.nodes.model.onnx_backend import INPUT, OUTPUT
from posecog.nodes.model.onnx_graph import OPSET, build_onnx
from tests.conftest import EXCERPT_A, EXCERPT_B, REPO
from tests.nodes.model._data import POSE_V1, excerpt_b_windows

DEMO = REPO / "pipelines" / "models" / "demo.safetensors"
MODELS = [POSE_V1, DEMO]


@cache
def real_windows() -> np.ndarray:
    """Every sliding window of every node of both real excerpts (variant A raw packets and
    variant B amplitudes), decoded by the product's reader: ``float32[554, 20, 56]``."""
    windows = []
    for path in (EXCERPT_A, EXCERPT_B):
        per_node: dict[int, list[np.ndarray]] = defaultdict(list)
        for entry in read_recording(path):
            if isinstance(entry.value, CsiFrame):
                per_node[entry.value.node_id].append(entry.value.amplitude)
        for frames in per_node.values():
            a = np.array(frames, dtype=np.float32)
            windows += [a[i : i + 20] for i in range(len(a) - 19)]
    return np.stack(windows)


def realistic_windows() -> np.ndarray:
    """The excerpt's windows, plus rescaled and noisier copies (64 + 41 windows)."""
    w = excerpt_b_windows()
    rng = np.random.default_rng(7)
    more = w[rng.integers(0, len(w), 64)] * rng.uniform(0.5, 2.0, (64, 1, 1))
    more = more + rng.normal(0, 0.5, more.shape) * (more > 0)
    return np.concatenate([w, more.astype(np.float32)])


@pytest.mark.parametrize("input_name", ["csi", "frames"])
def test_graph_is_valid_opset17_with_dynamic_batch(input_name: str) -> None:
    model = build_onnx(load_bundle(POSE_V1), input_name=input_name)  # type: ignore[arg-type]
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain == ""] == [OPSET] == [17]
    (inp,) = model.graph.input
    assert inp.name == input_name
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == (["batch", 56, 20] if input_name == "csi" else ["batch", 20, 56])
    (out,) = model.graph.output
    assert out.name == "keypoints"
    assert [d.dim_value for d in out.type.tensor_type.shape.dim][1:] == [17, 2]


@pytest.mark.parametrize("path", MODELS, ids=["pose_v1", "demo"])
@pytest.mark.parametrize("batch", [1, 64])
def test_numpy_and_onnxruntime_agree_on_the_real_recordings(path: Path, batch: int) -> None:
    """Keypoints and confidences within 1e-5 on every window of both real excerpts, in
    batches of 1 and 64 (pose_v1: flat_frame_major, raw input; demo: subcarrier_major with
    per-subcarrier normalisation: both layouts and the normalisation inside the graph)."""
    windows = real_windows()
    reference, fast = load_model(path, "numpy"), load_model(path, "onnxruntime")
    assert fast.backend == "onnxruntime"
    worst_kp = worst_conf = 0.0
    for lo in range(0, len(windows), batch):
        frames = windows[lo : lo + batch]
        kp_np, conf_np = reference.infer(frames)
        kp_ort, conf_ort = fast.infer(frames)
        assert kp_ort.shape == kp_np.shape and kp_ort.dtype == conf_ort.dtype == np.float32
        worst_kp = max(worst_kp, float(np.abs(kp_np - kp_ort).max()))
        worst_conf = max(worst_conf, float(np.abs(conf_np - conf_ort).max()))
    assert worst_kp <= 1e-5 and worst_conf <= 1e-5, (worst_kp, worst_conf)


@pytest.mark.parametrize("batch", [7, 105])
def test_numpy_and_onnxruntime_agree_off_the_recordings(batch: int) -> None:
    frames = realistic_windows()[:batch]
    kp_np, conf_np = load_model(POSE_V1, "numpy").infer(frames)
    kp_ort, conf_ort = load_model(POSE_V1, "onnxruntime").infer(frames)
    assert np.abs(kp_np - kp_ort).max() <= 1e-5
    assert np.abs(conf_np - conf_ort).max() <= 1e-5


def test_the_frames_graph_is_the_exported_graph_behind_the_layout() -> None:
    """``frames`` input == ``csi`` input after ``to_model_input``, bit for bit apart from the
    normalisation's place: the runtime and ``export-onnx`` run the same network."""
    bundle = load_bundle(DEMO)
    windows = real_windows()[:64]
    sessions = {
        name: ort.InferenceSession(
            build_onnx(bundle, input_name=name).SerializeToString(),  # type: ignore[arg-type]
            providers=["CPUExecutionProvider"],
        )
        for name in ("csi", "frames")
    }
    (a,) = sessions["frames"].run(None, {"frames": windows})
    (b,) = sessions["csi"].run(None, {"csi": to_model_input(windows, bundle.metadata.layout)})
    assert np.abs(a - b).max() <= 1e-6


def test_one_single_threaded_sequential_session_without_spinning() -> None:
    model = load_model(POSE_V1, "onnxruntime")
    session = model._runner.session  # type: ignore[attr-defined]
    opts = session.get_session_options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for pool in ("intra_op", "inter_op"):
        assert opts.get_session_config_entry(f"session.{pool}.allow_spinning") == "0"
    assert [i.name for i in session.get_inputs()] == [INPUT]
    assert [o.name for o in session.get_outputs()] == [OUTPUT]


def test_infer_reuses_the_session_and_returns_fresh_arrays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No session is created per call, and each call's keypoints are a new array (poses keep
    views of them), float32, which no later call overwrites."""
    model = load_model(POSE_V1, "onnxruntime")
    created: list[object] = []
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: created.append(a))
    frames = real_windows()
    first, _ = model.infer(frames[:1])  # batch 1: the IO-bound path
    kept = first.copy()
    second, _ = model.infer(frames[1:2])
    model.infer(frames[2:66])  # a batch: the plain path
    assert created == []
    assert not np.shares_memory(first, second) and first.dtype == np.float32
    np.testing.assert_array_equal(first, kept)  # a later call does not overwrite it
    assert not np.array_equal(first, second)
    # Non-contiguous input is accepted (onnxruntime gets a contiguous copy).
    strided = np.ascontiguousarray(frames[:4].transpose(0, 2, 1)).transpose(0, 2, 1)
    np.testing.assert_array_equal(model.infer(strided)[0], model.infer(frames[:4])[0])
