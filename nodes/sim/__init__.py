"""Seeded synthetic CSI recordings with ground-truth COCO-17 poses (demos, tests, samples).

``simulate(SimConfig(seed=7), "x.csi.jsonl.gz", truth=True, paired_path=None)`` writes a
variant-A recording, ``x.truth.jsonl.gz`` and optionally paired training windows; ``generate``
returns the same data as arrays. The model is documented in ``docs/simulator.md``: it is
synthetic, and a model trained on it knows only synthetic data.
"""

from __future__ import annotations

from .body import ACTIVITIES, Motion, make_motion
from .channel import LINKS, NULL_BINS, ChannelModel, ChannelParams, Link, amplitudes
from .recording import (
    DEFAULT_START_TS,
    NodeFrames,
    SimConfig,
    SimSummary,
    Simulation,
    generate,
    simulate,
    truth_path_for,
)
from .skeleton import COCO_KEYPOINTS

__all__ = [
    "ACTIVITIES",
    "COCO_KEYPOINTS",
    "DEFAULT_START_TS",
    "LINKS",
    "NULL_BINS",
    "ChannelModel",
    "ChannelParams",
    "Link",
    "Motion",
    "NodeFrames",
    "SimConfig",
    "SimSummary",
    "Simulation",
    "amplitudes",
    "generate",
    "make_motion",
    "simulate",
    "truth_path_for",
]
