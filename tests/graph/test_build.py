"""graph/build.py: wiring, here the named input ports (the rest runs in test_runtime.py)."""

from __future__ import annotations

from pathlib import Path

from posecog.graph.testing import run_pipeline_test

from .kinds import COLLECTED, make_registry

TWO_PORTS = """\
name: two-ports
nodes:
  - {id: small, type: count, config: {n: 3}}
  - {id: big, type: count, config: {n: 2}}
  - {id: tens, type: scale, inputs: [big], config: {factor: 10}}
  - id: both
    type: label
    inputs: {left: small, right: [tens, small]}
  - {id: out, type: collect, inputs: [both], config: {name: two-ports}}
"""


def test_two_ports_of_the_same_type_stay_apart(tmp_path: Path) -> None:
    COLLECTED["two-ports"] = []
    run = run_pipeline_test(tmp_path / "p.yaml", text=TWO_PORTS, registry=make_registry())
    assert run.errors == {}
    assert run.sinks_completed == {"out"}
    # left gets small only; right gets tens and small merged (a port may take several ids)
    assert sorted(COLLECTED["two-ports"]) == sorted(
        ["left:0", "left:1", "left:2", "right:0", "right:10", "right:0", "right:1", "right:2"]
    )
    assert run.metrics.nodes["both"].items_in == 8  # every port counts as the node's input


def test_a_port_delivers_only_the_types_it_takes(tmp_path: Path) -> None:
    from posecog.graph.node import NodeConfig

    from .kinds import Num, Text

    reg = make_registry()

    @reg.transform("mixed", config=NodeConfig, takes=Num, gives=(Num, Text))
    def mixed(_c: NodeConfig, ctx: object) -> object:
        """Each number, then its text."""
        return ctx.process(lambda x: (x, Text(f"t{x}")))  # type: ignore[attr-defined]

    text = """\
name: routed-ports
nodes:
  - {id: src, type: count, config: {n: 2}}
  - {id: m, type: mixed, inputs: [src]}
  - {id: both, type: label, inputs: {left: m, right: src}}
  - {id: out, type: collect, inputs: [both], config: {name: routed-ports}}
"""
    COLLECTED["routed-ports"] = []
    run = run_pipeline_test(tmp_path / "p.yaml", text=text, registry=reg)
    assert sorted(COLLECTED["routed-ports"]) == ["left:0", "left:1", "right:0", "right:1"]
    assert run.metrics.nodes["both"].drops == {}  # the texts were routed away, not dropped
