"""The graph kernel's public API: what a node author (and a pipeline test) imports.

::

    from posecog.graph import BuildContext, Drop, NodeConfig, Registry, run_node

    registry = Registry()  # or the application's default registry

    class ScaleConfig(NodeConfig):
        factor: float = Field(2.0, gt=0, description="Multiplier.")

    @registry.transform("scale", config=ScaleConfig, takes=Reading, gives=Reading)
    def build(
        config: ScaleConfig, ctx: BuildContext
    ) -> Callable[[Observable[Reading]], Observable[Reading]]:
        # the docstring here is the kind's user documentation
        return ctx.map(lambda r: r.scaled(config.factor))

    run = run_node("scale", {"factor": 3}, [(0.0, Reading(1.0))], registry=registry)

Names load on first use (PEP 562), so ``import posecog.graph`` costs nothing until one is
used. The modules behind them (``posecog.graph.build``, ``.runtime``, ...) are internal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import BuildContext
    from .errors import ConfigError, Drop, GraphError, LintError, Problem, RuntimeFailure
    from .lint import lint_file
    from .loader import load_pipeline
    from .node import SINGLE_PORT, AnyItem, HopPolicy, NodeConfig, NodeKind, Port, Role
    from .registry import ENTRY_POINT_GROUP, Registry, did_you_mean
    from .schema import pipeline_schema
    from .testing import NodeRun, PipelineRun, feed, run_node, run_pipeline_test

#: Each public name and the module it lives in.
_HOME = {
    "AnyItem": "node",
    "BuildContext": "context",
    "ConfigError": "errors",
    "Drop": "errors",
    "ENTRY_POINT_GROUP": "registry",
    "GraphError": "errors",
    "HopPolicy": "node",
    "LintError": "errors",
    "NodeConfig": "node",
    "NodeKind": "node",
    "NodeRun": "testing",
    "PipelineRun": "testing",
    "Port": "node",
    "Problem": "errors",
    "Registry": "registry",
    "Role": "node",
    "RuntimeFailure": "errors",
    "SINGLE_PORT": "node",
    "did_you_mean": "registry",
    "feed": "testing",
    "lint_file": "lint",
    "load_pipeline": "loader",
    "pipeline_schema": "schema",
    "run_node": "testing",
    "run_pipeline_test": "testing",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "SINGLE_PORT",
    "AnyItem",
    "BuildContext",
    "ConfigError",
    "Drop",
    "GraphError",
    "HopPolicy",
    "LintError",
    "NodeConfig",
    "NodeKind",
    "NodeRun",
    "PipelineRun",
    "Port",
    "Problem",
    "Registry",
    "Role",
    "RuntimeFailure",
    "did_you_mean",
    "feed",
    "lint_file",
    "load_pipeline",
    "pipeline_schema",
    "run_node",
    "run_pipeline_test",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
