"""The linter: every problem of a pipeline at once, each located in its file.

Checks: the file loads (YAML, the shape of ``pipeline_file.PipelineFile``, parameters,
substitutions, overrides); every node's kind exists ("did you mean"); its config validates
against the kind's config class (unknown, missing and bad keys); inputs name existing nodes;
sources have no inputs, transforms and sinks have at least one; a kind with named ports gets a
mapping naming each of its ports (unknown ports "did you mean"), a kind with one input gets ids;
there is no cycle; every edge carries an item type its port takes; the pipeline has a sink; hop
overrides are only on sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import Problem
from .loader import load_with_problems
from .node import NodeConfig, NodeKind, Port, Role
from .registry import Registry, did_you_mean
from .spec import Edge, NodeSpec, PipelineSpec

__all__ = ["check", "lint_file", "topological_order", "validate_config"]


def _type_names(types: tuple[type, ...]) -> str:
    return " | ".join(t.__name__ for t in types) or "nothing"


def _fmt_input(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_config(
    kind: NodeKind, config: Mapping[str, Any]
) -> tuple[NodeConfig | None, list[tuple[tuple[str | int, ...], str]]]:
    """Validate ``config`` for ``kind``: the config object, or ``(None, [(loc, message)...])``."""
    try:
        return kind.config.model_validate(dict(config)), []
    except ValidationError as exc:
        out: list[tuple[tuple[str | int, ...], str]] = []
        fields = list(kind.config.model_fields)
        for err in exc.errors():
            loc = tuple(err["loc"])
            dotted = ".".join(str(x) for x in loc)
            if err["type"] == "missing":
                msg = f"config.{dotted}: is required; got nothing"
            elif err["type"] == "extra_forbidden":
                msg = (
                    f"config.{dotted}: must be a known key of {kind.name}; got an unknown key"
                    f"{did_you_mean(str(loc[0]), fields)}"
                )
            else:
                what = err["msg"][0].lower() + err["msg"][1:]
                what = what.removeprefix("value error, ")
                # A validator that states what it got says it better than the raw input, and a
                # check across fields (no location) would otherwise print the whole config.
                got = "" if "; got " in what or not loc else f"; got {_fmt_input(err.get('input'))}"
                msg = f"config.{dotted}: {what}{got}" if loc else f"config: {what}"
            out.append((loc, msg))
        return None, out


def topological_order(spec: PipelineSpec) -> tuple[list[str], list[str]]:
    """Node ids in dependency order, and the ids left on a cycle (empty when acyclic)."""
    ids = {n.id for n in spec.nodes}
    indeg = {n.id: 0 for n in spec.nodes}
    children: dict[str, list[str]] = {n.id: [] for n in spec.nodes}
    for n in spec.nodes:
        for src in n.inputs:
            if src in ids:
                indeg[n.id] += 1
                children[src].append(n.id)
    ready = [n.id for n in spec.nodes if indeg[n.id] == 0]
    order: list[str] = []
    while ready:
        nid = ready.pop(0)
        order.append(nid)
        for child in children[nid]:
            indeg[child] -= 1
            if indeg[child] == 0:
                ready.append(child)
    cyclic = [n.id for n in spec.nodes if n.id not in order]
    return order, cyclic


def _ports_hint(kind: NodeKind) -> str:
    """`` (inputs: {left: <id>, right: <id>})`` for a kind with named ports."""
    if not kind.named_inputs:
        return ""
    return " (inputs: {" + ", ".join(f"{p.name}: <id>" for p in kind.ports) + "})"


def _port_problems(n: NodeSpec, kind: NodeKind) -> list[tuple[tuple[str | int, ...], str]]:
    """The form of ``n``'s inputs against ``kind``'s ports: a mapping for named ports (each
    named, none unknown), ids for one input."""
    at = (*n.path, "inputs")
    names = [p.name for p in kind.ports]
    if not kind.named_inputs:
        if n.ports is None:
            return []
        return [
            (
                at,
                f"inputs must be an id or a list of ids ({kind.name} has one input);"
                f" got a mapping of ports {sorted(n.ports)}",
            )
        ]
    if n.ports is None:
        return [
            (
                at,
                f"inputs must map each port of {kind.name} to an id{_ports_hint(kind)};"
                f" got a list {n.inputs}",
            )
        ]
    out: list[tuple[tuple[str | int, ...], str]] = []
    for port, ids in n.ports.items():
        if port not in names:
            out.append(
                (
                    (*at, port, "<key>"),
                    f"inputs.{port} must be a port of {kind.name} ({', '.join(names)});"
                    f" got an unknown port{did_you_mean(port, names)}",
                )
            )
        elif not ids:
            out.append(((*at, port), f"inputs.{port} must name at least one node; got none"))
    for p in kind.ports:
        if p.name not in n.ports:
            out.append(
                (
                    at,
                    f"inputs.{p.name} must name the node feeding port '{p.name}'"
                    f" ({_type_names(p.takes)}); got nothing",
                )
            )
    return out


def _port_of(edge: Edge, kind: NodeKind) -> Port | None:
    """The port an edge feeds (None when the inputs' form is wrong, reported elsewhere)."""
    if kind.named_inputs != (edge.port is not None):
        return None
    return kind.ports[0] if edge.port is None else kind.port(edge.port)


def check(spec: PipelineSpec, registry: Registry) -> list[Problem]:
    """Every structural problem of a loaded spec (the loader reports its own)."""
    problems: list[Problem] = []

    def add(path: tuple[str | int, ...], node: NodeSpec | None, message: str) -> None:
        line, col = spec.mark(path)
        where = ""
        if node is not None:
            where = f"nodes[{node.index}] '{node.id}'"
            if node.type in registry:
                where += f" ({node.type})"
        problems.append(Problem(spec.file, line, col, where, message))

    by_id = {n.id: n for n in spec.nodes}
    kinds: dict[str, NodeKind] = {}
    for n in spec.nodes:
        if not n.type:
            continue
        if n.type not in registry:
            add(
                (*n.path, "type"),
                n,
                f"type must be a registered node kind; got '{n.type}'"
                f"{did_you_mean(n.type, registry.names())}",
            )
            continue
        kind = kinds[n.id] = registry.get(n.type)
        _, errors = validate_config(kind, n.config)
        for loc, msg in errors:
            path = (*n.path, "config", *loc)
            if msg.startswith(f"config.{loc[0]}: must be a known key") if loc else False:
                path = (*n.path, "config", loc[0], "<key>")
            add(path, n, msg)
        if kind.role is Role.SOURCE and n.inputs:
            add((*n.path, "inputs"), n, f"a source takes no inputs; got {n.inputs}")
        if kind.role is Role.SOURCE or spec.refused_in((*n.path, "inputs")):
            pass  # a source's inputs are reported above, refused ones by the loader
        elif not n.inputs:
            add(
                n.path,
                n,
                f"a {kind.role.value} needs at least one input; got none{_ports_hint(kind)}",
            )
        else:
            for path, message in _port_problems(n, kind):
                add(path, n, message)
        if n.hop is not None and kind.role is not Role.SOURCE:
            add((*n.path, "hop"), n, f"hop applies to sources only; got it on a {kind.role.value}")
    for n in spec.nodes:
        for edge in n.edges():
            src = edge.source
            if src not in by_id:
                add(
                    edge.path,
                    n,
                    f"{edge.label} must name a node of this pipeline; got '{src}'"
                    f"{did_you_mean(src, by_id)}",
                )
                continue
            if src == n.id:
                continue  # reported as a cycle
            up, down = kinds.get(src), kinds.get(n.id)
            if up is None or down is None:
                continue
            if up.role is Role.SINK:
                add(
                    edge.path,
                    n,
                    f"{edge.label} '{src}' is a sink and gives no items; got it as an input",
                )
                continue
            port = _port_of(edge, down)
            if port is not None and not port.accepts_any(up.gives):
                add(
                    edge.path,
                    n,
                    f"{edge.label} must give {_type_names(port.takes)}; got '{src}' ({up.name})"
                    f" giving {_type_names(up.gives)}",
                )
    _, cyclic = topological_order(spec)
    if cyclic:
        first = by_id[cyclic[0]]
        add(
            (*first.path, "inputs"),
            first,
            f"the graph must have no cycle; got one through {', '.join(repr(c) for c in cyclic)}",
        )
    if kinds and not any(k.role is Role.SINK for k in kinds.values()):
        add(("nodes",), None, "nodes: a pipeline needs at least one sink; got none")
    problems.sort(key=lambda p: (p.line, p.col))
    return problems


def lint_file(
    path: str | Path,
    registry: Registry,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
) -> tuple[PipelineSpec, list[Problem]]:
    """Load and check ``path``: the spec and all problems (load problems first if any)."""
    spec, problems = load_with_problems(path, overrides, env, text)
    if not spec.readable:
        return spec, problems
    return spec, sorted([*problems, *check(spec, registry)], key=lambda p: (p.line, p.col))
