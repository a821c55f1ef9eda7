"""pose_v1 in numpy against an independent loop-over-taps reference, plus pinned literals."""

from __future__ import annotations

import numpy as np
import pytest

from posecog.nodes.model import load_bundle, load_model, to_model_input
from posecog.nodes.model.numpy_backend import NumpyBackend
from tests.nodes.model._data import POSE_V1, excerpt_b_windows


def reference_forward(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Straightforward pose_v1 in float64 for one input ``x[56, 20]``: loops over taps/time."""

    def conv(h: np.ndarray, weight: np.ndarray, bias: np.ndarray, pad: int, dil: int) -> np.ndarray:
        c_out, _, k = weight.shape
        t = h.shape[1]
        out = np.zeros((c_out, t))
        for o in range(c_out):
            for i in range(t):
                acc = float(bias[o])
                for tap in range(k):
                    j = i - pad + tap * dil
                    if 0 <= j < t:
                        acc += float(weight[o, :, tap] @ h[:, j])
                out[o, i] = acc
        return np.maximum(out, 0.0)

    h = x.astype(np.float64)
    h = conv(h, w["enc.c1.weight"], w["enc.c1.bias"], 1, 1)
    h = conv(h, w["enc.c2.weight"], w["enc.c2.bias"], 2, 2)
    h = conv(h, w["enc.c3.weight"], w["enc.c3.bias"], 4, 4)
    z = np.maximum(w["head.fc1.weight"] @ h.mean(axis=1) + w["head.fc1.bias"], 0.0)
    z = w["head.fc2.weight"] @ z + w["head.fc2.bias"]
    return (1.0 / (1.0 + np.exp(-z))).reshape(17, 2)


#: pose_v1 on windows 0, 20 and 40 of the variant-B excerpt, flat_frame_major layout:
#: keypoints nose (0), left_shoulder (5) and right_ankle (16). A layout change moves these
#: by up to ~0.2, far beyond the 1e-4 tolerance.
PINNED = {
    0: [[0.29905, 0.39831], [0.31730, 0.45007], [0.36187, 0.43061]],
    20: [[0.26860, 0.40471], [0.30852, 0.44165], [0.35705, 0.43201]],
    40: [[0.36064, 0.43203], [0.35548, 0.45893], [0.39515, 0.45899]],
}


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return excerpt_b_windows()


def test_numpy_matches_loop_reference_on_real_windows(windows: np.ndarray) -> None:
    bundle = load_bundle(POSE_V1)
    ours = NumpyBackend(bundle).run(to_model_input(windows[[0, 20, 40]], "flat_frame_major"))
    for n, i in enumerate((0, 20, 40)):
        x = windows[i].reshape(-1).reshape(56, 20)  # the reference runtime's reinterpretation
        ref = reference_forward(bundle.weights, x)
        np.testing.assert_allclose(ours[n], ref, atol=1e-5)
        np.testing.assert_allclose(ref[[0, 5, 16]], PINNED[i], atol=1e-4)


def test_pinned_keypoints_through_the_model(windows: np.ndarray) -> None:
    model = load_model(POSE_V1, "numpy")
    keypoints, _ = model.infer(windows[[0, 20, 40]])
    for n, i in enumerate((0, 20, 40)):
        np.testing.assert_allclose(keypoints[n][[0, 5, 16]], PINNED[i], atol=1e-4)


def test_layout_is_pinned(windows: np.ndarray) -> None:
    """flat_frame_major and subcarrier_major differ; pose_v1 is read as flat_frame_major."""
    bundle = load_bundle(POSE_V1)
    assert bundle.metadata.layout == "flat_frame_major"
    backend = NumpyBackend(bundle)
    flat = backend.run(to_model_input(windows, "flat_frame_major"))
    true_t = backend.run(to_model_input(windows, "subcarrier_major"))
    assert np.abs(flat - true_t).max() > 0.05
    np.testing.assert_array_equal(
        to_model_input(windows[:1], "flat_frame_major")[0], windows[0].reshape(56, 20)
    )
    np.testing.assert_array_equal(to_model_input(windows[:1], "subcarrier_major")[0], windows[0].T)


def test_batch_equals_one_by_one(windows: np.ndarray) -> None:
    backend = NumpyBackend(load_bundle(POSE_V1))
    x = to_model_input(windows, "flat_frame_major")
    batched = backend.run(x)
    single = np.concatenate([backend.run(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(batched, single, atol=1e-6)
    assert batched.dtype == np.float32 and batched.shape == (len(x), 17, 2)
