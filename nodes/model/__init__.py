"""The pose model: bundles (weights + metadata), backends and the honest confidence.

``load_model(path, backend)`` gives a ``PoseModel`` whose ``infer(frames[B, T, n_sc])`` returns
``(keypoints[B, 17, 2], confidence[B])``; ``backend`` is ``"numpy"`` (the reference, no extra
dependency), ``"onnxruntime"`` (the fast path: an ONNX graph built from the same weights) or
``"stub"`` (no weights: a fixed skeleton with confidence 0); ``"auto"`` picks onnxruntime when
it is installed, else numpy. Backends agree within 1e-5.
A bundle may declare a per-subcarrier input normalisation (``InputNorm``, see
``model_input``); the backends apply it, callers always pass raw amplitudes.
The second output of ``infer`` is the window's quality score (``confidence``: input quality x
output plausibility, 0 for garbage); a pose's confidence and per-keypoint confidences are that
score's gate times the agreement of its keypoints with the other nodes' poses (``agreement``,
applied by ``pose_infer`` and by ``evaluate``, which also measures how well they rank the error:
``informativeness``).
Nothing here loads anything at import time; onnxruntime is imported only when asked for.
"""

from __future__ import annotations

from .bundle import (
    KEYPOINT_NAMES,
    BundleMetadata,
    InputNorm,
    Layout,
    ModelBundle,
    ModelError,
    load_bundle,
    save_bundle,
    to_model_input,
)
from .confidence import input_quality, output_plausibility, window_confidence
from .pose_model import (
    REMOVED_BACKENDS,
    BackendName,
    PoseModel,
    load_model,
    synthetic_check,
    synthetic_window,
)

__all__ = [
    "KEYPOINT_NAMES",
    "REMOVED_BACKENDS",
    "BackendName",
    "BundleMetadata",
    "InputNorm",
    "Layout",
    "ModelBundle",
    "ModelError",
    "PoseModel",
    "input_quality",
    "load_bundle",
    "load_model",
    "output_plausibility",
    "save_bundle",
    "synthetic_check",
    "synthetic_window",
    "to_model_input",
    "window_confidence",
]
