"""What the network is fed: the window's layout mapping and the optional input normalisation.

A window ``frames[B, T, n_sc]`` (frame-major, raw amplitudes) becomes the network's input in
two steps, both declared by the bundle:

1. **Normalisation** (optional tensors ``input.mean`` and ``input.std``, float32
   ``[n_subcarriers]``, metadata ``normalization: "per_subcarrier"``):
   ``frames_norm[b, t, k] = (frames[b, t, k] - mean[k]) / std[k]``. Without them (metadata
   ``"none"``, pose_v1) the raw amplitudes go in unchanged.
2. **Layout** (``to_model_input``): ``frames_norm`` -> ``[B, n_sc, T]`` under the bundle's
   ``Layout``.

The normalisation is per subcarrier, so it does not depend on the layout; a backend applies it
*after* the layout mapping with ``InputNorm.in_layout``: mean and std tiled over the window and
mapped exactly like a window, so ``(to_model_input(frames) - mean_l) / std_l`` equals
``to_model_input((frames - mean) / std)`` bit for bit. Confidence is judged on the raw
frames, never on the normalised ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from posecog.nodes.items import FloatArray

from .metadata import Layout, ModelError

__all__ = ["NORM_TENSORS", "InputNorm", "to_model_input"]

#: Names of the normalisation tensors in a bundle's safetensors file.
NORM_TENSORS: tuple[str, str] = ("input.mean", "input.std")


def to_model_input(frames: FloatArray, layout: Layout) -> FloatArray:
    """``frames[B, T, n_sc]`` (frame-major) -> model input ``[B, n_sc, T]`` under ``layout``."""
    b, t, n = frames.shape
    if layout == "flat_frame_major":
        return np.ascontiguousarray(frames).reshape(b, n, t)
    return np.ascontiguousarray(frames.transpose(0, 2, 1))


@dataclass(frozen=True)
class InputNorm:
    """Per-subcarrier ``mean`` and ``std`` (float32 ``[n_sc]``, raw amplitude units; every
    ``std`` finite and > 0). Build it with ``checked`` to get those guarantees."""

    mean: FloatArray
    std: FloatArray

    @classmethod
    def checked(cls, mean: Any, std: Any, n_subcarriers: int, where: str) -> InputNorm:
        """Validate and convert; ``ModelError`` saying which tensor is wrong and how."""
        arrays = {}
        for name, arr in zip(NORM_TENSORS, (mean, std), strict=True):
            a = np.asarray(arr)
            if a.dtype.kind != "f":
                raise ModelError(f"{where}: tensor '{name}' must be floating point; got {a.dtype}")
            if a.shape != (n_subcarriers,):
                raise ModelError(
                    f"{where}: tensor '{name}' must have shape [{n_subcarriers}] (one value per "
                    f"subcarrier); got {list(a.shape)}"
                )
            bad = np.flatnonzero(~np.isfinite(a))
            if bad.size:
                raise ModelError(
                    f"{where}: tensor '{name}' holds non-finite values (NaN or inf) at "
                    f"subcarrier(s) {bad[:8].tolist()}"
                )
            arrays[name] = np.ascontiguousarray(a, dtype=np.float32)
        low = np.flatnonzero(arrays["input.std"] <= 0)
        if low.size:
            raise ModelError(
                f"{where}: tensor 'input.std' must be > 0 for every subcarrier (inputs are "
                f"divided by it); got {arrays['input.std'][low[0]]:g} at subcarrier(s) "
                f"{low[:8].tolist()}"
            )
        return cls(arrays["input.mean"], arrays["input.std"])

    @classmethod
    def from_tensors(
        cls, tensors: Mapping[str, Any], n_subcarriers: int, where: str
    ) -> InputNorm | None:
        """The normalisation stored in ``tensors``, or None when neither tensor is there."""
        present = [name for name in NORM_TENSORS if name in tensors]
        if not present:
            return None
        if len(present) == 1:
            missing = next(n for n in NORM_TENSORS if n not in tensors)
            raise ModelError(f"{where}: tensor '{present[0]}' without '{missing}'; give both")
        return cls.checked(tensors["input.mean"], tensors["input.std"], n_subcarriers, where)

    def tensors(self) -> dict[str, FloatArray]:
        """``{"input.mean": ..., "input.std": ...}`` as stored in a bundle."""
        return {"input.mean": self.mean, "input.std": self.std}

    def apply(self, frames: FloatArray) -> FloatArray:
        """``(frames[B, T, n_sc] - mean) / std``, before any layout mapping (the definition)."""
        out: FloatArray = ((np.asarray(frames, np.float32) - self.mean) / self.std).astype(
            np.float32, copy=False
        )
        return out

    def in_layout(self, layout: Layout, window: int) -> tuple[FloatArray, FloatArray]:
        """``(mean_l, std_l)``, each float32 ``[n_sc, window]``: ``mean`` and ``std`` tiled
        over ``window`` frames and put through ``to_model_input``, for applying the
        normalisation to an input that is already in the model's layout."""
        n = self.mean.shape[0]
        tiled = [np.broadcast_to(v, (1, window, n)) for v in (self.mean, self.std)]
        mean_l, std_l = (to_model_input(np.array(v, np.float32), layout)[0] for v in tiled)
        return mean_l, std_l
