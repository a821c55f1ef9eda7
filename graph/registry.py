"""The node registry: an object, so tests can clone it or start from an empty one.

A kind's item types are declared once, at registration (``takes=`` / ``inputs=`` and
``gives=``): the linter and the builder need them as values. Where the builder's annotations
name item types too (``-> Callable[[Observable[A]], Observable[B]]`` for a transform,
``-> Observable[B]`` for a source), registration checks that they name the same types
(a union names each of its members) and refuses the kind otherwise, so the two cannot drift.
``Any``, ``object``, type variables, a ``Mapping`` of ports and annotations that cannot be
resolved when the kind registers are not checked. Deriving the types from the annotations
instead was the other option; it was not taken because sinks take ``Observable[Any]`` on
purpose and annotations are optional, so the declaration would still be needed half the time.

Third-party node kinds come from the entry-point group ``posecog.nodes``
(``load_entry_points``): each entry point names a module (its decorators register on import)
or a callable taking the registry.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import pkgutil
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar, get_args, get_origin

from reactivex import Observable

from .errors import ConfigError
from .node import HopPolicy, NodeConfig, NodeKind, Port, Role

__all__ = ["ENTRY_POINT_GROUP", "Registry", "did_you_mean"]

F = TypeVar("F", bound=Callable[..., Any])
Types = type | tuple[type, ...]

#: The entry-point group third-party node kinds are published under.
ENTRY_POINT_GROUP = "posecog.nodes"

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
            _check_annotations(where, kind)
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

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register the node kinds of every installed plugin of entry-point ``group``.

        An entry point names a module (``my_nodes.kinds``: importing it runs its decorators,
        which register on whatever registry the module uses, normally the default one) or a
        callable (``my_nodes:register``) called with this registry. A plugin that fails to
        load or register raises ``ConfigError`` naming the entry point and its distribution.
        """
        for ep in importlib.metadata.entry_points(group=group):
            dist = f" from {ep.dist.name}" if ep.dist is not None else ""
            where = f"node plugin '{ep.name}' = '{ep.value}' (entry point group {group}{dist})"
            try:
                target = ep.load()
                if isinstance(target, types.ModuleType):
                    continue
                if not callable(target):
                    raise ConfigError(
                        f"{where}: must name a module or a callable taking the registry;"
                        f" got {type(target).__name__}"
                    )
                target(self)
            except ConfigError as exc:
                if str(exc).startswith(where):
                    raise
                raise ConfigError(f"{where}: {exc}") from exc
            except Exception as exc:
                raise ConfigError(
                    f"{where}: cannot be loaded: {type(exc).__name__}: {exc}"
                ) from exc


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


def _named(tp: Any) -> tuple[type, ...] | None:
    """The item types an annotation names, or None when it names none to check."""
    if isinstance(tp, typing.TypeVar) or tp is Any or tp is object:
        return None
    if get_origin(tp) in (typing.Union, types.UnionType):
        members = [_named(a) for a in get_args(tp)]
        if any(m is None for m in members):
            return None
        return tuple(t for m in members if m for t in m)
    return (tp,) if isinstance(tp, type) else None


def _observed(tp: Any) -> tuple[type, ...] | None:
    """The item types of ``Observable[X]``, or None when ``tp`` is not one with types to check."""
    if get_origin(tp) is Observable and get_args(tp):
        return _named(get_args(tp)[0])
    return None


def _check_annotations(where: str, kind: NodeKind) -> None:
    """Refuse a kind whose builder's annotations name other item types than it declares."""
    try:
        returned = typing.get_type_hints(kind.build).get("return")
    except Exception:  # an annotation that cannot be resolved is not checked
        return
    found: list[tuple[str, tuple[type, ...], tuple[type, ...] | None]] = []
    if kind.role is Role.SOURCE:
        found.append(("gives", kind.gives, _observed(returned)))
    elif get_origin(returned) is Callable:
        params, result = get_args(returned)
        if kind.role is Role.TRANSFORM:
            found.append(("gives", kind.gives, _observed(result)))
        if not kind.named_inputs and isinstance(params, list) and len(params) == 1:
            found.append(("takes", kind.takes, _observed(params[0])))
    for what, declared, annotated in found:
        if annotated is not None and set(annotated) != set(declared):
            raise ConfigError(
                f"{where}: {what}= and the builder's annotation must name the same item types;"
                f" got {what}={_names(declared)} and the annotation {_names(annotated)}"
            )


def _names(item_types: tuple[type, ...]) -> str:
    return " | ".join(t.__name__ for t in item_types) or "nothing"
