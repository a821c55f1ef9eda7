from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from posecog.graph.errors import ConfigError
from posecog.nodes.model import KEYPOINT_NAMES, BundleMetadata, ModelError, load_bundle, save_bundle
from posecog.nodes.model.bundle import POSE_V1_SHA256, expected_shapes
from tests.conftest import POSE_V1, RUVIEW


def pose_v1_like(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        k: (rng.standard_normal(s) * 0.05).astype(np.float32)
        for k, s in expected_shapes("pose_v1").items()
    }


def test_published_pose_v1_is_recognised_without_metadata() -> None:
    bundle = load_bundle(POSE_V1)
    meta = bundle.metadata
    assert meta.architecture == "pose_v1"
    assert meta.layout == "flat_frame_major"  # the reference runtime's reinterpretation
    assert (meta.n_subcarriers, meta.window) == (56, 20)
    assert meta.keypoint_names == KEYPOINT_NAMES and len(KEYPOINT_NAMES) == 17
    assert bundle.sha256 == POSE_V1_SHA256
    assert meta.source == str(POSE_V1)
    assert meta.metrics["pck@50"] == pytest.approx(0.185)
    assert sum(w.size for w in bundle.weights.values()) == 126_562
    assert all(w.dtype == np.float32 for w in bundle.weights.values())


def test_model_error_is_a_config_error() -> None:
    assert issubclass(ModelError, ConfigError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_bundle(tmp_path / "nope.safetensors")


def test_published_onnx_is_refused_with_the_reason() -> None:
    with pytest.raises(ModelError) as err:
        load_bundle(RUVIEW / "pose_v1.onnx")
    msg = str(err.value)
    assert "external data" in msg and "pose_v1.onnx.data" in msg and "never published" in msg
    assert f"{RUVIEW / 'pose_v1.safetensors'} is beside it" in msg


def test_an_exported_onnx_is_refused_pointing_at_its_weights(tmp_path: Path) -> None:
    (tmp_path / "mine.onnx").write_bytes(b"not read")
    (tmp_path / "mine.safetensors").write_bytes(POSE_V1.read_bytes())
    with pytest.raises(ModelError) as err:
        load_bundle(tmp_path / "mine.onnx")
    msg = str(err.value)
    assert "not a model bundle" in msg and f"{tmp_path / 'mine.safetensors'} is beside it" in msg
    assert "external data" not in msg  # that is pose_v1.onnx's problem, not this file's


def test_truncated_safetensors(tmp_path: Path) -> None:
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(POSE_V1.read_bytes()[:100_000])
    with pytest.raises(ModelError, match="truncated"):
        load_bundle(bad)


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"\xff" * 64, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json......"]
)
def test_garbled_files(tmp_path: Path, data: bytes) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(data)
    with pytest.raises(ModelError, match=str(bad)):
        load_bundle(bad)


def test_wrong_shape_names_tensor_expected_and_got(tmp_path: Path) -> None:
    weights = pose_v1_like()
    weights["enc.c2.weight"] = np.zeros((128, 64, 5), np.float32)
    path = tmp_path / "w.safetensors"
    save_file(weights, str(path))
    with pytest.raises(ModelError) as err:
        load_bundle(path)
    assert "'enc.c2.weight'" in str(err.value)
    assert "[128, 64, 3]" in str(err.value) and "[128, 64, 5]" in str(err.value)


def test_missing_tensor_without_metadata(tmp_path: Path) -> None:
    weights = pose_v1_like()
    del weights["head.fc2.bias"]
    path = tmp_path / "w.safetensors"
    save_file(weights, str(path))
    with pytest.raises(ModelError, match=r"not pose_v1's: missing \['head.fc2.bias'\]"):
        load_bundle(path)


def test_missing_tensor_with_metadata(tmp_path: Path) -> None:
    weights = pose_v1_like()
    del weights["enc.c3.bias"]
    path = tmp_path / "w.safetensors"
    meta = json.dumps(BundleMetadata().to_json())
    save_file(weights, str(path), metadata={"posecog.bundle": meta})
    with pytest.raises(ModelError, match=r"'enc.c3.bias' is missing"):
        load_bundle(path)


def test_non_finite_weights(tmp_path: Path) -> None:
    weights = pose_v1_like()
    weights["head.fc1.weight"][3, 4] = np.nan
    path = tmp_path / "w.safetensors"
    save_file(weights, str(path))
    with pytest.raises(ModelError, match=r"'head.fc1.weight' holds non-finite"):
        load_bundle(path)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    weights = pose_v1_like(1)
    meta = BundleMetadata(
        layout="subcarrier_major", training_data="sim", metrics={"pck@20": 0.4}, notes="t"
    )
    path = tmp_path / "m.safetensors"
    sha = save_bundle(path, weights, meta)
    bundle = load_bundle(path)
    assert bundle.sha256 == sha
    assert bundle.metadata.layout == "subcarrier_major"
    assert bundle.metadata.metrics == {"pck@20": 0.4}
    assert bundle.metadata.training_data == "sim"
    for k, w in weights.items():
        np.testing.assert_array_equal(bundle.weights[k], w)


def test_sidecar_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file(pose_v1_like(), str(path))
    sidecar = tmp_path / "m.safetensors.bundle.json"
    sidecar.write_text(json.dumps({"architecture": "pose_v1", "layout": "subcarrier_major"}))
    assert load_bundle(path).metadata.layout == "subcarrier_major"
    sidecar.write_text(json.dumps({"layout": "time_major"}))
    with pytest.raises(ModelError, match="layout must be one of"):
        load_bundle(path)
    sidecar.write_text(json.dumps({"architecture": "pose_v9"}))
    with pytest.raises(ModelError, match="unknown model architecture 'pose_v9'"):
        load_bundle(path)
    sidecar.write_text(json.dumps({"colour": "red"}))
    with pytest.raises(ModelError, match="unknown bundle metadata keys"):
        load_bundle(path)


def test_save_refuses_wrong_weights(tmp_path: Path) -> None:
    weights = pose_v1_like()
    weights["enc.c1.bias"] = np.zeros(63, np.float32)
    with pytest.raises(ModelError, match=r"'enc\.c1\.bias'"):
        save_bundle(tmp_path / "m.safetensors", weights, BundleMetadata())
