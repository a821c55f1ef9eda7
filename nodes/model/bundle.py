"""Model bundles: the weights (safetensors, float32) plus what is needed to use them right.

Metadata lives in the safetensors header, ``__metadata__["posecog.bundle"]`` (a JSON object), or
in a sidecar ``<file>.bundle.json``; the header wins when both exist. A file without metadata
whose tensors are exactly pose_v1's (names and shapes) is taken to be the published pose_v1 with
layout ``flat_frame_major``, the reinterpretation its reference runtime feeds it (see
``Layout``). Anything else without metadata is refused rather than guessed.

Optional tensors ``input.mean`` / ``input.std`` (float32 ``[n_subcarriers]``) declare a
per-subcarrier input normalisation (``model_input``); the metadata's ``normalization`` must say
``per_subcarrier`` exactly when they are there. Without them the bundle takes raw amplitudes.

``sha256`` and ``source`` are always computed at load time, never trusted from the metadata.

The header is read within bounds (``MAX_HEADER_BYTES``; the JSON by
``posecog.graph.config_text.load_json``: nesting, integer digits, finite numbers, unique keys),
as are the embedded metadata and the sidecar: a file over them is a ``ModelError`` naming it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from posecog.graph.config_text import (
    MAX_DOCUMENT_BYTES,
    TextLimit,
    decode_utf8,
    load_json,
    read_bounded,
    shown,
)
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
from .model_input import NORM_TENSORS, InputNorm, to_model_input

__all__ = [
    "KEYPOINT_NAMES",
    "MAX_HEADER_BYTES",
    "POSE_V1_SHA256",
    "BundleMetadata",
    "InputNorm",
    "Layout",
    "ModelBundle",
    "ModelError",
    "expected_shapes",
    "load_bundle",
    "save_bundle",
    "to_model_input",
]


#: Bytes of a safetensors JSON header (pose_v1's is 776, a trained bundle's with its metadata
#: about 3,400); safetensors itself allows 100 MB.
MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class ModelBundle:
    """Weights (float32 arrays by tensor name), their metadata and the input normalisation
    (None: raw amplitudes). ``ModelError`` when ``metadata.normalization`` disagrees."""

    weights: dict[str, FloatArray]
    metadata: BundleMetadata
    input_norm: InputNorm | None = None

    def __post_init__(self) -> None:
        _check_normalization(self.metadata, self.input_norm, "model bundle")

    @property
    def sha256(self) -> str:
        return self.metadata.sha256


def _check_normalization(meta: BundleMetadata, norm: InputNorm | None, where: str) -> None:
    if meta.normalization == "per_subcarrier" and norm is None:
        raise ModelError(
            f"{where}: metadata says normalization 'per_subcarrier' but tensors "
            f"{list(NORM_TENSORS)} are missing"
        )
    if meta.normalization == "none" and norm is not None:
        raise ModelError(
            f"{where}: has tensors {list(NORM_TENSORS)} but metadata says normalization "
            "'none'; set it to 'per_subcarrier' or drop the tensors"
        )


def _read_header(raw: bytes, where: str) -> dict[str, Any]:
    if len(raw) < 8:
        raise ModelError(f"{where}: not a safetensors file ({len(raw)} bytes; truncated?)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ModelError(
            f"{where}: not a safetensors file or truncated: header says {n} header bytes, "
            f"file has {len(raw) - 8} after the length prefix"
        )
    if n > MAX_HEADER_BYTES:
        raise ModelError(
            f"{where}: safetensors header must be at most {MAX_HEADER_BYTES:,} bytes"
            f" (MAX_HEADER_BYTES); got {n:,}"
        )
    try:
        header = load_json(decode_utf8(raw[8 : 8 + n]))
    except TextLimit as exc:
        raise ModelError(f"{where}: safetensors header: {exc.message}") from None
    except json.JSONDecodeError as exc:
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
            data = load_json(str(embedded))
        except TextLimit as exc:
            raise ModelError(f"{path}: __metadata__[{METADATA_KEY!r}]: {exc.message}") from None
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"{path}: __metadata__[{METADATA_KEY!r}] is not JSON ({exc})"
            ) from None
        return BundleMetadata.from_json(data, f"{path} (__metadata__)")
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    try:
        has_sidecar = sidecar.is_file()
        text = decode_utf8(read_bounded(sidecar, MAX_DOCUMENT_BYTES)) if has_sidecar else ""
        data = load_json(text) if has_sidecar else None
    except OSError as exc:
        raise ModelError(f"{shown(str(sidecar), 120)}: cannot read: {exc.strerror}") from None
    except TextLimit as exc:
        raise ModelError(exc.located(str(sidecar))) from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{sidecar}: not valid JSON ({exc})") from None
    if has_sidecar:
        return BundleMetadata.from_json(data, str(sidecar))
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


def _onnx_refusal(path: Path) -> str:
    """Why an ``.onnx`` path is refused, and which file to pass instead."""
    weights = path.with_suffix(".safetensors")
    instead = f" ({weights} is beside it)" if weights.is_file() else ""
    message = (
        f"{path}: an ONNX file is not a model bundle; pass the .safetensors weights{instead}: "
        "every backend, onnxruntime included, builds what it runs from them in-process "
        "(export-onnx writes ONNX for other runtimes)"
    )
    if path.name.lower().startswith("pose_v1"):
        message += (
            ". The published pose_v1.onnx could not run anyway: it refers to external data "
            "(pose_v1.onnx.data) that was never published"
        )
    return message


def _not_a_file(path: Path) -> str:
    """What is at ``path`` instead of a model file, in words a user can act on."""
    try:
        mode = path.stat().st_mode  # follows symlinks: a loop raises ELOOP here
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop, not a model file"
        if path.is_symlink():
            return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        return "model file not found"
    if stat.S_ISDIR(mode):
        return "a directory, not a model file (name the .safetensors file in it)"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a model file: a bundle must be a regular file"
    if stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device or socket, not a model file"
    return "not a regular file"


def load_bundle(path: str | Path) -> ModelBundle:
    """Read and check a bundle. Raises ``ModelError`` saying what is wrong and what to do."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".onnx":
            raise ModelError(_onnx_refusal(path))
        if not path.is_file():
            raise ModelError(f"{shown(str(path), 120)}: {_not_a_file(path)}")
        raw = path.read_bytes()
    except OSError as exc:  # a name too long, a folder we may not enter, ...
        raise ModelError(
            f"{shown(str(path), 120)}: cannot read the model: {exc.strerror}"
        ) from None
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
    norm = InputNorm.from_tensors(loaded, meta.n_subcarriers, str(path))
    _check_normalization(meta, norm, str(path))
    sha = hashlib.sha256(raw).hexdigest()
    metrics = dict(meta.metrics)
    if sha == POSE_V1_SHA256 and not metrics:  # published seed-benchmark figures
        metrics = {"pck@20": 0.030, "pck@50": 0.185, "mpjpe": 0.093}
    meta = replace(meta, sha256=sha, source=str(path), metrics=metrics)
    return ModelBundle(weights, meta, norm)


