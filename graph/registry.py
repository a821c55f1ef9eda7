"""The node registry: an object, so tests can clone it or start from an empty one."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from .errors import ConfigError
from .node import HopPolicy, NodeConfig, NodeKind, Port, Role

__all__ = ["Registry", "did_you_mean"]

F = TypeVar("F", bound=Callable[..., Any])
Types = type | tuple[type, ...]

_PORT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``"; did you mean 'x'?"`` hint, or an empty string when nothing is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class Registry:
    """Node kinds by name. ``Registry()`` is empty; see ``nodes.registry`` for the default."""

    def __init__(self) -> None:
        self._kinds: dict[str, NodeKind] = {}

    def clone(self) -> Registry:
        """A copy that can be changed without touching this registry."""
        other = Registry()
        other._kinds = dict(self._kinds)
        return other

    def add(self, kind: NodeKind) -> NodeKind:
        """Register ``kind``; a second kind of the same name is refused, naming both modules."""
        old = self._kinds.get(kind.name)
        if old is not None:
            raise ConfigError(
                f"node kind '{kind.name}' is registered twice: by {old.module} and by {kind.module}"
            )
        self._kinds[kind.name] = kind
        return kind

    def get(self, name: str) -> NodeKind:
        """The kind called ``name``; an unknown name raises with a "did you mean" hint."""
        try:
            return self._kinds[name]
        except KeyError:
            raise ConfigError(
                f"unknown node kind '{name}'{did_you_mean(name, self._kinds.keys())}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[NodeKind]:
        return iter(sorted(self._kinds.values(), key=lambda k: k.name))

    def __len__(self) -> int:
        return len(self._kinds)

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def _decorator(
        self,
        name: str,
        role: Role,
        config: type[NodeConfig],
        takes: Types = (),
        gives: Types = (),
        hop: HopPolicy = "latest",
        hop_capacity: int = 1024,
        examples: tuple[str, ...] = (),
        inputs: Mapping[str, Types] | None = None,
    ) -> Callable[[F], F]:
        def register(build: F) -> F:
            where = f"node kind '{name}' ({build.__module__})"
            ports = _ports(where, role, _types(takes), inputs)
            kind = NodeKind(
                name=name,
                role=role,
                config=config,
                build=build,
                takes=_types(takes) or tuple(dict.fromkeys(t for p in ports for t in p.takes)),
                gives=_types(gives),
                module=build.__module__,
                hop=hop,
                hop_capacity=hop_capacity,
                examples=examples,
                inputs=ports,
            )
            self.add(kind)
            return build

        return register

    def source(
        self,
        name: str,
        *,
        config: type[NodeConfig],
        gives: Types,
        hop: HopPolicy = "latest",
        hop_capacity: int = 1024,
        examples: tuple[str, ...] = (),
    ) -> Callable[[F], F]:
        """Decorator registering a source builder ``(config, ctx) -> Observable``."""
        return self._decorator(name, Role.SOURCE, config, (), gives, hop, hop_capacity, examples)

    def transform(
        self,
        name: str,
        *,
        config: type[NodeConfig],
        takes: Types = (),
        inputs: Mapping[str, Types] | None = None,
        gives: Types,
        examples: tuple[str, ...] = (),
    ) -> Callable[[F], F]:
        """Decorator registering a transform builder ``(config, ctx) -> operator``.

        Give ``takes`` (one input: the operator takes an ``Observable``) or ``inputs`` (named
        ports, port name -> item types: the operator takes a ``Mapping[str, Observable]``).
        """
        return self._decorator(
            name, Role.TRANSFORM, config, takes, gives, examples=examples, inputs=inputs
        )

    def sink(
        self,
        name: str,
        *,
        config: type[NodeConfig],
        takes: Types = (),
        inputs: Mapping[str, Types] | None = None,
        examples: tuple[str, ...] = (),
    ) -> Callable[[F], F]:
        """Decorator registering a sink builder ``(config, ctx) -> operator``; ``takes`` or
        ``inputs`` as for ``transform``."""
        return self._decorator(name, Role.SINK, config, takes, (), examples=examples, inputs=inputs)

    def load_package(self, package: str) -> None:
        """Import every module of ``package`` so their decorators register on this registry."""
        mod = importlib.import_module(package)
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{package}."):
            importlib.import_module(info.name)


def _types(value: Types) -> tuple[type, ...]:
    return value if isinstance(value, tuple) else (value,)


def _ports(
    where: str, role: Role, takes: tuple[type, ...], inputs: Mapping[str, Types] | None
) -> tuple[Port, ...]:
    """The named ports of a kind (empty for one unnamed input), checked."""
    if role is Role.SOURCE:
        return ()
    if inputs is not None and takes:
        raise ConfigError(f"{where}: give takes= (one input) or inputs= (named ports); got both")
    if inputs is None:
        if not takes:
            raise ConfigError(f"{where}: give takes= or inputs=; got neither")
        return ()
    if not inputs:
        raise ConfigError(f"{where}: inputs= must name at least one port; got none")
    for port, port_types in inputs.items():
        if not _PORT_NAME.match(port):
            raise ConfigError(f"{where}: port names must be identifiers; got {port!r}")
        if not _types(port_types):
            raise ConfigError(f"{where}: port '{port}' must take at least one item type")
    return tuple(Port(port, _types(t)) for port, t in inputs.items())
