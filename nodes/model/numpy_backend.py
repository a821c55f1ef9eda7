"""pose_v1 forward pass in plain numpy (float32, no extra dependency, fast cold start).

Internally activations are kept time-major ``[B, T, C]`` so that each dilated convolution is one
GEMM: the K shifted (dilated, zero outside the window) copies of the input are laid side by
side into ``[B*T, K*C]`` and multiplied by the weights rearranged once to ``[K*C, C_out]``.

A bundle's input normalisation (``model_input``) is applied here, on the input already in the
model's layout, with mean and std mapped to that layout (and time-major) once at load.
"""

from __future__ import annotations

import numpy as np

from posecog.nodes.items import FloatArray

from .bundle import ModelBundle
from .model_input import to_model_input

__all__ = ["CONV_LAYERS", "NumpyBackend", "sigmoid"]

#: (tensor prefix, padding, dilation) of pose_v1's three Conv1d layers (kernel size 3).
CONV_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("enc.c1", 1, 1),
    ("enc.c2", 2, 2),
    ("enc.c3", 4, 4),
)


def sigmoid(x: FloatArray) -> FloatArray:
    """Logistic function without overflow warnings (``0.5 * (1 + tanh(x / 2))``)."""
    out: FloatArray = (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32, copy=False)
    return out


class NumpyBackend:
    """Runs pose_v1 on ``x[B, n_sc, T]`` (the model's own input layout, raw amplitudes) ->
    ``[B, 17, 2]``. With a normalised bundle ``T`` must be the bundle's window."""

    name = "numpy"

    def __init__(self, bundle: ModelBundle) -> None:
        w = bundle.weights
        self._layout = bundle.metadata.layout
        #: (mean, std), each [T, n_sc]: the layout-mapped statistics, transposed like x.
        self._norm: tuple[FloatArray, FloatArray] | None = None
        if bundle.input_norm is not None:
            meta = bundle.metadata
            mean_l, std_l = bundle.input_norm.in_layout(meta.layout, meta.window)
            self._norm = (np.ascontiguousarray(mean_l.T), np.ascontiguousarray(std_l.T))
        self._convs: list[tuple[FloatArray, FloatArray, int, int, int]] = []
        for prefix, pad, dil in CONV_LAYERS:
            weight = w[f"{prefix}.weight"]  # [C_out, C_in, K]
            c_out, c_in, k = weight.shape
            # [K, C_in, C_out] -> [K*C_in, C_out]: row k*C_in + c pairs with tap k of channel c.
            mat = np.ascontiguousarray(weight.transpose(2, 1, 0).reshape(k * c_in, c_out))
            self._convs.append((mat, w[f"{prefix}.bias"], pad, dil, k))
        self._fc1 = (np.ascontiguousarray(w["head.fc1.weight"].T), w["head.fc1.bias"])
        self._fc2 = (np.ascontiguousarray(w["head.fc2.weight"].T), w["head.fc2.bias"])

    def forward(self, frames: FloatArray) -> FloatArray:
        """``frames[B, T, n_sc]`` (windows as they flow, raw amplitudes) -> keypoints: the
        bundle's layout mapping, then ``run``."""
        return self.run(to_model_input(frames, self._layout))

    def run(self, x: FloatArray) -> FloatArray:
        """``x[B, n_sc, T]`` float32 -> keypoints ``[B, 17, 2]`` in (0, 1)."""
        b, _, t = x.shape
        h: FloatArray = np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32)
        if self._norm is not None:
            h = (h - self._norm[0]) / self._norm[1]  # a fresh array: the caller's x is kept
        for mat, bias, pad, dil, k in self._convs:
            c = h.shape[2]
            # cols[b, i, tap*C + c] = h[b, i + tap*dil - pad, c], zero outside [0, T).
            cols = np.zeros((b, t, k * c), dtype=np.float32)
            for tap in range(k):
                s = tap * dil - pad
                lo, hi = max(0, -s), min(t, t - s)
                if lo < hi:
                    cols[:, lo:hi, tap * c : (tap + 1) * c] = h[:, lo + s : hi + s]
            h = (cols.reshape(b * t, k * c) @ mat).reshape(b, t, -1)
            h += bias
            np.maximum(h, 0.0, out=h)
        pooled = h.mean(axis=1, dtype=np.float32)
        z = pooled @ self._fc1[0] + self._fc1[1]
        np.maximum(z, 0.0, out=z)
        out = sigmoid(z @ self._fc2[0] + self._fc2[1])
        return out.reshape(b, 17, 2)
