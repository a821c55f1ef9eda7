from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from posecog.nodes.model import load_model, to_model_input
from tests.conftest import POSE_V1
from tests.nodes.model._data import excerpt_b_windows
from tests.nodes.model.test_model_input import write_normalised

from .conftest import cli


def test_export_pose_v1_self_contained_with_parity(tmp_path: Path) -> None:
    out = tmp_path / "a" / "pose_v1.onnx"
    r = cli(["export-onnx", str(POSE_V1), "--out", str(out)])
    assert r.code == 0, r.stderr
    assert "max |onnxruntime - numpy|" in r.stdout
    # the file alone, moved away from everything, is the whole model
    alone = tmp_path / "b" / "m.onnx"
    alone.parent.mkdir()
    shutil.move(out, alone)
    assert list(alone.parent.iterdir()) == [alone]
    model = onnx.load(str(alone))
    assert model.opset_import[0].version >= 17
    props = {p.key: p.value for p in model.metadata_props}
    assert props["posecog.layout"] == "flat_frame_major"
    assert props["posecog.weights_sha256"].startswith("eb249b9a")
    session = ort.InferenceSession(str(alone), providers=["CPUExecutionProvider"])
    reference = load_model(POSE_V1, "numpy")
    windows = excerpt_b_windows()
    for batch in (1, 7, len(windows)):  # dynamic batch
        x = to_model_input(windows[:batch], "flat_frame_major")
        (got,) = session.run(["keypoints"], {"csi": x})
        want, _ = reference.infer(windows[:batch])
        assert got.shape == (batch, 17, 2)
        assert np.max(np.abs(got - want)) <= 1e-5


def test_export_of_a_normalised_bundle_takes_raw_amplitudes(tmp_path: Path) -> None:
    bundle = write_normalised(tmp_path / "norm.safetensors", "subcarrier_major")
    out = tmp_path / "norm.onnx"
    r = cli(["export-onnx", str(bundle), "--out", str(out)])
    assert r.code == 0, r.stderr
    model = onnx.load(str(out))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["posecog.normalization"] == "per_subcarrier"
    assert "raw amplitudes" in props["posecog.input"]
    assert [n.op_type for n in model.graph.node[:2]] == ["Sub", "Div"]
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    assert inits["input.mean_layout"] == inits["input.std_layout"] == [1, 56, 20]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    windows = excerpt_b_windows()
    (got,) = session.run(["keypoints"], {"csi": to_model_input(windows, "subcarrier_major")})
    want, _ = load_model(bundle, "numpy").infer(windows)
    assert np.max(np.abs(got - want)) <= 1e-5


def test_export_errors_are_user_errors(tmp_path: Path) -> None:
    r = cli(["export-onnx", str(tmp_path / "missing.safetensors")])
    assert r.code == 2
    assert "missing.safetensors" in r.stderr and "Traceback" not in r.stderr
    r = cli(["export-onnx", str(POSE_V1), "--out", str(tmp_path)])  # a folder
    assert r.code == 1  # a write that fails is a runtime failure, as for every sink
    assert r.stderr.startswith("Error: export-onnx: cannot write") and "Traceback" not in r.stderr
