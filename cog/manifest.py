"""The cog's identity and embedded manifest (ADR-100). Imports nothing heavy: ``version`` and
``manifest`` must answer fast, without numpy or onnxruntime."""

from __future__ import annotations

import json
from importlib import metadata, resources
from typing import Any

__all__ = ["COG_ID", "manifest", "version"]

COG_ID = "pose-estimation"


def version() -> str:
    try:
        return metadata.version("cog-pose-estimation")
    except metadata.PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0+unknown"


def manifest() -> dict[str, Any]:
    """The manifest shipped in the package, with this build's version filled in."""
    text = resources.files("posecog.cog").joinpath("manifest.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    data["id"] = COG_ID
    data["version"] = version()
    return data
