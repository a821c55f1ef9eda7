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
    assert "must be a non-empty string" in text_
    assert "unknown key 'cfg'; did you mean 'config'?" in text_
    assert "hop must be {policy: latest|block, capacity: N}" in text_


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
