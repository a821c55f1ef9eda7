"""Forward kinematics of a simple 3D stick figure and its projection to COCO-17 image keypoints.

World frame (metres): x along the room's width, y along its depth (away from the camera wall),
z up from the floor. A body's local frame is (left, forward, up) and is turned by its heading
(radians, counter-clockwise from +x) about z. Angles are radians; lengths metres.

A limb segment's direction is given by two absolute angles in the body frame, ``abd``
(abduction: away from the body's side) and ``flex`` (flexion: towards the front):
``dir = (side * sin(abd) * cos(flex), sin(flex), -cos(abd) * cos(flex))``; (0, 0) hangs straight
down, ``flex = pi/2`` points forward, ``abd = pi`` points straight up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from posecog.nodes.items import KEYPOINT_NAMES

__all__ = [
    "CAMERA",
    "COCO_KEYPOINTS",
    "F64",
    "Angles",
    "forward_kinematics",
    "project",
]

F64 = npt.NDArray[np.float64]

COCO_KEYPOINTS: tuple[str, ...] = KEYPOINT_NAMES

#: Segment lengths (m) of the figure: a 1.75 m adult.
TRUNK, NECK, UPPER_ARM, FOREARM, THIGH, SHIN = 0.52, 0.20, 0.29, 0.26, 0.45, 0.43
SHOULDER_HALF, HIP_HALF, ANKLE_Z = 0.19, 0.10, 0.07
#: Pelvis height (m) of the upright figure: legs straight, feet on the floor.
STAND_PELVIS = ANKLE_Z + THIGH + SHIN

#: Pinhole camera on the wall behind y=0: position (m) and focal length (image widths per metre
#: of lateral offset at 1 m depth). It looks along +y; image x grows with world x.
CAMERA = (3.0, -1.5, 1.2, 0.6)


@dataclass(frozen=True, slots=True)
class Angles:
    """Per-frame body state; every array has shape ``(T,)`` or, per side, ``(T, 2)`` with
    column 0 = left, 1 = right."""

    x: F64  #: pelvis position on the floor (m)
    y: F64
    heading: F64  #: facing direction (rad from +x, counter-clockwise)
    pelvis_z: F64  #: pelvis height (m)
    lean: F64  #: forward trunk lean (rad)
    sway: F64  #: lateral pelvis offset (m), e.g. breathing sway
    sh_abd: F64  #: upper-arm abduction / flexion (rad), (T, 2)
    sh_flex: F64
    fa_abd: F64  #: forearm abduction / flexion (rad), (T, 2)
    fa_flex: F64
    hip_flex: F64  #: thigh flexion (rad), (T, 2)
    knee_flex: F64  #: knee flexion (rad, shin flexion = hip_flex - knee_flex), (T, 2)


def _seg(abd: F64, flex: F64, side: float) -> F64:
    """Unit direction(s) ``(T, 3)`` in the (left, forward, up) body frame."""
    return np.stack(
        [side * np.sin(abd) * np.cos(flex), np.sin(flex), -np.cos(abd) * np.cos(flex)], axis=-1
    )


def forward_kinematics(a: Angles) -> F64:
    """3D joint positions ``(T, 17, 3)`` (m, world frame) in COCO-17 order."""
    n = a.x.shape[0]
    zero = np.zeros(n)
    local = np.zeros((n, 17, 3))
    pelvis = np.stack([a.sway, zero, a.pelvis_z], axis=-1)
    trunk = np.stack([zero, np.sin(a.lean), np.cos(a.lean)], axis=-1)
    neck = pelvis + TRUNK * trunk
    head = neck + NECK * trunk
    local[:, 0] = head + [0.0, 0.10, -0.02]
    for s, side in enumerate((1.0, -1.0)):  # left = +lateral
        local[:, 1 + s] = head + [side * 0.035, 0.085, 0.03]
        local[:, 3 + s] = head + [side * 0.075, 0.0, 0.0]
        shoulder = neck + [side * SHOULDER_HALF, 0.0, -0.02]
        elbow = shoulder + UPPER_ARM * _seg(a.sh_abd[:, s], a.sh_flex[:, s], side)
        local[:, 5 + s] = shoulder
        local[:, 7 + s] = elbow
        local[:, 9 + s] = elbow + FOREARM * _seg(a.fa_abd[:, s], a.fa_flex[:, s], side)
        hip = pelvis + [side * HIP_HALF, 0.0, 0.0]
        knee = hip + THIGH * _seg(np.full(n, 0.03), a.hip_flex[:, s], side)
        local[:, 11 + s] = hip
        local[:, 13 + s] = knee
        local[:, 15 + s] = knee + SHIN * _seg(zero, a.hip_flex[:, s] - a.knee_flex[:, s], side)
    # Body frame (left, forward, up) -> world: forward = (cos h, sin h), left = (-sin h, cos h).
    c, s_ = np.cos(a.heading)[:, None], np.sin(a.heading)[:, None]
    world = np.empty_like(local)
    world[..., 0] = a.x[:, None] - s_ * local[..., 0] + c * local[..., 1]
    world[..., 1] = a.y[:, None] + c * local[..., 0] + s_ * local[..., 1]
    world[..., 2] = local[..., 2]
    return world


def project(joints: F64) -> F64:
    """Image keypoints ``(..., 17, 2)`` in [0, 1] (x right, y down) of world joints ``(..., 3)``
    seen by :data:`CAMERA`; points outside the frame are clipped to its border."""
    cx, cy, cz, f = CAMERA
    depth = np.maximum(joints[..., 1] - cy, 0.5)
    u = 0.5 + f * (joints[..., 0] - cx) / depth
    v = 0.5 - f * (joints[..., 2] - cz) / depth
    return np.clip(np.stack([u, v], axis=-1), 0.0, 1.0)
