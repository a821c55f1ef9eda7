"""Shared fixtures. Real published artifacts are read from ../shared/data/ruview (never copied)."""

from __future__ import annotations

import os
from pathlib import Path

# As the CLI does: one BLAS thread (the graph runs on one pipeline thread).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402 - after the BLAS settings, before numpy loads

REPO = Path(__file__).resolve().parent.parent
RUVIEW = REPO.parent / "shared" / "data" / "ruview"
POSE_V1 = RUVIEW / "pose_v1.safetensors"
EXCERPT_A = RUVIEW / "pretrain-1775182186.excerpt.csi.jsonl"
EXCERPT_B = RUVIEW / "rec_1772470567081.excerpt.csi.jsonl"


@pytest.fixture(scope="session")
def ruview() -> Path:
    if not RUVIEW.is_dir():
        pytest.fail(f"shared data not found at {RUVIEW}: clone the project beside ../shared")
    return RUVIEW
