"""Every shipped pipeline, every node example and every pipeline in the docs lints clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from posecog.cog.pipelines import shipped_pipelines
from posecog.graph.lint import lint_file, validate_config
from posecog.graph.pipeline_file import NodeEntry
from posecog.graph.registry import Registry
from posecog.nodes.registry import default_registry
from tests.conftest import REPO


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def test_something_is_shipped() -> None:
    assert "replay" in shipped_pipelines()


@pytest.mark.parametrize("name", sorted(shipped_pipelines()))
def test_shipped_pipeline_lints(name: str, registry: Registry) -> None:
    spec, problems = lint_file(shipped_pipelines()[name], registry)
    assert problems == []
    assert spec.name == name  # the file name is the pipeline's name
    assert spec.description


def test_every_node_kind_documented_with_a_valid_example(registry: Registry) -> None:
    for kind in registry:
        assert kind.doc, kind.name
        for name, field in kind.config.model_fields.items():
            assert field.description, f"{kind.name}.{name} has no description"
        assert kind.examples, f"{kind.name} has no example"
        for example in kind.examples:
            node = yaml.safe_load(example)
            assert node["type"] == kind.name
            NodeEntry.model_validate(node)  # a well-formed entry of nodes:
            _, errors = validate_config(kind, node.get("config") or {})
            assert errors == [], (kind.name, errors)


def doc_pipelines() -> list[tuple[str, str]]:
    out = []
    for md in sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", md.read_text(), re.S)):
            if block.lstrip().startswith("name:"):
                out.append((f"{md.name}#{i}", block))
    return out


@pytest.mark.parametrize(("where", "text"), doc_pipelines())
def test_doc_pipelines_lint(where: str, text: str, registry: Registry, tmp_path: Path) -> None:
    _, problems = lint_file(tmp_path / where, registry, text=text, env={"HOME": "/home/x"})
    assert problems == [], where


def test_pipeline_json_schema_accepts_shipped_and_rejects_bad(registry: Registry) -> None:
    import jsonschema

    from posecog.graph.schema import pipeline_schema

    schema = pipeline_schema(registry)
    for path in shipped_pipelines().values():
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = {"name": "x", "nodes": [{"id": "w", "type": "sliding_window", "config": {"size": 1}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "nodes": [{"id": "w", "type": "nope"}]}, schema)
