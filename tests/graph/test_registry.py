from __future__ import annotations

import pytest

from posecog.graph.errors import ConfigError
from posecog.graph.node import NodeKind, Role
from posecog.graph.registry import Registry

from .kinds import CountConfig, make_registry


def test_clone_is_independent() -> None:
    reg = make_registry()
    other = reg.clone()
    other.add(NodeKind("extra", Role.SINK, CountConfig, lambda c, x: None, module="m"))
    assert "extra" in other
    assert "extra" not in reg
    assert len(other) == len(reg) + 1


def test_duplicate_names_both_modules() -> None:
    reg = Registry()
    reg.add(NodeKind("k", Role.SINK, CountConfig, lambda c, x: None, module="pkg.first"))
    with pytest.raises(ConfigError) as exc:
        reg.add(NodeKind("k", Role.SINK, CountConfig, lambda c, x: None, module="pkg.second"))
    assert "pkg.first" in str(exc.value)
    assert "pkg.second" in str(exc.value)


def test_unknown_kind_did_you_mean() -> None:
    reg = make_registry()
    with pytest.raises(ConfigError, match="unknown node kind 'scal'; did you mean 'scale'"):
        reg.get("scal")
    with pytest.raises(ConfigError) as exc:
        reg.get("zzzzzz")
    assert "did you mean" not in str(exc.value)


def test_empty_registry_is_empty() -> None:
    assert len(Registry()) == 0
