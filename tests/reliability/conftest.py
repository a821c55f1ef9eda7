"""The reliability probes' table (issue 10): each probe records what it tried and what came
of it; the session prints the table and writes it to ``build/reliability.md``.

Columns: inputs tried, crashes (an exception escaping, a traceback, a run that died: goal 0),
valid items lost (goal 0), drops without a reason (an item neither given nor counted: goal 0).
The probes assert the goals themselves; the table is what ``docs/reliability.md`` quotes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

TABLE = REPO / "build" / "reliability.md"


@dataclass
class Row:
    probe: str
    inputs: int
    crashes: int = 0
    lost: int = 0
    unexplained: int = 0


_ROWS: list[Row] = []


class Probes:
    """``probes.record(name, inputs, crashes=0, lost=0, unexplained=0)``; asserts nothing."""

    def record(self, probe: str, inputs: int, **counts: int) -> Row:
        row = Row(probe, inputs, **counts)
        _ROWS.append(row)
        return row


@pytest.fixture
def probes() -> Iterator[Probes]:
    yield Probes()


def render(rows: list[Row]) -> str:
    """One line per probe (its records summed), by name."""
    total: dict[str, Row] = {}
    for r in rows:
        t = total.setdefault(r.probe, Row(r.probe, 0))
        t.inputs, t.crashes = t.inputs + r.inputs, t.crashes + r.crashes
        t.lost, t.unexplained = t.lost + r.lost, t.unexplained + r.unexplained
    lines = [
        "| probe | inputs tried | crashes | valid items lost | drops without a reason |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in sorted(total.values(), key=lambda r: r.probe):
        lines.append(f"| {r.probe} | {r.inputs} | {r.crashes} | {r.lost} | {r.unexplained} |")
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    text = render(_ROWS)
    TABLE.parent.mkdir(exist_ok=True)
    Path(TABLE).write_text(text)
    terminalreporter.write_sep("-", "reliability probes")
    terminalreporter.write(text)
