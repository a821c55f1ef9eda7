"""The reliability plot of ``evaluate --plot``: binned confidence against PCK@20 and PCK@50.

matplotlib comes with the ``train`` extra and is imported only when a plot is drawn
(``require_matplotlib`` says what to install when it is missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posecog.graph.errors import ConfigError

from .informativeness import Bin, ConfidenceReport

__all__ = ["require_matplotlib", "write_reliability_plot"]


def require_matplotlib() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend, or ``ConfigError`` naming the
    extra to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "the reliability plot needs matplotlib, which is not installed: pip install "
            "'cog-pose-estimation[train]' (or matplotlib alone), or leave out --plot"
        ) from None
    return plt


def _panel(ax: Any, bins: tuple[Bin, ...], what: str) -> None:
    used = [b for b in bins if b.n > 0]
    centres = [b.confidence for b in used]
    ax.plot([0, 1], [0, 100], color="0.8", lw=1, ls="--", label="confidence x 100")
    ax.plot(centres, [b.pck50 for b in used], "o-", label="PCK@50")
    ax.plot(centres, [b.pck20 for b in used], "s-", label="PCK@20")
    for b in used:
        ax.annotate(str(b.n), (b.confidence, b.pck50), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=7, color="0.4")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"{what} (mean of each 0.1 bin)")
    ax.set_ylabel("% of joints within the threshold")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def write_reliability_plot(report: ConfidenceReport, path: Path, title: str) -> Path:
    """Draw poses' ``confidence`` and keypoints' ``keypoint_confidence`` against PCK@20/50
    (two panels; the number over each point is its bin's count) into the PNG ``path``."""
    plt = require_matplotlib()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    _panel(left, report.pose_bins, "pose confidence")
    left.set_title(
        f"poses: Spearman vs MPJPE {report.spearman_pose:+.2f}, "
        f"top/bottom quarter {report.quartile_ratio:.2f}",
        fontsize=9,
    )
    _panel(right, report.keypoint_bins, "keypoint confidence")
    right.set_title(
        f"keypoints: Spearman vs error, mean {report.spearman_keypoint_mean:+.2f}, "
        f"weakest {report.spearman_keypoint_worst:+.2f}",
        fontsize=9,
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp in the PNG: the same evaluation draws the same bytes.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
