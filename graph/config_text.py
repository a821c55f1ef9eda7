"""Configuration text a user wrote (pipeline YAML, ``--set`` values, JSON), read within bounds.

PyYAML's ``SafeLoader`` is safe from code execution, not from work: a 300-byte file of nested
aliases (an "alias bomb") expands to hundreds of millions of nodes, a recursive alias never
ends, and 100,000 nested brackets or a 5,000-digit integer end in a traceback. Everything here
refuses such input with a located ``TextLimit`` (a ``ConfigError``: exit 2) that names the bound:

``MAX_DOCUMENT_BYTES``
    a document's size, checked before parsing (pipeline files, ``config.json``).
``MAX_DEPTH``
    nesting of lists and mappings, counted with aliases expanded.
``MAX_NODES``
    YAML nodes (scalars, lists, mappings, keys included) once aliases are expanded: each use of
    an alias counts every node it stands for, so an alias bomb is refused after reading a few
    hundred bytes, whatever its expansion would be. A recursive alias (an anchor's value holding
    itself) is refused as such.
``max_int_digits()``
    digits of an integer: Python's own bound on converting text to int (4,300 by default).

YAML is read by the YAML 1.2 core schema, not PyYAML's YAML 1.1 one: ``024`` is the integer 24
(not octal 20), ``1e-300`` is a float, only ``true``/``false`` (any case of those) are booleans
(``yes``, ``on`` are strings), ``null``/``~``/nothing is null, dates stay strings; ``0o17`` and
``0x1F`` are octal and hex. Other tags than these are refused. Files decode as UTF-8, strictly;
duplicate keys are reported by the caller (``to_python`` hands each one over).

``parse_cli_value`` is the rule for a ``--set key=value`` value (see its docstring and
docs/pipelines.md, "Limits and how values are read").
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import yaml

from .errors import ConfigError
from .spec import Mark, Path_

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_NODES",
    "TextLimit",
    "compose_yaml",
    "decode_utf8",
    "load_json",
    "max_int_digits",
    "parse_cli_value",
    "read_bounded",
    "shown",
    "to_python",
]

#: Bytes of one pipeline file or config.json (the shipped pipelines are about 2 KB).
MAX_DOCUMENT_BYTES = 1 << 20
#: Nesting of lists and mappings (a pipeline needs about 6; Python's recursion limit is 1,000).
MAX_DEPTH = 200
#: YAML nodes once aliases are expanded (the largest shipped pipeline has about 150).
MAX_NODES = 10_000


def max_int_digits() -> int:
    """Digits an integer may have: the interpreter's own bound (``sys.set_int_max_str_digits``,
    4,300 by default), beyond which ``int(text)`` raises."""
    limit = sys.get_int_max_str_digits()
    return limit if limit > 0 else 4300


class TextLimit(ConfigError):
    """Configuration text that cannot be read: over a bound, not UTF-8, a recursive alias, ...
    ``mark`` is its 1-based (line, column) when known."""

    def __init__(self, message: str, mark: Mark | None = None) -> None:
        self.message = message
        self.mark = mark
        super().__init__(message)

    def located(self, file: str) -> str:
        """``file:line:col: message`` (``file: message`` without a mark)."""
        at = f"{file}:{self.mark[0]}:{self.mark[1]}" if self.mark else file
        return f"{at}: {self.message}"


def shown(value: object, limit: int = 60) -> str:
    """``value`` as text for a message, cut to about ``limit`` characters (with its length)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"


def read_bounded(path: str | Path, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of ``path``; ``TextLimit`` when it holds more than ``limit`` (read no further).
    ``OSError`` as ``open`` raises it."""
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise TextLimit(f"must be at most {limit:,} bytes (MAX_DOCUMENT_BYTES); got more", (1, 1))
    return raw


def decode_utf8(raw: bytes) -> str:
    """``raw`` as UTF-8, strictly; ``TextLimit`` at the first byte that is not."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TextLimit(
            f"must be UTF-8 text; got byte 0x{raw[exc.start]:02x} at byte offset {exc.start}"
            f" ({exc.reason})",
            (line, col),
        ) from None


def _mark(mark: Any) -> Mark | None:
    return (mark.line + 1, mark.column + 1) if mark is not None else None


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_TAG = "tag:yaml.org,2002:"


