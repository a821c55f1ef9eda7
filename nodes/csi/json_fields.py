"""Typed readers of the fields of a JSON object (a recording line, a server message).

Each returns the field's value or raises ``Rejected`` with the reason a decoder counts:
``missing_field``, ``bad_type`` (the wrong JSON type), ``non_finite`` (NaN or infinity where a
number is required), ``bad_hex`` and ``bad_timestamp``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from posecog.nodes.rejection import Rejected

__all__ = [
    "field",
    "hex_bytes",
    "integer",
    "iso_seconds",
    "number",
    "opt_bool",
    "opt_number",
]


def field(obj: dict[str, Any], key: str) -> Any:
    if key not in obj:
        raise Rejected("missing_field", f"'{key}' is required")
    return obj[key]


def number(obj: dict[str, Any], key: str) -> float:
    value = field(obj, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected("bad_type", f"'{key}' must be a number; got {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError:  # an integer beyond float range
        result = math.inf
    if not math.isfinite(result):
        raise Rejected("non_finite", f"'{key}' must be finite; got {value!r:.40}")
    return result


def opt_number(obj: dict[str, Any], key: str) -> float | None:
    return None if obj.get(key) is None else number(obj, key)


#: Integers a field may hold: a node id, tick, sequence or count never needs more than 64 bits,
#: and a 4,000-digit one would reach every dict, gauge and event downstream.
INT_LIMIT = 2**63


def integer(obj: dict[str, Any], key: str, default: int | None = None) -> int:
    if default is not None and key not in obj:
        return default
    value = field(obj, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected("bad_type", f"'{key}' must be an integer; got {value!r:.40}")
    if not -INT_LIMIT <= value < INT_LIMIT:
        digits = len(str(abs(value)))
        raise Rejected("bad_type", f"'{key}' must be a 64-bit integer; got {digits} digits")
    return value


def opt_bool(obj: dict[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return bool(value)
    raise Rejected("bad_type", f"'{key}' must be a boolean; got {type(value).__name__}")


def hex_bytes(obj: dict[str, Any], key: str) -> bytes:
    """The bytes of a hex string field (either case; whitespace is refused)."""
    text = field(obj, key)
    if not isinstance(text, str):
        raise Rejected("bad_type", f"'{key}' must be a string; got {type(text).__name__}")
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise Rejected("bad_hex", f"'{key}': {exc}") from None
    if 2 * len(data) != len(text):  # fromhex skips whitespace
        raise Rejected("bad_hex", f"'{key}' holds whitespace: {len(data)} bytes, {len(text)} chars")
    return data


def iso_seconds(obj: dict[str, Any], key: str) -> float:
    """An ISO-8601 time string as POSIX seconds; one without a zone is read as UTC."""
    text = field(obj, key)
    if not isinstance(text, str):
        raise Rejected("bad_type", f"'{key}' must be a string; got {type(text).__name__}")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected("bad_timestamp", f"'{key}' is not an ISO-8601 time: {text!r:.40}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
