from __future__ import annotations

import numpy as np
import pytest

from posecog.nodes.model import input_quality, load_model, output_plausibility, window_confidence
from posecog.nodes.model.confidence import expected_live
from posecog.nodes.model.stub_backend import NEUTRAL_POSE
from tests.nodes.model._data import POSE_V1, excerpt_b_windows

DEFAULT_MIN_CONFIDENCE = 0.3  # pose_infer's default (checked in its own tests)


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_model(POSE_V1, "numpy")


def test_real_windows_pass_and_vary(model) -> None:  # type: ignore[no-untyped-def]
    _, conf = model.infer(excerpt_b_windows())
    assert ((conf >= 0) & (conf <= 1)).all()
    assert (conf >= DEFAULT_MIN_CONFIDENCE).mean() >= 0.9
    assert conf.std() > 0.01  # never a constant
    assert len(np.unique(conf.round(4))) > 10


def garbage() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    real = excerpt_b_windows()[:4]
    frozen = np.repeat(real[:, :1], 20, axis=1)  # one frame repeated: a stuck sensor
    return {
        "zeros": np.zeros((4, 20, 56), np.float32),
        "constant": np.full((4, 20, 56), 7.0, np.float32),
        "nan": np.full((4, 20, 56), np.nan, np.float32),
        "uniform_noise": rng.uniform(0, 30, (4, 20, 56)).astype(np.float32),
        "frozen": frozen,
    }


@pytest.mark.parametrize("name", sorted(garbage()))
def test_garbage_scores_low(model, name: str) -> None:  # type: ignore[no-untyped-def]
    _, conf = model.infer(garbage()[name])
    assert (conf < 0.05).all(), (name, conf)


def test_partial_damage_lowers_confidence() -> None:
    real = excerpt_b_windows()[:8]
    damaged = real.copy()
    damaged[:, :, 1:23] = 0.0  # half the live subcarriers dead
    assert (input_quality(damaged) < 0.6 * input_quality(real)).all()
    some_nan = real.copy()
    some_nan[:, :5] = np.nan
    assert (input_quality(some_nan) < input_quality(real)).all()


def test_expected_live_bins() -> None:
    # LLTF bins 0 and 27..37 are always null: 12 of 56, so 44 live (both real excerpts agree).
    assert expected_live(56) == 44
    nulls = (excerpt_b_windows() == 0).all(axis=(0, 1))
    assert list(np.flatnonzero(nulls)) == [0, *range(27, 38)]


def test_output_plausibility() -> None:
    good = NEUTRAL_POSE[None]
    assert output_plausibility(good)[0] > 0.9
    collapsed = np.full((1, 17, 2), 0.4, np.float32)
    saturated = np.where(NEUTRAL_POSE > 0.5, 1.0, 0.0)[None].astype(np.float32)
    lopsided = NEUTRAL_POSE.copy()[None]
    lopsided[0, 9] = lopsided[0, 7] + [0.3, 0.0]  # one forearm much longer than the other
    nan = np.full((1, 17, 2), np.nan, np.float32)
    assert output_plausibility(collapsed)[0] == 0.0
    assert output_plausibility(saturated)[0] < 0.1
    assert output_plausibility(lopsided)[0] < output_plausibility(good)[0] - 0.05
    assert output_plausibility(nan)[0] == 0.0


def test_confidence_is_the_product() -> None:
    frames = excerpt_b_windows()[:3]
    kp = np.repeat(NEUTRAL_POSE[None], 3, axis=0)
    np.testing.assert_allclose(
        window_confidence(frames, kp), input_quality(frames) * output_plausibility(kp), rtol=1e-6
    )
