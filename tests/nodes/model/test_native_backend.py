"""The native backend (compiled ``_kernel.c``) against the numpy backend and confidence.py:
forward pass, layouts, normalisation, other channel sizes, every confidence edge case, the
kernel's buffer checks, and ``auto`` choosing it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import pytest

from posecog.nodes.model import (
    BundleMetadata,
    InputNorm,
    ModelBundle,
    ModelError,
    PoseModel,
    input_quality,
    load_bundle,
    load_model,
    output_plausibility,
    to_model_input,
    window_confidence,
)
from posecog.nodes.model import _kernel as kernel
from posecog.nodes.model.native_backend import NativeBackend, native_available
from posecog.nodes.model.numpy_backend import CONV_LAYERS, NumpyBackend
from posecog.nodes.model.stub_backend import NEUTRAL_POSE
from tests.conftest import REPO
from tests.nodes.model._data import POSE_V1, excerpt_b_windows

LAYOUTS = ["flat_frame_major", "subcarrier_major"]
TOL = 1e-5


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return load_bundle(POSE_V1)


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return excerpt_b_windows()


def with_layout(bundle: ModelBundle, layout: str, norm: InputNorm | None = None) -> ModelBundle:
    meta = replace(
        bundle.metadata,
        layout=layout,  # type: ignore[arg-type]
        normalization="per_subcarrier" if norm is not None else "none",
    )
    return ModelBundle(bundle.weights, meta, norm)


def both(bundle: ModelBundle) -> tuple[PoseModel, PoseModel]:
    return PoseModel(bundle, NumpyBackend(bundle)), PoseModel(bundle, NativeBackend(bundle))


def random_windows(n: int, seed: int = 0, n_sc: int = 56, t: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 40.0, (n, t, n_sc)).astype(np.float32)


def assert_close(a: np.ndarray, b: np.ndarray, tol: float = TOL) -> None:
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=tol, rtol=0)


# --- forward pass ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7])
def test_forward_matches_numpy(bundle: ModelBundle, windows: np.ndarray, batch: int) -> None:
    numpy_be, native = NumpyBackend(bundle), NativeBackend(bundle)
    for frames in (windows[:batch], windows[-batch:], random_windows(batch, seed=batch)):
        x = to_model_input(frames, "flat_frame_major")
        ours, ref = native.run(x), numpy_be.run(x)
        assert_close(ours, ref)
        assert np.abs(ours - 0.5).max() > 0.01  # real outputs, not a constant


def test_forward_other_window_lengths(bundle: ModelBundle) -> None:
    """Without normalisation T is free (as in numpy): 1 frame, 7 frames, 33 frames."""
    numpy_be, native = NumpyBackend(bundle), NativeBackend(bundle)
    for t in (1, 7, 33):
        x = np.ascontiguousarray(random_windows(3, seed=t, t=t).transpose(0, 2, 1))
        assert_close(native.run(x), numpy_be.run(x))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("batch", [1, 7])
def test_infer_matches_numpy(
    bundle: ModelBundle, windows: np.ndarray, layout: str, batch: int
) -> None:
    ref_model, model = both(with_layout(bundle, layout))
    for frames in (windows[3 : 3 + batch], random_windows(batch, seed=10 + batch)):
        kp, conf = model.infer(frames)
        kp_ref, conf_ref = ref_model.infer(frames)
        assert_close(kp, kp_ref)
        assert_close(conf, conf_ref)
    kp, conf = model.infer(windows)  # the whole excerpt: real confidences vary
    kp_ref, conf_ref = ref_model.infer(windows)
    assert_close(kp, kp_ref)
    assert_close(conf, conf_ref)
    assert conf.std() > 0.01


def test_layouts_differ(bundle: ModelBundle, windows: np.ndarray) -> None:
    """The layout flag reaches the kernel (pose_v1 read the other way gives other poses)."""
    flat = NativeBackend(with_layout(bundle, "flat_frame_major")).infer(windows)[0]
    true_t = NativeBackend(with_layout(bundle, "subcarrier_major")).infer(windows)[0]
    assert np.abs(flat - true_t).max() > 0.05


def excerpt_like_norm(windows: np.ndarray) -> InputNorm:
    w = windows.astype(np.float64)
    mean, std = w.mean(axis=(0, 1)), w.std(axis=(0, 1))
    std = np.maximum(std, 1e-3 * np.sqrt(np.mean(w * w)))
    return InputNorm.checked(mean.astype(np.float32), std.astype(np.float32), 56, "test")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_normalised_bundle(bundle: ModelBundle, windows: np.ndarray, layout: str) -> None:
    norm = excerpt_like_norm(windows)
    normalised = with_layout(bundle, layout, norm)
    ref_model, model = both(normalised)
    for frames in (windows[:1], windows[:7], windows):
        kp, conf = model.infer(frames)
        kp_ref, conf_ref = ref_model.infer(frames)
        assert_close(kp, kp_ref)
        assert_close(conf, conf_ref)
    x = to_model_input(windows[:7], layout)  # type: ignore[arg-type]
    assert_close(NativeBackend(normalised).run(x), NumpyBackend(normalised).run(x))
    plain = NativeBackend(with_layout(bundle, layout)).infer(windows)[0]
    assert np.abs(plain - model.infer(windows)[0]).max() > 0.01  # the normalisation acts


def test_shipped_demo_bundle(windows: np.ndarray) -> None:
    """The demo model: trained here, normalised per subcarrier, subcarrier_major."""
    path = REPO / "pipelines" / "models" / "demo.safetensors"
    ref_model, model = load_model(path, "numpy"), load_model(path, "native")
    assert model.describe()["normalization"] == "per_subcarrier" and model.backend == "native"
    for frames in (windows[:1], windows):
        kp, conf = model.infer(frames)
        kp_ref, conf_ref = ref_model.infer(frames)
        assert_close(kp, kp_ref)
        assert_close(conf, conf_ref)


def test_normalised_bundle_needs_its_window(bundle: ModelBundle, windows: np.ndarray) -> None:
    native = NativeBackend(with_layout(bundle, "subcarrier_major", excerpt_like_norm(windows)))
    with pytest.raises(ValueError, match="normalises windows of 20 frames"):
        native.run(np.zeros((1, 56, 19), np.float32))


def small_bundle(seed: int, layout: str, normalised: bool) -> ModelBundle:
    """The pose_v1 family with other sizes: 30 subcarriers, 13 frames, 30->24->40->20 channels
    (none a multiple of the kernel's blocks), 20 -> 50 -> 34 head."""
    rng = np.random.default_rng(seed)
    n_sc, t = 30, 13
    sizes = [(24, n_sc), (40, 24), (20, 40)]
    weights: dict[str, np.ndarray] = {}
    for (prefix, _, _), (c_out, c_in) in zip(CONV_LAYERS, sizes, strict=True):
        weights[f"{prefix}.weight"] = rng.normal(0, 0.3, (c_out, c_in, 3)).astype(np.float32)
        weights[f"{prefix}.bias"] = rng.normal(0, 0.1, c_out).astype(np.float32)
    weights["head.fc1.weight"] = rng.normal(0, 0.3, (50, 20)).astype(np.float32)
    weights["head.fc1.bias"] = rng.normal(0, 0.1, 50).astype(np.float32)
    weights["head.fc2.weight"] = rng.normal(0, 0.3, (34, 50)).astype(np.float32)
    weights["head.fc2.bias"] = rng.normal(0, 0.1, 34).astype(np.float32)
    norm = None
    if normalised:
        mean = rng.uniform(5, 15, n_sc).astype(np.float32)
        std = rng.uniform(1, 4, n_sc).astype(np.float32)
        norm = InputNorm.checked(mean, std, n_sc, "test")
    meta = BundleMetadata(
        layout=layout,  # type: ignore[arg-type]
        normalization="per_subcarrier" if normalised else "none",
        n_subcarriers=n_sc,
        window=t,
    )
    return ModelBundle(weights, meta, norm)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("normalised", [False, True])
def test_other_channel_sizes(layout: str, normalised: bool) -> None:
    small = small_bundle(3, layout, normalised)
    ref_model, model = both(small)
    assert (model.window, model.n_subcarriers) == (13, 30)
    for batch in (1, 5):
        frames = random_windows(batch, seed=batch, n_sc=30, t=13) / 4
        kp, conf = model.infer(frames)
        kp_ref, conf_ref = ref_model.infer(frames)
        assert_close(kp, kp_ref)
        assert_close(conf, conf_ref)
        assert kp.std() > 0.01


def test_batch_equals_one_by_one(bundle: ModelBundle, windows: np.ndarray) -> None:
    native = NativeBackend(bundle)
    kp, conf = native.infer(windows)
    for i in (0, 17, len(windows) - 1):
        one_kp, one_conf = native.infer(windows[i : i + 1])
        np.testing.assert_array_equal(one_kp[0], kp[i])
        np.testing.assert_array_equal(one_conf[0], conf[i])


def test_threads_share_a_model(bundle: ModelBundle, windows: np.ndarray) -> None:
    """The GIL is released while the kernel runs; concurrent calls must not interfere."""
    native = NativeBackend(bundle)
    expected = native.infer(windows)
    results: list[bool] = []

    def work() -> None:
        for _ in range(20):
            kp, conf = native.infer(windows)
            results.append(bool((kp == expected[0]).all() and (conf == expected[1]).all()))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [True] * 60


GENERIC_CHECK = """
import numpy as np
from posecog.nodes.model import _kernel, load_model, window_confidence
from posecog.nodes.model.native_backend import NativeBackend
from tests.nodes.model._data import POSE_V1, excerpt_b_windows
from tests.nodes.model.test_native_backend import both, confidence_cases, small_bundle
assert _kernel.ISA == "generic", _kernel.ISA
pairs = [
    (load_model(POSE_V1, "numpy"), load_model(POSE_V1, "native"), excerpt_b_windows()),
    (*both(small_bundle(4, "subcarrier_major", True)),
     np.random.default_rng(2).uniform(0, 20, (5, 13, 30)).astype(np.float32)),
]
worst = 0.0
for ref, model, frames in pairs:
    for a, b in zip(ref.infer(frames), model.infer(frames)):
        worst = max(worst, float(np.abs(a - b).max()))
native = pairs[0][1]._runner
with np.errstate(all="ignore"):
    for frames, kp in confidence_cases().values():
        a, b = window_confidence(frames, kp), native.confidence(frames, kp)
        worst = max(worst, float(np.abs(np.nan_to_num(a) - np.nan_to_num(b)).max()))
print(worst)
"""


def test_generic_code_path() -> None:
    """The baseline-ISA path (what CPUs without AVX2 and FMA run) agrees as well."""
    env = {**os.environ, "POSECOG_KERNEL_ISA": "generic"}
    out = subprocess.run(
        [sys.executable, "-c", GENERIC_CHECK],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) <= TOL


# --- confidence ---------------------------------------------------------------------------------


def confidence_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(5)
    real = excerpt_b_windows()
    kp = np.clip(NEUTRAL_POSE[None] + rng.normal(0, 0.04, (len(real), 17, 2)), 0, 1)
    kp = kp.astype(np.float32)
    k4 = kp[:4]
    some_nan = real[:4].copy()
    some_nan[0, 3, 7] = np.nan
    some_nan[1] = np.inf
    some_nan[2, :, 10] = -np.inf
    some_nan[3, :5] = np.nan
    saturated = k4.copy()
    saturated[0] = np.where(NEUTRAL_POSE > 0.5, 1.0, 0.0)
    saturated[1, :6] = 0.995
    saturated[2, 9] = np.nan
    saturated[3] = 0.4  # collapsed
    lopsided = k4.copy()
    lopsided[:, 9] = lopsided[:, 7] + [0.3, 0.0]
    half_dead = real[:4].copy()
    half_dead[:, :, 1:23] = 0.0
    level = np.percentile(real[:4], 85, axis=(1, 2), keepdims=True).astype(np.float32)
    clipped = np.minimum(real[:4], level)  # ~15 % of the values at the window's maximum
    near_peak = clipped.copy()  # half of those just below it: not "at the peak" (1e-6)
    at = near_peak == level
    at[:, ::2] = False
    near_peak[at] = np.broadcast_to(level * np.float32(1 - 5e-5), near_peak.shape)[at]
    faint = real[:4].copy()
    faint[:, :, 3:20] *= 1e-5  # still live (mean > 1e-6)
    # Roughness on the ramp (0.25..0.5), different in each frame: the median decides.
    live = real[:4].mean(axis=1, keepdims=True) > 0
    scale = np.linspace(0.1, 0.9, 20, dtype=np.float32)[None, :, None]
    noise = 1 + scale * rng.uniform(-1, 1, (4, 20, 56)).astype(np.float32)
    rough = np.where(live, real[:4] * noise, 0).astype(np.float32)
    # ... and 3 frames whose sums overflow: NaN ratios, which the median sorts last.
    nan_ratios = rough.copy()
    huge = np.where(np.arange(56) % 2 == 0, 3e38, 1e38).astype(np.float32)
    nan_ratios[:, [2, 9, 15]] = np.where(live, huge, 0)
    saturated[1, 6:9] = 0.015  # near the edge, not within 0.01 of it
    cases = {
        "real": (real, kp),
        "zeros": (np.zeros((4, 20, 56), np.float32), k4),
        "constant": (np.full((4, 20, 56), 7.0, np.float32), k4),
        "non_finite": (some_nan, k4),
        "all_nan": (np.full((2, 20, 56), np.nan, np.float32), k4[:2]),
        "uniform_noise": (rng.uniform(0, 30, (4, 20, 56)).astype(np.float32), k4),
        "frozen": (np.repeat(real[:4, :1], 20, axis=1), k4),
        "stuttering": (real[:4, np.arange(20) // 5 * 5], k4),  # 3 of 19 frame pairs differ
        "half_dead": (half_dead, k4),
        "clipped": (clipped, k4),
        "near_peak": (near_peak, k4),
        "faint": (faint, k4),
        "rough": (rough, k4),
        "nan_ratios": (nan_ratios, k4),
        "saturated_keypoints": (real[:4], saturated),
        "lopsided_keypoints": (real[:4], lopsided),
        "one_frame": (real[:4, :1], k4),
        "one_subcarrier": (real[:4, :, 5:6], k4),
        "short_narrow": (real[:4, :7, :11], k4),
    }
    return {k: (np.ascontiguousarray(f), np.ascontiguousarray(p)) for k, (f, p) in cases.items()}


@pytest.mark.parametrize("name", sorted(confidence_cases()))
def test_confidence_matches_numpy(bundle: ModelBundle, name: str) -> None:
    frames, kp = confidence_cases()[name]
    ours = NativeBackend(bundle).confidence(frames, kp)
    with np.errstate(all="ignore"):  # nan_ratios overflows in numpy, on purpose
        ref = window_confidence(frames, kp)
    assert_close(ours, ref)
    out = np.empty(len(frames), np.float32)
    kernel.confidence(frames, kp, out)
    np.testing.assert_array_equal(out, ours)


def test_confidence_cases_exercise_every_factor() -> None:
    """The cases above are not all zeros or all ones: each input and output factor bites."""
    cases = confidence_cases()
    with np.errstate(all="ignore"):
        q_in = {k: input_quality(f) for k, (f, _) in cases.items()}
    q_out = {k: output_plausibility(p) for k, (_, p) in cases.items()}
    assert (q_in["real"] > 0.5).mean() > 0.9
    assert 0 < q_in["non_finite"][0] < q_in["real"][0] and q_in["non_finite"][1] == 0
    assert (q_in["half_dead"] < 0.6 * q_in["real"][:4]).all()
    assert (q_in["clipped"] < q_in["real"][:4]).all()
    assert (q_in["clipped"] < q_in["near_peak"]).all() and (q_in["faint"] == 1).all()
    assert ((q_in["rough"] > 0.2) & (q_in["rough"] < 0.9)).all()  # smooth on its ramp
    assert ((q_in["stuttering"] > 0.1) & (q_in["stuttering"] < 0.5)).all()
    assert ((q_in["nan_ratios"] > 0.1) & (q_in["nan_ratios"] < q_in["rough"])).all()
    for name in ("zeros", "constant", "all_nan", "uniform_noise", "frozen"):
        assert (q_in[name] == 0).all(), name
    assert q_out["saturated_keypoints"][0] < 0.1 and q_out["saturated_keypoints"][2] == 0
    assert 0 < q_out["saturated_keypoints"][1] < q_out["real"][1]
    assert (q_out["lopsided_keypoints"] < q_out["real"][:4]).all()


def test_confidence_is_clipped_product_on_nan(bundle: ModelBundle) -> None:
    """Overflowing amplitudes make numpy's roughness NaN; the kernel follows it (NaN)."""
    frames = np.full((2, 20, 56), 3e38, np.float32)
    frames[:, ::2] *= 0.5
    kp = np.repeat(NEUTRAL_POSE[None], 2, axis=0)
    with np.errstate(all="ignore"):
        ref = window_confidence(frames, kp)
    ours = NativeBackend(bundle).confidence(frames, kp)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert_close(np.nan_to_num(ours), np.nan_to_num(ref))


def test_non_finite_input_through_the_model(bundle: ModelBundle, windows: np.ndarray) -> None:
    ref_model, model = both(bundle)
    frames = windows[:3].copy()
    frames[1, 4, 9] = np.nan
    kp, conf = model.infer(frames)
    with np.errstate(all="ignore"):
        kp_ref, conf_ref = ref_model.infer(frames)
    assert conf[1] == conf_ref[1] == 0.0 and not np.isfinite(kp[1]).any()
    assert_close(kp[[0, 2]], kp_ref[[0, 2]])
    assert_close(conf, conf_ref)


# --- the kernel's buffer checks ----------------------------------------------------------------


def test_backend_rejects_wrong_shapes(bundle: ModelBundle) -> None:
    native = NativeBackend(bundle)
    with pytest.raises(ValueError, match=r"x must have shape \[B, 56, T\]"):
        native.run(np.zeros((1, 20, 56), np.float32))
    with pytest.raises(ValueError, match="x must have shape"):
        native.run(np.zeros((56, 20), np.float32))
    with pytest.raises(ValueError, match=r"frames must have shape \[B, T, 56\]"):
        native.infer(np.zeros((2, 56, 20), np.float32))
    with pytest.raises(ValueError, match=r"keypoints must have shape \[2, 17, 2\]"):
        native.confidence(np.zeros((2, 20, 56), np.float32), np.zeros((3, 17, 2), np.float32))
    # float64 and non-contiguous inputs are converted by the backend, not refused
    x = np.asfortranarray(np.random.default_rng(0).uniform(0, 9, (2, 56, 20)))
    assert_close(native.run(x), NumpyBackend(bundle).run(x.astype(np.float32)))
    frames = excerpt_b_windows()[:3]
    for other in (frames.astype(np.float64), np.asfortranarray(frames), frames[::-1][::-1]):
        for a, b in zip(native.infer(other), native.infer(frames), strict=True):
            np.testing.assert_array_equal(a, b)


def test_kernel_rejects_bad_buffers(bundle: ModelBundle) -> None:
    model = NativeBackend(bundle)._model
    x = np.zeros((2, 56, 20), np.float32)
    out = np.empty((2, 17, 2), np.float32)
    frames = np.zeros((2, 20, 56), np.float32)
    conf = np.empty(2, np.float32)
    with pytest.raises(TypeError, match=r"x must be float32.*got format 'd'"):
        kernel.forward(model, x.astype(np.float64), out)
    with pytest.raises(TypeError, match=r"x must be a float32 array.*list"):
        kernel.forward(model, x.tolist(), out)
    with pytest.raises(TypeError, match="out must be float32"):
        kernel.forward(model, x, out.astype(np.float16))
    with pytest.raises(TypeError, match="must be float32"):
        kernel.forward(model, x.astype(">f4"), out)
    with pytest.raises(ValueError, match="x must be a C-contiguous"):
        kernel.forward(model, np.zeros((2, 20, 56), np.float32).transpose(0, 2, 1), out)
    with pytest.raises(ValueError, match="x must have 3 dimensions; got 2"):
        kernel.forward(model, x[0], out)
    with pytest.raises(ValueError, match=r"out must have shape \[2, 17, 2\]; got \[2, 34, 1\]"):
        kernel.forward(model, x, np.empty((2, 34, 1), np.float32))
    read_only = out.copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out must be a C-contiguous, writable"):
        kernel.forward(model, x, read_only)
    with pytest.raises(TypeError, match=r"model must be the result of _kernel\.prepare"):
        kernel.forward(object(), x, out)
    with pytest.raises(ValueError, match=r"confidence must have shape \[2\]"):
        kernel.infer(model, frames, False, out, np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"frames must have shape \[B, T, n\]"):
        kernel.confidence(np.zeros((2, 0, 56), np.float32), out, conf)
    with pytest.raises(TypeError):
        kernel.infer(model, frames, False, out)  # type: ignore[call-arg]
    kernel.infer(model, frames, False, out, conf)  # and the right call works
    assert np.isfinite(out).all() and (conf == 0).all()


def test_prepare_checks_the_weights(bundle: ModelBundle) -> None:
    w = bundle.weights
    convs = [(w[f"{p}.weight"], w[f"{p}.bias"], pad, dil) for p, pad, dil in CONV_LAYERS]
    head = (w["head.fc1.weight"], w["head.fc1.bias"], w["head.fc2.weight"], w["head.fc2.bias"])
    kernel.prepare(convs, *head, None, None)
    with pytest.raises(ValueError, match=r"convs\[1\] weight must have shape \[C_out, 64, K\]"):
        kernel.prepare([convs[0], convs[2]], *head, None, None)
    with pytest.raises(ValueError, match=r"convs\[0\] bias must have shape \[64\]"):
        kernel.prepare([(convs[0][0], convs[1][1], 1, 1), *convs[1:]], *head, None, None)
    with pytest.raises(ValueError, match=r"fc2 weight must have shape \[34, 256\]"):
        kernel.prepare(convs, *head[:2], head[2][:30], head[3], None, None)
    with pytest.raises(ValueError, match=r"fc1 weight must have shape \[N, 128\]"):
        kernel.prepare(convs, head[0][:, :100].copy(), *head[1:], None, None)
    with pytest.raises(ValueError, match=r"convs\[0\] dilation must be >= 1"):
        kernel.prepare([(*convs[0][:3], 0), *convs[1:]], *head, None, None)
    with pytest.raises(TypeError, match=r"convs\[0\] must be a tuple"):
        kernel.prepare([list(convs[0]), *convs[1:]], *head, None, None)
    with pytest.raises(TypeError, match=r"convs\[2\] weight must be float32"):
        kernel.prepare([*convs[:2], (w["enc.c3.weight"].astype(np.float64), *convs[2][1:])],
                       *head, None, None)  # fmt: skip
    bad = convs[1][0].copy()
    bad[3, 2, 1] = np.inf  # a zero input times inf is NaN: skipping zeros needs finite weights
    with pytest.raises(ValueError, match=r"convs\[1\] weight holds non-finite values"):
        kernel.prepare([convs[0], (bad, *convs[1][1:]), convs[2]], *head, None, None)
    with pytest.raises(ValueError, match="fc1 bias holds non-finite values"):
        kernel.prepare(convs, head[0], np.full_like(head[1], np.nan), *head[2:], None, None)
    mean = np.zeros((20, 56), np.float32)
    with pytest.raises(ValueError, match="both be arrays or both be None"):
        kernel.prepare(convs, *head, mean, None)
    with pytest.raises(ValueError, match=r"std must have shape \[T, 56\]"):
        kernel.prepare(convs, *head, mean, np.ones((20, 55), np.float32))


# --- choosing it --------------------------------------------------------------------------------


def test_auto_picks_native() -> None:
    assert native_available()
    assert kernel.ISA in {"avx2+fma", "generic"}
    model = load_model(POSE_V1, "auto")
    assert model.backend == "native" and model.describe()["backend"] == "native"
    assert load_model(POSE_V1, "native").backend == "native"


def test_without_the_kernel(monkeypatch: pytest.MonkeyPatch, bundle: ModelBundle) -> None:
    """An install without a compiler: auto falls back, native says what is missing."""
    monkeypatch.setitem(sys.modules, "posecog.nodes.model._kernel", None)  # import fails
    assert not native_available()
    assert load_model(POSE_V1, "auto").backend == "onnxruntime"
    with pytest.raises(ModelError, match=r"backend native is not available.*not built"):
        load_model(POSE_V1, "native")
    with pytest.raises(ImportError, match="reinstall with a C compiler"):
        NativeBackend(bundle)
