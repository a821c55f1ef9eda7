"""The pipeline file format, declared once: what the loader checks, the linter says and the
JSON Schema shows all come from these models.

``PipelineFile`` (the file) holds ``ParamEntry`` (a parameter; a bare value is its default),
``NodeEntry`` (a node) and ``HopEntry`` (a source's hand-over). Each field's description is the
requirement a problem states ("id must be <description>; got 5"), so it is written to read
after "must be"; the JSON Schema shows the same text to editors.

The models check the file's shape only: the values as written, before parameters are
substituted (a node's ``config`` is checked against its kind's config class by the linter).
``shape_problems`` validates a loaded document and returns each problem with the path of the
value it is about; the loader locates it in the file by that path.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError
from pydantic.fields import FieldInfo

from .node import HopPolicy
from .registry import did_you_mean
from .spec import Path_

__all__ = [
    "ID_PATTERN",
    "HopEntry",
    "Ids",
    "Inputs",
    "NodeEntry",
    "ParamEntry",
    "PipelineFile",
    "shape_problems",
]

#: What a node id (and a parameter name in ``--set``) looks like.
ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"


def _form(value: Any) -> str | None:
    """Which form of a union a value is written in (the tags are dropped from problem paths)."""
    if isinstance(value, str):
        return "<id>"
    if isinstance(value, list):
        return "<ids>"
    if isinstance(value, dict):
        return "<ports>"
    return None


#: One upstream id, or several (merged).
Ids = Annotated[
    Annotated[str, Tag("<id>")] | Annotated[list[str], Tag("<ids>")],
    Discriminator(
        _form, custom_error_type="must_be", custom_error_message="an id or a list of ids"
    ),
]

#: A node's inputs: ids for a kind with one input, a mapping port -> ids for named ports.
Inputs = Annotated[
    Annotated[str, Tag("<id>")]
    | Annotated[list[str], Tag("<ids>")]
    | Annotated[dict[str, Ids], Tag("<ports>")],
    Discriminator(_form),
]


class _Entry(BaseModel):
    # strict: the values are YAML's own types; nothing is coerced (5 is no id).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Added to the "unknown key" problem of this entry.
    unknown_key_hint: ClassVar[str] = ""


class ParamEntry(_Entry):
    """A parameter: a default (overridable with ``--set name=value``) and what it is for."""

    default: Any = Field(
        description="the parameter's value unless --set or the runtime config gives another"
    )
    description: str = Field("", description="a string saying what the parameter is for")
    secret: bool = Field(
        False,
        description="true or false: true when its value is a secret (a token, a password), "
        "masked in every event, error and log line",
    )


def _param_form(value: Any) -> str:
    return "<entry>" if isinstance(value, dict) else "<short>"


#: A parameter in full (``{default: 1, description: ...}``) or short (``1``: just the default).
Parameter = Annotated[
    Annotated[ParamEntry, Tag("<entry>")]
    | Annotated[str | int | float | bool | list[Any] | None, Tag("<short>")],
    Discriminator(_param_form),
]


class HopEntry(_Entry):
    """How a source hands its items over to the pipeline thread (the kind has defaults)."""

    policy: HopPolicy | None = Field(
        None,
        description="'latest' (keep the newest items, drop and count the oldest) or 'block'"
        " (the source waits for room)",
    )
    capacity: int | None = Field(
        None, ge=1, description="an integer >= 1: how many items the hop holds"
    )


class NodeEntry(_Entry):
    """One entry of ``nodes:``."""

    unknown_key_hint: ClassVar[str] = " (node options go under config:)"

    id: str = Field(pattern=ID_PATTERN, description="a name like 'window_1', unique in the file")
    type: str = Field(description="a registered node kind")
    inputs: Inputs = Field(
        default_factory=list,
        description="the id of the node feeding this one, a list of ids (merged), or a mapping"
        " of input port -> id or ids (for a kind with named ports)",
    )
    config: dict[str, Any] | None = Field(None, description="a mapping of the kind's options")
    hop: HopEntry | None = Field(
        None, description="a mapping {policy: latest|block, capacity: N} (sources only)"
    )


class PipelineFile(_Entry):
    """A pipeline file."""

    name: str = Field(min_length=1, description="a non-empty string: the pipeline's name")
    description: str = Field("", description="a string saying what the pipeline is for")
    parameters: dict[str, Parameter] | None = Field(
        None, description="a mapping of parameter name -> {default, description} or a default"
    )
    nodes: list[NodeEntry] = Field(min_length=1, description="a non-empty list of nodes")


def _step(tp: Any, seg: str | int) -> Any:
    """What ``seg`` leads to inside a value of type ``tp``: a ``FieldInfo`` (a model's field),
    a type (an item of a list or dict), or None."""
    tp = _bare(tp)
    if isinstance(tp, FieldInfo):
        tp = tp.annotation
    for member in getattr(tp, "__args__", ()) if _is_union(tp) else ():
        found = _step(member, seg)
        if found is not None:
            return found
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.model_fields.get(seg) if isinstance(seg, str) else None
    origin = getattr(tp, "__origin__", None)
    if origin is list and isinstance(seg, int):
        return tp.__args__[0]
    if origin is dict and isinstance(seg, str):
        return tp.__args__[1]
    return None


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _walk(path: Path_) -> Any:
    """The field (``FieldInfo``) or type at ``path`` in a pipeline file, or None."""
    at: Any = PipelineFile
    for seg in path:
        at = _step(at, seg)
        if at is None:
            return None
    return at


def _model_at(path: Path_) -> type[BaseModel] | None:
    at = _walk(path)
    at = _bare(at.annotation if isinstance(at, FieldInfo) else at)
    for member in (at, *(getattr(at, "__args__", ()) if _is_union(at) else ())):
        tp = _bare(member)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
    return None


def _bare(tp: Any) -> Any:
    """``X`` of ``Annotated[X, ...]`` (nested or not)."""
    while hasattr(tp, "__metadata__"):
        tp = tp.__origin__
    return tp


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _label(path: Path_) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else seg)
    return out


def _where(path: Path_, doc: dict[str, Any]) -> tuple[str, Path_]:
    """Who a problem at ``path`` is about (``nodes[2] 'window'``, ``parameters.speed``, or the
    file), and the path inside it."""
    if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
        nodes = doc.get("nodes")
        entry = nodes[path[1]] if isinstance(nodes, list) and path[1] < len(nodes) else None
        nid = entry.get("id") if isinstance(entry, dict) else None
        where = f"nodes[{path[1]}] '{nid}'" if isinstance(nid, str) and nid else f"nodes[{path[1]}]"
        return where, path[2:]
    if len(path) >= 2 and path[0] == "parameters":
        return f"parameters.{path[1]}", path[2:]
    return "", path


def shape_problems(doc: dict[str, Any]) -> list[tuple[Path_, str, str]]:
    """Every way ``doc`` (a loaded pipeline file) departs from ``PipelineFile``, as
    ``(path, where, message)``; an unknown key's path ends with ``"<key>"`` (its name's
    location, not its value's)."""
    try:
        PipelineFile.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        return []
    out: list[tuple[Path_, str, str]] = []
    for err in errors:
        # The union tags (``<ids>``, ...) say which form a value was read in; not a location.
        path: Path_ = tuple(
            s for s in err["loc"] if not (isinstance(s, str) and s.startswith("<") and s[-1] == ">")
        )
        where, inner = _where(path, doc)
        label = _label(inner)
        at = _walk(path)
        must = at.description if isinstance(at, FieldInfo) else None
        if err["type"] == "extra_forbidden":
            model = _model_at(path[:-1])
            key = str(path[-1])
            noun = "top-level key" if len(path) == 1 else "key"
            hint = did_you_mean(key, model.model_fields) if model else ""
            extra = model.unknown_key_hint if model and issubclass(model, _Entry) else ""
            out.append(((*path, "<key>"), where, f"unknown {noun} '{label}'{hint}{extra}"))
            continue
        if err["type"] == "missing":
            what = f" ({must})" if must else ""
            message = f"is required{what}; got nothing"
        elif must is not None or err["type"] == "must_be":
            message = f"must be {must or err['msg']}; got {_fmt(err['input'])}"
        elif err["type"] in ("model_type", "dict_type"):
            message = f"must be a mapping; got {type(err['input']).__name__}"
        else:
            what = err["msg"][0].lower() + err["msg"][1:]
            message = f"{what}; got {_fmt(err['input'])}"
            label += ":" if label else ""
        out.append((path, where, f"{label} {message}" if label else message))
    return out
