"""What a bundle declares about its weights: architecture, input layout and normalisation,
keypoints, provenance.

Also the architectures' tensor shapes and ``ModelError``, so that both the bundle reader and
the trainer check weights against one definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from posecog.graph.errors import ConfigError
from posecog.nodes.items import KEYPOINT_NAMES

__all__ = [
    "KEYPOINT_NAMES",
    "LAYOUTS",
    "METADATA_KEY",
    "NORMALIZATIONS",
    "POSE_V1_SHA256",
    "SIDECAR_SUFFIX",
    "BundleMetadata",
    "Layout",
    "ModelError",
    "Normalization",
    "expected_shapes",
]

#: How a window's ``frames[T, n_sc]`` (frame-major, arrival order) becomes the model's
#: ``[n_sc, T]`` input. ``flat_frame_major``: the flat frame-major buffer (frame 0's n_sc values,
#: then frame 1's, ...) read as ``[n_sc, T]``, i.e. ``frames.reshape(-1).reshape(n_sc, T)``;
#: this is what the reference runtime and the paired training files do, so pose_v1 expects it.
#: ``subcarrier_major``: a true transpose ``frames.T`` (row k = subcarrier k over time).
Layout = Literal["flat_frame_major", "subcarrier_major"]
LAYOUTS: tuple[str, ...] = get_args(Layout)

#: How raw amplitudes are scaled before the layout mapping (``model_input``). ``none``: not at
#: all (pose_v1). ``per_subcarrier``: ``(frames[..., k] - mean[k]) / std[k]`` with the
#: bundle's ``input.mean`` / ``input.std`` tensors, which must then be present.
Normalization = Literal["none", "per_subcarrier"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)

METADATA_KEY = "posecog.bundle"
SIDECAR_SUFFIX = ".bundle.json"
#: sha256 of the weights published by RuView (``INTERFACES.md`` section 1).
POSE_V1_SHA256 = "eb249b9a6b2e10130437a10976ed0230b0d085f86a0553d7226e1ae6eae4b9e5"


class ModelError(ConfigError):
    """A model file cannot be used: missing, not a bundle, damaged or of the wrong shape."""


def expected_shapes(architecture: str, n_subcarriers: int = 56) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes an architecture needs (only ``pose_v1`` exists so far)."""
    if architecture != "pose_v1":
        raise ModelError(f"unknown model architecture '{architecture}'; known: pose_v1")
    return {
        "enc.c1.weight": (64, n_subcarriers, 3),
        "enc.c1.bias": (64,),
        "enc.c2.weight": (128, 64, 3),
        "enc.c2.bias": (128,),
        "enc.c3.weight": (128, 128, 3),
        "enc.c3.bias": (128,),
        "head.fc1.weight": (256, 128),
        "head.fc1.bias": (256,),
        "head.fc2.weight": (34, 256),
        "head.fc2.bias": (34,),
    }


@dataclass(frozen=True)
class BundleMetadata:
    """What a bundle says about its weights. ``window`` is frames per input (T).
    ``normalization`` must agree with the file's tensors (checked when a bundle is built)."""

    architecture: str = "pose_v1"
    layout: Layout = "flat_frame_major"
    normalization: Normalization = "none"
    n_subcarriers: int = 56
    window: int = 20
    keypoint_names: tuple[str, ...] = KEYPOINT_NAMES
    #: Provenance: filled in at load time (``sha256``, ``source``) or by the trainer.
    sha256: str = ""
    source: str = ""
    training_data: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; ``sha256`` and ``source`` are left out (they describe the file)."""
        data = asdict(self)
        data["keypoint_names"] = list(self.keypoint_names)
        del data["sha256"], data["source"]
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> BundleMetadata:
        if not isinstance(data, dict):
            raise ModelError(f"{where}: bundle metadata must be a JSON object; got {data!r:.80}")
        known = {f for f in cls.__dataclass_fields__ if f not in ("sha256", "source")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(
                f"{where}: unknown bundle metadata keys {unknown}; known {sorted(known)}"
            )
        try:
            meta = cls(
                **{**data, "keypoint_names": tuple(data.get("keypoint_names", KEYPOINT_NAMES))}
            )
        except TypeError as exc:
            raise ModelError(f"{where}: bad bundle metadata: {exc}") from None
        if meta.layout not in LAYOUTS:
            raise ModelError(f"{where}: layout must be one of {list(LAYOUTS)}; got {meta.layout!r}")
        if meta.normalization not in NORMALIZATIONS:
            raise ModelError(
                f"{where}: normalization must be one of {list(NORMALIZATIONS)}; "
                f"got {meta.normalization!r}"
            )
        if meta.keypoint_names != KEYPOINT_NAMES:
            raise ModelError(
                f"{where}: keypoint_names must be the COCO-17 order {list(KEYPOINT_NAMES)}"
            )
        if not (isinstance(meta.window, int) and meta.window >= 1):
            raise ModelError(f"{where}: window must be a positive int; got {meta.window!r}")
        expected_shapes(meta.architecture)  # unknown architecture: a clear error now
        return meta
