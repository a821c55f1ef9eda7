"""The stub used when no weights are found: a fixed neutral standing skeleton, confidence 0.

It exists so that a pipeline can be built and exercised without a model; it is always reported
as backend ``"stub"`` (in the ``model.loaded`` event and in every ``Pose.backend``) so that its
output is never mistaken for a model's.
"""

from __future__ import annotations

import numpy as np

from posecog.nodes.items import FloatArray

__all__ = ["NEUTRAL_POSE", "StubBackend"]

#: A person facing the camera, centred, standing upright (COCO-17 order, [0, 1] image coords,
#: x right, y down; the person's left side is on the image's right).
NEUTRAL_POSE: FloatArray = np.array(
    [
        [0.50, 0.18], [0.52, 0.16], [0.48, 0.16], [0.54, 0.17], [0.46, 0.17],
        [0.58, 0.28], [0.42, 0.28], [0.60, 0.42], [0.40, 0.42], [0.61, 0.55], [0.39, 0.55],
        [0.55, 0.55], [0.45, 0.55], [0.55, 0.72], [0.45, 0.72], [0.55, 0.88], [0.45, 0.88],
    ],
    dtype=np.float32,
)  # fmt: skip
NEUTRAL_POSE.setflags(write=False)


class StubBackend:
    """Ignores its input; returns ``NEUTRAL_POSE`` for each window (``[B, 17, 2]``)."""

    name = "stub"

    def forward(self, frames: FloatArray) -> FloatArray:
        return self.run(frames)

    def run(self, x: FloatArray) -> FloatArray:
        out: FloatArray = np.broadcast_to(NEUTRAL_POSE, (x.shape[0], 17, 2)).copy()
        return out
