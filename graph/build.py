"""Turn a linted ``PipelineSpec`` into a wired reactivex graph (not yet running).

Every node's output is published (multicast through an ``OutputSubject``, which also counts
the node's items out) so fan-out never subscribes a source twice; a node with several inputs
sees them merged. Sources hand their items over through a hop (see
``hop.py``); the runtime gives real bounded hops, the test harness direct ones. Builders run
here, in dependency order, and may raise ``ConfigError`` (missing files, unloadable models).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import reactivex
from pydantic import SecretStr
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.subject import Subject

from .config_text import shown
from .context import BuildContext, RunServices
from .errors import ConfigError
from .lint import topological_order
from .metrics import NodeMetrics
from .node import NodeKind, Port, Role
from .registry import Registry
from .secrets import REDACT
from .spec import NodeSpec, PipelineSpec

__all__ = ["BuiltGraph", "HopLike", "OutputSubject", "build_graph"]


class OutputSubject(Subject[Any]):
    """A node's published output: counts items out (when given metrics) and broadcasts each
    item with one call per observer; reactivex's ``Subject`` takes a lock three times per
    item, which shows on the live path (every call is expensive on a vCPU that idles)."""

    def __init__(self, metrics: NodeMetrics | None = None) -> None:
        super().__init__()
        self._metrics = metrics

    def on_next(self, value: Any) -> None:
        if self.is_stopped or self.is_disposed:
            return
        if self._metrics is not None:
            self._metrics.items_out += 1
        for observer in tuple(self.observers):  # a snapshot: (un)subscribing may run meanwhile
            observer.on_next(value)


class HopLike(Protocol):
    def put(self, item: Any) -> None: ...
    def complete(self) -> None: ...
    def error(self, exc: Exception) -> None: ...
    @property
    def observable(self) -> Observable[Any]: ...


HopFactory = Callable[[NodeKind, NodeSpec, BuildContext], HopLike]


@dataclass
class SourceRun:
    node_id: str
    observable: Observable[Any]
    ctx: BuildContext
    hop: HopLike
    subscription: abc.DisposableBase | None = None


@dataclass
class BuiltGraph:
    spec: PipelineSpec
    services: RunServices
    order: list[str]
    kinds: dict[str, NodeKind]
    contexts: dict[str, BuildContext]
    outputs: dict[str, Observable[Any]] = field(default_factory=dict)
    sources: list[SourceRun] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    _connectables: list[Any] = field(default_factory=list)
    _subscriptions: list[abc.DisposableBase] = field(default_factory=list)

    def tap(self, node_id: str, on_next: Callable[[Any], None]) -> None:
        """Observe the items ``node_id`` gives (call before ``start``)."""
        if node_id not in self.outputs:
            raise ConfigError(f"cannot tap '{node_id}': no such node giving items")
        self._subscriptions.append(self.outputs[node_id].subscribe(on_next, lambda e: None))

    def start(
        self,
        on_sink_done: Callable[[str], None],
        on_sink_error: Callable[[str, Exception], None],
        scheduler: abc.SchedulerBase | None = None,
    ) -> None:
        """Subscribe the sinks, connect every node (downstream first), then start the sources."""
        for sid in self.sinks:

            def done(sid: str = sid) -> None:
                on_sink_done(sid)

            def failed(exc: Exception, sid: str = sid) -> None:
                on_sink_error(sid, exc)

            self._subscriptions.append(
                self.outputs[sid].subscribe(lambda _x: None, failed, done, scheduler=scheduler)
            )
        for connectable in reversed(self._connectables):
            self._subscriptions.append(connectable.connect(scheduler))
        for src in self.sources:
            src.subscription = src.observable.subscribe(
                src.hop.put, src.hop.error, src.hop.complete, scheduler=src.ctx.scheduler
            )

    def stop_sources(self) -> None:
        """Stop reading: dispose every source, then let its hop drain and complete."""
        for src in self.sources:
            if src.subscription is not None:
                src.subscription.dispose()
            src.hop.complete()

    def dispose(self) -> None:
        """Dispose every subscription, the sources' included (idempotent)."""
        for src in self.sources:
            if src.subscription is not None:
                src.subscription.dispose()
        for sub in self._subscriptions:
            sub.dispose()
        self._subscriptions.clear()


