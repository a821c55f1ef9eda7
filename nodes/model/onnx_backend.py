"""onnxruntime backend: a CPU session over the ONNX graph built in memory from the weights.

One intra-op and one inter-op thread: the graph runs on the single pipeline thread and the
appliance has few cores; batching, not threads, is how throughput is gained.
"""

from __future__ import annotations

import numpy as np

from posecog.nodes.items import FloatArray

from .bundle import ModelBundle
from .model_input import to_model_input
from .onnx_graph import build_onnx

__all__ = ["OnnxBackend"]


class OnnxBackend:
    """Runs the bundle on ``frames[B, T, n_sc]`` (``forward``) or ``x[B, n_sc, T]`` (``run``,
    the model's own layout) -> ``[B, 17, 2]``."""

    name = "onnxruntime"

    def __init__(self, bundle: ModelBundle) -> None:
        import onnxruntime as ort  # imported here: only this backend needs it

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: no warnings on stderr at start-up
        self._layout = bundle.metadata.layout
        self._session = ort.InferenceSession(
            build_onnx(bundle).SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )

    def forward(self, frames: FloatArray) -> FloatArray:
        """``frames[B, T, n_sc]`` (windows as they flow) -> keypoints."""
        return self.run(to_model_input(frames, self._layout))

    def run(self, x: FloatArray) -> FloatArray:
        (out,) = self._session.run(["keypoints"], {"csi": np.ascontiguousarray(x, np.float32)})
        result: FloatArray = np.asarray(out, dtype=np.float32)
        return result
