from __future__ import annotations

import numpy as np
import onnx
import pytest

from posecog.nodes.model import load_bundle, load_model
from posecog.nodes.model.onnx_graph import OPSET, build_onnx
from tests.nodes.model._data import POSE_V1, excerpt_b_windows


def realistic_windows() -> np.ndarray:
    """The excerpt's windows, plus rescaled and noisier copies (64 + 41 windows)."""
    w = excerpt_b_windows()
    rng = np.random.default_rng(7)
    more = w[rng.integers(0, len(w), 64)] * rng.uniform(0.5, 2.0, (64, 1, 1))
    more = more + rng.normal(0, 0.5, more.shape) * (more > 0)
    return np.concatenate([w, more.astype(np.float32)])


def test_graph_is_valid_opset17_with_dynamic_batch() -> None:
    model = build_onnx(load_bundle(POSE_V1))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain == ""] == [OPSET] == [17]
    (inp,) = model.graph.input
    assert inp.name == "csi"
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 56
    (out,) = model.graph.output
    assert out.name == "keypoints"
    assert [d.dim_value for d in out.type.tensor_type.shape.dim][1:] == [17, 2]


@pytest.mark.parametrize("batch", [1, 7, 64, 105])
def test_numpy_and_onnxruntime_agree(batch: int) -> None:
    frames = realistic_windows()[:batch]
    kp_np, conf_np = load_model(POSE_V1, "numpy").infer(frames)
    kp_ort, conf_ort = load_model(POSE_V1, "onnxruntime").infer(frames)
    assert kp_ort.shape == (batch, 17, 2) and kp_ort.dtype == np.float32
    assert np.abs(kp_np - kp_ort).max() <= 1e-5
    assert np.abs(conf_np - conf_ort).max() <= 1e-4


def test_session_is_single_threaded() -> None:
    model = load_model(POSE_V1, "onnxruntime")
    opts = model._runner._session.get_session_options()  # type: ignore[attr-defined]
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)
    assert model.backend == "onnxruntime"
