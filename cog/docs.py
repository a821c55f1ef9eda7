"""Node documentation rendered from the registry: the one place node options are described."""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic_core import PydanticUndefined

from posecog.graph.node import NodeKind
from posecog.graph.registry import Registry

__all__ = ["render_kind", "render_kind_list"]


def _types(types: tuple[type, ...]) -> str:
    return " | ".join(t.__name__ for t in types) or "-"


def render_kind_list(registry: Registry) -> str:
    rows = [("kind", "role", "takes", "gives", "summary")]
    for kind in registry:
        summary = kind.doc.splitlines()[0] if kind.doc else ""
        rows.append((kind.name, kind.role.value, _types(kind.takes), _types(kind.gives), summary))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        " ".join(f"{cell:<{w}}" for cell, w in zip(row[:4], widths, strict=True)) + " " + row[4]
        for row in rows
    )


def _annotation(tp: Any) -> str:
    """A field's type as a user reads it: ``'max' | 'realtime'``, ``int | None``."""
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin is Union or origin is types.UnionType:
        return " | ".join(_annotation(a) for a in get_args(tp))
    if origin is None and isinstance(tp, type):
        return "None" if tp is type(None) else tp.__name__
    return str(tp)


def _default(info: Any) -> str:
    if info.is_required():
        return "(required)"
    if info.default_factory is not None:
        return repr(info.default_factory())
    return "None" if info.default is PydanticUndefined else repr(info.default)


def _constraints(info: Any) -> str:
    """The field's bounds and pattern, as pydantic enforces them: `` (>= 10, <= 1000)``."""
    parts = []
    for item in info.metadata:
        for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(item, attr, None) is not None:
                parts.append(f"{op} {getattr(item, attr)}")
        if getattr(item, "pattern", None) is not None:
            parts.append(f"matches {item.pattern}")
    return f" ({', '.join(parts)})" if parts else ""


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
        out.append(
            f"  {name}: {_annotation(info.annotation)} = {_default(info)}{_constraints(info)}"
        )
        out.append(f"      {info.description or ''}")
    for example in kind.examples:
        out.extend(["", "example:", *("  " + line for line in example.splitlines())])
    return "\n".join(out)
