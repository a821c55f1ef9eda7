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

Named input ports: a transform or sink declared with ``inputs={"left": A, "right": (B, C)}``
instead of ``takes=`` gets a ``Mapping[str, Observable]`` (port name -> the items of that port,
its upstreams merged) instead of one observable, and the pipeline file names its upstreams
per port (``inputs: {left: a, right: [b, c]}``). A join labels its inputs this way instead of
telling a merged stream apart by item type. A kind declared with ``takes=`` has one port,
called ``"in"`` (``SINGLE_PORT``), and its pipeline entries give a plain id or list of ids.

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

__all__ = ["SINGLE_PORT", "AnyItem", "HopPolicy", "NodeConfig", "NodeKind", "Port", "Role"]


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


#: The name of the one port of a kind declared with ``takes=`` (never written in a file).
SINGLE_PORT = "in"


def _accepts(takes: tuple[type, ...], item_type: type) -> bool:
    if AnyItem in takes or item_type is AnyItem:
        return True
    return any(issubclass(item_type, t) for t in takes)


class _Takes:
    """Typed routing over ``takes`` (a port's, or a node's: any of its ports)."""

    takes: tuple[type, ...]

    def accepts(self, item_type: type) -> bool:
        """True when an item of ``item_type`` may flow in."""
        return _accepts(self.takes, item_type)

    def accepts_any(self, item_types: tuple[type, ...]) -> bool:
        """True when at least one of ``item_types`` may flow in."""
        return any(self.accepts(t) for t in item_types)

    def accepts_all(self, item_types: tuple[type, ...]) -> bool:
        return all(self.accepts(t) for t in item_types)


@dataclass(frozen=True)
class Port(_Takes):
    """One input of a node kind: its name and the item types it takes.

    Typed routing: an edge into a port is valid when the upstream gives at least one type the
    port takes, and the port delivers only those types (a source giving two item types can feed
    two nodes that take one each).
    """

    name: str
    takes: tuple[type, ...]


@dataclass(frozen=True)
class NodeKind(_Takes):
    """A registered node kind. ``takes`` is empty for sources, ``gives`` is empty for sinks.

    ``inputs`` holds the named ports of a kind declared with them (empty otherwise); ``takes``
    is then every type its ports take (what the docs show). ``ports`` is the kind's inputs
    either way: its named ports, or the one ``SINGLE_PORT`` taking ``takes``.
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
    #: Named input ports, in declaration order; empty for a kind with one unnamed input.
    inputs: tuple[Port, ...] = ()

    @property
    def doc(self) -> str:
        """The user documentation of the kind: the builder's docstring."""
        return inspect.cleandoc(self.build.__doc__ or "")

    @property
    def named_inputs(self) -> bool:
        """True when the kind's inputs are named ports (a mapping in the file and the builder)."""
        return bool(self.inputs)

    @property
    def ports(self) -> tuple[Port, ...]:
        """The kind's input ports: none for a source."""
        if self.inputs:
            return self.inputs
        return () if self.role is Role.SOURCE else (Port(SINGLE_PORT, self.takes),)

    def port(self, name: str) -> Port | None:
        return next((p for p in self.ports if p.name == name), None)
