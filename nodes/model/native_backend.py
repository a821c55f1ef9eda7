"""Native backend: pose_v1's forward pass and the per-window confidence in one compiled call.

``posecog.nodes.model._kernel`` (``_kernel.c``, built at install when a C compiler is there)
computes exactly what ``numpy_backend`` and ``confidence`` compute, in float32, without numpy's
per-call dispatch: at batch 1 a window costs one C call instead of ~60 numpy calls, which is
what matters live, where each call runs cold after the CPU idled between frames. Keypoints
agree with the numpy backend within 1e-5, confidences within 1e-5.

The weights are copied and rearranged once, at construction; the bundle's layout and input
normalisation are honoured as in ``numpy_backend`` (normalisation on the layout-mapped input,
so with a normalised bundle the window length is the bundle's). The GIL is released while the
kernel runs. Importing this module never fails; constructing a ``NativeBackend`` raises
ImportError when the extension was not built.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from posecog.nodes.items import FloatArray

from .bundle import ModelBundle
from .numpy_backend import CONV_LAYERS

__all__ = ["NativeBackend", "native_available"]


def _import_kernel() -> ModuleType:
    """``posecog.nodes.model._kernel``; ImportError when it was not built."""
    return importlib.import_module(f"{__package__}._kernel")


def native_available() -> bool:
    """Whether the compiled kernel imports (it was built at install)."""
    try:
        _import_kernel()
    except ImportError:
        return False
    return True


class NativeBackend:
    """Runs the bundle through the compiled kernel. ``run(x[B, n_sc, T])`` -> ``[B, 17, 2]``
    as the other backends; ``confidence`` and ``infer`` also give the per-window confidence."""

    name = "native"

    def __init__(self, bundle: ModelBundle) -> None:
        try:
            kernel = _import_kernel()
        except ImportError as exc:
            raise ImportError(
                "the native backend's compiled kernel (posecog.nodes.model._kernel) is not "
                f"built ({exc}); reinstall with a C compiler available (pip install -e . or "
                "scripts/setup.sh) or use the numpy or onnxruntime backend"
            ) from None
        self._kernel = kernel
        w = bundle.weights
        mean: FloatArray | None = None
        std: FloatArray | None = None
        meta = bundle.metadata
        if bundle.input_norm is not None:
            mean_l, std_l = bundle.input_norm.in_layout(meta.layout, meta.window)
            mean, std = np.ascontiguousarray(mean_l.T), np.ascontiguousarray(std_l.T)
        convs = [(w[f"{p}.weight"], w[f"{p}.bias"], pad, dil) for p, pad, dil in CONV_LAYERS]
        self._model = kernel.prepare(
            convs,
            w["head.fc1.weight"],
            w["head.fc1.bias"],
            w["head.fc2.weight"],
            w["head.fc2.bias"],
            mean,
            std,
        )
        self._subcarrier_major = meta.layout == "subcarrier_major"
        #: "avx2+fma" or "generic": the compiled code path this CPU runs.
        self.isa: str = kernel.ISA

    def run(self, x: FloatArray) -> FloatArray:
        """``x[B, n_sc, T]`` float32 (the model's layout, raw amplitudes) -> keypoints
        ``[B, 17, 2]``. ValueError when the shape does not fit the model."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 3:
            raise ValueError(f"x must have shape [B, n_sc, T]; got {list(x.shape)}")
        out = np.empty((x.shape[0], 17, 2), dtype=np.float32)
        self._kernel.forward(self._model, x, out)
        return out

    def confidence(self, frames: FloatArray, keypoints: FloatArray) -> FloatArray:
        """``window_confidence(frames[B, T, n_sc], keypoints[B, 17, 2])`` -> ``float32[B]``."""
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        keypoints = np.ascontiguousarray(keypoints, dtype=np.float32)
        if frames.ndim != 3:
            raise ValueError(f"frames must have shape [B, T, n_sc]; got {list(frames.shape)}")
        out = np.empty(frames.shape[0], dtype=np.float32)
        self._kernel.confidence(frames, keypoints, out)
        return out

    def infer(self, frames: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``frames[B, T, n_sc]`` (frame-major windows, raw amplitudes) -> ``(keypoints
        float32[B, 17, 2], confidence float32[B])`` in one kernel call: the bundle's layout
        mapping, normalisation, forward pass and confidence."""
        # The live path: no conversion call unless the kernel refuses the array as it is (each
        # numpy call costs microseconds when the CPU comes back from idling).
        b = len(frames)
        keypoints = np.empty((b, 17, 2), dtype=np.float32)
        conf = np.empty(b, dtype=np.float32)
        try:
            self._kernel.infer(self._model, frames, self._subcarrier_major, keypoints, conf)
        except (TypeError, ValueError):  # not float32 or not contiguous (or misshapen: re-raised)
            frames = np.ascontiguousarray(frames, dtype=np.float32)
            self._kernel.infer(self._model, frames, self._subcarrier_major, keypoints, conf)
        return keypoints, conf
