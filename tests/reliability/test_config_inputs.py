"""Configuration is never a traceback (issue 10 point 5): hostile pipeline YAML, ``--set``
values, ``config.json`` files, paths and model headers, each through the CLI's entry
(``posecog.cog.cli.main``, in-process: the same code the console script runs, without a
Python start per input), must give exit 2, exactly one ``Error:`` line, a short stderr and no
traceback. The bounded-work refusals name their bound (MAX_NODES, MAX_DEPTH, ...): the
message says the work stopped there, whatever the input would have expanded to.
"""

from __future__ import annotations

import json
import struct
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from safetensors.numpy import save as st_save

from posecog.cog.cli import main
from posecog.graph.config_text import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_NODES, max_int_digits
from posecog.nodes.model.bundle import MAX_HEADER_BYTES
from posecog.nodes.model.metadata import METADATA_KEY
from tests.cog.conftest import cli
from tests.conftest import EXCERPT_B, POSE_V1, REPO

LONG = "a" * 100_000  # a 100,000-character name: the OS says ENAMETOOLONG
DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5_000
#: A valid rest of a pipeline (linted only: nothing here runs it).
SINK = "nodes: [{id: x, type: http_poll}, {id: out, type: stdout_events, inputs: [x]}]\n"


def _bomb(levels: int = 9) -> str:
    """The billion laughs: each level lists the previous one 9 times (9**9 leaves, ~350 B)."""
    lines = ["name: bomb", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n" + SINK


PIPELINES: dict[str, tuple[bytes, str]] = {
    # name: (file content, what the one Error line or the problem above it says)
    "alias bomb": (_bomb().encode(), "(MAX_NODES;"),
    "recursive alias": (b"name: r\nloop: &a [1, *a]\n" + SINK.encode(), "recursive alias"),
    "100,000 nested lists": (f"name: d\nx: {DEEP}\n{SINK}".encode(), "(MAX_DEPTH,"),
    "300 nested block lists": (
        ("name: d\nx:\n" + "".join(" " * i + "-\n" for i in range(300)) + SINK).encode(),
        "(MAX_DEPTH,",
    ),
    "deep by an alias": (
        (
            "name: d\na: &a " + "[" * 150 + "]" * 150 + "\n"
            "b: " + "[" * 100 + "*a" + "]" * 100 + "\n" + SINK
        ).encode(),
        "(MAX_DEPTH,",
    ),
    "not UTF-8": (b"name: caf\xe9\n" + SINK.encode(), "must be UTF-8 text; got byte 0xe9"),
    "5,000-digit integer": (f"name: n\nx: {HUGE_INT}\n{SINK}".encode(), "at most 4,300 digits"),
    "duplicate key": (b"name: a\nname: b\n" + SINK.encode(), "key 'name' must appear once"),
    "over MAX_DOCUMENT_BYTES": (
        b"name: big\n# " + b"x" * MAX_DOCUMENT_BYTES + b"\n" + SINK.encode(),
        "(MAX_DOCUMENT_BYTES)",
    ),
    "python tag": (
        b"name: !!python/object/apply:os.system [echo hi]\n" + SINK.encode(),
        "YAML 1.2 core schema",
    ),
    "undefined alias": (b"name: *nowhere\n" + SINK.encode(), "must be valid YAML"),
    "two documents": (b"name: a\n---\nname: b\n", "must be valid YAML"),
    "NUL bytes": (b"name: a\x00\n" + SINK.encode(), "must be valid YAML"),
}


@dataclass
class Outcome:
    code: int | None
    stderr: str
    stdout: str = ""
    crash: str = ""

    def problems(self, code: int, says: str, error_lines: int = 1) -> list[str]:
        """What is wrong with this outcome (empty: exit ``code``, one short ``Error:`` line,
        or ``error_lines`` of them, ``says`` on stderr, no traceback)."""
        if self.crash:
            return [f"crashed: {self.crash[-400:]}"]
        errors = [line for line in self.stderr.splitlines() if line.startswith("Error:")]
        out = []
        if self.code != code:
            out.append(f"exit {self.code}, not {code}")
        if code == 2 and len(errors) != error_lines:
            out.append(f"{len(errors)} Error: lines")
        if "Traceback" in self.stderr:
            out.append("a traceback")
        if says not in self.stderr:
            out.append(f"no {says!r}")
        if len(self.stderr.splitlines()) > 2 or any(len(x) > 400 for x in self.stderr.split("\n")):
            out.append("stderr is not one short message")
        return [f"{p}; stderr: {self.stderr[:300]!r}" for p in out]


Run = Callable[[list[str]], Outcome]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(argv: list[str]) -> Outcome:
        capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            return Outcome(None, capsys.readouterr().err, crash=traceback.format_exc())
        captured = capsys.readouterr()
        return Outcome(code, captured.err, captured.out)

    return go


def _probe(probes: Any, name: str, results: dict[str, list[str]]) -> None:
    crashes = sum(any(p.startswith("crashed") for p in v) for v in results.values())
    probes.record(name, len(results), crashes=crashes)
    assert {k: v for k, v in results.items() if v} == {}


def test_hostile_pipeline_files(tmp_path: Path, run: Run, probes: Any) -> None:
    results = {}
    for name, (content, says) in PIPELINES.items():
        path = tmp_path / f"{name.replace(' ', '_')}.yaml"
        path.write_bytes(content)
        results[name] = run(["run", str(path)]).problems(2, says)
        linted = run(["lint", str(path)])  # problems on stdout, the count on stderr
        results[f"lint: {name}"] = [
            *linted.problems(2, "1 problem(s) in 1 file(s)", error_lines=0),
            *([] if says in linted.stdout else [f"lint: no {says!r} in {linted.stdout[:300]!r}"]),
        ]
    _probe(probes, "config: pipeline YAML", results)


def test_the_alias_bomb_through_the_console_script(tmp_path: Path) -> None:
    """The real process: the bomb (9**9 leaves once expanded) is refused naming the bound;
    the timeout is there to turn a regression into a failure, not to measure."""
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    r = cli(["run", str(path)], timeout=60)
    assert r.code == 2 and "Traceback" not in r.stderr
    first, last = r.stderr.strip().splitlines()
    assert first.startswith(f"{path}:")
    assert f"must be at most {MAX_NODES:,} YAML nodes once aliases are expanded" in first
    assert last == "Error: 1 problem(s); nothing was run"


SETS: dict[str, tuple[str, str]] = {
    # name: (--set argument of the replay pipeline, what stderr says)
    "speed=1e-300": ("speed=1e-300", "config.speed: input should be greater than or equal to 0"),
    "speed=.inf": ("speed=.inf", "--set speed=.inf: numbers must be finite"),
    "speed=inf": ("speed=inf", "numbers must be finite; got 'inf'"),
    "speed=nan": ("speed=nan", "numbers must be finite"),
    "speed=1e999": ("speed=1e999", "numbers must be finite"),
    "5,000-digit integer": (f"speed={HUGE_INT}", "at most 4,300 digits"),
    "deep flow list": ("speed=" + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "(MAX_DEPTH,"),
    "flow list bomb": (
        "replay.nodes=" + "[" * 10 + "1" + ", 1" * MAX_NODES + "]" * 10,
        "(MAX_NODES;",
    ),
    "duplicate key": ("replay.hop={a: 1, a: 2}", "key 'a' must appear once"),
    "100,000-character recording": (f"recording={LONG}", "File name too long"),
    "100,000-character model": (f"model={LONG}", "File name too long"),
    "no =": ("speed", "--set takes key=value"),
    "unknown parameter": (f"{LONG}=1", "must be a parameter of pipeline 'replay'"),
}


def test_hostile_set_values(run: Run, probes: Any) -> None:
    results = {
        name: run(["run", "replay", "--set", "replay.pacing=realtime", "--set", arg]).problems(
            2, says
        )
        for name, (arg, says) in SETS.items()
    }
    results["100,000-character pipeline path"] = run(["run", f"{LONG}.yaml"]).problems(
        2, "File name too long"
    )
    _probe(probes, "config: --set and paths", results)


CONFIGS: dict[str, tuple[bytes, str]] = {
    "5,000-digit integer": (f'{{"poll_ms": {HUGE_INT}}}'.encode(), "at most 4,300 digits"),
    "100,000 nested arrays": (f'{{"parameters": {{"x": {DEEP}}}}}'.encode(), "(MAX_DEPTH)"),
    "nested past MAX_DEPTH": (
        f'{{"parameters": {{"x": {"[" * MAX_DEPTH + "]" * MAX_DEPTH}}}}}'.encode(),
        "(MAX_DEPTH)",
    ),
    "not UTF-8": (b'{"pipeline": "caf\xe9"}', "must be UTF-8 text; got byte 0xe9"),
    "a string for an integer": (b'{"poll_ms": "40"}', "poll_ms: Input should be a valid integer"),
    "a boolean for a number": (b'{"min_confidence": true}', "min_confidence: Input should be"),
    "NaN": (b'{"min_confidence": NaN}', "got NaN (not JSON)"),
    "1e400": (b'{"parameters": {"speed": 1e400}}', "numbers must be finite"),
    "duplicate key": (b'{"pipeline": "replay", "pipeline": "x"}', "'pipeline' must appear once"),
    "over MAX_DOCUMENT_BYTES": (
        b'{"pipeline": "' + b"x" * MAX_DOCUMENT_BYTES + b'"}',
        "(MAX_DOCUMENT_BYTES)",
    ),
    "not an object": (b"[]", "must be a JSON object; got list"),
    "not JSON": (b"{pipeline: replay}", "must be JSON"),
    "100,000-character model_path": (
        json.dumps({"pipeline": "replay", "model_path": LONG}).encode(),
        "File name too long",
    ),
    "100,000-character pipeline": (
        json.dumps({"pipeline": f"/{LONG}.yaml"}).encode(),
        "File name too long",
    ),
}


def test_hostile_config_json(tmp_path: Path, run: Run, probes: Any) -> None:
    results = {}
    for name, (content, says) in CONFIGS.items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_bytes(content)
        results[name] = run(["run", "--config", str(path)]).problems(2, says)
    results["100,000-character --config"] = run(["run", "--config", LONG]).problems(
        2, "cannot read the config: File name too long"
    )
    _probe(probes, "config: config.json", results)


def _safetensors(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def _with_metadata(text: str) -> bytes:
    """pose_v1's tensors with ``text`` as the bundle metadata of the header."""
    from safetensors.numpy import load

    return st_save(load(POSE_V1.read_bytes()), metadata={METADATA_KEY: text})


MODELS: dict[str, tuple[bytes, str]] = {
    "header nested 100,000 deep": (_safetensors(DEEP.encode()), "(MAX_DEPTH)"),
    "header over MAX_HEADER_BYTES": (
        _safetensors(b"{" + b" " * MAX_HEADER_BYTES + b"}"),
        "(MAX_HEADER_BYTES)",
    ),
    "header with a 5,000-digit offset": (
        _safetensors(
            f'{{"w": {{"dtype": "F32", "shape": [1], "data_offsets": [0, {HUGE_INT}]}}}}'.encode()
        ),
        "at most 4,300 digits",
    ),
    "header not UTF-8": (_safetensors(b'{"\xff": 1}'), "must be UTF-8 text"),
    "metadata nested 100,000 deep": (_with_metadata(DEEP), "(MAX_DEPTH)"),
}


def test_hostile_model_bundles(tmp_path: Path, run: Run, probes: Any) -> None:
    """``run`` refuses the bundle before anything runs (exit 2); ``health`` fails (exit 1)."""
    results = {}
    for name, (content, says) in MODELS.items():
        path = tmp_path / f"{name.replace(' ', '_')}.safetensors"
        path.write_bytes(content)
        replay = ["run", "replay", "--set", f"model={path}", "--set", f"recording={EXCERPT_B}"]
        results[f"run: {name}"] = run(replay).problems(2, says)
        results[f"health: {name}"] = run(["health", "--model", str(path)]).problems(
            1, "health: model cannot load"
        )
    results["health: 100,000-character model"] = run(["health", "--model", LONG]).problems(
        1, "File name too long"
    )
    _probe(probes, "config: model bundles", results)


def test_set_values_are_read_as_a_user_means_them() -> None:
    """``024`` is 24 (YAML 1.1 reads octal 20) and ``1e-3`` a float (YAML 1.1: a string)."""
    r = cli(["run", "replay", "--set", f"recording={EXCERPT_B}", "--set", "speed=024"])
    assert r.code == 0, r.stderr
    assert r.named("run.started")[0]["fields"]["parameters"]["speed"] == 24
    r = cli(["run", "replay", "--set", f"recording={EXCERPT_B}", "--set", "speed=1e-3"])
    assert r.code == 0, r.stderr
    assert r.named("run.started")[0]["fields"]["parameters"]["speed"] == 0.001


def test_the_docs_state_the_bounds_the_code_has() -> None:
    """docs/pipelines.md's table of limits against the constants (no generated docs for them)."""
    text = (REPO / "docs" / "pipelines.md").read_text()
    section = text[text.index("## Limits and how values are read") :]
    for name, shown in [
        ("MAX_DOCUMENT_BYTES", f"{MAX_DOCUMENT_BYTES:,} bytes"),
        ("MAX_DEPTH", f"| {MAX_DEPTH} |"),
        ("MAX_NODES", f"| {MAX_NODES:,} |"),
        ("max_int_digits()", f"| {max_int_digits():,} |"),
        ("MAX_HEADER_BYTES", "1 MiB" if MAX_HEADER_BYTES == 1 << 20 else f"{MAX_HEADER_BYTES:,}"),
    ]:
        row = next((line for line in section.splitlines() if f"`{name}`" in line), "")
        assert shown in row, (name, row)
