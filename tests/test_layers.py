"""Dependency direction cog -> nodes -> graph, checked on the source (DESIGN.md)."""

from __future__ import annotations

import ast
import re

import pytest

from tests.conftest import REPO

FORBIDDEN = {"graph": ("posecog.nodes", "posecog.cog"), "nodes": ("posecog.cog",)}


def imports(layer: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted((REPO / layer).rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.level:  # relative: resolve against the layer's package
                    parts = ["posecog", *path.relative_to(REPO).with_suffix("").parts]
                    base = parts[: len(parts) - node.level]
                    out.append((str(path), ".".join([*base, node.module])))
                else:
                    out.append((str(path), node.module))
            elif isinstance(node, ast.Import):
                out.extend((str(path), alias.name) for alias in node.names)
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_upward_imports(layer: str) -> None:
    bad = [(f, m) for f, m in imports(layer) if m.startswith(FORBIDDEN[layer])]
    assert bad == []


def test_graph_has_no_domain_words() -> None:
    domain = re.compile(r"\b(csi\w*|keypoints?|poses?|esp32|wifi)\b", re.I)
    for path in (REPO / "graph").rglob("*.py"):
        assert domain.findall(path.read_text()) == [], path.name
