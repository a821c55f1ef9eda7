from __future__ import annotations

from pathlib import Path

import pytest

from posecog.graph.config_text import (
    MAX_DEPTH,
    MAX_NODES,
    TextLimit,
    compose_yaml,
    load_json,
    parse_cli_value,
    to_python,
)
from posecog.graph.errors import LintError
from posecog.graph.loader import load_pipeline


def _yaml(text: str) -> object:
    node = compose_yaml(text)
    return to_python(node) if node is not None else None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("024", 24),  # YAML 1.1: octal 20
        ("-7", -7),
        ("0x1F", 31),
        ("0o17", 15),
        ("1e-300", 1e-300),  # YAML 1.1: the string '1e-300'
        (".5", 0.5),
        ("true", True),
        ("FALSE", False),
        ("yes", "yes"),  # YAML 1.1: True
        ("null", None),
        ("", ""),
        ("1:20", "1:20"),  # YAML 1.1: 80
        ("2024-01-01", "2024-01-01"),  # YAML 1.1: a date
        ("a: b #c", "a: b #c"),  # the whole text, not a mapping and a comment
        ("*x", "*x"),
        ("[1, 024]", [1, 24]),
        ("{a: x}", {"a": "x"}),
        ("'024'", "024"),
        ("[1, 2", "[1, 2"),  # not YAML: the text as written
    ],
)
def test_cli_values_as_a_user_means_them(raw: str, value: object) -> None:
    got = parse_cli_value(raw)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (".inf", "finite"),
        ("-Infinity", "finite"),
        ("NaN", "finite"),
        ("1e999", "finite"),
        ("[1, .nan]", "finite"),
        ("9" * 4301, "4,300 digits"),
        ("[" * (MAX_DEPTH + 1), "MAX_DEPTH"),
        ("{a: 1, a: 2}", "must appear once"),
    ],
)
def test_cli_values_refused(raw: str, says: str) -> None:
    with pytest.raises(TextLimit, match=says):
        parse_cli_value(raw)


def test_yaml_files_read_by_the_core_schema() -> None:
    assert _yaml("a: 024\nb: 1e3\nc: on\nd: ~\ne: !!str 5\nf: 0x10\n") == {
        "a": 24,
        "b": 1000.0,
        "c": "on",
        "d": None,
        "e": "5",
        "f": 16,
    }


def test_aliases_count_what_they_expand_to() -> None:
    ten = "[" + ", ".join(["x"] * 9) + "]"
    ok = f"a: &a {ten}\nb: [*a, *a, *a]\n"  # 10 + 3 * 10 nodes: fine
    assert _yaml(ok) == {"a": ["x"] * 9, "b": [["x"] * 9] * 3}
    uses = MAX_NODES // 10 + 1
    with pytest.raises(TextLimit, match="MAX_NODES") as exc:
        _yaml(f"a: &a {ten}\nb: [" + ", ".join(["*a"] * uses) + "]\n")
    assert exc.value.mark is not None and exc.value.mark[0] == 2  # at the alias that tipped it
    with pytest.raises(TextLimit, match="MAX_DEPTH"):  # each part shallow, together too deep
        _yaml("a: &a " + "[" * 150 + "]" * 150 + "\nb: " + "[" * 60 + "*a" + "]" * 60)
    with pytest.raises(TextLimit, match="recursive alias"):
        _yaml("a: &a {b: *a}")


def test_json_within_bounds() -> None:
    assert load_json('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    for text, says in [
        ('{"a": NaN}', "not JSON"),
        ('{"a": -Infinity}', "not JSON"),
        ("[1e400]", "finite"),
        ("[" + "9" * 4301 + "]", "4,300 digits"),
        ('{"a": 1, "a": 2}', "must appear once"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "MAX_DEPTH"),
        ("[" * 100_000 + "]" * 100_000, "MAX_DEPTH"),
    ]:
        with pytest.raises(TextLimit, match=says):
            load_json(text)


def test_duplicate_keys_are_located_problems_with_the_others(tmp_path: Path) -> None:
    text = "name: a\nnodes:\n  - {id: x, type: t, id: y}\nname: b\n"
    with pytest.raises(LintError) as exc:
        load_pipeline(tmp_path / "p.yaml", text=text)
    got = [(p.line, p.col, p.message) for p in exc.value.problems]
    assert (3, 22, "key 'id' must appear once in a mapping; got it again (first at 3:6; that one"
            " is used)") in got  # fmt: skip
    assert any(line == 4 and "key 'name' must appear once" in m for line, _, m in got)
