"""Per-subcarrier input normalisation: the bundle tensors, their checks, and both backends
applying it exactly as defined (before the layout mapping), with confidence on raw frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from posecog.nodes.model import (
    BundleMetadata,
    InputNorm,
    ModelBundle,
    ModelError,
    load_bundle,
    load_model,
    save_bundle,
    to_model_input,
    window_confidence,
)
from posecog.nodes.model.numpy_backend import NumpyBackend
from tests.nodes.model._data import POSE_V1, excerpt_b_windows

LAYOUTS = ["flat_frame_major", "subcarrier_major"]


def excerpt_norm() -> InputNorm:
    """Statistics of the excerpt, with the null bins' std floored as the trainer does."""
    w = excerpt_b_windows().astype(np.float64)
    mean, std = w.mean(axis=(0, 1)), w.std(axis=(0, 1))
    std = np.maximum(std, 1e-3 * np.sqrt(np.mean(w * w)))
    return InputNorm.checked(mean.astype(np.float32), std.astype(np.float32), 56, "test")


def write_normalised(path: Path, layout: str = "subcarrier_major") -> Path:
    weights = load_bundle(POSE_V1).weights
    meta = BundleMetadata(layout=layout, normalization="per_subcarrier")  # type: ignore[arg-type]
    save_bundle(path, weights, meta, excerpt_norm())
    return path


def save_raw(path: Path, extra: dict[str, np.ndarray], normalization: str) -> Path:
    tensors = {**load_bundle(POSE_V1).weights, **extra}
    meta = {"layout": "subcarrier_major", "normalization": normalization}
    save_file(tensors, str(path), metadata={"posecog.bundle": json.dumps(meta)})
    return path


@pytest.mark.parametrize("layout", LAYOUTS)
def test_in_layout_is_the_normalisation_before_the_mapping(layout: str) -> None:
    norm, frames = excerpt_norm(), excerpt_b_windows()[:9]
    mean_l, std_l = norm.in_layout(layout, 20)  # type: ignore[arg-type]
    assert mean_l.shape == std_l.shape == (56, 20)
    after = (to_model_input(frames, layout) - mean_l) / std_l  # type: ignore[arg-type]
    before = to_model_input(norm.apply(frames), layout)  # type: ignore[arg-type]
    np.testing.assert_array_equal(after, before)
    assert np.abs(norm.apply(frames)[:, :, [0, 27, 37]]).max() == 0  # null bins stay 0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_both_backends_apply_it_and_agree(tmp_path: Path, layout: str) -> None:
    path = write_normalised(tmp_path / "n.safetensors", layout)
    bundle = load_bundle(path)
    assert bundle.metadata.normalization == "per_subcarrier"
    np.testing.assert_array_equal(bundle.input_norm.std, excerpt_norm().std)  # type: ignore[union-attr]
    frames = excerpt_b_windows()
    kp_np, conf_np = load_model(path, "numpy").infer(frames)
    kp_ort, conf_ort = load_model(path, "onnxruntime").infer(frames)
    assert np.abs(kp_np - kp_ort).max() <= 1e-5 and np.abs(conf_np - conf_ort).max() <= 1e-5
    # Same as the un-normalised weights fed the normalised frames by hand.
    plain = NumpyBackend(ModelBundle(bundle.weights, BundleMetadata(layout=layout)))  # type: ignore[arg-type]
    by_hand = plain.run(to_model_input(excerpt_norm().apply(frames), layout))  # type: ignore[arg-type]
    np.testing.assert_allclose(kp_np, by_hand, atol=1e-6)
    assert np.abs(kp_np - load_model(POSE_V1).infer(frames)[0]).max() > 0.01  # it does act
    # Confidence judges the raw amplitudes the caller passed, not the normalised input.
    np.testing.assert_array_equal(conf_np, window_confidence(frames, kp_np))
    assert load_model(path).describe()["normalization"] == "per_subcarrier"


