"""Per-window quality: whether a window and its pose are usable at all, from input and output.

It is a quality score in [0, 1] (the second output of ``PoseModel.infer``), not a calibrated
probability that the keypoints are right, and among real windows it does not rank the error:
it tells garbage (0) from signal. A pose's ``confidence`` is this score's gate times the
agreement of its keypoints with the other nodes' poses (``agreement``), which does rank it.
It is the product of an input-quality term and an output-plausibility term, each a product of
factors in [0, 1]::

    confidence = q_in * q_out
    q_in  = finite * live * changing * unsaturated * smooth
    q_out = unsaturated_out * spread * (0.5 + 0.5 * symmetry)

Input factors (``frames[B, T, n_sc]``, non-finite values counted, then read as 0):

* ``finite``: fraction of finite values.
* ``live``: subcarriers with a non-zero mean amplitude over the window, divided by the number
  expected to carry energy (capped at 1). In the LLTF order used by the sensing-server, bins 0
  and 27..37 are always null, so 44 of 56 bins are live (``expected_live``).
* ``changing``: fraction of consecutive frame pairs that differ, full credit from half of them
  on (a stuck sensor or repeated frames give 0).
* ``unsaturated``: penalises plateaus at the window's maximum (clipping, constant input): full
  credit up to 5 % of live values at the maximum, 0 from 30 %.
* ``smooth``: a channel's amplitude response varies smoothly across adjacent subcarriers;
  roughness = median over frames of mean |a[k+1] - a[k]| / mean a over live neighbours. Real
  recordings measure 0.03..0.19, uniform noise about 0.67: full credit up to 0.25, 0 from 0.5.

Output factors (``keypoints[B, 17, 2]`` in (0, 1); any non-finite keypoint gives q_out = 0):

* ``unsaturated_out``: 1 - fraction of coordinates within 0.01 of 0 or 1 (sigmoid saturation).
* ``spread``: keypoint bounding-box diagonal / 0.05, capped at 1 (a collapsed skeleton is 0).
* ``symmetry``: mean over upper arm, forearm, thigh and shin of min(left, right) / max(...).
"""

from __future__ import annotations

import numpy as np

from posecog.nodes.items import FloatArray

__all__ = [
    "LLTF_NULL_BINS",
    "expected_live",
    "input_quality",
    "output_plausibility",
    "window_confidence",
]

#: Bins of the 64-bin LLTF block that never carry energy (DC and the guard band).
LLTF_NULL_BINS = frozenset({0, *range(27, 38)})
#: (joint, joint) of the left and right limb bones compared for symmetry (COCO-17 indices).
_LIMB_PAIRS = (((5, 7), (6, 8)), ((7, 9), (8, 10)), ((11, 13), (12, 14)), ((13, 15), (14, 16)))
_BONE_A = [p[side][0] for side in (0, 1) for p in _LIMB_PAIRS]
_BONE_B = [p[side][1] for side in (0, 1) for p in _LIMB_PAIRS]


def expected_live(n_subcarriers: int) -> int:
    """Subcarriers expected to be live among bins ``0..n_subcarriers-1`` (44 for 56)."""
    return max(1, sum(1 for k in range(n_subcarriers) if k not in LLTF_NULL_BINS))


def _ramp(x: FloatArray, zero_at: float, one_at: float) -> FloatArray:
    """Linear ramp from 0 (at ``zero_at``) to 1 (at ``one_at``), clipped; works both ways."""
    out: FloatArray = np.clip((x - zero_at) / (one_at - zero_at), 0.0, 1.0).astype(np.float32)
    return out


def input_quality(frames: FloatArray) -> FloatArray:
    """``q_in`` of each window of ``frames[B, T, n_sc]`` -> ``float32[B]``."""
    frames = np.asarray(frames, dtype=np.float32)
    b, t, n = frames.shape
    if np.isfinite(frames.sum()):  # the usual case, one reduction instead of a mask pass
        finite: FloatArray | float = 1.0
        a = np.abs(frames)
    else:
        finite_mask = np.isfinite(frames)
        finite = finite_mask.reshape(b, -1).mean(axis=1)
        a = np.where(finite_mask, np.abs(frames), 0.0).astype(np.float32)

    live_mask = a.mean(axis=1) > 1e-6  # [B, n]
    n_live = live_mask.sum(axis=1)
    live = np.minimum(1.0, n_live / expected_live(n))

    changed = (np.abs(np.diff(a, axis=1)).max(axis=2) > 0).sum(axis=1)
    changing = np.minimum(1.0, changed / max(1.0, 0.5 * (t - 1)))

    peak = a.max(axis=(1, 2), keepdims=True)
    at_peak = ((a >= peak * (1 - 1e-6)) & live_mask[:, None, :]).sum(axis=(1, 2))
    frac_peak = at_peak / np.maximum(1, n_live * t)
    unsaturated = _ramp(frac_peak, 0.30, 0.05)

    pair = live_mask[:, 1:] & live_mask[:, :-1]  # [B, n-1]
    n_pair = np.maximum(1, pair.sum(axis=1))[:, None]
    diffs = (np.abs(np.diff(a, axis=2)) * pair[:, None, :]).sum(axis=2) / n_pair  # [B, T]
    level = (a * live_mask[:, None, :]).sum(axis=2) / np.maximum(1, n_live)[:, None]
    # The median over frames, via one sort (np.median's dispatch costs more at batch 1).
    ratios = np.sort(diffs / np.maximum(level, 1e-6), axis=1)
    rough = 0.5 * (ratios[:, (t - 1) // 2] + ratios[:, t // 2])
    smooth = _ramp(rough, 0.5, 0.25)

    q: FloatArray = (finite * live * changing * unsaturated * smooth).astype(np.float32)
    return q


def output_plausibility(keypoints: FloatArray) -> FloatArray:
    """``q_out`` of each pose of ``keypoints[B, 17, 2]`` -> ``float32[B]``."""
    kp = np.asarray(keypoints, dtype=np.float32)
    ok = np.isfinite(kp).all(axis=(1, 2))
    kp = np.where(np.isfinite(kp), kp, 0.5)
    margin = np.minimum(kp, 1.0 - kp)
    unsaturated = 1.0 - (margin < 0.01).mean(axis=(1, 2))
    extent = kp.max(axis=1) - kp.min(axis=1)
    spread = np.minimum(1.0, np.sqrt((extent * extent).sum(axis=1)) / 0.05)
    seg = kp[:, _BONE_A] - kp[:, _BONE_B]  # [B, 8, 2]: the 4 left bones, then the 4 right
    length = np.sqrt((seg * seg).sum(axis=2))
    lo = np.minimum(length[:, :4], length[:, 4:])
    hi = np.maximum(length[:, :4], length[:, 4:])
    symmetry = np.where(hi > 1e-6, lo / np.maximum(hi, 1e-6), 1.0).mean(axis=1)
    q: FloatArray = np.where(ok, unsaturated * spread * (0.5 + 0.5 * symmetry), 0.0).astype(
        np.float32
    )
    return q


def window_confidence(frames: FloatArray, keypoints: FloatArray) -> FloatArray:
    """Confidence of each window: ``input_quality(frames) * output_plausibility(keypoints)``."""
    conf: FloatArray = np.clip(input_quality(frames) * output_plausibility(keypoints), 0.0, 1.0)
    return conf.astype(np.float32)
