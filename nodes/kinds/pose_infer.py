"""``pose_infer``: CSI windows to poses through the pose model, in batches."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import reactivex
from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig

from ..items import CsiWindow, FloatArray, Pose
from ..model import BackendName, PoseModel, load_model
from ..registry import registry

#: Default ``min_confidence``: the reference cog's default. Every window of the real RuView
#: excerpts (variants A and B) scores 0.69..0.94 with pose_v1, garbage input (zeros, constant,
#: NaN, uniform noise) scores 0, so 0.3 lets a normal recording through and stops garbage.
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
        description="Inference backend: numpy, onnxruntime, native (a compiled kernel built at "
        "install: forward pass and confidence in one call, the lowest latency per window) or "
        "auto (native when it was built, else onnxruntime, else numpy). All agree within 1e-5.",
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


class _Batcher:
    """Pending windows of one subscription, and the flush that turns them into poses."""

    def __init__(
        self,
        model: PoseModel,
        config: PoseInferConfig,
        ctx: BuildContext,
        emit: Callable[[Pose], None],
    ) -> None:
        self.model, self.config, self.ctx, self.emit = model, config, ctx, emit
        self.pending: list[CsiWindow] = []
        self.shape = (model.window, model.n_subcarriers)

    def add(self, window: CsiWindow) -> None:
        try:
            frames = window.frames
            if not isinstance(frames, np.ndarray):
                frames = np.asarray(frames)
        except Exception as exc:  # isolation: a malformed item is dropped, never raised
            self.ctx.drop(f"error:{type(exc).__name__}", str(exc))
            return
        if frames.shape != self.shape:
            got = list(frames.shape)
            self.ctx.drop("wrong_shape", f"window must be {list(self.shape)}; got {got}")
            return
        if not math.isfinite(
            float(np.add.reduce(frames, axis=None))
        ):  # one reduction; NaN/inf survive the sum
            self.ctx.drop("non_finite", "window holds NaN or inf amplitudes")
            return
        self.pending.append(window)
        if len(self.pending) >= self.config.max_batch:
            self.flush()

    def _infer(self, batch: list[CsiWindow]) -> list[tuple[FloatArray, float] | None]:
        """One batched call; if it fails, window by window so only the bad ones are dropped."""
        try:
            frames = (
                batch[0].frames[None] if len(batch) == 1 else np.stack([w.frames for w in batch])
            )
            keypoints, conf = self.model.infer(frames)
            keypoints.flags.writeable = False  # each pose keeps a view: nobody may change it
            return [(keypoints[i], float(conf[i])) for i in range(len(batch))]
        except Exception:  # isolation: find the window(s) that fail on their own
            results: list[tuple[FloatArray, float] | None] = []
            for w in batch:
                try:
                    kp, c = self.model.infer(w.frames[None])
                    kp.flags.writeable = False
                    results.append((kp[0], float(c[0])))
                except Exception as exc:
                    self.ctx.drop(f"error:{type(exc).__name__}", str(exc))
                    results.append(None)
            return results

    def flush(self) -> None:
        """Run the pending windows and emit their poses in input order (no-op when empty)."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        t0 = self.ctx.now()
        results = self._infer(batch)
        share = (self.ctx.now() - t0) / len(batch)
        backend = self.model.backend
        for window, result in zip(batch, results, strict=True):
            self.ctx.metrics.latency.add(share)
            if result is None:
                continue
            keypoints, confidence = result
            if not math.isfinite(
                float(np.add.reduce(keypoints, axis=None))
            ):  # 34 values in (0, 1) when finite
                self.ctx.drop("non_finite_output", "the model gave non-finite keypoints")
                continue
            if confidence < self.config.min_confidence:
                self.ctx.drop("low_confidence", f"{confidence:.3f} < {self.config.min_confidence}")
                continue
            self.emit(
                Pose(
                    ts=float(window.ts_end),
                    node_id=window.node_id,
                    keypoints=keypoints,  # a read-only view of the batch's output
                    confidence=confidence,
                    seq=window.seq,
                    ts_start=float(window.ts_start),
                    arrived=window.arrived,
                    backend=backend,
                )
            )


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
    model fails on; the rest of its batch goes through). Confidence is the product of an
    input-quality and an output-plausibility score (``posecog.nodes.model.confidence``).
    """
    model = load_model(ctx.resolve(config.model) if config.model else None, config.backend)
    ctx.emit("model.loaded", model.describe(), "warn" if model.is_stub else "info")
    active: list[_Batcher] = []

    def flush_all() -> None:
        for batcher in list(active):
            batcher.flush()

    ctx.on_idle(flush_all)

    def operator(source: Observable[CsiWindow]) -> Observable[Pose]:
        def subscribe(
            observer: abc.ObserverBase[Pose], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            batcher = _Batcher(model, config, ctx, observer.on_next)
            active.append(batcher)

            def finish() -> None:
                batcher.flush()
                if batcher in active:
                    active.remove(batcher)

            def on_error(exc: Exception) -> None:
                finish()
                observer.on_error(exc)

            def on_completed() -> None:
                finish()
                observer.on_completed()

            sub = source.subscribe(batcher.add, on_error, on_completed, scheduler=scheduler)

            def dispose() -> None:
                if batcher in active:
                    active.remove(batcher)
                sub.dispose()

            return Disposable(dispose)

        return reactivex.create(subscribe)

    return operator
