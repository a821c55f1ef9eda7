"""A paired set's poses and confidences as a live graph gives them (for ``evaluate``).

A live graph (``sliding_window`` step 1, then ``pose_infer``) makes one window per frame and
scores each pose against the poses that came before it (``agreement``). Paired records are
non-overlapping windows, so scoring each record alone would measure a confidence nobody
runs. Instead, ``live_scores`` rebuilds what the live graph sees:

* **Nodes** are the file's streams (``paired.stream_ids``: a new stream wherever ``ts_start``
  does not increase; the simulator writes one node after another).
* **Segments**: within a stream, records that follow each other without a gap (the next
  ``ts_start`` after this ``ts_end``, at most ``MAX_GAP_S`` later, ``sliding_window``'s
  default ``max_gap_s``) are one run of frames; every other record starts a new segment.
* **Windows**: every window of ``window`` consecutive frames of a segment, as
  ``sliding_window`` emits them; the window ending on a record's last frame is that record's
  (the same frames, so the same keypoints). Frame times are spread evenly over
  ``[ts_start, ts_end]`` (without ``ts_end``: ``DEFAULT_PERIOD_S`` apart).
* **Order**: all windows of all streams by the event time of their last frame, through one
  ``Agreement``, as ``pose_infer`` sees them.

Cost: about ``window`` forward passes per record (batched), plus one agreement step per
window on the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from posecog.nodes.items import FloatArray

from .agreement import Agreement
from .paired import PairedSet, stream_ids
from .pose_model import PoseModel

__all__ = ["DEFAULT_PERIOD_S", "MAX_GAP_S", "LiveScores", "live_scores"]

#: A pause between two records (s) beyond which the next one starts a new segment.
MAX_GAP_S = 1.0
#: Frame spacing assumed for records without ``ts_end`` (20 frames per second).
DEFAULT_PERIOD_S = 0.05

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LiveScores:
    """Per record (the set's order): ``keypoints[N, 17, 2]``, ``confidence[N]``,
    ``keypoint_confidence[N, 17]``; ``n_windows`` windows were run, in ``n_segments``
    segments of ``n_streams`` streams."""

    keypoints: FloatArray
    confidence: FloatArray
    keypoint_confidence: FloatArray
    n_windows: int
    n_segments: int
    n_streams: int


@dataclass(frozen=True)
class _Segment:
    stream: int
    records: npt.NDArray[np.int64]  #: record indices, in time order
    frame_ts: npt.NDArray[np.float64]  #: event time of every frame of the run


def _segments(data: PairedSet, window: int) -> list[_Segment]:
    streams = stream_ids(data.ts_start)
    ts_end = data.ts_end if data.ts_end is not None else np.full(len(data), np.nan)
    span = ts_end - data.ts_start
    known = np.isfinite(span) & (span > 0)
    period = float(np.median(span[known])) / (window - 1) if known.any() else DEFAULT_PERIOD_S
    ends = np.where(known, ts_end, data.ts_start + period * (window - 1))
    steps = np.linspace(0.0, 1.0, window)
    out: list[_Segment] = []
    for stream in np.unique(streams):
        members = np.flatnonzero(streams == stream)
        members = members[np.argsort(data.ts_start[members], kind="stable")]
        gap = data.ts_start[members[1:]] - ends[members[:-1]]
        cut = np.flatnonzero(~((gap > 0) & (gap <= MAX_GAP_S))) + 1
        for run in np.split(members, cut):
            start, end = data.ts_start[run], ends[run]
            frame_ts = (start[:, None] + (end - start)[:, None] * steps[None, :]).reshape(-1)
            out.append(_Segment(int(stream), run.astype(np.int64), frame_ts))
    return out


def live_scores(
    model: PoseModel,
    data: PairedSet,
    *,
    cross_node: bool = True,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> LiveScores:
    """Run ``model`` over every window a live graph would make of ``data`` and score the
    records' poses as ``pose_infer`` would (``agreement``; ``cross_node`` as its
    ``agreement: nodes``). ``progress(done, total)`` counts windows."""
    t, n_sc = model.window, model.n_subcarriers
    segments = _segments(data, t)
    counts = [seg.records.size * t - t + 1 for seg in segments]
    total = int(sum(counts))
    keypoints = np.empty((total, 17, 2), dtype=np.float32)
    quality = np.empty(total, dtype=np.float32)
    end_ts = np.empty(total, dtype=np.float64)
    node = np.empty(total, dtype=np.int64)
    record_window = np.empty(len(data), dtype=np.int64)
    at = 0
    for seg, count in zip(segments, counts, strict=True):
        frames = data.frames[seg.records].reshape(-1, n_sc)  # the run of frames
        views = np.lib.stride_tricks.sliding_window_view(frames, (t, n_sc))[:, 0]
        for lo in range(0, count, batch_size):
            hi = min(count, lo + batch_size)
            kp, q = model.infer(np.ascontiguousarray(views[lo:hi]))
            keypoints[at + lo : at + hi], quality[at + lo : at + hi] = kp, q
            if progress is not None:
                progress(at + hi, total)
        end_ts[at : at + count] = seg.frame_ts[t - 1 :]
        node[at : at + count] = seg.stream
        # Record k of the run ends on frame (k + 1) * t - 1, i.e. window k * t.
        record_window[seg.records] = at + np.arange(seg.records.size) * t
        at += count
    confidence = np.zeros(total, dtype=np.float32)
    per_keypoint = np.zeros((total, 17), dtype=np.float32)
    agreement = Agreement(cross_node=cross_node)
    finite = cast("list[bool]", np.isfinite(keypoints).all(axis=(1, 2)).tolist())
    nodes: list[int] = node.tolist()
    times: list[float] = end_ts.tolist()
    qualities: list[float] = quality.tolist()
    for i in np.argsort(end_ts, kind="stable").tolist():
        if finite[i]:  # pose_infer drops the others (non_finite_output) before scoring
            confidence[i], per_keypoint[i] = agreement.score(
                nodes[i], times[i], keypoints[i], qualities[i]
            )
    return LiveScores(
        keypoints=keypoints[record_window],
        confidence=confidence[record_window],
        keypoint_confidence=per_keypoint[record_window],
        n_windows=total,
        n_segments=len(segments),
        n_streams=len({seg.stream for seg in segments}),
    )
