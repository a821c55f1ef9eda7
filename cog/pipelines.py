"""Named pipelines: the YAML files shipped in ``posecog.pipelines``, or a path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from posecog.graph.config_text import compose_yaml, decode_utf8, read_bounded, shown, to_python
from posecog.graph.errors import ConfigError
from posecog.graph.registry import did_you_mean

__all__ = ["pipeline_dir", "resolve_pipeline", "shipped_pipelines"]


def pipeline_dir() -> Path:
    return Path(str(resources.files("posecog.pipelines")))


def shipped_pipelines() -> dict[str, Path]:
    """Shipped pipeline names -> files (the name is the file stem)."""
    return {p.stem: p for p in sorted(pipeline_dir().glob("*.yaml"))}


def describe(path: Path) -> str:
    """The ``description`` of a pipeline file, without building anything."""
    try:
        node = compose_yaml(decode_utf8(read_bounded(path)))
        doc = to_python(node) if node is not None else None
    except (OSError, yaml.YAMLError, ConfigError):
        return ""
    return str(doc.get("description", "")).strip() if isinstance(doc, dict) else ""


def resolve_pipeline(name_or_path: str) -> Path:
    """A shipped pipeline's file by name, or an existing YAML path."""
    shipped = shipped_pipelines()
    if name_or_path in shipped:
        return shipped[name_or_path]
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        try:
            if path.is_file():
                return path
        except OSError as exc:  # a name too long, a folder that may not be entered, ...
            raise ConfigError(
                f"pipeline file cannot be read: {exc.strerror}: {shown(name_or_path)}"
            ) from None
        raise ConfigError(f"pipeline file not found: {shown(name_or_path)}")
    raise ConfigError(
        f"unknown pipeline '{shown(name_or_path)}'{did_you_mean(name_or_path, shipped)}"
        f" (shipped: {', '.join(shipped) or 'none'}; or give a path to a .yaml file)"
    )
