"""Training data prepared once per run (numpy only): the split, the runtime's input mapping,
the amplitude scale and the pairs of consecutive windows for the smoothness loss."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from posecog.graph.errors import ConfigError

from ..bundle import to_model_input
from ..metadata import Layout
from ..paired import PairedSet, load_paired, split_by_time

__all__ = [
    "Prepared", "consecutive_pairs", "curriculum_mask", "input_index", "prepare", "stream_ids",
]  # fmt: skip

IntArray = npt.NDArray[np.int64]
#: Windows further apart than this many times the typical spacing are not "consecutive".
MAX_GAP_FACTOR = 1.5


@dataclass(frozen=True)
class Prepared:
    """A paired file split for training. ``train`` and ``held_out`` are in ``ts_start``
    order (``split_by_time``); ``pairs[P, 2]`` index ``train``; ``gather`` maps a window's
    flat frame-major values onto the flat model input (``input.flat = frames.flat[gather]``)."""

    data: PairedSet
    train: PairedSet
    held_out: PairedSet
    gather: IntArray
    input_scale: float
    pairs: IntArray


def input_index(window: int, n_subcarriers: int, layout: Layout) -> IntArray:
    """The model-input mapping as a gather index, derived from ``to_model_input`` itself so
    training sees exactly what the runtime feeds the model."""
    n = window * n_subcarriers  # float32 holds these indices exactly (n < 2**24)
    flat = np.arange(n, dtype=np.float32).reshape(1, window, n_subcarriers)
    return to_model_input(flat, layout).reshape(-1).astype(np.int64)


def stream_ids(ts_start: npt.NDArray[np.float64]) -> IntArray:
    """Stream of each record in file order: a new stream starts wherever ``ts_start`` does
    not increase (a file holding several nodes' or sessions' windows one after another)."""
    restart = np.r_[False, np.diff(ts_start) <= 0]
    return np.cumsum(restart).astype(np.int64)


def consecutive_pairs(ts_start: npt.NDArray[np.float64], streams: IntArray) -> IntArray:
    """``[P, 2]`` index pairs ``(i, j)`` of windows of the same stream with ``j`` the next one
    in time, and at most ``MAX_GAP_FACTOR`` times the median spacing apart (no pair across a
    recording gap). ``ts_start`` must be in time order."""
    idx = np.arange(ts_start.shape[0])
    pairs: list[IntArray] = []
    gaps: list[npt.NDArray[np.float64]] = []
    for s in np.unique(streams):
        members = idx[streams == s]
        pairs.append(np.stack([members[:-1], members[1:]], axis=1).astype(np.int64))
        gaps.append(np.diff(ts_start[members]))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    all_pairs, all_gaps = np.concatenate(pairs), np.concatenate(gaps)
    positive = all_gaps[all_gaps > 0]
    if positive.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    limit = MAX_GAP_FACTOR * float(np.median(positive))
    keep = (all_gaps > 0) & (all_gaps <= limit)
    return all_pairs[keep]


def prepare(
    path: str | Path,
    *,
    layout: Layout,
    train_fraction: float = 0.8,
    n_subcarriers: int = 56,
    window: int = 20,
) -> Prepared:
    """Load ``path`` and split it (later part held out). Raises ``ConfigError`` when the
    file is unusable or too small to leave at least one record on each side."""
    data = load_paired(path, n_subcarriers=n_subcarriers, window=window)
    n_train = int(len(data) * train_fraction)
    if n_train < 1 or n_train >= len(data):
        raise ConfigError(
            f"{path}: {len(data)} valid record(s) cannot be split {train_fraction:g} / "
            f"{1 - train_fraction:g} into non-empty training and held-out parts"
        )
    train, held_out = split_by_time(data, train_fraction)
    # The same order split_by_time uses, to carry the file-order stream ids along.
    order = np.argsort(data.ts_start, kind="stable")[:n_train]
    if not np.array_equal(data.ts_start[order], train.ts_start):
        raise AssertionError("split_by_time order changed; stream ids would not line up")
    streams = stream_ids(data.ts_start)[order]
    rms = float(np.sqrt(np.mean(np.square(train.frames, dtype=np.float64))))
    return Prepared(
        data=data,
        train=train,
        held_out=held_out,
        gather=input_index(window, n_subcarriers, layout),
        input_scale=rms if np.isfinite(rms) and rms > 0 else 1.0,
        pairs=consecutive_pairs(train.ts_start, streams),
    )


def curriculum_mask(
    conf: npt.NDArray[np.float32], epoch: int, epochs: int
) -> npt.NDArray[np.bool_]:
    """Which records the confidence curriculum admits at ``epoch`` (0-based): the most
    confident half at first, then linearly more, down to every record by mid-training.
    Ties are admitted together (all-equal ``conf`` admits everything from the start)."""
    ramp = max(1, epochs // 2)
    fraction = min(1.0, 0.5 + 0.5 * epoch / ramp)
    threshold = np.quantile(conf, 1.0 - fraction, method="higher")
    mask: npt.NDArray[np.bool_] = conf >= threshold
    return mask
