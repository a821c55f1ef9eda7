"""The items that flow between nodes: small immutable records with numpy arrays inside.

Every item carries its **event time** ``ts`` (seconds since the epoch, from the sensor or the
recording: never the wall clock of this process) and ``arrived``, the processing-clock time
(``BuildContext.now()``) at which the source received the data it came from, so sinks can report
source-to-sink latency. ``arrived`` is 0.0 when unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["KEYPOINT_NAMES", "CsiFrame", "CsiWindow", "FloatArray", "Pose", "Presence", "Vitals"]

FloatArray = npt.NDArray[np.float32]

#: COCO-17 keypoint order of every ``Pose``, model bundle and ground truth.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class CsiFrame:
    """One CSI frame of one node: amplitudes of the selected subcarriers (56 for LLTF bins 0..55).

    ``seq`` orders frames of a source: the sensing-server's ``tick``, the ESP32 sequence number
    or the recording's line number; -1 when unknown. ``n_subcarriers`` is the size of the frame
    the sensor sent (64/128/192), which may exceed ``len(amplitude)``.
    """

    ts: float
    node_id: int
    amplitude: FloatArray
    seq: int = -1
    rssi: float | None = None
    n_subcarriers: int = 0
    arrived: float = 0.0


@dataclass(frozen=True, slots=True, eq=False)
class CsiWindow:
    """``frames[t, k]``: amplitude of subcarrier k in the t-th frame of the window (frame-major,
    in arrival order). The model bundle, not the window, decides how this maps onto its input.
    """

    ts_start: float
    ts_end: float
    node_id: int
    frames: FloatArray
    seq: int = -1
    arrived: float = 0.0

    @property
    def ts(self) -> float:
        return self.ts_end


@dataclass(frozen=True, slots=True, eq=False)
class Pose:
    """One person's 17 COCO keypoints ``[17, 2]`` in [0, 1] image coordinates (x right, y down)."""

    ts: float
    node_id: int
    keypoints: FloatArray
    confidence: float
    seq: int = -1
    ts_start: float = 0.0
    arrived: float = 0.0
    backend: str = ""


@dataclass(frozen=True, slots=True)
class Vitals:
    """Vital signs of one node. Fields the sensor did not report are None."""

    ts: float
    node_id: int
    breathing_bpm: float | None = None
    heartrate_bpm: float | None = None
    presence: bool | None = None
    fall_detected: bool | None = None
    motion: bool | None = None
    n_persons: int | None = None
    motion_energy: float | None = None
    presence_score: float | None = None
    arrived: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Presence:
    """Presence and motion of one node (from the server's classification or edge vitals)."""

    ts: float
    node_id: int
    present: bool
    motion_level: str = ""
    confidence: float | None = None
    n_persons: int | None = None
    arrived: float = 0.0
