"""Items as output events (the ADR-100 envelope's ``event`` and ``fields``).

``pose.frame`` keeps the reference cog's fields (ADR-101: ``tick, n_persons, persons[{keypoints,
confidence}]``) and adds ``node_id``, ``ts_event`` (the source event time of the window's last
frame, s), ``ts_start`` (its first frame), ``latency_ms`` (source arrival to this sink, processing
time) and ``backend``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from .items import Pose, Presence, Vitals

__all__ = ["OUTPUT_ITEMS", "item_event"]

OUTPUT_ITEMS: tuple[type, ...] = (Pose, Vitals, Presence)


def item_event(item: object, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
    """``(event name, fields)`` for an output item; ``now`` is the processing clock."""
    arrived: float = getattr(item, "arrived", 0.0)
    latency = round((now - arrived) * 1e3, 3) if arrived else None
    if isinstance(item, Pose):
        # ndarray.round, not np.round (a Python-level wrapper): the same rounding, fewer calls
        kps = item.keypoints.astype(np.float64).round(decimals).tolist()
        return "pose.frame", {
            "tick": item.seq,
            "n_persons": 1,
            "persons": [{"keypoints": kps, "confidence": round(item.confidence, 4)}],
            "node_id": item.node_id,
            "ts_event": item.ts,
            "ts_start": item.ts_start,
            "latency_ms": latency,
            "backend": item.backend,
        }
    if isinstance(item, Vitals | Presence):
        fields = {k: v for k, v in asdict(item).items() if k != "arrived" and v is not None}
        fields["ts_event"] = fields.pop("ts")
        fields["latency_ms"] = latency
        if isinstance(item, Vitals):
            fields.update(fields.pop("extra", {}))
        return ("vitals" if isinstance(item, Vitals) else "presence"), fields
    raise TypeError(f"no output event for {type(item).__name__}")
