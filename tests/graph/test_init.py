"""graph/__init__.py: the facade a node author imports from."""

from __future__ import annotations

import subprocess
import sys

import posecog.graph as facade


def test_every_public_name_resolves() -> None:
    assert set(facade.__all__) == set(facade._HOME)  # each name has its module
    for name in facade.__all__:
        assert getattr(facade, name) is not None, name
    assert set(facade.__all__) <= set(dir(facade))
    assert facade.NodeConfig.__module__ == "posecog.graph.node"


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        facade.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_facade_is_cheap() -> None:
    """Nothing heavy loads until a name is used (a fresh interpreter, to see it)."""
    code = (
        "import sys, posecog.graph as g\n"
        "heavy = ('reactivex', 'pydantic', 'yaml', 'numpy', 'posecog.graph.node')\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "g.Drop\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "[]"]  # Drop lives in errors.py, which imports nothing heavy
