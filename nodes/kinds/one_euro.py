"""``one_euro``: a One Euro filter on every keypoint of every node's poses, in event time.

The filter (Casiez, Roussel, Vogel, CHI 2012; INTERFACES §8) is a low-pass whose cutoff rises
with speed: ``cutoff = min_cutoff + beta * |dx/dt|``, so a still pose is smoothed hard and a
fast one follows with little lag. As in the reference implementation, the derivative is taken
from the previous *filtered* value and smoothed itself at ``d_cutoff``.

Decisions:

* **dt is event time** (the poses' ``ts``), never the wall clock: a replay at any speed, or as
  fast as possible, gives exactly the output of a realtime run.
* **Scale**: with ``scale: torso`` (MediaPipe's landmarks smoothing does the same with the
  object's size) the speed that raises the cutoff is measured in torso lengths per second (the
  running torso estimate of the node), so one setting fits a near and a far person.
* **Resets** (the next pose passes through unfiltered): a gap over ``max_gap_s``, a
  non-increasing timestamp, and a restarted window (a node whose windows overlapped gives one
  that starts after the previous pose's end: its sliding window began afresh; tumbling
  windows never overlap, so only the other two apply to them).
* **Low-confidence keypoints are held**: where the pose carries per-keypoint confidences, a
  keypoint below ``min_keypoint_confidence`` keeps its previous filtered value (its filter
  state untouched) instead of being pulled toward noise; the confidences are smoothed by their
  own low-pass (``min_cutoff``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field
from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig

from ..items import FloatArray, Pose
from ..registry import registry

__all__ = ["OneEuroConfig", "build", "torso"]

Arr = npt.NDArray[np.float64]

#: Nodes whose filter state is kept (least recently heard forgotten beyond).
_MAX_NODES = 1024


class OneEuroConfig(NodeConfig):
    enabled: bool = Field(
        True,
        description="false: poses pass unchanged (a pipeline parameter can switch the "
        "smoothing off without rewiring the graph).",
    )
    min_cutoff: float = Field(
        0.3,
        gt=0,
        description="Cutoff (Hz) of a still pose: lower smooths more (and lags more). The "
        "defaults cut the demo model's still-pose jitter by a third on held-out simulated "
        "data at a 2 % MPJPE cost (docs/benchmarks.md).",
    )
    beta: float = Field(
        1.0,
        ge=0,
        description="How fast the cutoff rises with speed (per unit of speed, see 'scale'): "
        "higher follows fast motion with less lag.",
    )
    d_cutoff: float = Field(1.0, gt=0, description="Cutoff (Hz) of the speed estimate.")
    scale: Literal["torso", "none"] = Field(
        "torso",
        description="'torso': speed in torso lengths per second (one setting fits any "
        "distance); 'none': in image units per second.",
    )
    max_gap_s: float = Field(
        1.0, gt=0, description="A gap (s) between two poses of a node over this resets it."
    )
    min_keypoint_confidence: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Keypoints below this confidence (when the pose has per-keypoint "
        "confidences) are held at their previous filtered position.",
    )


def torso(keypoints: FloatArray | Arr) -> float:
    """Distance from mid-shoulder (5, 6) to mid-hip (11, 12), as PCK's normaliser (§6)."""
    shoulders = (keypoints[5] + keypoints[6]) / 2
    hips = (keypoints[11] + keypoints[12]) / 2
    return float(np.hypot(*(shoulders - hips)))


def _alpha(cutoff: Arr | float, dt: float) -> Arr | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class _State:
    x: Arr  # filtered keypoints [17, 2]
    dx: Arr  # filtered speed [17, 2]
    conf: Arr | None  # filtered per-keypoint confidence [17]
    ts: float
    size: float  # running torso length
    overlapping: bool = False  # this node's windows overlap (a sliding window)


@registry.transform(
    "one_euro",
    config=OneEuroConfig,
    takes=Pose,
    gives=Pose,
    examples=(
        "id: smooth\ntype: one_euro\ninputs: [pose]\n",
        "id: smooth\ntype: one_euro\ninputs: [pose]\nconfig:\n  min_cutoff: 0.5\n  beta: 1.0\n",
    ),
)
def build(
    config: OneEuroConfig, ctx: BuildContext
) -> Callable[[Observable[Pose]], Observable[Pose]]:
    """Smooth each node's keypoints with a One Euro filter driven by event time.

    Every field of a pose is kept but ``keypoints`` (filtered) and, when present,
    ``keypoint_confidence`` (low-passed). The first pose of a node, and the first after a
    reset (gap over ``max_gap_s``, a timestamp that does not increase, a restarted window),
    passes through unchanged. Gauges: ``resets``. See the module docstring for the decisions.
    """
    states: OrderedDict[int, _State] = OrderedDict()
    gauges = ctx.metrics.gauges
    gauges["resets"] = 0
    use_torso = config.scale == "torso"

    def start(pose: Pose, kp: Arr, conf: Arr | None) -> Pose:
        size = torso(kp) if use_torso else 1.0
        states[pose.node_id] = _State(kp, np.zeros_like(kp), conf, pose.ts, size)
        states.move_to_end(pose.node_id)
        if len(states) > _MAX_NODES:
            states.popitem(last=False)
        return pose

    def smooth(pose: Pose) -> tuple[Pose, ...]:
        if not config.enabled:
            return (pose,)
        kp = pose.keypoints.astype(np.float64)
        conf_in = pose.keypoint_confidence
        conf = None if conf_in is None else np.asarray(conf_in, np.float64)
        st = states.get(pose.node_id)
        if st is None:
            return (start(pose, kp, conf),)
        dt = pose.ts - st.ts
        overlaps = pose.ts_start <= st.ts
        restarted = st.overlapping and not overlaps  # a sliding window that began afresh
        if dt <= 0 or dt > config.max_gap_s or restarted:
            gauges["resets"] += 1
            return (start(pose, kp, conf),)
        if use_torso:  # a slow running estimate: a bad frame does not change the scale
            st.size += 0.05 * (max(torso(kp), 1e-3) - st.size)
        dx = (kp - st.x) / dt
        a_d = _alpha(config.d_cutoff, dt)
        dx_hat = st.dx + a_d * (dx - st.dx)
        speed = np.abs(dx_hat) / max(st.size, 1e-3)
        a = _alpha(config.min_cutoff + config.beta * speed, dt)
        x_hat = st.x + a * (kp - st.x)
        if conf is not None:
            held = conf < config.min_keypoint_confidence
            x_hat[held] = st.x[held]
            dx_hat[held] = st.dx[held]
            prev = conf if st.conf is None else st.conf
            conf = prev + _alpha(config.min_cutoff, dt) * (conf - prev)
        st.x, st.dx, st.conf, st.ts, st.overlapping = x_hat, dx_hat, conf, pose.ts, overlaps
        states.move_to_end(pose.node_id)
        out = replace(pose, keypoints=x_hat.astype(np.float32))
        if conf is not None:
            out = replace(out, keypoint_confidence=conf.astype(np.float32))
        return (out,)

    return ctx.process(smooth)
