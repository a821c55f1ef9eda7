"""Seeded synthetic recordings: :func:`generate` (arrays in memory) and :func:`simulate` (files).

The same :class:`SimConfig` gives the same bytes: every random draw comes from
``numpy.random.SeedSequence(seed)`` (one child stream for the motion, one for vitals, one per
node), and nothing reads the clock. Times are seconds; ``start_ts`` is the epoch time of t = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .body import ACTIVITIES, Motion, make_motion
from .channel import LINKS, ChannelModel, ChannelParams, amplitudes
from .lines import paired_line, raw_csi_line, truth_line, vitals_line, write_lines
from .skeleton import F64, project

__all__ = [
    "DEFAULT_START_TS", "NodeFrames", "SimConfig", "SimSummary", "Simulation", "generate",
    "simulate", "truth_path_for",
]  # fmt: skip

#: 2026-01-01T00:00:00Z: the default start, fixed so that outputs are reproducible.
DEFAULT_START_TS = 1767225600.0
_MOTION_ACTIVITIES = ("walking", "waving")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. Rates are per node; ``jitter`` is the std of each frame's time offset
    as a fraction of the frame period; ``drop_rate`` / ``dup_rate`` are per-frame probabilities
    that a frame is lost or that its line is written twice."""

    seed: int = 0
    duration_s: float = 60.0
    n_nodes: int = 2
    rate_hz: float = 20.0
    activities: tuple[str, ...] = ACTIVITIES
    noise_lsb: float = 0.7
    drop_rate: float = 0.01
    dup_rate: float = 0.005
    start_ts: float = DEFAULT_START_TS
    jitter: float = 0.25
    segment_s: tuple[float, float] = (4.0, 10.0)
    vitals_period_s: float = 1.0
    window: int = 20
    channel: ChannelParams = field(default_factory=ChannelParams)

    def __post_init__(self) -> None:
        checks = [
            (self.duration_s > 0, "duration_s must be > 0", self.duration_s),
            (1 <= self.n_nodes <= len(LINKS), f"n_nodes must be 1..{len(LINKS)}", self.n_nodes),
            (0 < self.rate_hz <= 100, "rate_hz must be in (0, 100]", self.rate_hz),
            (0 <= self.drop_rate < 1, "drop_rate must be in [0, 1)", self.drop_rate),
            (0 <= self.dup_rate < 1, "dup_rate must be in [0, 1)", self.dup_rate),
            (self.noise_lsb >= 0, "noise_lsb must be >= 0", self.noise_lsb),
            (0 <= self.jitter < 0.5, "jitter must be in [0, 0.5)", self.jitter),
            (self.window >= 1, "window must be >= 1", self.window),
            (0 < self.segment_s[0] <= self.segment_s[1], "segment_s must be 0 < min <= max",
             self.segment_s),
            (set(self.activities) <= set(ACTIVITIES) and len(self.activities) > 0,
             f"activities must be a non-empty subset of {ACTIVITIES}", self.activities),
        ]  # fmt: skip
        for ok, what, got in checks:
            if not ok:
                raise ValueError(f"SimConfig: {what}; got {got!r}")


@dataclass(frozen=True, slots=True, eq=False)
class NodeFrames:
    """The frames one node delivered (after drops), in time order: epoch times ``ts`` (s),
    int8 CSI ``iq`` ``(n, 64, 2)`` (imaginary, real), true keypoints ``(n, 17, 2)`` and activity
    indices at the frame times, and which lines are duplicated."""

    node_id: int
    ts: F64
    iq: npt.NDArray[np.int8]
    keypoints: F64
    activity: npt.NDArray[np.int64]
    duplicated: npt.NDArray[np.bool_]
    n_dropped: int

    def amplitudes(self) -> npt.NDArray[np.float32]:
        """Amplitudes ``(n, 56)`` of LLTF bins 0..55, as the sensing-server reports them."""
        return amplitudes(self.iq)[:, :56]


@dataclass(frozen=True, slots=True, eq=False)
class Simulation:
    """Everything one configuration produces, in memory."""

    config: SimConfig
    motion: Motion
    nodes: tuple[NodeFrames, ...]
    truth_ts: F64  #: ground-truth steps (epoch s), one per 1 / rate_hz
    truth_kp: F64  #: (steps, 17, 2)
    truth_activity: npt.NDArray[np.int64]
    vitals: tuple[tuple[float, str], ...]  #: (epoch s, line)


@dataclass(frozen=True, slots=True)
class SimSummary:
    """What :func:`simulate` wrote. Paths are None when not written; sizes in bytes."""

    out_path: Path
    truth_path: Path | None
    paired_path: Path | None
    n_lines: int
    frames: dict[int, int]
    n_dropped: int
    n_duplicated: int
    n_vitals: int
    n_truth: int
    n_windows: int
    activity_s: dict[str, float]
    bytes_written: dict[str, int]


def _node(cfg: SimConfig, motion: Motion, link_index: int, rng: np.random.Generator) -> NodeFrames:
    period = 1.0 / cfg.rate_hz
    n = int(np.floor(cfg.duration_s * cfg.rate_hz))
    t = (
        np.arange(n) * period
        + rng.uniform(0, period)
        + cfg.jitter * period * rng.standard_normal(n)
    )
    t = np.sort(t[(t >= 0) & (t < cfg.duration_s)])
    model = ChannelModel(LINKS[link_index], cfg.channel)
    joints = motion.joints(t)
    iq = model.quantise(model.response(joints), rng, cfg.noise_lsb)
    keep = np.asarray(rng.random(t.shape[0])) >= cfg.drop_rate
    dup = np.asarray(rng.random(t.shape[0])) < cfg.dup_rate
    return NodeFrames(
        node_id=LINKS[link_index].node_id, ts=cfg.start_ts + t[keep], iq=iq[keep],
        keypoints=project(joints[keep]), activity=motion.activity_index(t[keep]),
        duplicated=dup[keep], n_dropped=int((~keep).sum()),
    )  # fmt: skip


