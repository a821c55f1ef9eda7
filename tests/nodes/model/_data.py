"""Real windows for model tests: the variant-B excerpt (56 amplitudes a line), windowed here."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import EXCERPT_B, POSE_V1


def excerpt_b_frames() -> tuple[np.ndarray, np.ndarray]:
    """``(timestamps[N], amplitudes float32[N, 56])`` of the whole excerpt, in file order."""
    rows = [json.loads(line) for line in EXCERPT_B.read_text().splitlines() if line.strip()]
    ts = np.array([r["timestamp"] for r in rows], dtype=np.float64)
    return ts, np.array([r["subcarriers"] for r in rows], dtype=np.float32)


def excerpt_b_windows(step: int = 1) -> np.ndarray:
    """Sliding windows ``float32[B, 20, 56]`` (frame-major) of the excerpt."""
    _, amp = excerpt_b_frames()
    return np.stack([amp[i : i + 20] for i in range(0, len(amp) - 19, step)])


__all__ = ["POSE_V1", "excerpt_b_frames", "excerpt_b_windows"]