def test_absent_tensors_mean_raw_amplitudes() -> None:
    bundle = load_bundle(POSE_V1)
    assert bundle.input_norm is None and bundle.metadata.normalization == "none"
    assert load_model(POSE_V1).describe()["normalization"] == "none"


@pytest.mark.parametrize(
    ("mean", "std", "match"),
    [
        (np.zeros(56), np.zeros(56), r"'input.std' must be > 0 .* subcarrier\(s\) \[0, 1,"),
        (np.zeros(56), np.r_[np.ones(55), -1.0], r"'input.std' must be > 0 .*\[55\]"),
        (np.zeros(56), np.r_[np.nan, np.ones(55)], r"'input.std' holds non-finite .*\[0\]"),
        (np.r_[np.ones(55), np.inf], np.ones(56), r"'input.mean' holds non-finite .*\[55\]"),
        (np.zeros(55), np.ones(55), r"'input.mean' must have shape \[56\] .*got \[55\]"),
        (np.zeros((20, 56)), np.ones((20, 56)), r"must have shape \[56\] .*got \[20, 56\]"),
        (np.zeros(56, np.int32), np.ones(56), r"'input.mean' must be floating point"),
    ],
)
def test_bad_tensors_are_refused_at_load(
    tmp_path: Path, mean: np.ndarray, std: np.ndarray, match: str
) -> None:
    f32 = {"input.mean": mean, "input.std": std}
    tensors = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in f32.items()}
    path = save_raw(tmp_path / "bad.safetensors", tensors, "per_subcarrier")
    with pytest.raises(ModelError, match=match) as err:
        load_bundle(path)
    assert str(path) in str(err.value)


def test_tensors_and_metadata_must_agree(tmp_path: Path) -> None:
    one = {"input.mean": np.zeros(56, np.float32), "input.std": np.ones(56, np.float32)}
    with pytest.raises(ModelError, match="metadata says normalization 'none'"):
        load_bundle(save_raw(tmp_path / "a.safetensors", one, "none"))
    with pytest.raises(ModelError, match=r"says normalization 'per_subcarrier' but tensors"):
        load_bundle(save_raw(tmp_path / "b.safetensors", {}, "per_subcarrier"))
    with pytest.raises(ModelError, match=r"'input\.mean' without 'input\.std'"):
        load_bundle(save_raw(tmp_path / "c.safetensors", {"input.mean": one["input.mean"]},
                             "per_subcarrier"))  # fmt: skip
    with pytest.raises(ModelError, match="normalization must be one of"):
        load_bundle(save_raw(tmp_path / "d.safetensors", one, "per_frame"))
    without_metadata = tmp_path / "e.safetensors"
    save_file({**load_bundle(POSE_V1).weights, **one}, str(without_metadata))
    with pytest.raises(ModelError, match=r"not pose_v1's: .*unexpected \['input.mean'"):
        load_bundle(without_metadata)


def test_save_refuses_what_would_not_load(tmp_path: Path) -> None:
    weights, norm = load_bundle(POSE_V1).weights, excerpt_norm()
    out = tmp_path / "m.safetensors"
    with pytest.raises(ModelError, match="cannot save: has tensors"):
        save_bundle(out, weights, BundleMetadata(), norm)
    with pytest.raises(ModelError, match="cannot save: metadata says"):
        save_bundle(out, weights, BundleMetadata(normalization="per_subcarrier"))
    with pytest.raises(ModelError, match="as input_norm, not as weights"):
        save_bundle(out, {**weights, **norm.tensors()}, BundleMetadata())
    broken = InputNorm(norm.mean, np.zeros(56, np.float32))  # built without ``checked``
    with pytest.raises(ModelError, match=r"'input\.std' must be > 0"):
        save_bundle(out, weights, BundleMetadata(normalization="per_subcarrier"), broken)
    assert not out.exists()
    with pytest.raises(ModelError, match="normalization 'per_subcarrier' but tensors"):
        ModelBundle(weights, BundleMetadata(normalization="per_subcarrier"))