def save_bundle(
    path: str | Path,
    weights: Mapping[str, FloatArray],
    metadata: BundleMetadata,
    input_norm: InputNorm | None = None,
) -> str:
    """Write weights (and ``input_norm``'s tensors) with metadata embedded in the header;
    returns the file's sha256.

    The weights, the normalisation and its agreement with ``metadata.normalization`` are
    checked first, so a saved bundle always loads.
    """
    path = Path(path)
    _check_normalization(metadata, input_norm, "cannot save")
    if input_norm is not None:  # re-check: the dataclass may have been built unchecked
        input_norm = InputNorm.checked(
            input_norm.mean, input_norm.std, metadata.n_subcarriers, "cannot save"
        )
    shapes = expected_shapes(metadata.architecture, metadata.n_subcarriers)
    for name, shape in shapes.items():
        if name not in weights or tuple(weights[name].shape) != shape:
            got = None if name not in weights else list(weights[name].shape)
            raise ModelError(
                f"cannot save: tensor '{name}' must have shape {list(shape)}; got {got}"
            )
    if set(NORM_TENSORS) & set(weights):
        raise ModelError(f"cannot save: pass {list(NORM_TENSORS)} as input_norm, not as weights")
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
    tensors.update(input_norm.tensors() if input_norm is not None else {})
    raw = st_save(tensors, metadata={METADATA_KEY: json.dumps(metadata.to_json(), sort_keys=True)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()
