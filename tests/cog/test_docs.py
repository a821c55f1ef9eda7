"""Node documentation rendered from the registry (``cog-pose-estimation nodes [KIND]``)."""

from __future__ import annotations

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