def _instance_of(types: tuple[type, ...]) -> Callable[[Any], bool]:
    def check(item: Any) -> bool:
        return isinstance(item, types)

    return check


def _port_input(
    graph: BuiltGraph, port: Port, upstream: list[str], count_in: Callable[[Any], None]
) -> Observable[Any]:
    """What ``port`` receives: its upstreams' outputs merged, each keeping only the item types
    the port takes (typed routing), counted as the node's items in. A kind with named ports
    gets one of these per port (a mapping port name -> observable), any other one."""
    edges = []
    for i in upstream:
        edge = graph.outputs[i]
        if not port.accepts_all(graph.kinds[i].gives):
            edge = edge.pipe(ops.filter(_instance_of(port.takes)))
        edges.append(edge)
    merged = edges[0] if len(edges) == 1 else reactivex.merge(*edges)  # none: completes
    return merged.pipe(ops.do_action(count_in))


def _register_secrets(config: Any) -> None:
    """Mask a node's secrets in every output from now on: its ``SecretStr`` fields and the
    credentials of any URL it holds (``graph.secrets``)."""
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, SecretStr):
            REDACT.add(value.get_secret_value())
        elif isinstance(value, str):
            REDACT.add_url(value)


def _build(kind: NodeKind, config: Any, ctx: BuildContext) -> Any:
    """``kind.build(config, ctx)``. An ``OSError`` there comes from checking a path the config
    names (too long, in a folder that may not be entered, ...): a ``ConfigError`` naming the
    node, not a traceback."""
    try:
        return kind.build(config, ctx)
    except OSError as exc:
        path = f" ({shown(str(exc.filename))})" if exc.filename else ""
        raise ConfigError(
            f"node '{ctx.node_id}' ({kind.name}): a path of its config must be usable;"
            f" got {exc.strerror or exc}{path}"
        ) from None


def build_graph(
    spec: PipelineSpec,
    registry: Registry,
    services: RunServices,
    pipeline_scheduler: abc.SchedulerBase,
    source_scheduler: Callable[[str], abc.SchedulerBase],
    make_hop: HopFactory,
    replace: dict[str, Observable[Any]] | None = None,
) -> BuiltGraph:
    """Build every node of a linted spec. ``replace`` maps source ids to stand-in observables
    (the harness feeds items through them instead of the real source)."""
    order, cyclic = topological_order(spec)
    if cyclic:
        raise ConfigError(f"{spec.file}: the graph has a cycle through {cyclic}")
    by_id = {n.id: n for n in spec.nodes}
    graph = BuiltGraph(spec, services, order, {}, {})
    replace = replace or {}
    configs: dict[str, Any] = {}
    for nid in order:
        node = by_id[nid]
        kind = graph.kinds[nid] = registry.get(node.type)
        config = configs[nid] = kind.config.model_validate(node.config)
        _register_secrets(config)
        is_source = kind.role is Role.SOURCE
        sched = source_scheduler(nid) if is_source else pipeline_scheduler
        ctx = graph.contexts[nid] = BuildContext(nid, kind.name, services, sched)
        ctx.upstream.update({up: (graph.kinds[up].name, configs[up]) for up in node.inputs})
        metrics = ctx.metrics

        def count_in(_item: Any, m: Any = metrics) -> None:
            m.items_in += 1

        if is_source:
            observable = replace[nid] if nid in replace else _build(kind, config, ctx)
            hop = make_hop(kind, node, ctx)
            graph.sources.append(SourceRun(nid, observable, ctx, hop))
            out: Observable[Any] = hop.observable
        else:
            operator = _build(kind, config, ctx)
            if kind.named_inputs:
                ports = node.ports or {}
                out = operator(
                    {
                        p.name: _port_input(graph, p, ports.get(p.name, []), count_in)
                        for p in kind.ports
                    }
                )
            else:
                out = operator(_port_input(graph, kind.ports[0], node.inputs, count_in))
        if kind.role is Role.SINK:
            graph.sinks.append(nid)
        counted = None if kind.role is Role.SINK else metrics
        connectable = out.pipe(ops.multicast(subject=OutputSubject(counted)))
        graph._connectables.append(connectable)
        graph.outputs[nid] = connectable
    return graph
