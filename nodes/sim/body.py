"""A seeded motion model of one person: activity segments over time, turned into COCO-17 joints.

Activities (:data:`ACTIVITIES`): ``standing`` (breathing sway), ``walking`` (across the room
between random waypoints, with a gait cycle and arm swing), ``sitting`` (pelvis lowered, thighs
forward, knees bent, hands on the lap) and ``waving`` (one arm raised, the forearm swinging
sideways at 1.2..2 Hz). Segments last a random 4..10 s (configurable); every segment starts where
the previous one ended, and the joints cross-fade over :data:`BLEND_S` seconds at each switch, so
the motion is continuous. The model is a continuous function of time, evaluated at any
timestamps (s since the start of the recording).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .skeleton import ANKLE_Z, F64, SHIN, STAND_PELVIS, THIGH, Angles, forward_kinematics, project

__all__ = ["ACTIVITIES", "BLEND_S", "REGION", "Motion", "Segment", "make_motion"]

ACTIVITIES: tuple[str, ...] = ("standing", "walking", "sitting", "waving")
#: Floor area (m) where the person stays: x0, x1, y0, y1 (inside a 6 m x 5 m room).
REGION = (1.0, 5.0, 1.5, 4.0)
#: Cross-fade time (s) between consecutive segments.
BLEND_S = 1.0
_FACE_CAMERA = -np.pi / 2
_TWO_PI = 2.0 * np.pi


@dataclass(frozen=True, slots=True)
class Segment:
    """One activity from ``t0`` to ``t1`` (s). ``path`` holds the floor waypoints ``(K, 2)``
    (m): one point for a stationary activity, a polyline walked at ``speed`` (m/s) otherwise."""

    activity: str
    t0: float
    t1: float
    path: F64
    speed: float
    heading: float  #: facing direction of a stationary activity (rad)
    rate_hz: float  #: gait cycle or waving frequency (Hz)
    phase: float  #: phase of that cycle (rad)
    side: int  #: waving arm: 0 left, 1 right

    def end_xy(self) -> F64:
        """Floor position (m) at ``t1``."""
        xy: F64 = _along(self, np.array([self.t1]))[0][0]
        return xy


@dataclass(frozen=True, slots=True)
class Motion:
    """A person's whole motion: segments covering ``[0, duration_s]``, and breathing and heart
    rates (Hz) that the vitals lines report."""

    segments: tuple[Segment, ...]
    breath_hz: float
    heart_hz: float
    duration_s: float

    def activity_index(self, t: F64) -> npt.NDArray[np.int64]:
        """Index into :data:`ACTIVITIES` of the segment active at each time ``t`` (s)."""
        starts = np.array([s.t0 for s in self.segments])
        seg = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(self.segments) - 1)
        codes = np.array([ACTIVITIES.index(s.activity) for s in self.segments])
        return np.asarray(codes[seg], dtype=np.int64)

    def joints(self, t: F64) -> F64:
        """3D joints ``(T, 17, 3)`` (m, world frame) at times ``t`` (s)."""
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros((t.shape[0], 17, 3))
        for i, seg in enumerate(self.segments):
            nxt = self.segments[i + 1].t0 if i + 1 < len(self.segments) else np.inf
            mask = (t >= (seg.t0 if i else -np.inf)) & (t < nxt + BLEND_S)
            if not mask.any():
                continue
            tm = t[mask]
            j = forward_kinematics(_angles(seg, tm, self.breath_hz))
            # Weight of this segment: fades in over BLEND_S after t0, out after the next's t0.
            w_in = _smoothstep((tm - seg.t0) / BLEND_S) if i else np.ones_like(tm)
            w_out = 1.0 - _smoothstep((tm - nxt) / BLEND_S)
            w = np.minimum(w_in, w_out) if i else w_out
            out[mask] += w[:, None, None] * j
        return out

    def keypoints(self, t: F64) -> F64:
        """COCO-17 image keypoints ``(T, 17, 2)`` in [0, 1] at times ``t`` (s)."""
        return project(self.joints(t))


def _smoothstep(x: F64) -> F64:
    x = np.clip(x, 0.0, 1.0)
    return np.asarray(x * x * (3.0 - 2.0 * x), dtype=np.float64)


def _along(seg: Segment, t: F64) -> tuple[F64, F64]:
    """Floor positions ``(T, 2)`` and headings ``(T,)`` along the segment's path at times t."""
    if seg.path.shape[0] == 1:
        return np.repeat(seg.path, t.shape[0], axis=0), np.full(t.shape[0], seg.heading)
    legs = np.diff(seg.path, axis=0)
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(legs[:, 0], legs[:, 1]))])
    s = np.clip((np.minimum(t, seg.t1) - seg.t0) * seg.speed, 0.0, cum[-1])
    xy = np.stack([np.interp(s, cum, seg.path[:, 0]), np.interp(s, cum, seg.path[:, 1])], -1)
    leg = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, legs.shape[0] - 1)
    # Heading follows the chord over +-0.4 m of path, so the walker turns smoothly at waypoints.
    ahead = [np.interp(np.clip(s + 0.4, 0, cum[-1]), cum, seg.path[:, i]) for i in (0, 1)]
    behind = [np.interp(np.clip(s - 0.4, 0, cum[-1]), cum, seg.path[:, i]) for i in (0, 1)]
    dx, dy = ahead[0] - behind[0], ahead[1] - behind[1]
    still = np.hypot(dx, dy) < 1e-6
    dx, dy = np.where(still, legs[leg, 0], dx), np.where(still, legs[leg, 1], dy)
    return xy, np.arctan2(dy, dx)