def _vitals(
    cfg: SimConfig, motion: Motion, node_id: int, rng: np.random.Generator
) -> list[tuple[float, str]]:
    t = np.arange(rng.uniform(0, cfg.vitals_period_s), cfg.duration_s, cfg.vitals_period_s)
    # Motion energy: mean joint speed (m/s) over the last 0.5 s, from the true motion.
    speed = np.linalg.norm(motion.joints(t) - motion.joints(t - 0.5), axis=-1).mean(-1) / 0.5
    moving = np.isin(motion.activity_index(t), [ACTIVITIES.index(a) for a in _MOTION_ACTIVITIES])
    out = []
    for i, ti in enumerate(t):
        line = vitals_line(
            cfg.start_ts + ti, node_id, flags=1 | (4 if moving[i] else 0),
            breathing_bpm=motion.breath_hz * 60 + rng.normal(0, 0.8),
            heartrate_bpm=motion.heart_hz * 60 + rng.normal(0, 2.0),
            motion_energy=10 * speed[i], presence_score=0.8 + 0.2 * rng.random(),
            rssi=round(-45 + 3 * float(rng.standard_normal())),
        )  # fmt: skip
        out.append((cfg.start_ts + ti, line))
    return out


def generate(cfg: SimConfig) -> Simulation:
    """Run the simulation of ``cfg`` in memory (no I/O)."""
    streams = np.random.SeedSequence(cfg.seed).spawn(2 + len(LINKS))
    motion = make_motion(np.random.default_rng(streams[0]), cfg.duration_s, cfg.activities,
                         cfg.segment_s)  # fmt: skip
    vit_rng = np.random.default_rng(streams[1])
    nodes, vitals = [], []
    for i in range(cfg.n_nodes):
        nodes.append(_node(cfg, motion, i, np.random.default_rng(streams[2 + i])))
        vitals += _vitals(cfg, motion, LINKS[i].node_id, vit_rng)
    steps = np.arange(int(np.floor(cfg.duration_s * cfg.rate_hz))) / cfg.rate_hz
    return Simulation(
        config=cfg, motion=motion, nodes=tuple(nodes), truth_ts=cfg.start_ts + steps,
        truth_kp=motion.keypoints(steps), truth_activity=motion.activity_index(steps),
        vitals=tuple(vitals),
    )  # fmt: skip


def truth_path_for(out_path: Path) -> Path:
    """``x.csi.jsonl[.gz]`` -> ``x.truth.jsonl[.gz]`` (any ``.jsonl`` stem works)."""
    name, gz = out_path.name, out_path.suffix == ".gz"
    base = name.removesuffix(".gz").removesuffix(".jsonl").removesuffix(".csi")
    return out_path.with_name(base + ".truth.jsonl" + (".gz" if gz else ""))


def simulate(
    cfg: SimConfig,
    out_path: str | Path,
    *,
    truth: bool = True,
    paired_path: str | Path | None = None,
) -> SimSummary:
    """Write the variant-A recording of ``cfg`` to ``out_path`` (gzipped if it ends in .gz),
    its ground truth beside it (:func:`truth_path_for`) unless ``truth`` is False, and, when
    ``paired_path`` is given, paired training windows (non-overlapping, ``cfg.window`` frames
    per node, ``kp`` = mean of the true keypoints at the window's frames)."""
    sim, out = generate(cfg), Path(out_path)
    timed: list[tuple[float, int, str]] = [(ts, 1, line) for ts, line in sim.vitals]
    for node in sim.nodes:
        for ts, iq, dup in zip(node.ts, node.iq, node.duplicated, strict=True):
            line = raw_csi_line(float(ts), node.node_id, iq)
            timed += [(float(ts), 0, line)] * (2 if dup else 1)
    timed.sort(key=lambda x: (x[0], x[1]))  # stable: duplicates stay adjacent
    sizes = {"recording": write_lines(out, (line for _, _, line in timed))}
    truth_out = truth_path_for(out) if truth else None
    if truth_out is not None:
        names = [ACTIVITIES[a] for a in sim.truth_activity]
        rows = zip(sim.truth_ts, names, sim.truth_kp, strict=True)
        sizes["truth"] = write_lines(truth_out, (truth_line(float(t), a, k) for t, a, k in rows))
    n_windows, paired_out = 0, Path(paired_path) if paired_path is not None else None
    if paired_out is not None:
        lines = []
        for node in sim.nodes:
            amp, w = node.amplitudes(), cfg.window
            for s in range(0, node.ts.shape[0] - w + 1, w):
                kp = node.keypoints[s : s + w].mean(axis=0)
                lines.append(paired_line(amp[s : s + w], kp, node.ts[s : s + w].tolist()))
        sizes["paired"], n_windows = write_lines(paired_out, lines), len(lines)
    step = 1.0 / cfg.rate_hz
    return SimSummary(
        out_path=out, truth_path=truth_out, paired_path=paired_out, n_lines=len(timed),
        frames={n.node_id: int(n.ts.shape[0]) for n in sim.nodes},
        n_dropped=sum(n.n_dropped for n in sim.nodes),
        n_duplicated=sum(int(n.duplicated.sum()) for n in sim.nodes), n_vitals=len(sim.vitals),
        n_truth=int(sim.truth_ts.shape[0]),
        n_windows=n_windows,
        activity_s={a: round(step * int((sim.truth_activity == i).sum()), 3)
                    for i, a in enumerate(ACTIVITIES)},
        bytes_written=sizes,
    )  # fmt: skip
