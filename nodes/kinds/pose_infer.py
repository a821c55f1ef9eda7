"""``pose_infer``: CSI windows to poses through the pose model, in batches."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field, field_validator
from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.errors import ConfigError, Drop
from posecog.graph.node import NodeConfig

from ..items import CsiWindow, Pose
from ..model import REMOVED_BACKENDS, BackendName, PoseModel, load_model
from ..model.agreement import MAX_AGE_S, Agreement
from ..registry import registry
from .sliding_window import SlidingWindowConfig

#: Default ``min_confidence``: the reference cog's default. Garbage input (zeros, constant,
#: NaN, uniform noise) scores 0; every pose of the real RuView excerpts scores 0.33..1 with
#: pose_v1 (median 0.92, variant A's two nodes agree), so 0.3 lets a normal recording through.
DEFAULT_MIN_CONFIDENCE = 0.3


class PoseInferConfig(NodeConfig):
    model: str = Field(
        "",
        description="Path of the model bundle (.safetensors; relative paths resolve against the "
        "directory the run started in). Empty: no model, the stub (a fixed skeleton with "
        "confidence 0, reported as backend 'stub').",
    )
    backend: BackendName = Field(
        "auto",
        description="Inference backend: numpy (no extra dependency, fast cold start), "
        "onnxruntime (the fast path: one single-threaded session) or auto (onnxruntime when it "
        "is installed, else numpy). Both agree within 1e-5.",
    )
    min_confidence: float = Field(
        DEFAULT_MIN_CONFIDENCE,
        ge=0.0,
        le=1.0,
        description="Poses below this confidence are dropped (reason low_confidence). The "
        "default lets normal recordings through; the stub's poses pass only at 0.",
    )
    max_batch: int = Field(
        64, ge=1, le=4096, description="Most windows run in one batched inference."
    )
    agreement: Literal["nodes", "node"] = Field(
        "nodes",
        description="What a pose's keypoints are compared with for their confidence: 'nodes' "
        "(the other nodes' latest poses, which watch the same person; the node's own recent "
        "poses when it is alone) or 'node' (only its own recent poses: for nodes that watch "
        "different rooms).",
    )
    agreement_max_age_s: float = Field(
        MAX_AGE_S,
        ge=0.0,
        description="Oldest pose (s of event time from this one) a pose is compared with.",
    )

    @field_validator("backend", mode="before")
    @classmethod
    def _not_removed(cls, value: object) -> object:
        # A removed backend is an error that says so, not an alias: a pinned backend that
        # silently became another one would hide the change from the user.
        if isinstance(value, str) and value in REMOVED_BACKENDS:
            raise ValueError(
                f"must be numpy, onnxruntime or auto; got {value!r}: {REMOVED_BACKENDS[value]} "
                "(use auto or onnxruntime)"
            )
        return value


class _Windows:
    """The check of one window and the batched run that turns windows into poses."""

    def __init__(self, model: PoseModel, config: PoseInferConfig, ctx: BuildContext) -> None:
        self.model, self.config, self.ctx = model, config, ctx
        self.shape = (model.window, model.n_subcarriers)
        self.agreement = Agreement(
            cross_node=config.agreement == "nodes", max_age_s=config.agreement_max_age_s
        )

    def check(self, window: CsiWindow) -> None:
        frames = window.frames
        if not isinstance(frames, np.ndarray):
            frames = np.asarray(frames)
        if frames.shape != self.shape:
            got = list(frames.shape)
            raise Drop("wrong_shape", f"window must be {list(self.shape)}; got {got}")
        if not math.isfinite(
            float(np.add.reduce(frames, axis=None))
        ):  # one reduction; NaN/inf survive the sum
            raise Drop("non_finite", "window holds NaN or inf amplitudes")

    def run(self, batch: list[CsiWindow]) -> list[Pose]:
        """One batched call; the poses in input order."""
        frames = batch[0].frames[None] if len(batch) == 1 else np.stack([w.frames for w in batch])
        keypoints, quality = self.model.infer(frames)
        keypoints.flags.writeable = False  # each pose keeps a view: nobody may change it
        backend = self.model.backend
        score = self.agreement.score
        poses: list[Pose] = []
        for i, window in enumerate(batch):
            kp = keypoints[i]
            if not math.isfinite(float(np.add.reduce(kp, axis=None))):  # 34 values in (0, 1)
                self.ctx.drop("non_finite_output", "the model gave non-finite keypoints")
                continue
            # Every finite pose is scored and remembered, also one dropped below: it is still
            # what its node sees, and it may be another node's reference.
            confidence, per_keypoint = score(
                window.node_id, float(window.ts_end), kp, float(quality[i])
            )
            if confidence < self.config.min_confidence:
                self.ctx.drop("low_confidence", f"{confidence:.3f} < {self.config.min_confidence}")
                continue
            poses.append(
                Pose(
                    ts=float(window.ts_end),
                    node_id=window.node_id,
                    keypoints=kp,  # a read-only view of the batch's output
                    confidence=confidence,
                    seq=window.seq,
                    ts_start=float(window.ts_start),
                    arrived=window.arrived,
                    backend=backend,
                    keypoint_confidence=per_keypoint,
                )
            )
        return poses


@registry.transform(
    "pose_infer",
    config=PoseInferConfig,
    takes=CsiWindow,
    gives=Pose,
    examples=(
        "id: pose\ntype: pose_infer\ninputs: [window]\nconfig:\n"
        "  model: models/pose_v1.safetensors\n  backend: numpy\n  min_confidence: 0.3",
        "id: pose\ntype: pose_infer\ninputs: [window]\nconfig:\n"
        "  model: models/pose_v1.safetensors\n  backend: onnxruntime\n  max_batch: 16",
        "id: pose\ntype: pose_infer\ninputs: [window]\nconfig:\n  model: ''\n  min_confidence: 0",
    ),
)
def build(
    config: PoseInferConfig, ctx: BuildContext
) -> Callable[[Observable[CsiWindow]], Observable[Pose]]:
    """Estimate one pose (17 COCO keypoints in [0, 1] image coordinates) per CSI window.

    The model bundle is loaded when the graph is built, and a ``model.loaded`` event reports
    its backend, sha256, path, architecture and input layout (warn level, backend ``stub``,
    when no model is configured). The bundle decides how a window's frames map onto the
    model's input (pose_v1: ``flat_frame_major``, as the reference runtime does).

    Windows are batched: inference runs when ``max_batch`` windows are waiting, when the
    pipeline goes idle and on completion, so live streams pay no extra latency and replays
    run at batch speed. Poses come out in input order, carrying the window's event time
    (``ts`` = end of window, ``ts_start``), node, ``seq`` and the backend's name.

    Drops (counted, with a rate-limited WARN): ``wrong_shape`` (not the model's
    ``[window, subcarriers]``), ``non_finite`` (NaN/inf amplitudes), ``low_confidence``
    (below ``min_confidence``), ``non_finite_output`` and ``error:<Type>`` (a window the
    model fails on; the rest of its batch goes through). A model whose window does not fit
    the ``sliding_window`` feeding it (``size`` frames of ``subcarriers`` amplitudes) is
    refused when the graph is built (exit 2), before any frame is read.

    Confidence (``posecog.nodes.model.agreement``): each keypoint's ``keypoint_confidence``
    is how close it lies to the same keypoint of the other nodes' latest poses (``agreement:
    nodes``; a lone node's own recent poses), times a gate on the window's input quality and
    output plausibility (``posecog.nodes.model.confidence``) that sends garbage to 0; the
    pose's ``confidence`` is their mean. Poses dropped below ``min_confidence`` still count
    as their node's latest pose.
    """
    model = load_model(ctx.resolve(config.model) if config.model else None, config.backend)
    _check_fit(model, ctx)
    ctx.emit("model.loaded", model.describe(), "warn" if model.is_stub else "info")
    windows = _Windows(model, config, ctx)
    return ctx.batch(windows.run, config.max_batch, check=windows.check)


def _check_fit(model: PoseModel, ctx: BuildContext) -> None:
    """Refuse a model whose input the ``sliding_window`` nodes feeding this one cannot give."""
    if model.is_stub:
        return
    want = (model.window, model.n_subcarriers)
    for up, (kind, cfg) in ctx.upstream.items():
        if not isinstance(cfg, SlidingWindowConfig) or (cfg.size, cfg.subcarriers) == want:
            continue
        raise ConfigError(
            f"node '{ctx.node_id}' (pose_infer): the model takes windows of {want[0]} frames x "
            f"{want[1]} subcarriers, but its input '{up}' ({kind}) makes {cfg.size} x "
            f"{cfg.subcarriers}: set size: {want[0]} and subcarriers: {want[1]} on '{up}', or "
            "use a model trained for that window"
        )
