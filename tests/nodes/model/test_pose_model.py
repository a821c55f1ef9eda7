from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import posecog.nodes.model as model_pkg
from posecog.nodes.model import ModelError, load_model, synthetic_check
from posecog.nodes.model.stub_backend import NEUTRAL_POSE
from tests.nodes.model._data import POSE_V1, excerpt_b_windows


def test_public_api() -> None:
    assert set(model_pkg.__all__) == {n for n in dir(model_pkg) if n in model_pkg.__all__}
    assert {"PoseModel", "load_model", "synthetic_check", "ModelError"} <= set(model_pkg.__all__)


@pytest.mark.parametrize("path", [None, ""])
def test_no_path_is_the_stub_reported_as_stub(path: str | None) -> None:
    model = load_model(path, "onnxruntime")
    assert model.backend == "stub" and model.is_stub and model.sha256 is None
    keypoints, conf = model.infer(excerpt_b_windows()[:3])
    np.testing.assert_array_equal(keypoints, np.repeat(NEUTRAL_POSE[None], 3, axis=0))
    np.testing.assert_array_equal(conf, 0.0)
    assert model.describe()["backend"] == "stub" and model.describe()["reason"]
    assert synthetic_check(model) == 0.0


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "w.safetensors")
    stub = load_model(tmp_path / "w.safetensors", missing_ok=True)
    assert stub.backend == "stub" and "not found" in stub.stub_reason


@pytest.mark.parametrize("backend", ["numpy", "onnxruntime", "auto"])
def test_backends(backend: str) -> None:
    model = load_model(POSE_V1, backend)  # type: ignore[arg-type]
    assert model.backend == ("onnxruntime" if backend == "auto" else backend)  # it is installed
    assert model.sha256 == model.bundle.sha256  # type: ignore[union-attr]
    info = model.describe()
    assert info["architecture"] == "pose_v1" and info["layout"] == "flat_frame_major"
    assert info["path"] == str(POSE_V1)
    conf = synthetic_check(model)
    assert 0.3 < conf <= 1.0


def test_unknown_backend() -> None:
    with pytest.raises(ModelError, match="backend must be one of numpy, onnxruntime, auto"):
        load_model(POSE_V1, "tensorrt")  # type: ignore[arg-type]


@pytest.mark.parametrize("path", [POSE_V1, None])
def test_the_removed_native_backend_is_an_error_that_says_so(path: Path | None) -> None:
    with pytest.raises(
        ModelError,
        match=r"one of numpy, onnxruntime, auto; got 'native' \(the "
        r"native backend \(a hand-written C kernel\) was removed",
    ):
        load_model(path, "native")  # type: ignore[arg-type]


def test_auto_is_numpy_without_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    assert load_model(POSE_V1, "auto").backend == "numpy"
    with pytest.raises(ModelError, match="onnxruntime is not available"):
        load_model(POSE_V1, "onnxruntime")


def test_infer_checks_shape() -> None:
    model = load_model(POSE_V1)
    with pytest.raises(ValueError, match=r"\[B, 20, 56\]; got \[2, 56, 20\]"):
        model.infer(np.zeros((2, 56, 20), np.float32))
    with pytest.raises(ValueError):
        model.infer(np.zeros((20, 56), np.float32))