class _CoreLoader(yaml.SafeLoader):
    """``SafeLoader`` composing within ``MAX_DEPTH`` and ``MAX_NODES``, resolving the YAML 1.2
    core schema. Use once per document."""

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0  # composed so far, aliases expanded
        self._depth = 0  # lists and mappings around the node being composed
        self._deepest = 0  # the deepest nesting reached (aliases expanded) in the open node
        self._open: set[str] = set()  # anchors whose node is being composed
        self._extent: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)

    def _count(self, n: int, mark: Any) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise TextLimit(
                f"must be at most {MAX_NODES:,} YAML nodes once aliases are expanded"
                " (MAX_NODES; each use of an alias counts every node it stands for);"
                " got more by here",
                _mark(mark),
            )

    def _reach(self, depth: int, mark: Any) -> None:
        if depth > MAX_DEPTH:
            raise TextLimit(
                f"must nest lists and mappings at most {MAX_DEPTH} deep (MAX_DEPTH, aliases"
                " expanded); got deeper here",
                _mark(mark),
            )
        self._deepest = max(self._deepest, depth)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if anchor in self._open:
                raise TextLimit(
                    f"alias '*{anchor}' must not be used inside the value of its own anchor"
                    " (a recursive alias never ends); got it here",
                    _mark(event.start_mark),
                )
            if anchor in self._extent:  # else PyYAML's "found undefined alias"
                nodes, height = self._extent[anchor]
                self._count(nodes, event.start_mark)
                self._reach(self._depth + height, event.start_mark)
            return super().compose_node(parent, index)
        self._count(1, event.start_mark)
        start, outer_deepest = self._nodes, self._deepest
        self._deepest = self._depth
        collection = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        if collection:
            self._depth += 1
            self._reach(self._depth, event.start_mark)
        anchor = event.anchor
        if anchor is not None:
            self._open.add(anchor)
        node = super().compose_node(parent, index)
        if collection:
            self._depth -= 1
        if anchor is not None:
            self._open.discard(anchor)
            self._extent[anchor] = (self._nodes - start + 1, self._deepest - self._depth)
        self._deepest = max(outer_deepest, self._deepest)
        return node


#: The core schema's implicit tags, in the order they are tried, with the first characters
#: their values can start with (PyYAML looks resolvers up by first character).
_IMPLICIT = (
    ("null", _NULL, ["~", "n", "N", ""]),
    ("bool", _BOOL, list("tTfF")),
    ("int", _INT, list("-+0123456789")),
    ("float", _FLOAT, list("-+.0123456789")),
)
for _tag, _pattern, _first in _IMPLICIT:
    _CoreLoader.add_implicit_resolver(_TAG + _tag, _pattern, _first)


def _plain_tag(text: str) -> str:
    """The tag of a plain (unquoted) scalar, as the loader resolves it."""
    for tag, pattern, _ in _IMPLICIT:
        if pattern.match(text):
            return _TAG + tag
    return _TAG + "str"


def compose_yaml(text: str) -> yaml.Node | None:
    """The node tree of one YAML document (None when empty). ``TextLimit`` over a bound or on
    a recursive alias; ``yaml.YAMLError`` when it is not YAML."""
    loader = _CoreLoader(text)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    finally:
        loader.dispose()


def _integer(text: str, mark: Mark | None) -> int:
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    digits = body[2:] if body[:2] in ("0o", "0x") else body
    if len(digits) > max_int_digits():
        raise TextLimit(
            f"an integer must have at most {max_int_digits():,} digits (Python's int max str"
            f" digits); got {len(digits):,}",
            mark,
        )
    base = {"0o": 8, "0x": 16}.get(body[:2], 10)
    return sign * int(digits, base)


def _scalar(node: yaml.ScalarNode) -> Any:
    """A scalar's value by its (resolved or explicit) core-schema tag."""
    text, tag, mark = str(node.value), node.tag, _mark(node.start_mark)
    if tag == _TAG + "str":
        return text
    if tag == _TAG + "null" and _NULL.match(text):
        return None
    if tag == _TAG + "bool" and _BOOL.match(text):
        return text.lower() == "true"
    if tag == _TAG + "int" and _INT.match(text.strip()):
        return _integer(text.strip(), mark)
    if tag == _TAG + "float" and _FLOAT.match(text.strip()):
        value = text.strip().lower()
        if value.endswith(("inf", "nan")):
            return float(value.replace(".", ""))
        return float(value)
    _refuse(node, repr(shown(text)))


def _refuse(node: yaml.Node, got: str) -> NoReturn:
    """A node whose tag (or whose text for its tag) the core schema does not have."""
    raise TextLimit(
        "values must be strings, numbers, booleans, null, lists or mappings (the YAML 1.2 core"
        f" schema); got {got} tagged {shown(str(node.tag).removeprefix(_TAG))}",
        _mark(node.start_mark),
    )


