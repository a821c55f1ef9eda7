"""Errors of the kernel.

GraphError                  base of everything the kernel raises on purpose
├── ConfigError             the user's pipeline, parameters or config are wrong (exit 2)
│   └── LintError           several located problems found at once (``problems``)
├── RuntimeFailure          the run cannot go on: an unrecoverable sink or node (exit 1)
└── Drop                    raised inside a node's per-item function: drop this item,
                            counted under ``reason`` (never leaves the node)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "Drop", "GraphError", "LintError", "Problem", "RuntimeFailure"]


class GraphError(Exception):
    """Base of the kernel's deliberate errors."""


class ConfigError(GraphError):
    """A configuration or usage error; the CLI prints it as one line and exits 2."""


@dataclass(frozen=True)
class Problem:
    """One located lint problem: ``file:line:col: where: what must hold; what we got``."""

    file: str
    line: int
    col: int
    where: str
    message: str

    def __str__(self) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{self.file}:{self.line}:{self.col}:{where} {self.message}"


class LintError(ConfigError):
    """Every problem found in a pipeline, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RuntimeFailure(GraphError):
    """The run cannot continue (exit 1)."""


class Drop(GraphError):
    """Drop the current item, counted under ``reason`` (a short snake_case word)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)
