"""onnxruntime backend: one CPU session per model over the ONNX graph built from the weights.

The session takes the windows as they flow (``frames[B, T, n_sc]``, raw amplitudes); the
graph itself applies the bundle's normalisation and layout (``onnx_graph``, ``input_name=
"frames"``), so a call is one run of the session: no numpy layout or normalisation step
before it, no dtype conversion after it (batches get onnxruntime's fresh float32 output,
which poses may keep; batch 1 see below).

Session options (``session_options``), chosen for the pipeline thread and measured
(``benchmarks/infer_latency.py``, ``docs/benchmarks.md``):

* one intra-op and one inter-op thread, sequential execution: the graph runs on the single
  pipeline thread and the appliance has few cores; batching, not threads, gains throughput;
* no spinning (``session.intra_op.allow_spinning`` / ``inter_op`` = 0): live, a window comes
  every few milliseconds and a spinning worker would burn the core the I/O loop needs;
* ``ORT_ENABLE_ALL``: the only level at which onnxruntime rewrites the convolutions to its
  blocked-channel (NCHWc) kernels, the fastest at every batch size measured (1..64).

Batch 1 (live: one window per call) runs through an IO binding to preallocated input and
output buffers: the window is copied in, the keypoints copied out (poses keep views of them,
so the bound buffer is never handed out). Measured at one call every 40 ms, ~25 us (~9 %)
below a plain ``session.run`` with the copies included; larger batches (replay) run plainly,
where the per-call cost is shared by the batch. Not thread-safe (nor is ``PoseModel``).
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np

from posecog.nodes.items import FloatArray

from .bundle import ModelBundle
from .onnx_graph import build_onnx

__all__ = ["INPUT", "OUTPUT", "OnnxBackend", "session_options"]

#: Names of the session's input (``frames[B, T, n_sc]``) and output (``keypoints[B, 17, 2]``).
INPUT: Final[Literal["frames"]] = "frames"
OUTPUT: Final = "keypoints"


def session_options(ort: Any) -> Any:
    """The ``ort.SessionOptions`` every session of this backend uses (see the module doc)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only: no warnings on stderr at start-up
    return opts


class OnnxBackend:
    """Runs the bundle on ``frames[B, T, n_sc]`` -> ``[B, 17, 2]``; ``session`` is the one
    ``onnxruntime.InferenceSession`` (inputs ``INPUT``, outputs ``OUTPUT``)."""

    name = "onnxruntime"

    def __init__(self, bundle: ModelBundle) -> None:
        import onnxruntime as ort  # imported here: only this backend needs it

        proto = build_onnx(bundle, input_name=INPUT).SerializeToString()
        self.session = ort.InferenceSession(
            proto, session_options(ort), providers=["CPUExecutionProvider"]
        )
        self._outputs = [OUTPUT]
        meta = bundle.metadata
        self._one_in = np.zeros((1, meta.window, meta.n_subcarriers), dtype=np.float32)
        self._one_out = np.zeros((1, 17, 2), dtype=np.float32)
        self._one = self.session.io_binding()
        f32, shape_in, shape_out = np.float32, list(self._one_in.shape), [1, 17, 2]
        self._one.bind_input(INPUT, "cpu", 0, f32, shape_in, self._one_in.ctypes.data)
        self._one.bind_output(OUTPUT, "cpu", 0, f32, shape_out, self._one_out.ctypes.data)

    def forward(self, frames: FloatArray) -> FloatArray:
        """``frames[B, T, n_sc]`` float32 (the caller checked shape and dtype) -> keypoints,
        a new array each call."""
        if len(frames) == 1:
            np.copyto(self._one_in, frames)
            self.session.run_with_iobinding(self._one)
            return self._one_out.copy()
        (out,) = self.session.run(self._outputs, {INPUT: np.ascontiguousarray(frames)})
        result: FloatArray = out
        return result
