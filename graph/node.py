"""Node declaration: one typed config class, the item types taken and given, one builder.

A node kind is declared once and everything else (validation, defaults, lint, the CLI's docs,
JSON Schema) is derived from that declaration::

    class ScaleConfig(NodeConfig):
        factor: float = Field(2.0, gt=0, description="Multiplier.")

    @registry.transform("scale", config=ScaleConfig, takes=Reading, gives=Reading)
    def build(config: ScaleConfig, ctx: BuildContext) -> Operator:
        ...

Builders by role:

* ``source``: ``build(config, ctx) -> Observable[Out]``. The observable is cold; resources are
  acquired when it is subscribed and released when the subscription is disposed.
* ``transform``: ``build(config, ctx) -> Callable[[Observable[In]], Observable[Out]]``.
* ``sink``: ``build(config, ctx) -> Callable[[Observable[In]], Observable[Any]]``; whatever the
  sink's observable emits is ignored; a sink flushes on completion and on dispose.

Builders run when the graph is built (after lint), never at import, load or lint time.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from .context import BuildContext

__all__ = ["AnyItem", "HopPolicy", "NodeConfig", "NodeKind", "Role"]


class Role(enum.StrEnum):
    SOURCE = "source"
    TRANSFORM = "transform"
    SINK = "sink"


class AnyItem:
    """Marker item type: a node that takes ``AnyItem`` accepts every item type."""


class NodeConfig(BaseModel):
    """Base of every node's config: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


HopPolicy = Literal["latest", "block"]

Builder = Callable[[Any, "BuildContext"], Any]


@dataclass(frozen=True)
class NodeKind:
    """A registered node kind. ``takes`` is empty for sources, ``gives`` is empty for sinks.

    Typed routing: an edge is valid when the upstream gives at least one type the node takes;
    a node receives from each input only the items of the types it takes (a source giving
    frames and vitals can feed a window node and a vitals sink alike).
    """

    name: str
    role: Role
    config: type[NodeConfig]
    build: Builder
    takes: tuple[type, ...] = ()
    gives: tuple[type, ...] = ()
    module: str = ""
    #: Default flow policy of the hop that carries a source's items onto the pipeline thread.
    hop: HopPolicy = "latest"
    hop_capacity: int = 1024
    #: YAML snippets (a single node mapping each) shown in the docs and linted by the tests.
    examples: tuple[str, ...] = field(default=())

    @property
    def doc(self) -> str:
        """The user documentation of the kind: the builder's docstring."""
        return inspect.cleandoc(self.build.__doc__ or "")

    def accepts(self, item_type: type) -> bool:
        """True when an item of ``item_type`` may flow into this node."""
        if AnyItem in self.takes or item_type is AnyItem:
            return True
        return any(issubclass(item_type, t) for t in self.takes)

    def accepts_any(self, item_types: tuple[type, ...]) -> bool:
        """True when at least one of ``item_types`` may flow into this node."""
        return any(self.accepts(t) for t in item_types)

    def accepts_all(self, item_types: tuple[type, ...]) -> bool:
        return all(self.accepts(t) for t in item_types)
