"""The pipeline spec: what a YAML file declares, after parameters are substituted.

Every value keeps the location it came from (``marks``: path tuple -> (line, col), 1-based), so
the linter can say ``file:line:col`` for any problem, however deep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Edge", "Mark", "NodeSpec", "ParamSpec", "Path_", "PipelineSpec"]

Mark = tuple[int, int]
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str = ""
    #: Its value is masked in every output (``graph.secrets``).
    secret: bool = False


@dataclass
class NodeSpec:
    """One entry of ``nodes:``; ``index`` is its position, ``path`` its location in the file.

    ``inputs`` is every upstream id (what dependency order and cycles are computed from);
    ``ports`` is the named form as written (port -> ids, the same ids), or None when the file
    gave a list.
    """

    id: str
    type: str
    inputs: list[str]
    config: dict[str, Any]
    index: int
    #: Optional override of a source's hop: ``{"policy": "latest"|"block", "capacity": int}``.
    hop: dict[str, Any] | None = None
    ports: dict[str, list[str]] | None = None

    @property
    def path(self) -> Path_:
        return ("nodes", self.index)

    def edges(self) -> list[Edge]:
        """Each upstream with its port (None for the list form), location and label."""
        if self.ports is None:
            return [
                Edge(src, None, (*self.path, "inputs", i), f"inputs[{i}]")
                for i, src in enumerate(self.inputs)
            ]
        return [
            Edge(
                src,
                port,
                (*self.path, "inputs", port, i),
                f"inputs.{port}" if len(ids) == 1 else f"inputs.{port}[{i}]",
            )
            for port, ids in self.ports.items()
            for i, src in enumerate(ids)
        ]


@dataclass(frozen=True)
class Edge:
    """One input of a node: the upstream id, the port (None: the file gave a list), where the
    id is written and how a problem names it (``inputs[1]``, ``inputs.left``)."""

    source: str
    port: str | None
    path: Path_
    label: str


@dataclass
class PipelineSpec:
    name: str
    description: str
    file: str
    parameters: dict[str, ParamSpec] = field(default_factory=dict)
    #: Parameter values after defaults, ``--set`` overrides and config.json were applied.
    values: dict[str, Any] = field(default_factory=dict)
    nodes: list[NodeSpec] = field(default_factory=list)
    marks: dict[Path_, Mark] = field(default_factory=dict)
    #: Paths of the values the loader refused (misshapen, already reported): left out of the
    #: spec, and the linter says nothing more about them.
    refused: list[Path_] = field(default_factory=list)
    #: False when the file could not be read as YAML at all (missing, over a bound, not UTF-8,
    #: not YAML): its one problem says why, and there is nothing more to check.
    readable: bool = True

    def mark(self, path: Path_) -> Mark:
        """The location of ``path``, or of its closest located ancestor."""
        p = tuple(path)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return self.marks.get((), (1, 1))

    def refused_in(self, path: Path_) -> bool:
        """True when the loader refused the value at ``path`` or a part of it."""
        return any(bad[: len(path)] == tuple(path) for bad in self.refused)

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)
