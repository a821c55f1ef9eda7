"""``PoseModel``: one interface over the numpy, onnxruntime and stub backends.

The model owns its input layout and normalisation: callers pass windows as they flow
(``frames[B, T, n_sc]``, frame-major, arrival order, raw amplitudes); the backend maps them onto
the network's input with the bundle's layout and applies the bundle's normalisation, if any
(``model_input``; the onnxruntime backend does both inside its graph). Confidence is computed
on the raw frames. Not thread-safe: use one model from one thread (the pipeline thread).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np

from posecog.nodes.items import FloatArray

from .bundle import KEYPOINT_NAMES, Layout, ModelBundle, ModelError, load_bundle
from .confidence import window_confidence
from .stub_backend import StubBackend

__all__ = [
    "REMOVED_BACKENDS",
    "BackendName",
    "PoseModel",
    "load_model",
    "synthetic_check",
    "synthetic_window",
]

#: ``auto``: onnxruntime when it is installed, else numpy.
BackendName = Literal["numpy", "onnxruntime", "auto"]

#: Backends that existed once; asking for one is an error that says so.
REMOVED_BACKENDS = {
    "native": "the native backend (a hand-written C kernel) was removed; onnxruntime is the "
    "fast path",
}


class _Backend(Protocol):
    name: str

    def forward(self, frames: FloatArray) -> FloatArray:
        """``frames[B, T, n_sc]`` float32 -> keypoints ``float32[B, 17, 2]``."""
        ...


class PoseModel:
    """A loaded model (or the stub, when ``bundle`` is None; ``stub_reason`` says why)."""

    def __init__(self, bundle: ModelBundle | None, runner: _Backend, stub_reason: str = "") -> None:
        self.bundle = bundle
        self._runner = runner
        self.stub_reason = stub_reason
        meta = bundle.metadata if bundle is not None else None
        self.window = meta.window if meta else 20
        self.n_subcarriers = meta.n_subcarriers if meta else 56
        self.layout: Layout = meta.layout if meta else "flat_frame_major"
        self.keypoint_names = meta.keypoint_names if meta else KEYPOINT_NAMES
        #: The backend's forward pass, bound once (not looked up per window).
        self._forward = runner.forward

    @property
    def backend(self) -> str:
        """``"numpy"``, ``"onnxruntime"`` or ``"stub"`` (always ``"stub"`` without weights)."""
        return "stub" if self.bundle is None else self._runner.name

    @property
    def is_stub(self) -> bool:
        return self.bundle is None

    @property
    def sha256(self) -> str | None:
        return self.bundle.sha256 if self.bundle is not None else None

    def describe(self) -> dict[str, Any]:
        """Fields of the ``model.loaded`` event: backend, sha256, path, architecture, layout,
        normalization."""
        meta = self.bundle.metadata if self.bundle is not None else None
        info: dict[str, Any] = {
            "backend": self.backend,
            "sha256": self.sha256,
            "path": meta.source if meta else None,
            "architecture": meta.architecture if meta else None,
            "layout": self.layout if meta else None,
            "normalization": meta.normalization if meta else None,
        }
        if self.is_stub:
            info["reason"] = self.stub_reason
        return info

    def infer(self, frames: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``frames[B, T, n_sc]`` -> ``(keypoints float32[B, 17, 2], confidence float32[B])``.

        Raises ValueError when the shape is not ``[B, window, n_subcarriers]``. Non-finite input
        is not repaired: it yields confidence 0 (and usually non-finite keypoints).
        """
        x = frames
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            x = np.asarray(frames, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (self.window, self.n_subcarriers):
            want = f"[B, {self.window}, {self.n_subcarriers}]"
            raise ValueError(f"frames must have shape {want}; got {list(x.shape)}")
        keypoints = self._forward(x)  # layout mapping and normalisation in there
        if self.is_stub:
            return keypoints, np.zeros(x.shape[0], dtype=np.float32)
        return keypoints, window_confidence(x, keypoints)  # raw amplitudes: input quality


def load_model(
    path: str | Path | None, backend: BackendName = "numpy", *, missing_ok: bool = False
) -> PoseModel:
    """Load a model bundle onto a backend; the stub when there are no weights.

    ``path`` None or ``""``: the stub. A path that does not exist: ``ModelError``, or the stub
    when ``missing_ok`` (for a default location the user did not choose). ``backend="auto"``
    picks onnxruntime when it is installed (the fast path), else numpy. Both agree within 1e-5.
    Raises ``ModelError`` for damaged or foreign files (see ``load_bundle``), for a backend
    that is not available here and for an unknown or removed backend name.
    """
    if backend not in get_args(BackendName):
        choices = ", ".join(get_args(BackendName))
        removed = REMOVED_BACKENDS.get(str(backend))
        why = f" ({removed})" if removed else ""
        raise ModelError(f"backend must be one of {choices}; got {backend!r}{why}")
    if path is None or str(path) == "":
        return PoseModel(None, StubBackend(), "no model path configured")
    path = Path(path)
    if missing_ok and not path.exists():
        return PoseModel(None, StubBackend(), f"model file {path} not found")
    bundle = load_bundle(path)
    if backend == "auto":
        backend = _auto_backend()
    if backend == "onnxruntime":
        try:
            from .onnx_backend import OnnxBackend

            return PoseModel(bundle, OnnxBackend(bundle))
        except ImportError as exc:
            raise ModelError(f"backend onnxruntime is not available ({exc}); use numpy") from None
    from .numpy_backend import NumpyBackend

    return PoseModel(bundle, NumpyBackend(bundle))


def _auto_backend() -> Literal["numpy", "onnxruntime"]:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "numpy"
    return "onnxruntime"


def synthetic_window(
    window: int = 20, n_subcarriers: int = 56, phase: float = 0.0, tilt: float = 0.0
) -> FloatArray:
    """A deterministic CSI-like window ``[1, window, n_subcarriers]``: a smooth amplitude
    response with LLTF nulls, gently modulated over time (``phase`` shifts the modulation,
    ``tilt`` slopes the response across subcarriers: other rooms, other bodies)."""
    t = np.arange(window, dtype=np.float32)[:, None]
    k = np.arange(n_subcarriers, dtype=np.float32)[None, :]
    amp = 12.0 + 5.0 * np.sin(2 * np.pi * k / 28.0) + 0.8 * np.sin(2 * np.pi * t / 7.0 + k / 5.0)
    if phase or tilt:
        amp = amp * (1.0 + tilt * (k / n_subcarriers - 0.5)) + 0.8 * np.sin(phase + t / 3.0)
    amp[:, [i for i in range(n_subcarriers) if i == 0 or 27 <= i <= 37]] = 0.0
    out: FloatArray = amp[None].astype(np.float32)
    return out


#: A keypoint coordinate this close to 0 or 1 is pinned to the image border.
_SATURATED_EPS = 1e-3


def synthetic_check(model: PoseModel) -> float:
    """Run synthetic windows (for ``health``); the first one's confidence, or ``ModelError`` if
    the output is not finite keypoints in [0, 1] with a confidence in [0, 1], if it is
    saturated (most coordinates pinned to 0 or 1) or if it is constant (three different
    windows give the same pose: the model ignores its input). The stub is constant by
    design and is only checked for range."""
    windows = np.concatenate(
        [
            synthetic_window(model.window, model.n_subcarriers),
            synthetic_window(model.window, model.n_subcarriers, phase=2.0, tilt=0.6),
            synthetic_window(model.window, model.n_subcarriers, phase=4.0, tilt=-0.6) * 0.7,
        ]
    )
    keypoints, conf = model.infer(windows)
    name = model.backend
    if keypoints.shape != (3, 17, 2) or not np.isfinite(keypoints).all():
        raise ModelError(f"model ({name}) gave non-finite or misshapen keypoints")
    if (keypoints < 0).any() or (keypoints > 1).any():
        raise ModelError(f"model ({name}) gave keypoints outside [0, 1]")
    c = float(conf[0])
    if not all(0.0 <= float(x) <= 1.0 for x in conf):
        raise ModelError(f"model ({name}) gave confidence {c} outside [0, 1]")
    if model.is_stub:
        return c
    pinned = float(np.mean((keypoints < _SATURATED_EPS) | (keypoints > 1 - _SATURATED_EPS)))
    if pinned > 0.5:
        raise ModelError(
            f"model ({name}) is saturated: {pinned:.0%} of its keypoint coordinates sit on the "
            "image border (0 or 1) for synthetic input; the weights are broken or mis-scaled"
        )
    spread = float(np.ptp(keypoints, axis=0).max())
    if spread < 1e-6:
        raise ModelError(
            f"model ({name}) gives the same pose for three different windows (spread "
            f"{spread:.1e}): it ignores its input"
        )
    return c
