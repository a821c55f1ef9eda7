"""graph/schema.py: the JSON Schema agrees with the loader (both come from pipeline_file.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from posecog.graph.lint import lint_file
from posecog.graph.loader import load_with_problems
from posecog.graph.schema import pipeline_schema

from .kinds import make_registry

GOOD = """\
name: ok
description: fine
parameters:
  n: {default: 3, description: how many}
  factor: 2
nodes:
  - {id: a, type: count, config: {n: "${n}"}, hop: {policy: block, capacity: 8}}
  - {id: b, type: count}
  - {id: x, type: scale, inputs: a, config: {factor: "${factor}"}}
  - {id: both, type: label, inputs: {left: x, right: [b, a]}}
  - {id: c, type: collect, inputs: [both, x], config: {name: c}}
"""

# (a change to GOOD, whether the file's shape stays valid)
CHANGES = [
    (("parameters:", "paramters:"), False),
    (("description: fine", "description: 5"), False),
    (("n: {default: 3, description: how many}", "n: {description: how many}"), False),
    (("factor: 2", "factor: [1, 2]"), True),
    (("{id: b,", "{id: 1b,"), False),
    (("capacity: 8", "capacity: 0"), False),
    (("policy: block", "policy: fast"), False),
    (("inputs: a,", "inputs: 5,"), False),
    (("right: [b, a]", "right: 5"), False),
    (("type: scale, inputs: a,", "type: scale, inptus: a,"), False),
]


def _schema_valid(doc: Any, schema: dict[str, Any]) -> bool:
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize(("change", "valid"), [((None, None), True), *CHANGES])
def test_schema_and_loader_agree_on_the_file_shape(
    change: tuple[str | None, str | None], valid: bool, tmp_path: Path
) -> None:
    text = GOOD if change[0] is None else GOOD.replace(change[0], change[1] or "")
    assert text != GOOD or change[0] is None
    schema = pipeline_schema(make_registry())
    _, problems = load_with_problems(tmp_path / "p.yaml", text=text, env={})
    assert (problems == []) is valid, problems
    assert _schema_valid(yaml.safe_load(text), schema) is valid


def test_schema_knows_each_kind_config_and_inputs_form(tmp_path: Path) -> None:
    schema = pipeline_schema(make_registry())
    assert _schema_valid(yaml.safe_load(GOOD), schema)
    assert lint_file(tmp_path / "p.yaml", make_registry(), text=GOOD)[1] == []
    for old, new in [
        ('{factor: "${factor}"}', "{factor: 2, colour: red}"),  # unknown config key
        ("{left: x, right: [b, a]}", "[x, b]"),  # a list for named ports
        ("{left: x, right: [b, a]}", "{left: x}"),  # a port missing
        ("{left: x, right: [b, a]}", "{left: x, right: b, up: a}"),  # an unknown port
        ("inputs: a,", "inputs: {in: a},"),  # a mapping for one input
        ("type: count}", "type: cuont}"),  # an unknown kind
    ]:
        assert old in GOOD
        assert not _schema_valid(yaml.safe_load(GOOD.replace(old, new)), schema), new
