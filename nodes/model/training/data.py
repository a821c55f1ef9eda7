"""Training data prepared once per run (numpy only): the split, the runtime's input mapping,
the input scaling (per-subcarrier statistics and RMS amplitude of the training split) and the
pairs of consecutive windows for the smoothness loss."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from posecog.graph.errors import ConfigError
from posecog.nodes.items import FloatArray

from ..metadata import Layout
from ..model_input import InputNorm, to_model_input
from ..paired import PairedSet, load_paired, split_by_time, stream_ids
from .config import NormalizeMode

__all__ = [
    "InputTransform", "Prepared", "consecutive_pairs", "curriculum_mask", "fit_input_norm",
    "input_index", "input_transform", "prepare", "stream_ids",
]  # fmt: skip

IntArray = npt.NDArray[np.int64]
#: Windows further apart than this many times the typical spacing are not "consecutive".
MAX_GAP_FACTOR = 1.5
#: Per-subcarrier std floor, relative to the RMS amplitude (always-null bins get it: their
#: normalised value is 0, never a division by zero).
STD_FLOOR = 1e-3


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
    input_norm: InputNorm
    pairs: IntArray


@dataclass(frozen=True)
class InputTransform:
    """What the network is trained on, ``(frames - offset) / divisor`` (float32 ``[n_sc]``
    each, raw amplitude units, before the layout mapping), and how the bundle reproduces it
    on raw amplitudes: by declaring ``norm`` or by folding ``fold`` into ``enc.c1.weight``."""

    offset: FloatArray
    divisor: FloatArray
    norm: InputNorm | None
    fold: float


def fit_input_norm(frames: FloatArray) -> tuple[InputNorm, float]:
    """Per-subcarrier mean and (population) std of ``frames[N, T, n_sc]`` over windows and
    frames, std floored at ``max(STD_FLOOR * rms, 1e-6)``; and the RMS amplitude (1.0 when
    not positive and finite). Float64 sums: deterministic, independent of thread counts."""
    f = np.asarray(frames, dtype=np.float64)
    rms = float(np.sqrt(np.mean(np.square(f))))
    rms = rms if np.isfinite(rms) and rms > 0 else 1.0
    mean, std = f.mean(axis=(0, 1)), f.std(axis=(0, 1))
    std = np.maximum(std, max(STD_FLOOR * rms, 1e-6))
    norm = InputNorm.checked(mean.astype(np.float32), std.astype(np.float32), f.shape[2], "train")
    return norm, rms


def input_transform(prep: Prepared, mode: NormalizeMode) -> InputTransform:
    """The training input scaling of ``mode`` (see ``TrainConfig.normalize``)."""
    n = prep.input_norm.mean.shape[0]
    zeros, ones = np.zeros(n, np.float32), np.ones(n, np.float32)
    if mode == "subcarrier":
        return InputTransform(prep.input_norm.mean, prep.input_norm.std, prep.input_norm, 1.0)
    if mode == "scalar":
        scale = float(np.float32(prep.input_scale))
        return InputTransform(zeros, np.full(n, scale, np.float32), None, scale)
    return InputTransform(zeros, ones, None, 1.0)


def input_index(window: int, n_subcarriers: int, layout: Layout) -> IntArray:
    """The model-input mapping as a gather index, derived from ``to_model_input`` itself so
    training sees exactly what the runtime feeds the model."""
    n = window * n_subcarriers  # float32 holds these indices exactly (n < 2**24)
    flat = np.arange(n, dtype=np.float32).reshape(1, window, n_subcarriers)
    return to_model_input(flat, layout).reshape(-1).astype(np.int64)


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
    norm, rms = fit_input_norm(train.frames)  # the training part only: nothing held out leaks
    return Prepared(
        data=data,
        train=train,
        held_out=held_out,
        gather=input_index(window, n_subcarriers, layout),
        input_scale=rms,
        input_norm=norm,
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
