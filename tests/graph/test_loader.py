from __future__ import annotations

from pathlib import Path

import pytest

from posecog.graph.errors import ConfigError, LintError
from posecog.graph.loader import load_pipeline, parse_overrides

TEXT = """\
name: demo
description: a demo
parameters:
  n: {default: 5, description: how many}
  factor: 3
  label: {default: "x-${env:HOME:-nohome}"}
nodes:
  - id: src
    type: count
    config: {n: "${n}"}
  - id: times
    type: scale
    inputs: src
    config:
      factor: ${factor}
      fail_on: ["${n}"]
  - id: sink
    type: collect
    inputs: [times]
    config: {name: "out-${n}-${env:SUFFIX:-none}-${pipeline_dir}"}
"""


def test_parameters_defaults_and_types(tmp_path: Path) -> None:
    spec = load_pipeline(tmp_path / "p.yaml", text=TEXT, env={})
    assert spec.name == "demo"
    assert spec.node("src").config == {"n": 5}  # a whole-value reference keeps the type
    assert spec.node("times").inputs == ["src"]  # a single string is one input
    assert spec.node("times").config == {"factor": 3, "fail_on": [5]}
    assert spec.node("sink").config["name"] == f"out-5-none-{tmp_path.resolve()}"


def test_overrides_params_env_and_node_keys(tmp_path: Path) -> None:
    overrides = parse_overrides(["n=7", "times.factor=10"])
    spec = load_pipeline(tmp_path / "p.yaml", overrides, env={"SUFFIX": "s"}, text=TEXT)
    assert spec.node("src").config == {"n": 7}
    assert spec.node("times").config["factor"] == 10
    assert spec.node("sink").config["name"].startswith("out-7-s-")


def test_parse_overrides_yaml_scalars() -> None:
    assert parse_overrides(["a=1", "b=2.5", "c=true", "d=hello", "e="]) == {
        "a": 1,
        "b": 2.5,
        "c": True,
        "d": "hello",
        "e": "",
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


def test_unknown_override_and_reference_reported_together(tmp_path: Path) -> None:
    text = TEXT.replace('"${n}"}', '"${nn}"}')
    with pytest.raises(LintError) as exc:
        load_pipeline(tmp_path / "p.yaml", {"factr": 1, "nope.key": 2}, env={}, text=text)
    messages = [str(p) for p in exc.value.problems]
    assert len(messages) == 3
    assert any("'${nn}' must name a parameter" in m and "did you mean 'n'" in m for m in messages)
    assert any("'factr'" in m and "did you mean 'factor'" in m for m in messages)
    assert any("'nope.…' must name a node id" in m for m in messages)


def test_missing_env_without_fallback(tmp_path: Path) -> None:
    text = TEXT.replace("${env:SUFFIX:-none}", "${env:SUFFIX}")
    with pytest.raises(LintError, match="environment variable 'SUFFIX' must be set"):
        load_pipeline(tmp_path / "p.yaml", env={}, text=text)


def test_yaml_syntax_error_located(tmp_path: Path) -> None:
    with pytest.raises(LintError) as exc:
        load_pipeline(tmp_path / "p.yaml", text="name: x\nnodes: [\n  {id: a, type: b\n")
    (problem,) = exc.value.problems
    assert problem.line >= 3
    assert "must be valid YAML" in problem.message


def test_missing_file() -> None:
    with pytest.raises(LintError, match="cannot read the file"):
        load_pipeline("/nonexistent/pipeline.yaml")


def test_parameter_defaults_see_builtins_and_env(tmp_path: Path) -> None:
    text = TEXT.replace(
        '{default: "x-${env:HOME:-nohome}"}', '{default: "${pipeline_dir}/d-${env:X}"}'
    )
    text = text.replace('config: {n: "${n}"}', 'config: {n: "${n}", tag: "${label}"}')
    spec = load_pipeline(tmp_path / "p.yaml", env={"X": "y"}, text=text)
    assert spec.node("src").config["tag"] == f"{tmp_path.resolve()}/d-y"
    assert spec.values["label"] == f"{tmp_path.resolve()}/d-y"
