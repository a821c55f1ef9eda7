from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


def cli(args: Sequence[str], cwd: Path | None = None, timeout: float = 120) -> Result:
    """Run the installed CLI in a subprocess, as the gateway or a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "posecog.cog.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def run_cli() -> Any:
    return cli
