from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.lint import lint_file, validate_config
from posecog.graph.node import NodeConfig

from .kinds import Num, make_registry

BROKEN = """\
name: broken
nodes:
  - id: src
    type: count
    inputs: [sink]
    config: {n: -1, colour: red}
  - id: times
    type: scael
  - id: words
    type: describe
    inputs: [src, ghost]
  - id: again
    type: scale
    inputs: [words]
  - id: a
    type: scale
    inputs: [b]
  - id: b
    type: scale
    inputs: [a]
  - id: sink
    type: collect
  - id: txt
    type: text_only
    inputs: [src]
"""


def test_every_problem_at_once_with_locations(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    _, problems = lint_file(path, make_registry())
    lines = [str(p) for p in problems]
    text = "\n".join(lines)
    assert all(line.startswith(f"{path}:") for line in lines)
    # source with inputs, bad value, unknown key
    assert f"{path}:5:13: nodes[0] 'src' (count): a source takes no inputs" in text
    assert "config.n: input should be greater than or equal to 0; got -1" in text
    assert "config.colour: must be a known key of count; got an unknown key" in text
    # unknown kind with a hint
    assert "type must be a registered node kind; got 'scael'; did you mean 'scale'?" in text
    # unknown input id
    assert "inputs[1] must name a node of this pipeline; got 'ghost'" in text
    # item-type-incompatible edges: Text into scale, Num into text_only
    assert "inputs[0] must give Num; got 'words' (describe) giving Text" in text
    assert "inputs[0] must give Text; got 'src' (count) giving Num" in text
    # a sink as an input, a sink without inputs, a cycle
    assert "'sink' is a sink and gives no items" in text
    assert "nodes[6] 'sink' (collect): a sink needs at least one input; got none" in text
    assert "the graph must have no cycle; got one through 'a', 'b'" in text
    assert len(problems) == 11, text
    # sorted by position in the file
    assert [(p.line, p.col) for p in problems] == sorted((p.line, p.col) for p in problems)


def test_colour_key_points_at_the_key(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BROKEN)
    _, problems = lint_file(path, make_registry())
    colour = next(p for p in problems if "colour" in p.message)
    assert (colour.line, colour.col) == (6, 21)


def test_missing_required_key_and_no_sink(tmp_path: Path) -> None:
    text = "name: p\nnodes:\n  - id: s\n    type: count\n  - {id: c, type: collect, inputs: [s]}\n"
    _, problems = lint_file(tmp_path / "p.yaml", make_registry(), text=text)
    assert [p.message for p in problems] == ["config.name: is required; got nothing"]
    text = "name: p\nnodes:\n  - id: s\n    type: count\n"
    _, problems = lint_file(tmp_path / "p.yaml", make_registry(), text=text)
    assert [p.message for p in problems] == ["nodes: a pipeline needs at least one sink; got none"]


def test_structure_problems(tmp_path: Path) -> None:
    text = "nam: p\nnodes:\n  - id: s\n    type: count\n    hop: {policy: fast}\n    cfg: {}\n"
    _, problems = lint_file(tmp_path / "p.yaml", make_registry(), text=text)
    text_ = "\n".join(p.message for p in problems)
    assert "unknown top-level key 'nam'; did you mean 'name'?" in text_
    assert "name is required (a non-empty string: the pipeline's name); got nothing" in text_
    assert "unknown key 'cfg'; did you mean 'config'? (node options go under config:)" in text_
    assert "hop.policy must be 'latest' (keep the newest items" in text_


def test_shape_problems_located_and_phrased(tmp_path: Path) -> None:
    text = """\
name: ''
parameters:
  a: {defalt: 1}
nodes:
  - 5
  - {id: 1x, type: 7, inputs: 5, config: 3}
  - {id: s, type: count, hop: {capacity: 0, polcy: block}}
  - {id: t, type: scale, inputs: {in: 4}}
  - {id: c, type: collect, inputs: [s], config: {name: c}}
"""
    _, problems = lint_file(tmp_path / "p.yaml", make_registry(), text=text)
    got = [f"{p.line}:{p.col}: {p.where}: {p.message}" for p in problems]
    assert got == [
        "1:7: : name must be a non-empty string: the pipeline's name; got ''",
        "3:6: parameters.a: default is required (the parameter's value unless --set or the"
        " runtime config gives another); got nothing",
        "3:7: parameters.a: unknown key 'defalt'; did you mean 'default'?",
        "5:5: nodes[0]: must be a mapping; got int",
        "6:10: nodes[1] '1x': id must be a name like 'window_1', unique in the file; got '1x'",
        "6:20: nodes[1] '1x': type must be a registered node kind; got 7",
        "6:31: nodes[1] '1x': inputs must be the id of the node feeding this one, a list of ids"
        " (merged), or a mapping of input port -> id or ids (for a kind with named ports); got 5",
        "6:42: nodes[1] '1x': config must be a mapping of the kind's options; got 3",
        "7:42: nodes[2] 's': hop.capacity must be an integer >= 1: how many items the hop holds;"
        " got 0",
        "7:45: nodes[2] 's': unknown key 'hop.polcy'; did you mean 'policy'?",
        # a refused value is reported once: no "needs at least one input" after it
        "8:39: nodes[3] 't': inputs.in must be an id or a list of ids; got 4",
    ]


def test_clean_pipeline(tmp_path: Path) -> None:
    text = (
        "name: ok\nnodes:\n  - {id: s, type: count}\n  - {id: x, type: scale, inputs: [s]}\n"
        "  - {id: c, type: collect, inputs: [x, s], config: {name: c}}\n"
    )
    _, problems = lint_file(tmp_path / "p.yaml", make_registry(), text=text)
    assert problems == []


class _CheckedConfig(NodeConfig):
    low: int = Field(1, description="Lower bound.")
    high: int = Field(2, description="Upper bound.")
    label: str = Field("a", description="A label.")

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError(f"must be letters only; got {value!r}")
        return value

    @model_validator(mode="after")
    def _order(self) -> _CheckedConfig:
        if self.low > self.high:
            raise ValueError(f"low must be <= high; got {self.low} > {self.high}")
        return self


def test_validator_messages_say_got_once() -> None:
    reg = make_registry()

    @reg.sink("checked", config=_CheckedConfig, takes=Num)
    def checked(
        _config: _CheckedConfig, _ctx: BuildContext
    ) -> Callable[[Observable[Any]], Observable[Any]]:
        """Accepts numbers."""
        return lambda source: source

    _, errors = validate_config(reg.get("checked"), {"label": "a1"})
    assert [m for _, m in errors] == ["config.label: must be letters only; got 'a1'"]
    _, errors = validate_config(reg.get("checked"), {"low": 3, "high": 2})
    assert [m for _, m in errors] == ["config: low must be <= high; got 3 > 2"]


PORTS = """\
name: ports
nodes:
  - {id: a, type: count}
  - {id: b, type: count}
  - {id: words, type: describe, inputs: [a]}
  - id: both
    type: label
    inputs: {left: a, right: [b, a]}
  - {id: out, type: collect, inputs: [both], config: {name: out}}
"""


def _ports_problems(tmp_path: Path, text: str) -> list[str]:
    _, problems = lint_file(tmp_path / "p.yaml", make_registry(), text=text)
    return [f"{p.line}:{p.col}: {p.where}: {p.message}" for p in problems]


def test_named_inputs_lint_clean(tmp_path: Path) -> None:
    assert _ports_problems(tmp_path, PORTS) == []


def test_unknown_port_did_you_mean_at_the_key(tmp_path: Path) -> None:
    text = PORTS.replace("right: [b, a]", "rigt: b")
    assert _ports_problems(tmp_path, text) == [
        "8:13: nodes[3] 'both' (label): inputs.right must name the node feeding port 'right'"
        " (Num); got nothing",
        "8:23: nodes[3] 'both' (label): inputs.rigt must be a port of label (left, right);"
        " got an unknown port; did you mean 'right'?",
    ]


def test_missing_port_and_no_inputs(tmp_path: Path) -> None:
    text = PORTS.replace("inputs: {left: a, right: [b, a]}", "inputs: {right: b}")
    assert _ports_problems(tmp_path, text) == [
        "8:13: nodes[3] 'both' (label): inputs.left must name the node feeding port 'left'"
        " (Num); got nothing"
    ]
    text = PORTS.replace("    inputs: {left: a, right: [b, a]}\n", "")
    assert _ports_problems(tmp_path, text) == [
        "6:5: nodes[3] 'both' (label): a transform needs at least one input; got none"
        " (inputs: {left: <id>, right: <id>})"
    ]


def test_list_to_named_ports_and_mapping_to_one_input(tmp_path: Path) -> None:
    text = PORTS.replace("inputs: {left: a, right: [b, a]}", "inputs: [a, b]").replace(
        "type: describe, inputs: [a]", "type: describe, inputs: {in: a}"
    )
    assert _ports_problems(tmp_path, text) == [
        "5:41: nodes[2] 'words' (describe): inputs must be an id or a list of ids (describe"
        " has one input); got a mapping of ports ['in']",
        "8:13: nodes[3] 'both' (label): inputs must map each port of label to an id"
        " (inputs: {left: <id>, right: <id>}); got a list ['a', 'b']",
    ]


def test_each_port_typed_and_its_ids_checked(tmp_path: Path) -> None:
    text = PORTS.replace("right: [b, a]", "right: [words, ghost]")
    assert _ports_problems(tmp_path, text) == [
        "8:31: nodes[3] 'both' (label): inputs.right[0] must give Num; got 'words' (describe)"
        " giving Text",
        "8:38: nodes[3] 'both' (label): inputs.right[1] must name a node of this pipeline;"
        " got 'ghost'",
    ]


def test_cycle_through_a_port(tmp_path: Path) -> None:
    text = PORTS.replace("{id: a, type: count}", "{id: a, type: scale, inputs: [back]}")
    text += "  - {id: back, type: scale, inputs: [nums]}\n  - {id: nums, type: count}\n"
    text = text.replace("inputs: [nums]}", "inputs: [nums, loop]}")
    text += "  - {id: loop, type: describe, inputs: [both]}\n"
    problems = _ports_problems(tmp_path, text)
    assert any("the graph must have no cycle; got one through" in p for p in problems), problems
