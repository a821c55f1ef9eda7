"""The trainer's parts: the runtime's input mapping, the input scaling, streams and pairs,
the curriculum, the losses, the augmentations, the scale folded into the exported weights,
config errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the train extra is not installed")

from posecog.graph.errors import ConfigError  # noqa: E402
from posecog.nodes.model import BundleMetadata, ModelBundle, to_model_input  # noqa: E402
from posecog.nodes.model.model_input import InputNorm  # noqa: E402
from posecog.nodes.model.numpy_backend import NumpyBackend  # noqa: E402
from posecog.nodes.model.training import TrainConfig  # noqa: E402
from posecog.nodes.model.training.data import (  # noqa: E402
    Prepared,
    consecutive_pairs,
    curriculum_mask,
    fit_input_norm,
    input_index,
    input_transform,
    stream_ids,
)
from posecog.nodes.model.training.net import PoseNetV1, export_weights  # noqa: E402
from posecog.nodes.model.training.objective import (  # noqa: E402
    Augmenter,
    bone_loss,
    joints_present,
    pose_loss,
    smooth_loss,
)


@pytest.mark.parametrize("layout", ["flat_frame_major", "subcarrier_major"])
def test_gather_index_is_the_runtime_mapping(layout: str) -> None:
    frames = np.random.default_rng(0).normal(size=(3, 20, 56)).astype(np.float32)
    idx = input_index(20, 56, layout)  # type: ignore[arg-type]
    cfg = TrainConfig(layout=layout)  # type: ignore[arg-type]
    aug = Augmenter(cfg, torch.from_numpy(idx), torch.Generator())
    got = aug.model_input(torch.from_numpy(frames)).numpy()
    assert np.array_equal(got, to_model_input(frames, layout))  # type: ignore[arg-type]


def test_input_statistics_per_subcarrier_with_a_floor_for_null_bins() -> None:
    rng = np.random.default_rng(2)
    frames = rng.uniform(5, 25, (30, 20, 56)).astype(np.float32)
    frames[:, :, [0, 27, 30]] = 0.0  # always-null bins
    frames[:, :, 5] = 7.0  # a constant live bin
    norm, rms = fit_input_norm(frames)
    f64 = frames.astype(np.float64)
    assert rms == pytest.approx(np.sqrt(np.mean(f64**2)))
    np.testing.assert_allclose(norm.mean, f64.mean(axis=(0, 1)), rtol=1e-6)
    live = [k for k in range(56) if k not in (0, 5, 27, 30)]
    np.testing.assert_allclose(norm.std[live], f64.std(axis=(0, 1))[live], rtol=1e-6)
    floor = np.float32(1e-3 * rms)
    assert (norm.std[[0, 5, 27, 30]] == floor).all()
    scaled = norm.apply(frames)
    assert np.isfinite(scaled).all() and (scaled[:, :, [0, 5, 27, 30]] == 0).all()
    assert fit_input_norm(np.zeros((2, 20, 56), np.float32))[0].std.min() > 0  # 1e-6 floor


def test_input_transform_modes() -> None:
    norm = InputNorm.checked(np.arange(56.0, dtype=np.float32), np.full(56, 2.0, np.float32),
                             56, "t")  # fmt: skip
    prep = Prepared(None, None, None, input_index(20, 56, "subcarrier_major"), 12.5, norm, None)  # type: ignore[arg-type]
    sub = input_transform(prep, "subcarrier")
    assert sub.norm is norm and sub.fold == 1.0 and (sub.offset == norm.mean).all()
    scalar = input_transform(prep, "scalar")
    assert scalar.norm is None and scalar.fold == 12.5 and (scalar.divisor == 12.5).all()
    none = input_transform(prep, "none")
    assert none.norm is None and none.fold == 1.0
    assert (none.offset == 0).all() and (none.divisor == 1).all()


@pytest.mark.parametrize("layout", ["flat_frame_major", "subcarrier_major"])
def test_augmenter_scales_like_the_runtime_and_drops_to_the_mean(layout: str) -> None:
    rng = np.random.default_rng(3)
    frames = rng.uniform(5, 25, (4, 20, 56)).astype(np.float32)
    norm = fit_input_norm(frames)[0]
    idx = torch.from_numpy(input_index(20, 56, layout))  # type: ignore[arg-type]
    scaling = (torch.from_numpy(norm.mean), torch.from_numpy(norm.std))
    cfg = TrainConfig(epochs=10, dropout_last=2, dropout_p=0.5)
    aug = Augmenter(cfg, idx, torch.Generator().manual_seed(1), scaling)
    got = aug.model_input(torch.from_numpy(frames)).numpy()
    np.testing.assert_array_equal(got, to_model_input(norm.apply(frames), layout))  # type: ignore[arg-type]
    # On normalised input a dropped subcarrier takes its training mean: exactly 0 after the
    # scaling, over the whole window; the kept ones are untouched.
    dropped = aug(torch.from_numpy(frames), 9).numpy()
    zero = dropped == 0
    assert zero.any() and not zero.all()
    kept = ~zero
    np.testing.assert_allclose(dropped[kept], got[kept], rtol=1e-6)
    # without scaling, a dropped subcarrier reads amplitude 0 (a dead subcarrier)
    raw = Augmenter(cfg, idx, torch.Generator().manual_seed(1), None)(torch.from_numpy(frames), 9)
    assert (raw.numpy() == 0).any()
    assert not (aug(torch.from_numpy(frames), 0).numpy() == 0).any()  # not before the last epochs


def test_streams_restart_where_time_goes_back_and_pairs_skip_gaps() -> None:
    ts = np.array([0.0, 1.0, 2.0, 0.5, 1.5, 10.0])  # node A 0..2, then node B with a gap
    assert stream_ids(ts).tolist() == [0, 0, 0, 1, 1, 1]
    order = np.argsort(ts, kind="stable")
    pairs = consecutive_pairs(ts[order], stream_ids(ts)[order])
    as_file_idx = {(int(order[i]), int(order[j])) for i, j in pairs}
    assert as_file_idx == {(0, 1), (1, 2), (3, 4)}  # not 4 -> 5 (8.5 s gap), nothing across


def test_curriculum_starts_with_the_confident_half_and_ends_with_all() -> None:
    conf = np.linspace(0.1, 1.0, 10).astype(np.float32)
    first = curriculum_mask(conf, 0, 100)
    assert first.sum() == 5 and first[-5:].all()
    assert 5 < curriculum_mask(conf, 25, 100).sum() < 10
    assert curriculum_mask(conf, 50, 100).all() and curriculum_mask(conf, 99, 100).all()
    assert curriculum_mask(np.ones(4, np.float32), 0, 100).all()  # ties: all admitted


def test_losses_are_zero_on_the_truth_and_ignore_missing_joints() -> None:
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand((6, 17, 2), generator=gen) * 0.5 + 0.25
    w = torch.ones(6)
    present = joints_present(gt)
    pairs = torch.tensor([[0, 1], [1, 2]])
    assert float(pose_loss(gt, gt, w, present, 0.1)) == 0.0
    assert float(bone_loss(gt, gt, w, present, 0.1)) == pytest.approx(0.0, abs=1e-6)
    assert float(smooth_loss(gt, gt, w, present, pairs, 0.1)) == 0.0
    pred = gt.clone()
    pred[:, 9] += 0.3  # a wrong left wrist ...
    assert float(pose_loss(pred, gt, w, present, 0.1)) > 0
    assert float(bone_loss(pred, gt, w, present, 0.1)) > 0
    missing = gt.clone()
    missing[:, 9] = 0.0  # ... counts for nothing where the truth has no wrist
    assert float(pose_loss(pred, missing, w, joints_present(missing), 0.1)) == 0.0
    # Moving the same way as the truth is smooth; jitter is not.
    shifted = gt + 0.1
    assert float(smooth_loss(shifted, gt, w, present, pairs, 0.1)) == pytest.approx(0, abs=1e-7)
    jitter = gt.clone()
    jitter[1] += 0.2
    assert float(smooth_loss(jitter, gt, w, present, pairs, 0.1)) > 0


def test_augmentations_are_seeded_and_dropout_only_at_the_end() -> None:
    frames = torch.rand((4, 20, 56)) + 0.5
    idx = torch.from_numpy(input_index(20, 56, "subcarrier_major"))
    cfg = TrainConfig(epochs=10, dropout_last=2, noise=0.1, time_shift=3)
    a = Augmenter(cfg, idx, torch.Generator().manual_seed(5))(frames, 9)
    b = Augmenter(cfg, idx, torch.Generator().manual_seed(5))(frames, 9)
    assert torch.equal(a, b)
    dead = (a == 0).all(dim=2)  # subcarrier_major: row = subcarrier
    assert dead.any()
    early = Augmenter(cfg, idx, torch.Generator().manual_seed(5))(frames, 0)
    assert not (early == 0).all(dim=2).any()
    plain = Augmenter(TrainConfig(dropout_p=0.0), idx, torch.Generator())(frames, 9)
    assert torch.equal(plain, frames.transpose(1, 2))


def test_exported_weights_take_raw_amplitudes() -> None:
    torch.manual_seed(0)
    net = PoseNetV1().eval()
    raw = np.random.default_rng(1).uniform(0, 60, (5, 56, 20)).astype(np.float32)
    scale = 17.5
    with torch.no_grad():
        want = net(torch.from_numpy(raw / np.float32(scale))).numpy()
    got = NumpyBackend(ModelBundle(export_weights(net, scale), BundleMetadata())).run(raw)
    assert np.abs(got - want).max() < 1e-5


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", 0), ("lr", -1.0), ("layout", "columns"), ("noise", -0.1), ("normalize", "l2")],
)
def test_bad_config_is_a_config_error(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value})  # type: ignore[arg-type]
