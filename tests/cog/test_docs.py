"""Node documentation rendered from the registry (``cog-pose-estimation nodes [KIND]``)."""

from __future__ import annotations

import re
from pathlib import Path

from posecog.cog.docs import render_kind, render_kind_list
from posecog.nodes.registry import default_registry


def test_field_types_read_as_the_user_writes_them() -> None:
    registry = default_registry()
    text = render_kind(registry.get("jsonl_replay"))
    assert "  pacing: 'max' | 'realtime' = 'max'" in text
    assert "  nodes: tuple[int, ...] | None = None" in text
    assert "  path: str = (required)" in text
    assert "  token: SecretStr | None = None" in render_kind(registry.get("http_poll"))


def test_field_bounds_are_shown() -> None:
    registry = default_registry()
    assert "  poll_ms: int = 40 (>= 10, <= 1000)" in render_kind(registry.get("http_poll"))
    assert "  size: int = 20 (>= 2, <= 4096)" in render_kind(registry.get("sliding_window"))
    assert "  level: str = 'info' (matches ^(debug|info|warn)$)" in render_kind(
        registry.get("stdout_events")
    )


def test_kind_list_columns_line_up() -> None:
    header, *rows = render_kind_list(default_registry()).splitlines()
    assert rows
    for column in ("role", "takes", "gives", "summary"):
        at = header.index(column)
        for row in rows:  # every cell of a column starts where its heading does
            assert row[at - 1] == " " and row[at] != " ", (column, row)


REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_docs_point_at_node_kinds_that_exist() -> None:
    """``cog-pose-estimation nodes KIND`` is where a kind's options and drop reasons live: every
    such pointer in the docs must name a registered kind."""
    registry = default_registry()
    named = {
        (doc.name, kind)
        for doc in DOCS
        for kind in re.findall(r"cog-pose-estimation nodes ([a-z][a-z0-9_]*)\b", doc.read_text())
    }
    assert named  # the pattern still finds the pointers
    assert [(doc, kind) for doc, kind in sorted(named) if kind not in registry.names()] == []


def test_the_live_doc_keeps_no_hand_kept_table_of_a_kind() -> None:
    """Each node kind's section of docs/live.md points at the generated docs of the kind and
    holds no table (of options, drop reasons, ...): the node declaration is the one list."""
    registry = default_registry()
    text = (REPO / "docs" / "live.md").read_text()
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    kinds = [name for name in sections if name in registry.names()]
    assert {"udp_esp32", "http_poll", "ws_sensing"} <= set(kinds)
    for kind in kinds:
        body = sections[kind]
        assert f"`cog-pose-estimation nodes {kind}`" in body, kind
        assert not re.search(r"^\|.*\|\s*$", body, re.M), f"a table in the {kind} section"


def test_the_recordings_doc_has_a_row_for_every_format_read() -> None:
    """docs/recordings.md explains the formats ``nodes/csi/formats.py`` declares: no more, no
    fewer."""
    from posecog.nodes.csi.formats import FORMATS

    text = (REPO / "docs" / "recordings.md").read_text()
    rows = re.findall(r"^\| ([A-Za-z-]+) \|", text, re.M)
    assert rows[1:] == [f.variant for f in FORMATS]  # after the header row


def test_the_file_format_table_is_generated_from_the_file_model() -> None:
    """docs/pipelines.md's table of keys is the file model's (regenerate it with
    ``python -m posecog.cog.docs docs/pipelines.md``)."""
    from posecog.cog.docs import update_file_format

    doc = (REPO / "docs" / "pipelines.md").read_text()
    assert update_file_format(doc) == doc
