"""Node documentation rendered from the registry: the one place node options are described."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticUndefined

from posecog.graph.node import NodeKind
from posecog.graph.registry import Registry

__all__ = ["render_kind", "render_kind_list"]


def _types(types: tuple[type, ...]) -> str:
    return " | ".join(t.__name__ for t in types) or "-"


def render_kind_list(registry: Registry) -> str:
    lines = [f"{'kind':<16} {'role':<10} {'takes':<22} {'gives':<10} summary"]
    for kind in registry:
        summary = kind.doc.splitlines()[0] if kind.doc else ""
        lines.append(
            f"{kind.name:<16} {kind.role.value:<10} {_types(kind.takes):<22} "
            f"{_types(kind.gives):<10} {summary}"
        )
    return "\n".join(lines)


def _default(info: Any) -> str:
    if info.is_required():
        return "(required)"
    if info.default_factory is not None:
        return repr(info.default_factory())
    return "None" if info.default is PydanticUndefined else repr(info.default)


def render_kind(kind: NodeKind) -> str:
    out = [
        f"{kind.name} ({kind.role.value})",
        f"  takes: {_types(kind.takes)}    gives: {_types(kind.gives)}",
        "",
        *("  " + line if line else "" for line in kind.doc.splitlines()),
        "",
        "config:",
    ]
    fields = kind.config.model_fields
    if not fields:
        out.append("  (none)")
    for name, info in fields.items():
        ann = getattr(info.annotation, "__name__", None) or str(info.annotation)
        out.append(f"  {name}: {ann} = {_default(info)}")
        out.append(f"      {info.description or ''}")
    for example in kind.examples:
        out.extend(["", "example:", *("  " + line for line in example.splitlines())])
    return "\n".join(out)
