"""Shared fixtures. Real published artifacts are read from ../shared/data/ruview (never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
