"""Pose and keypoint confidence: the window's quality times the agreement of its keypoints.

A pose model gives no uncertainty of its own (pose_v1 regresses 34 sigmoids), and a score of
the input and output alone (``confidence.window_confidence``) tells garbage from signal but,
among real windows, not a good pose from a bad one. Agreement does: the nodes of a room watch
the same person, so their poses of the same moment should coincide, and where they do not, at
least one is wrong. ``Agreement`` keeps, per node, its last ``HISTORY`` trusted poses (gate 1)
and scores each new pose against them (the ``pose_infer`` node holds one; ``evaluate`` runs
the same over the windows a live graph would see)::

    gate   = min(1, quality / QUALITY_FULL)        quality: PoseModel.infer's window score
    ref    = per-coordinate median, over every *other* node, of its newest trusted pose with
             an event time in [ts - max_age_s, ts]; without one (a lone node): the mean of
             this node's own trusted poses in that interval
    d[j]   = |keypoints[j] - ref[j]|               normalised image units
    keypoint_confidence[j] = gate * exp(-d[j]^2 / (2 * scale^2))
    confidence             = mean over j of keypoint_confidence[j]

With no reference at all (a node's first pose after ``max_age_s`` of silence, alone) the
agreement is unknown and taken as ``NO_EVIDENCE`` (0.5). ``scale`` (``SCALE``, 0.05) is a
distance in image units: a keypoint 0.05 away from the reference scores 0.61, 0.1 away 0.14.

What it measures is consistency, not truth: nodes that all make the same mistake agree. On the
simulator it predicts the error well with several nodes (``docs/model.md``, "Confidence");
a lone node's agreement with its own recent poses (overlapping windows that share most of
their frames) says far less. Garbage windows score 0 (their gate) and never serve as another
node's reference. Nodes that watch different rooms must not be compared: ``cross_node=False``
uses each node's own history only.

Per pose, cost is a few small numpy calls (the pipeline thread, after the batched forward
pass); memory is bounded by ``max_nodes`` (the least recently heard node is forgotten).
"""

from __future__ import annotations

from collections import OrderedDict, deque

import numpy as np

from posecog.nodes.items import FloatArray

__all__ = [
    "HISTORY",
    "MAX_AGE_S",
    "NO_EVIDENCE",
    "QUALITY_FULL",
    "SCALE",
    "Agreement",
    "quality_gate",
]

#: Window quality (``q_in * q_out``) from which a pose is fully trusted on its input.
QUALITY_FULL = 0.5
#: Distance (normalised image units) at which a keypoint's agreement is exp(-1/2) = 0.61.
SCALE = 0.05
#: Oldest reference pose (s of event time) a pose is compared with.
MAX_AGE_S = 0.5
#: A node's own previous poses kept for the lone-node reference.
HISTORY = 10
#: The agreement taken when there is nothing to compare with.
NO_EVIDENCE = 0.5
_MAX_NODES = 1024


def quality_gate(quality: float) -> float:
    """``min(1, quality / QUALITY_FULL)``, 0 for a non-finite or negative quality."""
    if not quality > 0.0:  # NaN too
        return 0.0
    return min(1.0, quality / QUALITY_FULL)


def _latest_at(
    history: deque[tuple[float, FloatArray]], ts: float, oldest: float
) -> FloatArray | None:
    """The keypoints of the newest entry of ``history`` (in time order) with
    ``oldest <= t <= ts``, or None."""
    for t, kp in reversed(history):
        if t <= ts:
            return kp if t >= oldest else None
    return None


class Agreement:
    """Scores each node's poses against the other nodes' (or its own) recent poses.

    ``score`` must see each node's poses in event-time order (as ``pose_infer`` and
    ``evaluate`` give them). Nodes may interleave in any way: references are chosen by event
    time, so a pose's score depends on arrival order only where another node's pose of an
    earlier event time arrives after it (or more than ``HISTORY`` of that node's later poses
    arrive before it). Not thread-safe (the pipeline thread owns it).
    """

    def __init__(
        self,
        *,
        cross_node: bool = True,
        max_age_s: float = MAX_AGE_S,
        scale: float = SCALE,
        max_nodes: int = _MAX_NODES,
    ) -> None:
        if not (max_age_s >= 0 and scale > 0 and max_nodes >= 1):
            raise ValueError(
                f"Agreement: max_age_s >= 0, scale > 0, max_nodes >= 1; got {max_age_s}, "
                f"{scale}, {max_nodes}"
            )
        self.cross_node = cross_node
        self.max_age_s = max_age_s
        self._inv = np.float32(-0.5 / (scale * scale))
        self._max_nodes = max_nodes
        #: Each node's recent trusted poses ``(ts, keypoints)``, least recently heard first.
        self._nodes: OrderedDict[int, deque[tuple[float, FloatArray]]] = OrderedDict()

    def score(
        self, node_id: int, ts: float, keypoints: FloatArray, quality: float
    ) -> tuple[float, FloatArray]:
        """``(confidence, keypoint_confidence float32[17])`` of a pose, then remember it.

        ``keypoints`` ``[17, 2]`` must be finite (the caller drops others); they are kept by
        reference, so they must not change afterwards (``pose_infer`` makes them read-only).
        """
        gate = quality_gate(quality)
        ref = self._reference(node_id, ts) if gate > 0.0 else None
        n = keypoints.shape[0]
        if gate == 0.0:
            per_kp = np.zeros(n, dtype=np.float32)
        elif ref is None:
            per_kp = np.full(n, gate * NO_EVIDENCE, dtype=np.float32)
        else:  # float32 throughout, few calls: this runs once per pose on the pipeline thread
            diff = keypoints - ref
            per_kp = np.exp(np.add.reduce(diff * diff, axis=1) * self._inv)
            if gate < 1.0:
                per_kp *= np.float32(gate)
        self._remember(node_id, ts, keypoints, gate >= 1.0)
        return float(np.add.reduce(per_kp)) / n, per_kp

    def _reference(self, node_id: int, ts: float) -> FloatArray | None:
        oldest = ts - self.max_age_s
        if self.cross_node:
            # Each other node's newest trusted pose at or before ts (event time, not arrival:
            # the same poses give the same scores however the nodes' items interleave).
            refs = []
            for nid, history in self._nodes.items():
                if nid != node_id and history:
                    kp = _latest_at(history, ts, oldest)
                    if kp is not None:
                        refs.append(kp)
            k = len(refs)
            if k == 1:
                ref: FloatArray = refs[0]
                return ref
            if k == 2:
                pair: FloatArray = (refs[0] + refs[1]) * np.float32(0.5)
                return pair
            if k:
                ordered = np.sort(np.stack(refs), axis=0)  # the median, cheaper than np.median
                if k % 2:
                    middle: FloatArray = ordered[k // 2]
                    return middle
                even: FloatArray = (ordered[k // 2 - 1] + ordered[k // 2]) * np.float32(0.5)
                return even
        own = self._nodes.get(node_id)
        if not own:
            return None
        recent = [kp for t, kp in own if oldest <= t <= ts]
        if not recent:
            return None
        if len(recent) == 1:
            return recent[0]
        mean: FloatArray = np.stack(recent).mean(axis=0)
        return mean

    def _remember(self, node_id: int, ts: float, keypoints: FloatArray, trusted: bool) -> None:
        history = self._nodes.get(node_id)
        if history is None:
            if len(self._nodes) >= self._max_nodes:
                self._nodes.popitem(last=False)
            history = self._nodes[node_id] = deque(maxlen=HISTORY)
        else:
            self._nodes.move_to_end(node_id)
        if trusted:
            history.append((ts, keypoints))
