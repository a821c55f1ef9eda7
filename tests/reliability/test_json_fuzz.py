"""Hostile values in every JSON decoder (issue 10 point 1): valid recording lines and server
messages of every kind with one value anywhere replaced by something hostile (an integer beyond
float range, NaN, a lone surrogate, deep nesting, a huge string...), and raw text mutations.
Only items and counted drops come out; no exception escapes; what is given renders as an event
and encodes as UTF-8; a valid line after a hostile one still gives its frame."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posecog.graph.events import Event, to_json_line
from posecog.nodes.csi.recording import RecordingParser
from posecog.nodes.rejection import Rejected
from posecog.nodes.sensing.updates import SensingDecoder
from tests.conftest import EXCERPT_A, EXCERPT_B
from tests.fakes.esp32_sender import csi_datagram
from tests.fakes.sensing_server import edge_vitals, updates_from_excerpt, v1_update, wasm_event
from tests.nodes.csi.test_recording_legacy import legacy_line

_A = [json.loads(t) for t in EXCERPT_A.read_text().splitlines()[:40]]
_UPDATES = updates_from_excerpt(EXCERPT_B)[:3]
SEEDS: list[dict[str, Any]] = [
    next(d for d in _A if d.get("type") == "raw_csi"),
    next(d for d in _A if d.get("type") == "vitals"),
    next(d for d in _A if d.get("type") == "feature"),
    json.loads(EXCERPT_B.read_text().splitlines()[0]),
    *_UPDATES,
    edge_vitals(_UPDATES[0]),
    wasm_event(_UPDATES[0]),
    v1_update(1.0, 2, 7, [1.5] * 56),
    legacy_line(csi_datagram(1, 9, bytes(range(128))), 1775182186.5),
]
VALID_B = EXCERPT_B.read_text().splitlines()[1]

HOSTILE: list[Any] = [
    10**400,
    -(10**400),
    10**4000,
    2**64,
    float("nan"),
    float("inf"),
    -0.0,
    -1,
    "",
    "x" * 20000,
    "\ud800",
    "\x00",
    True,
    None,
    [],
    {},
    [[[[[[[[[[[[1]]]]]]]]]]]],
    {"nested": {"deeper": [1, 2, {"deepest": None}]}},
    [1.0] * 5000,
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list) and value:
        for i in {0, len(value) - 1}:
            out += _paths(value[i], (*prefix, i))
    return out


def _replace(obj: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(obj))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@st.composite
def hostile_text(draw: Any) -> bytes:
    seed = draw(st.sampled_from(SEEDS))
    how = draw(st.sampled_from(["value", "value", "value", "cut", "bytes", "nest", "digits"]))
    if how == "value":
        path = draw(st.sampled_from(_paths(seed)))
        return json.dumps(_replace(seed, path, draw(st.sampled_from(HOSTILE)))).encode()
    text = json.dumps(seed).encode()
    if how == "cut":
        return text[: draw(st.integers(0, len(text) - 1))]
    if how == "bytes":
        i = draw(st.integers(0, len(text) - 1))
        return text[:i] + bytes([draw(st.integers(0x80, 0xFF))]) + text[i + 1 :]
    if how == "nest":
        depth = draw(st.sampled_from([500, 5000, 100000]))
        return b"[" * depth + b"]" * depth
    return b'{"type":"sensing_update","tick":' + b"9" * 5000 + b"}"  # beyond int parsing


TOTALS: Counter[str] = Counter()


def _check(values: list[Any]) -> tuple[int, int]:
    """(items, crashes) of what a decoder gave; every item renders and encodes."""
    items = crashes = 0
    for v in values:
        if isinstance(v, Rejected):
            crashes += v.reason.startswith("error")
            continue
        items += 1
        if hasattr(v, "event"):
            to_json_line(Event(*v.event(2.0), "info", 1.0)).encode("utf-8")
    return items, crashes


@settings(
    max_examples=500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(st.lists(hostile_text(), min_size=1, max_size=4))
def test_hostile_lines_and_messages_give_items_or_counted_drops(texts: list[bytes]) -> None:
    parser, http, ws = RecordingParser(), SensingDecoder(), SensingDecoder()
    for text in texts:
        repeats = http.duplicates + ws.duplicates + parser.updates
        results = [parser.parse(text, 1), http.body(text), ws.message(text)]
        for values in results:
            _items, crashes = _check(values)
            TOTALS["crashes"] += crashes
            assert crashes == 0, values
        # every input gives an item or a reason; a repeated update is counted as a duplicate,
        # an edge_vitals without a time is held for the update it precedes (released below)
        held = b'"edge_vitals"' in text
        assert all(results) or held or http.duplicates + ws.duplicates + parser.updates > repeats
        TOTALS["inputs"] += 1
        # the decoders are still sound: a valid line after the hostile one gives its frame
        after = parser.parse(VALID_B, 2)
        if not (len(after) == 1 and not isinstance(after[0], Rejected)):
            TOTALS["lost"] += 1
        assert len(after) == 1 and not isinstance(after[0], Rejected), after
    for held_by in (parser, http.parser, ws.parser):  # what was held comes out at the end
        _items, crashes = _check([*held_by.release_all()])
        assert crashes == 0


def test_record_the_json_probe(probes: Any) -> None:
    assert TOTALS["inputs"] > 0, "run with the fuzz test"
    probes.record(
        "JSON lines and messages (hostile values, mutations)",
        TOTALS["inputs"] * 3,  # each through the recording, HTTP and WS decoders
        crashes=TOTALS["crashes"],
        lost=TOTALS["lost"],
    )