def to_python(
    node: yaml.Node,
    path: Path_ = (),
    marks: dict[Path_, Mark] | None = None,
    duplicate: Callable[[Path_, str, Mark, Mark], None] | None = None,
) -> Any:
    """A composed tree as Python values (mapping keys as strings). ``marks`` (when given)
    gets each value's location by path, and each key's at ``(*path, key, "<key>")``; a key a
    mapping already has goes to ``duplicate(path, key, first, again)`` and is left out."""
    at = _mark(node.start_mark) or (1, 1)
    if marks is not None:
        marks[path] = at
    if isinstance(node, yaml.MappingNode):
        if node.tag != _TAG + "map":
            _refuse(node, "a mapping")
        out: dict[str, Any] = {}
        first: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "<complex>"
            key_at = _mark(key_node.start_mark) or at
            if key in first:
                if duplicate is not None:
                    duplicate(path, key, first[key], key_at)
                continue
            first[key] = key_at
            out[key] = to_python(value_node, (*path, key), marks, duplicate)
            if marks is not None:  # a key's problems point at the key, its value's at the value
                marks[(*path, key, "<key>")] = key_at
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _TAG + "seq":
            _refuse(node, "a list")
        return [to_python(v, (*path, i), marks, duplicate) for i, v in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node)


def _refuse_duplicate(path: Path_, key: str, first: Mark, again: Mark) -> None:
    raise TextLimit(
        f"key '{shown(key)}' must appear once; got it again (first at {first[0]}:{first[1]})",
        again,
    )


_NON_FINITE = re.compile(r"^\s*[-+]?(?:\.?inf(?:inity)?|\.?nan)\s*$", re.IGNORECASE)


def parse_cli_value(raw: str) -> Any:
    """A ``--set key=value`` value the way a user means it.

    Empty: ``""``. Starting with ``[`` or ``{``: a YAML flow list or mapping (its items by the
    rules of a pipeline file); starting with a quote: a YAML quoted string. Otherwise one
    scalar, the whole text: an integer in decimal (``024`` is 24), ``0o``/``0x`` octal/hex, a
    float (``1e-300``, ``.5``), ``true``/``false``, ``null``/``~``, and anything else the
    string as written (``#``, ``: ``, ``*`` and ``!`` included). A flow list or quoted string
    that is not valid YAML is the string as written too.

    Refused (``TextLimit``): numbers that are not finite, written (``.inf``, ``nan``,
    ``inf``: pydantic would read these strings as floats) or by overflow (``1e999``);
    integers over ``max_int_digits()`` digits; a flow value over the YAML bounds or holding a
    recursive alias.
    """
    text = raw.strip()
    if not text:
        return ""
    if text[0] in "[{\"'":
        try:
            node = compose_yaml(text)
        except yaml.YAMLError:
            return raw
        value = to_python(node, duplicate=_refuse_duplicate) if node is not None else None
        if text[0] in "\"'" and not isinstance(value, str):
            return raw
    else:
        tag = _plain_tag(text)
        value = _scalar(yaml.ScalarNode(tag, text)) if tag != _TAG + "str" else raw
    _check_finite(value)
    return value


def _check_finite(value: Any) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, float) and not math.isfinite(v):
            raise TextLimit(f"numbers must be finite; got {v}")
        elif isinstance(v, str) and _NON_FINITE.match(v):
            raise TextLimit(
                f"numbers must be finite; got '{v}', which a number field reads as"
                f" {float(v)} (for the string, quote it: '\"{v.strip()}\"')"
            )


def _depth(value: Any) -> int:
    """Nesting of lists and dicts in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d + 1)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def load_json(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``text`` as strict JSON within bounds: ``TextLimit`` for ``NaN``/``Infinity`` (not
    JSON), floats that overflow, integers over ``max_int_digits()`` digits, a key twice in an
    object and nesting over ``max_depth``; ``json.JSONDecodeError`` when it is not JSON."""

    def constant(name: str) -> Any:
        raise TextLimit(f"numbers must be finite JSON numbers; got {name} (not JSON)")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise TextLimit(f"numbers must be finite; got {shown(text)} (too large for a float)")
        return value

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, v in pairs:
            if key in out:
                raise TextLimit(f"key '{shown(key)}' must appear once in an object; got it again")
            out[key] = v
        return out

    try:
        value = json.loads(
            text,
            object_pairs_hook=unique,
            parse_constant=constant,
            parse_float=number,
            parse_int=lambda digits: _integer(digits, None),
        )
    except RecursionError:
        value = None
        deep = True
    else:
        deep = _depth(value) > max_depth
    if deep:
        raise TextLimit(
            f"must nest arrays and objects at most {max_depth} deep (MAX_DEPTH); got deeper"
        )
    return value
