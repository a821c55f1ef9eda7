"""The default registry: every node kind of this package, registered on first use."""

from __future__ import annotations

from posecog.graph.registry import Registry

__all__ = ["default_registry", "registry"]

#: Node modules register on this instance with ``@registry.source(...)`` and friends.
registry = Registry()

_loaded = False


def default_registry() -> Registry:
    """The registry with every node kind of ``posecog.nodes.kinds`` imported and registered,
    then those of installed plugins (``Registry.load_entry_points``)."""
    global _loaded  # noqa: PLW0603 - one lazy import of the node modules per process
    if not _loaded:
        registry.load_package("posecog.nodes.kinds")
        registry.load_entry_points()  # third-party kinds (entry-point group posecog.nodes)
        _loaded = True
    return registry
