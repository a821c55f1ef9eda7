from __future__ import annotations

import pytest

from posecog.graph.registry import Registry
from posecog.nodes.registry import default_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    return default_registry()
