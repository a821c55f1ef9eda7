"""Export a bundle as a self-contained ONNX file, checked and compared with the numpy backend.

The published ``pose_v1.onnx`` cannot run: its weights sit in an external data file that was
never published. This export embeds the initializers in the file itself, so the one file is
the whole model. The ONNX input ``csi`` is ``[batch, n_subcarriers, window]`` of *raw*
amplitudes in the model's own layout (for ``flat_frame_major`` bundles such as pose_v1: the
window's frame-major flat buffer read as ``[56, 20]``, exactly as the reference runtime feeds
it). A bundle's per-subcarrier input normalisation is part of the graph (``Sub`` / ``Div``
first, see ``onnx_graph``), so callers never normalise. The bundle's layout, normalisation,
keypoint names and weights sha256 travel in the ONNX ``metadata_props``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundle import ModelBundle, load_bundle, to_model_input
from .numpy_backend import NumpyBackend
from .onnx_graph import OPSET, build_onnx

__all__ = ["PARITY_TOLERANCE", "ExportReport", "export_onnx"]

#: Largest |onnxruntime - numpy| accepted on the parity check.
PARITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class ExportReport:
    path: Path
    bytes: int
    opset: int
    max_abs_diff: float
    n_windows: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= PARITY_TOLERANCE


def _parity_inputs(bundle: ModelBundle, n: int = 64) -> np.ndarray:
    """Windows in the model's layout: amplitude-like values, a ramp, zeros, a constant."""
    meta = bundle.metadata
    rng = np.random.default_rng(0)
    frames = rng.uniform(0.0, 40.0, (n, meta.window, meta.n_subcarriers)).astype(np.float32)
    frames[1] = np.linspace(0, 30, meta.window * meta.n_subcarriers).reshape(frames[1].shape)
    frames[2] = 0.0
    frames[3] = 12.5
    return to_model_input(frames, meta.layout)


def export_onnx(bundle_path: str | Path, out_path: str | Path | None = None) -> ExportReport:
    """Write ``out_path`` (default: the bundle's path with ``.onnx``) and check it: the ONNX
    checker (full), then onnxruntime on the file as written vs the numpy backend."""
    import onnx
    import onnxruntime as ort

    bundle = load_bundle(bundle_path)
    out = Path(out_path) if out_path else Path(bundle_path).with_suffix(".onnx")
    model = build_onnx(bundle)
    meta = bundle.metadata
    for key, value in {
        "posecog.architecture": meta.architecture,
        "posecog.layout": meta.layout,
        "posecog.normalization": meta.normalization,
        "posecog.weights_sha256": bundle.sha256,
        "posecog.keypoints": json.dumps(list(meta.keypoint_names)),
        "posecog.input": f"csi[batch, {meta.n_subcarriers}, {meta.window}] float32, raw "
        f"amplitudes (layout {meta.layout}"
        + ("; the graph applies the per-subcarrier normalisation)" if bundle.input_norm else ")"),
    }.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out), save_as_external_data=False)
    onnx.checker.check_model(str(out), full_check=True)

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
    x = _parity_inputs(bundle)
    (got,) = session.run(["keypoints"], {"csi": x})
    want = NumpyBackend(bundle).run(x)
    diff = float(np.max(np.abs(np.asarray(got) - want)))
    return ExportReport(out, out.stat().st_size, OPSET, diff, len(x))
