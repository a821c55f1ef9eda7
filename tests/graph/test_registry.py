from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reactivex import Observable

from posecog.graph.errors import ConfigError
from posecog.graph.node import NodeKind, Role
from posecog.graph.registry import ENTRY_POINT_GROUP, Registry

from .kinds import CountConfig, Num, Text, make_registry


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


def test_named_ports_declared_and_checked() -> None:
    label = make_registry().get("label")
    assert label.named_inputs
    assert [(p.name, p.takes) for p in label.ports] == [("left", (Num,)), ("right", (Num,))]
    assert label.takes == (Num,)  # every type its ports take, for the docs
    scale = make_registry().get("scale")
    assert not scale.named_inputs and [p.name for p in scale.ports] == ["in"]

    reg = Registry()

    def build(_c: Any, _x: Any) -> Any:
        return None

    with pytest.raises(
        ConfigError, match=re.escape("give takes= (one input) or inputs= (named ports); got both")
    ):
        reg.transform("both", config=CountConfig, takes=Num, inputs={"a": Num}, gives=Num)(build)
    with pytest.raises(ConfigError, match="give takes= or inputs=; got neither"):
        reg.sink("neither", config=CountConfig)(build)
    with pytest.raises(ConfigError, match="port names must be identifiers; got 'a-b'"):
        reg.sink("dash", config=CountConfig, inputs={"a-b": Num})(build)
    assert len(reg) == 0


class _Local:
    """An item type other than the one the annotation below names."""


def test_annotations_must_agree_with_takes_and_gives() -> None:
    # (the annotations name module globals: registration resolves them in the module)
    reg = Registry()

    def wrong(_c: CountConfig, _x: Any) -> Callable[[Observable[Num]], Observable[Num]]:
        """Says Num out."""
        raise AssertionError

    with pytest.raises(ConfigError) as exc:
        reg.transform("wrong", config=CountConfig, takes=Num, gives=Text)(wrong)
    assert str(exc.value) == (
        f"node kind 'wrong' ({__name__}): gives= and the builder's annotation must name the"
        " same item types; got gives=Text and the annotation Num"
    )

    def source(_c: CountConfig, _x: Any) -> Observable[Num | Text]:
        """A union names each member."""
        raise AssertionError

    with pytest.raises(ConfigError, match=re.escape("got gives=Num and the annotation Num | Text")):
        reg.source("src", config=CountConfig, gives=Num)(source)
    reg.source("src", config=CountConfig, gives=(Text, Num))(source)

    def takes_wrong(_c: CountConfig, _x: Any) -> Callable[[Observable[Text]], Observable[Any]]:
        """Says Text in."""
        raise AssertionError

    with pytest.raises(ConfigError, match="takes= and the builder's annotation"):
        reg.sink("sink", config=CountConfig, takes=Num)(takes_wrong)

    def anything(_c: CountConfig, _x: Any) -> Callable[[Observable[Any]], Observable[Any]]:
        """Any is not checked."""
        raise AssertionError

    reg.sink("any", config=CountConfig, takes=Num)(anything)
    assert "any" in reg


def test_unresolvable_annotations_are_not_checked() -> None:
    class Hidden:
        pass

    def build(_c: CountConfig, _x: Any) -> Observable[Hidden]:
        """Hidden is local: the annotation cannot be resolved at registration."""
        raise AssertionError

    reg = Registry()
    reg.source("hidden", config=CountConfig, gives=_Local)(build)
    assert "hidden" in reg


def _fake_distribution(tmp_path: Path, entry_points: str, modules: dict[str, str]) -> None:
    """An installed distribution ``fake-nodes`` (a dist-info folder on sys.path)."""
    info = tmp_path / "fake_nodes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-nodes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}")
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)


PLUGIN = '''\
from posecog.graph import NodeConfig


def register(registry):
    @registry.sink("plugged", config=NodeConfig, takes=int)
    def build(config, ctx):
        """A third-party sink."""
        return lambda source: source
'''


def test_entry_points_register_third_party_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path,
        "plugged = fake_plugin:register\nmodule = fake_plugin_module\n",
        {"fake_plugin": PLUGIN, "fake_plugin_module": "IMPORTED = True\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = make_registry()
    reg.load_entry_points()
    assert reg.get("plugged").module == "fake_plugin"
    assert sys.modules["fake_plugin_module"].IMPORTED  # a module entry point is imported
    reg.load_entry_points("some.other.group")  # nothing installed there: nothing happens


@pytest.mark.parametrize(
    ("entry", "modules", "message"),
    [
        (
            "broken = fake_broken:register",
            {"fake_broken": "import no_such_module_anywhere\n"},
            "node plugin 'broken' = 'fake_broken:register' (entry point group posecog.nodes"
            " from fake-nodes): cannot be loaded: ModuleNotFoundError: No module named"
            " 'no_such_module_anywhere'",
        ),
        (
            "failing = fake_failing:register",
            {"fake_failing": "def register(registry):\n    raise ValueError('no luck')\n"},
            "node plugin 'failing' = 'fake_failing:register' (entry point group posecog.nodes"
            " from fake-nodes): cannot be loaded: ValueError: no luck",
        ),
        (
            "twice = fake_twice:register",
            {"fake_twice": PLUGIN.replace('"plugged"', '"scale"').replace("fake", "")},
            "node plugin 'twice' = 'fake_twice:register' (entry point group posecog.nodes from"
            " fake-nodes): node kind 'scale' is registered twice: by tests.graph.kinds and by"
            " fake_twice",
        ),
        (
            "value = fake_value:VALUE",
            {"fake_value": "VALUE = 3\n"},
            "node plugin 'value' = 'fake_value:VALUE' (entry point group posecog.nodes from"
            " fake-nodes): must name a module or a callable taking the registry; got int",
        ),
    ],
)
def test_a_broken_plugin_is_a_config_error_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entry: str,
    modules: dict[str, str],
    message: str,
) -> None:
    _fake_distribution(tmp_path, entry + "\n", modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as exc:
        make_registry().load_entry_points()
    assert str(exc.value) == message
