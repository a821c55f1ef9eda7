"""``bone_clamp``: each limb's length held within a tolerance of its node's running estimate.

RuView's server clamps bone lengths to +-20 % of a running estimate; a model's skeleton can
stretch an arm in one frame and shrink it in the next, which no body does. Per node, each limb
bone (upper arm, forearm, thigh, shin, both sides) has a running length (an exponential mean,
``rate`` per pose, of the lengths seen inside the tolerance, so outliers do not drag it). A bone
outside ``[1 - tolerance, 1 + tolerance]`` times its estimate is brought to the nearest bound by
moving its outer joint along the bone, and the joints beyond it move with it, so the clamp of a
forearm keeps the upper arm's fix. The first poses of a node set the estimates.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt
from pydantic import Field
from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig

from ..items import Pose
from ..registry import registry

__all__ = ["BONES", "BoneClampConfig", "build"]

#: (parent, child, joints beyond the child) of each limb bone, torso outward (COCO-17).
BONES: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (5, 7, (9,)),
    (7, 9, ()),
    (6, 8, (10,)),
    (8, 10, ()),
    (11, 13, (15,)),
    (13, 15, ()),
    (12, 14, (16,)),
    (14, 16, ()),
)
_MAX_NODES = 1024


class BoneClampConfig(NodeConfig):
    tolerance: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="How far (a fraction) a bone may depart from its running length (0.2: "
        "+-20 %, as RuView's server).",
    )
    rate: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Weight of each pose in a bone's running length (0.05: about the last 20).",
    )


@registry.transform(
    "bone_clamp",
    config=BoneClampConfig,
    takes=Pose,
    gives=Pose,
    examples=("id: bones\ntype: bone_clamp\ninputs: [smooth]\nconfig:\n  tolerance: 0.2\n",),
)
def build(
    config: BoneClampConfig, ctx: BuildContext
) -> Callable[[Observable[Pose]], Observable[Pose]]:
    """Hold each node's limb lengths within ``tolerance`` of their running estimates (see the
    module docstring). Every other field of the pose is kept. Gauges: ``clamped`` (bones
    brought back), ``bones_checked``."""
    lengths: OrderedDict[int, npt.NDArray[np.float64]] = OrderedDict()
    gauges = ctx.metrics.gauges
    gauges.update(clamped=0, bones_checked=0)
    lo, hi = 1.0 - config.tolerance, 1.0 + config.tolerance

    def clamp(pose: Pose) -> tuple[Pose, ...]:
        kp = pose.keypoints.astype(np.float64)
        est = lengths.get(pose.node_id)
        seen = np.array([np.hypot(*(kp[c] - kp[p])) for p, c, _ in BONES])
        if est is None:
            lengths[pose.node_id] = seen
            if len(lengths) > _MAX_NODES:
                lengths.popitem(last=False)
            return (pose,)
        lengths.move_to_end(pose.node_id)
        changed = False
        for i, (parent, child, beyond) in enumerate(BONES):
            vec = kp[child] - kp[parent]
            length = float(np.hypot(*vec))
            gauges["bones_checked"] += 1
            want = min(max(length, lo * est[i]), hi * est[i])
            if want != length and length > 1e-9:
                shift = vec * (want / length - 1.0)
                kp[child] += shift
                for j in beyond:
                    kp[j] += shift
                gauges["clamped"] += 1
                changed = True
            else:  # inside the tolerance: it updates the estimate
                est[i] += config.rate * (length - est[i])
        if not changed:
            return (pose,)
        return (replace(pose, keypoints=np.clip(kp, 0.0, 1.0).astype(np.float32)),)

    return ctx.process(clamp)
