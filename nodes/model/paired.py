"""Camera-paired training data (``*.paired.jsonl``, optionally gzipped) as RuView writes it.

One JSON object a line: ``{"csi": [n_sc * window floats], "csi_shape": [n_sc, window],
"kp": [[x, y] x 17], "conf": 0.441, "n_camera_frames": 6, "ts_start": "...Z", "ts_end": ...}``.
The ``csi`` array is **frame-major** (frame 0's ``n_sc`` values, then frame 1's, ...) although
``csi_shape`` says ``[n_sc, window]``; ``load_paired`` returns ``frames[N, window, n_sc]``, the
layout of ``CsiWindow.frames``, so the model maps it onto its input exactly as it does live.

Records that cannot be used are skipped and counted under a reason (``SKIP_REASONS``);
``strict=True`` raises ``ConfigError`` naming the first bad line instead. Blank lines are
ignored. ``ts_end`` is optional (NaN when absent or not a timestamp: it never skips a record);
``n_camera_frames`` and unknown keys are not read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posecog.graph.errors import ConfigError
from posecog.nodes.items import FloatArray

__all__ = [
    "SKIP_REASONS", "PairedSet", "load_paired", "split_by_time", "split_indices", "stream_ids",
]  # fmt: skip

#: Why a record is skipped. ``bad_csi``: not a list of numbers; ``bad_kp``: not 17 [x, y]
#: numbers; ``non_finite``: NaN or inf in csi, kp or conf (or csi too large for float32).
SKIP_REASONS: tuple[str, ...] = (
    "bad_json", "not_object", "missing_field", "csi_shape", "csi_length", "bad_csi",
    "bad_kp", "non_finite", "conf_range", "bad_timestamp",
)  # fmt: skip
_REQUIRED = ("csi", "csi_shape", "kp", "conf", "ts_start")
N_KEYPOINTS = 17


@dataclass(frozen=True)
class PairedSet:
    """Paired windows in file order (``subset`` / ``split_by_time`` give other orders).

    ``frames`` float32 ``[N, window, n_sc]`` (frame-major CSI amplitudes), ``keypoints``
    float32 ``[N, 17, 2]`` (normalised image coordinates), ``conf`` float32 ``[N]`` (mean
    camera visibility, in [0, 1]), ``ts_start`` float64 ``[N]`` (epoch seconds, UTC) and
    ``ts_end`` (the same, NaN where a record has none; None: all NaN).
    ``skipped`` counts skipped records of the whole file by reason; ``sha256`` is the file's
    (the bytes on disk, compressed or not).
    """

    frames: FloatArray
    keypoints: FloatArray
    conf: FloatArray
    ts_start: npt.NDArray[np.float64]
    path: Path
    sha256: str
    skipped: dict[str, int] = field(default_factory=dict)
    ts_end: npt.NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def subset(self, idx: npt.ArrayLike) -> PairedSet:
        """The records at ``idx`` (an index array or a boolean mask), in that order."""
        i = np.asarray(idx)
        return replace(
            self,
            frames=self.frames[i],
            keypoints=self.keypoints[i],
            conf=self.conf[i],
            ts_start=self.ts_start[i],
            ts_end=None if self.ts_end is None else self.ts_end[i],
        )


def stream_ids(ts_start: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Stream of each record in file order: a new stream starts wherever ``ts_start`` does
    not increase (a file holding several nodes' or sessions' windows one after another, as
    the simulator writes them: one node after another)."""
    restart = np.r_[False, np.diff(ts_start) <= 0]
    return np.cumsum(restart).astype(np.int64)


def split_by_time(data: PairedSet, fraction: float = 0.8) -> tuple[PairedSet, PairedSet]:
    """``(train, held_out)``: records sorted by ``ts_start`` (stable), the first
    ``floor(N * fraction)`` for training and the **later** rest held out (the pose_v1 recipe:
    1,077 records -> 861 + 216). Both parts are in time order."""
    train, held_out = split_indices(data.ts_start, fraction)
    return data.subset(train), data.subset(held_out)


