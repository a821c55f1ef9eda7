"""Model bundles: the weights (safetensors, float32) plus what is needed to use them right.

Metadata lives in the safetensors header, ``__metadata__["posecog.bundle"]`` (a JSON object), or
in a sidecar ``<file>.bundle.json``; the header wins when both exist. A file without metadata
whose tensors are exactly pose_v1's (names and shapes) is taken to be the published pose_v1 with
layout ``flat_frame_major``, the reinterpretation its reference runtime feeds it (see
``Layout``). Anything else without metadata is refused rather than guessed.

``sha256`` and ``source`` are always computed at load time, never trusted from the metadata.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from posecog.graph.errors import ConfigError
from posecog.nodes.items import FloatArray

__all__ = [
    "KEYPOINT_NAMES",
    "METADATA_KEY",
    "POSE_V1_SHA256",
    "BundleMetadata",
    "Layout",
    "ModelBundle",
    "ModelError",
    "expected_shapes",
    "load_bundle",
    "save_bundle",
    "to_model_input",
]

#: How a window's ``frames[T, n_sc]`` (frame-major, arrival order) becomes the model's
#: ``[n_sc, T]`` input. ``flat_frame_major``: the flat frame-major buffer (frame 0's n_sc values,
#: then frame 1's, ...) read as ``[n_sc, T]``, i.e. ``frames.reshape(-1).reshape(n_sc, T)``;
#: this is what the reference runtime and the paired training files do, so pose_v1 expects it.
#: ``subcarrier_major``: a true transpose ``frames.T`` (row k = subcarrier k over time).
Layout = Literal["flat_frame_major", "subcarrier_major"]
LAYOUTS: tuple[str, ...] = get_args(Layout)

METADATA_KEY = "posecog.bundle"
SIDECAR_SUFFIX = ".bundle.json"
#: sha256 of the weights published by RuView (``INTERFACES.md`` section 1).
POSE_V1_SHA256 = "eb249b9a6b2e10130437a10976ed0230b0d085f86a0553d7226e1ae6eae4b9e5"

#: COCO-17 keypoint order used by every bundle and every ``Pose``.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


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
    """What a bundle says about its weights. ``window`` is frames per input (T)."""

    architecture: str = "pose_v1"
    layout: Layout = "flat_frame_major"
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
        if meta.keypoint_names != KEYPOINT_NAMES:
            raise ModelError(
                f"{where}: keypoint_names must be the COCO-17 order {list(KEYPOINT_NAMES)}"
            )
        if not (isinstance(meta.window, int) and meta.window >= 1):
            raise ModelError(f"{where}: window must be a positive int; got {meta.window!r}")
        expected_shapes(meta.architecture)  # unknown architecture: a clear error now
        return meta


@dataclass(frozen=True)
class ModelBundle:
    """Weights (float32 arrays by tensor name) and their metadata."""

    weights: dict[str, FloatArray]
    metadata: BundleMetadata

    @property
    def sha256(self) -> str:
        return self.metadata.sha256


def to_model_input(frames: FloatArray, layout: Layout) -> FloatArray:
    """``frames[B, T, n_sc]`` (frame-major) -> model input ``[B, n_sc, T]`` under ``layout``."""
    b, t, n = frames.shape
    if layout == "flat_frame_major":
        return np.ascontiguousarray(frames).reshape(b, n, t)
    return np.ascontiguousarray(frames.transpose(0, 2, 1))


def _read_header(raw: bytes, where: str) -> dict[str, Any]:
    if len(raw) < 8:
        raise ModelError(f"{where}: not a safetensors file ({len(raw)} bytes; truncated?)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ModelError(
            f"{where}: not a safetensors file or truncated: header says {n} header bytes, "
            f"file has {len(raw) - 8} after the length prefix"
        )
    try:
        header = json.loads(raw[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{where}: safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ModelError(f"{where}: safetensors header must be a JSON object")
    try:
        end = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
            default=0,
        )
    except (KeyError, TypeError, ValueError, IndexError):
        raise ModelError(f"{where}: safetensors header has a malformed tensor entry") from None
    if 8 + n + end > len(raw):
        raise ModelError(
            f"{where}: truncated safetensors file: tensors need {8 + n + end} bytes, "
            f"the file has {len(raw)}"
        )
    return header


def _metadata_for(path: Path, header: dict[str, Any], weights: Mapping[str, Any]) -> BundleMetadata:
    embedded = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if embedded is not None:
        try:
            return BundleMetadata.from_json(json.loads(embedded), f"{path} (__metadata__)")
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"{path}: __metadata__[{METADATA_KEY!r}] is not JSON ({exc})"
            ) from None
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if sidecar.is_file():
        try:
            return BundleMetadata.from_json(json.loads(sidecar.read_text()), str(sidecar))
        except json.JSONDecodeError as exc:
            raise ModelError(f"{sidecar}: not valid JSON ({exc})") from None
    # No metadata: only the exact published pose_v1 tensor set is recognised.
    expected = expected_shapes("pose_v1")
    if set(weights) != set(expected):
        missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
        raise ModelError(
            f"{path}: no bundle metadata (neither __metadata__[{METADATA_KEY!r}] nor "
            f"{sidecar.name}) and the tensors are not pose_v1's: missing {missing}, "
            f"unexpected {extra}"
        )
    return BundleMetadata(
        training_data="RuView camera-paired CSI windows (1,077 samples; trainer not public)",
        notes="no metadata in file: recognised as pose_v1 by its tensors, layout flat_frame_major",
    )


def load_bundle(path: str | Path) -> ModelBundle:
    """Read and check a bundle. Raises ``ModelError`` saying what is wrong and what to do."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        raise ModelError(
            f"{path}: ONNX files are not accepted. The published pose_v1.onnx refers to external "
            "data (pose_v1.onnx.data) that was never published, so it cannot run; pass the "
            ".safetensors weights instead (the ONNX graph is built from them in-process)"
        )
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    raw = path.read_bytes()
    header = _read_header(raw, str(path))
    try:
        loaded = st_load(raw)
    except Exception as exc:  # safetensors raises its own error type for damaged files
        raise ModelError(f"{path}: damaged safetensors file ({exc})") from None
    meta = _metadata_for(path, header, loaded)
    weights: dict[str, FloatArray] = {}
    for name, shape in expected_shapes(meta.architecture, meta.n_subcarriers).items():
        if name not in loaded:
            raise ModelError(
                f"{path}: tensor '{name}' is missing ({meta.architecture} needs {shape})"
            )
        arr = loaded[name]
        if tuple(arr.shape) != shape:
            raise ModelError(
                f"{path}: tensor '{name}' must have shape {list(shape)}; got {list(arr.shape)}"
            )
        if arr.dtype.kind != "f":
            raise ModelError(f"{path}: tensor '{name}' must be floating point; got {arr.dtype}")
        if not np.isfinite(arr).all():
            raise ModelError(f"{path}: tensor '{name}' holds non-finite values (NaN or inf)")
        weights[name] = np.ascontiguousarray(arr, dtype=np.float32)
    sha = hashlib.sha256(raw).hexdigest()
    metrics = dict(meta.metrics)
    if sha == POSE_V1_SHA256 and not metrics:  # published seed-benchmark figures
        metrics = {"pck@20": 0.030, "pck@50": 0.185, "mpjpe": 0.093}
    return ModelBundle(weights, replace(meta, sha256=sha, source=str(path), metrics=metrics))


def save_bundle(
    path: str | Path, weights: Mapping[str, FloatArray], metadata: BundleMetadata
) -> str:
    """Write weights with metadata embedded in the header; returns the file's sha256.

    The weights are checked against the architecture first, so a saved bundle always loads.
    """
    path = Path(path)
    shapes = expected_shapes(metadata.architecture, metadata.n_subcarriers)
    for name, shape in shapes.items():
        if name not in weights or tuple(weights[name].shape) != shape:
            got = None if name not in weights else list(weights[name].shape)
            raise ModelError(
                f"cannot save: tensor '{name}' must have shape {list(shape)}; got {got}"
            )
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
    raw = st_save(tensors, metadata={METADATA_KEY: json.dumps(metadata.to_json(), sort_keys=True)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()
