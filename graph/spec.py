"""The pipeline spec: what a YAML file declares, after parameters are substituted.

Every value keeps the location it came from (``marks``: path tuple -> (line, col), 1-based), so
the linter can say ``file:line:col`` for any problem, however deep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Mark", "NodeSpec", "ParamSpec", "Path_", "PipelineSpec"]

Mark = tuple[int, int]
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str = ""


@dataclass
class NodeSpec:
    """One entry of ``nodes:``; ``index`` is its position, ``path`` its location in the file."""

    id: str
    type: str
    inputs: list[str]
    config: dict[str, Any]
    index: int
    #: Optional override of a source's hop: ``{"policy": "latest"|"block", "capacity": int}``.
    hop: dict[str, Any] | None = None

    @property
    def path(self) -> Path_:
        return ("nodes", self.index)


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

    def mark(self, path: Path_) -> Mark:
        """The location of ``path``, or of its closest located ancestor."""
        p = tuple(path)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return self.marks.get((), (1, 1))

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)