def split_indices(
    ts_start: npt.NDArray[np.float64], fraction: float = 0.8
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The record indices of ``split_by_time``'s two parts, each in time order."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1); got {fraction}")
    order = np.argsort(ts_start, kind="stable").astype(np.int64)
    n_train = int(ts_start.shape[0] * fraction)
    return order[:n_train], order[n_train:]


class _Skips:
    """Counts skipped records by reason and keeps the first example of each."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.first: dict[str, tuple[int, str]] = {}

    def add(self, line: int, reason: str, detail: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if reason not in self.first or line < self.first[reason][0]:
            self.first[reason] = (line, detail)

    def summary(self) -> str:
        return ", ".join(
            f"{r} {n} (first: line {self.first[r][0]}: {self.first[r][1]})"
            for r, n in sorted(self.counts.items())
        )


def _parse_ts(value: Any) -> float:
    """ISO-8601 (``Z`` or an offset; naive is taken as UTC) -> epoch seconds; ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO-8601 string; got {value!r:.40}")
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _optional_ts(value: Any) -> float:
    """An optional timestamp (``ts_end``): epoch seconds, NaN when absent or unreadable."""
    try:
        return _parse_ts(value) if value is not None else math.nan
    except (ValueError, OverflowError):
        return math.nan


def _check(obj: Any, n_sc: int, window: int) -> tuple[str, str] | tuple[float, float]:
    """Structural checks of one record: ``(reason, detail)`` or ``(conf, ts_start)``."""
    if not isinstance(obj, dict):
        return "not_object", f"a record must be a JSON object; got {type(obj).__name__}"
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        return "missing_field", f"missing {missing}"
    if obj["csi_shape"] != [n_sc, window]:
        return "csi_shape", f"csi_shape must be [{n_sc}, {window}]; got {obj['csi_shape']!r:.40}"
    csi, kp, conf = obj["csi"], obj["kp"], obj["conf"]
    if not isinstance(csi, list):
        return "bad_csi", f"csi must be a list of numbers; got {type(csi).__name__}"
    if len(csi) != n_sc * window:
        return "csi_length", f"csi must hold {n_sc}*{window}={n_sc * window}; got {len(csi)}"
    if not (isinstance(kp, list) and len(kp) == N_KEYPOINTS):
        return "bad_kp", f"kp must be {N_KEYPOINTS} [x, y] pairs; got {kp!r:.40}"
    if isinstance(conf, bool) or not isinstance(conf, int | float):
        return "conf_range", f"conf must be a number in [0, 1]; got {conf!r:.40}"
    if not math.isfinite(conf):
        return "non_finite", f"conf is {conf}"
    if not 0.0 <= conf <= 1.0:
        return "conf_range", f"conf must be in [0, 1]; got {conf}"
    try:
        return float(conf), _parse_ts(obj["ts_start"])
    except ValueError as exc:
        return "bad_timestamp", f"ts_start: {exc}"


def _stack(rows: list[Any], shape: tuple[int, ...]) -> tuple[npt.NDArray[np.float64], list[int]]:
    """``rows`` -> float64 ``[len(rows), *shape]`` in one ``np.array`` call when they are all
    well-formed; otherwise row by row. Returns the array and the indices of malformed rows
    (their values are NaN)."""
    try:
        arr = np.array(rows)
        if arr.shape == (len(rows), *shape) and arr.dtype.kind in "fiu":
            return arr.astype(np.float64, copy=False), []
    except (ValueError, TypeError):
        pass
    out = np.full((len(rows), *shape), np.nan)
    bad: list[int] = []
    for i, row in enumerate(rows):
        try:
            one = np.array(row)
        except (ValueError, TypeError):
            bad.append(i)
            continue
        if one.shape != shape or one.dtype.kind not in "fiu":
            bad.append(i)
        else:
            out[i] = one
    return out, bad


def _read_text(path: Path) -> tuple[str, str]:
    """The file's text (gunzipped when it starts with the gzip magic) and its sha256."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: paired data file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read paired data ({exc.strerror or exc})") from None
    sha = hashlib.sha256(raw).hexdigest()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ConfigError(f"{path}: damaged gzip file ({exc})") from None
    return raw.decode("utf-8", errors="replace"), sha


def load_paired(
    path: str | Path, *, n_subcarriers: int = 56, window: int = 20, strict: bool = False
) -> PairedSet:
    """Read a paired file into a ``PairedSet`` (see the module docstring for the format).

    Raises ``ConfigError`` when the file is missing or unreadable, when nothing in it is
    valid (with the skip summary), and with ``strict`` at the first bad record
    (``<path>:<line>: <reason>: <detail>``).
    """
    path = Path(path)
    text, sha = _read_text(path)
    skips = _Skips()
    lines: list[int] = []
    csi_rows: list[Any] = []
    kp_rows: list[Any] = []
    conf: list[float] = []
    ts: list[float] = []
    ts_end: list[float] = []
    for number, text_line in enumerate(text.splitlines(), 1):
        if not text_line.strip():
            continue
        try:
            obj = json.loads(text_line)
        except json.JSONDecodeError as exc:
            skips.add(number, "bad_json", str(exc))
            continue
        checked = _check(obj, n_subcarriers, window)
        if isinstance(checked[0], str):
            skips.add(number, checked[0], str(checked[1]))
            continue
        lines.append(number)
        csi_rows.append(obj["csi"])
        kp_rows.append(obj["kp"])
        conf.append(float(checked[0]))
        ts.append(float(checked[1]))
        ts_end.append(_optional_ts(obj.get("ts_end")))
    csi, bad_csi = _stack(csi_rows, (n_subcarriers * window,))
    kps, bad_kp = _stack(kp_rows, (N_KEYPOINTS, 2))
    keep = np.ones(len(lines), dtype=bool)
    for i in bad_csi:
        skips.add(lines[i], "bad_csi", "csi must hold only numbers")
        keep[i] = False
    for i in sorted(set(bad_kp) - set(bad_csi)):
        skips.add(lines[i], "bad_kp", f"kp must be {N_KEYPOINTS} [x, y] pairs of numbers")
        keep[i] = False
    with np.errstate(over="ignore"):  # beyond float32: inf, skipped as non_finite below
        frames = csi.astype(np.float32).reshape(len(lines), window, n_subcarriers)
        keypoints = kps.astype(np.float32)
    finite = np.isfinite(frames).all(axis=(1, 2)) & np.isfinite(keypoints).all(axis=(1, 2))
    for j in np.flatnonzero(keep & ~finite):
        skips.add(lines[j], "non_finite", "csi or kp holds NaN/inf (or exceeds float32)")
    keep &= finite
    if strict and skips.counts:
        at, reason, detail = min((v[0], r, v[1]) for r, v in skips.first.items())
        raise ConfigError(f"{path}:{at}: {reason}: {detail}")
    if not keep.any():
        why = skips.summary() or "the file holds no records"
        raise ConfigError(f"{path}: no valid paired records; skipped: {why}")
    return PairedSet(
        frames=np.ascontiguousarray(frames[keep]),
        keypoints=np.ascontiguousarray(keypoints[keep]),
        conf=np.asarray(conf, dtype=np.float32)[keep],
        ts_start=np.asarray(ts, dtype=np.float64)[keep],
        path=path,
        sha256=sha,
        skipped=dict(sorted(skips.counts.items())),
        ts_end=np.asarray(ts_end, dtype=np.float64)[keep],
    )