def _angles(seg: Segment, t: F64, breath_hz: float) -> Angles:
    """Joint angles of a segment's activity at times ``t`` (s)."""
    n = t.shape[0]
    xy, heading = _along(seg, t)
    breath = np.sin(_TWO_PI * breath_hz * t)
    ones = np.ones((n, 2))
    a = {
        "pelvis_z": STAND_PELVIS - 0.004 * (1.0 + breath),
        "lean": 0.02 + 0.01 * breath,
        "sway": 0.012 * np.sin(np.pi * breath_hz * t + seg.phase),
        "sh_abd": 0.10 * ones,
        "sh_flex": (0.05 + 0.01 * breath)[:, None] * ones,
        "fa_abd": 0.10 * ones,
        "fa_flex": 0.20 * ones,
        "hip_flex": np.zeros((n, 2)),
        "knee_flex": 0.03 * ones,
    }
    cycle = _TWO_PI * seg.rate_hz * t + seg.phase
    if seg.activity == "sitting":
        a.update(pelvis_z=np.full(n, 0.55), lean=0.12 + 0.01 * breath)
        a.update(hip_flex=1.45 * ones, knee_flex=1.45 * ones, sh_flex=0.45 * ones)
        a.update(sh_abd=0.12 * ones, fa_flex=1.35 * ones, fa_abd=0.15 * ones)
    elif seg.activity == "waving":
        s = seg.side
        for key, value in (("sh_abd", 1.75), ("sh_flex", 0.25), ("fa_flex", 0.25)):
            a[key][:, s] = value
        a["fa_abd"][:, s] = 2.75 + 0.4 * np.sin(cycle)
    elif seg.activity == "walking":
        both = np.stack([cycle, cycle + np.pi], axis=-1)  # left, right leg phases
        hip = 0.35 * np.sin(both)
        knee = 0.08 + 0.6 * np.maximum(np.cos(both), 0.0) ** 2  # flexed in mid-swing
        reach = THIGH * np.cos(hip) + SHIN * np.cos(hip - knee)
        a.update(hip_flex=hip, knee_flex=knee, pelvis_z=ANKLE_Z + reach.max(axis=1))
        a.update(lean=np.full(n, 0.06), sway=0.02 * np.sin(cycle))
        a.update(sh_flex=-0.3 * np.sin(both), fa_flex=0.3 - 0.3 * np.sin(both))
        a.update(sh_abd=0.08 * ones, fa_abd=0.08 * ones)
    return Angles(x=xy[:, 0], y=xy[:, 1], heading=heading, **a)


def _random_point(rng: np.random.Generator) -> F64:
    x0, x1, y0, y1 = REGION
    return np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])


def _turn_ok(points: list[F64], nxt: F64) -> bool:
    """Whether walking on to ``nxt`` turns by at most 120 degrees (no U-turns at waypoints)."""
    if len(points) < 2:
        return True
    a, b = points[-1] - points[-2], nxt - points[-1]
    return float(np.dot(a, b)) >= -0.5 * float(np.linalg.norm(a) * np.linalg.norm(b))


def make_motion(
    rng: np.random.Generator,
    duration_s: float,
    activities: tuple[str, ...] = ACTIVITIES,
    segment_s: tuple[float, float] = (4.0, 10.0),
) -> Motion:
    """Draw a motion of ``duration_s`` seconds: activity segments of ``segment_s`` (min, max)
    seconds, each a different activity from the previous one when more than one is allowed."""
    unknown = sorted(set(activities) - set(ACTIVITIES))
    if unknown or not activities:
        raise ValueError(f"activities must be a non-empty subset of {ACTIVITIES}; got {activities}")
    segments: list[Segment] = []
    here, t, prev = _random_point(rng), 0.0, ""
    while t < duration_s:
        choices = [a for a in activities if a != prev] or list(activities)
        act = choices[int(rng.integers(len(choices)))]
        t1 = t + float(rng.uniform(*segment_s))
        speed = float(rng.uniform(0.7, 1.2))
        path = here[None, :]
        if act == "walking":
            points, length, tries = [here], 0.0, 0
            while length < speed * (t1 - t) + 1.0:
                nxt, tries = _random_point(rng), tries + 1
                if np.hypot(*(nxt - points[-1])) > 1.0 and (tries > 50 or _turn_ok(points, nxt)):
                    tries = 0
                    length += float(np.hypot(*(nxt - points[-1])))
                    points.append(nxt)
            path = np.array(points)
        rate = speed / 1.4 if act == "walking" else float(rng.uniform(1.2, 2.0))
        seg = Segment(
            activity=act, t0=t, t1=t1, path=path, speed=speed,
            heading=_FACE_CAMERA + float(rng.uniform(-0.5, 0.5)), rate_hz=rate,
            phase=float(rng.uniform(0, _TWO_PI)), side=int(rng.integers(2)),
        )  # fmt: skip
        segments.append(seg)
        here, t, prev = seg.end_xy(), t1, act
    return Motion(
        segments=tuple(segments),
        breath_hz=float(rng.uniform(0.2, 0.3)),
        heart_hz=float(rng.uniform(1.0, 1.4)),
        duration_s=duration_s,
    )
