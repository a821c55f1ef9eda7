"""JSONL line formats written by the simulator (see reference INTERFACES section 5).

Every function returns one line without its newline; key order follows the real recordings, and
floats are rounded so the bytes are reproducible.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .skeleton import F64

__all__ = ["iso_utc", "paired_line", "raw_csi_line", "truth_line", "vitals_line", "write_lines"]

CSI_MAGIC = "0xC5110001"
VITALS_MAGIC = "0xC5110002"


def raw_csi_line(ts: float, node_id: int, iq: npt.NDArray[np.int8]) -> str:
    """A variant-A ``raw_csi`` line for int8 CSI ``(n, 2)`` (imaginary, real per subcarrier)."""
    n = iq.shape[0]
    return json.dumps(
        {
            "timestamp": round(ts, 6), "node_id": node_id, "magic": CSI_MAGIC,
            "size": 20 + 2 * n, "rssi": 1, "type": "raw_csi",
            "iq_hex": iq.astype(np.int8).tobytes().hex(), "subcarriers": n,
        }
    )  # fmt: skip


def vitals_line(
    ts: float,
    node_id: int,
    *,
    flags: int,
    breathing_bpm: float,
    heartrate_bpm: float,
    motion_energy: float,
    presence_score: float,
    rssi: int,
) -> str:
    """A variant-A ``vitals`` line (magic 0xC5110002, 32-byte packet); flags b0 presence,
    b1 fall, b2 motion; rates in breaths / beats per minute."""
    return json.dumps(
        {
            "timestamp": round(ts, 6), "node_id": node_id, "magic": VITALS_MAGIC, "size": 32,
            "rssi": rssi, "type": "vitals", "flags": flags,
            "breathing_bpm": round(breathing_bpm, 2), "heartrate_bpm": round(heartrate_bpm, 4),
            "n_persons": 1, "motion_energy": round(motion_energy, 6),
            "presence_score": round(presence_score, 6),
        }
    )  # fmt: skip


def _kp(kp: F64) -> list[list[float]]:
    return [[round(float(x), 4), round(float(y), 4)] for x, y in kp]


def truth_line(ts: float, activity: str, kp: F64) -> str:
    """A ground-truth line: event time (s), activity and COCO-17 keypoints ``(17, 2)`` in [0,1]."""
    return json.dumps({"timestamp": round(ts, 6), "activity": activity, "kp": _kp(kp)})


def iso_utc(ts: float) -> str:
    """``2026-01-01T00:00:00.123Z`` for seconds since the epoch."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def paired_line(amp: npt.NDArray[np.float32], kp: F64, ts: Sequence[float]) -> str:
    """A paired training record of one window: ``amp`` ``(20, 56)`` amplitudes written
    frame-major with ``csi_shape [56, 20]`` (the RuView convention), target keypoints ``kp``."""
    frames, n_sc = amp.shape
    return json.dumps(
        {
            "csi": [round(float(v), 3) for v in amp.reshape(-1)],
            "csi_shape": [n_sc, frames], "kp": _kp(kp), "conf": 1.0,
            "n_camera_frames": frames, "ts_start": iso_utc(ts[0]), "ts_end": iso_utc(ts[-1]),
        }
    )  # fmt: skip


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` (newline-terminated) to ``path``, gzipped when the name ends in ``.gz``
    (zero mtime and no file name in the header, so the bytes depend only on the content).
    Returns the number of bytes written."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)
    return len(data)
