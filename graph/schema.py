"""A JSON Schema for pipeline files (for editors' completion and validation; the linter remains
the authority, with locations and hints).

The file's shape comes from ``pipeline_file.PipelineFile``, the models the loader checks with;
the registry adds what only it knows: the kinds' names, each kind's config and the form of
its inputs (named ports or ids).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import TypeAdapter

from .node import NodeKind, Role
from .pipeline_file import Ids, PipelineFile
from .registry import Registry

__all__ = ["pipeline_schema"]

_SUBSTITUTION = {"type": "string", "pattern": r"\$\{[^}]+\}"}


def _config_schema(kind: NodeKind, defs: dict[str, Any]) -> dict[str, Any]:
    config = kind.config.model_json_schema(ref_template="#/$defs/" + kind.name + ".{model}")
    for name, sub in config.pop("$defs", {}).items():
        defs[f"{kind.name}.{name}"] = sub
    # A value may be a substitution (``${param}``), typed only once it is resolved.
    config["properties"] = {
        name: {"anyOf": [prop, _SUBSTITUTION]}
        for name, prop in config.get("properties", {}).items()
    }
    return config


def _inputs_schema(kind: NodeKind, ids: dict[str, Any]) -> dict[str, Any]:
    if not kind.named_inputs:
        return ids
    return {
        "type": "object",
        "description": f"{kind.name}'s input ports: port -> id or ids",
        "properties": {p.name: ids for p in kind.ports},
        "required": [p.name for p in kind.ports],
        "additionalProperties": False,
    }


def pipeline_schema(registry: Registry) -> dict[str, Any]:
    """Draft 2020-12 schema: the file's shape, and one node variant per kind."""
    schema = copy.deepcopy(PipelineFile.model_json_schema())
    defs = schema.setdefault("$defs", {})
    ids = TypeAdapter(Ids).json_schema()
    variants: list[dict[str, Any]] = []
    for kind in registry:
        then: dict[str, Any] = {
            "description": kind.doc.splitlines()[0] if kind.doc else kind.name,
            "properties": {"config": _config_schema(kind, defs)},
        }
        if kind.role is not Role.SOURCE:
            then["properties"]["inputs"] = _inputs_schema(kind, ids)
        variants.append({"if": {"properties": {"type": {"const": kind.name}}}, "then": then})
    node = defs["NodeEntry"]
    node["properties"]["type"]["enum"] = registry.names()
    node["allOf"] = variants
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pipeline file",
        **{k: v for k, v in schema.items() if k != "title"},
    }
