"""A JSON Schema for pipeline files, generated from the registry (for editors' completion and
validation; the linter remains the authority, with locations and hints)."""

from __future__ import annotations

from typing import Any

from .registry import Registry

__all__ = ["pipeline_schema"]

_SUBSTITUTION = {"type": "string", "pattern": r"\$\{[^}]+\}"}


def pipeline_schema(registry: Registry) -> dict[str, Any]:
    """Draft 2020-12 schema: top-level keys, parameters, and one node variant per kind."""
    variants: list[dict[str, Any]] = []
    for kind in registry:
        config = kind.config.model_json_schema()
        # A value may be a substitution (``${param}``), typed only once it is resolved.
        config["properties"] = {
            name: {"anyOf": [prop, _SUBSTITUTION]}
            for name, prop in config.get("properties", {}).items()
        }
        variants.append(
            {
                "if": {"properties": {"type": {"const": kind.name}}},
                "then": {
                    "description": kind.doc.splitlines()[0] if kind.doc else kind.name,
                    "properties": {"config": config},
                },
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pipeline file",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "nodes"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "parameters": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [
                        {
                            "type": "object",
                            "required": ["default"],
                            "additionalProperties": False,
                            "properties": {"default": {}, "description": {"type": "string"}},
                        },
                        {"type": ["string", "number", "boolean", "null"]},
                    ]
                },
            },
            "nodes": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["id", "type"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                        "type": {"enum": registry.names()},
                        "inputs": {
                            "anyOf": [
                                {"type": "string"},
                                {"type": "array", "items": {"type": "string"}},
                            ]
                        },
                        "config": {"type": "object"},
                        "hop": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "policy": {"enum": ["latest", "block"]},
                                "capacity": {"type": "integer", "minimum": 1},
                            },
                        },
                    },
                    "allOf": variants,
                },
            },
        },
    }
