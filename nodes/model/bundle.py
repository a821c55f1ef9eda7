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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from posecog.nodes.items import FloatArray

from .metadata import (
    KEYPOINT_NAMES,
    METADATA_KEY,
    POSE_V1_SHA256,
    SIDECAR_SUFFIX,
    BundleMetadata,
    Layout,
    ModelError,
    expected_shapes,
)

__all__ = [
    "KEYPOINT_NAMES",
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
