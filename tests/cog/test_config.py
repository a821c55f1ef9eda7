from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from posecog.cog.config import runtime_config_schema
from tests.conftest import REPO, RUVIEW

from .conftest import cli


def test_shipped_config_schema_is_current() -> None:
    shipped = json.loads((REPO / "cog" / "config.schema.json").read_text())
    assert shipped == runtime_config_schema(), "regenerate: cog-pose-estimation config-schema"
    r = cli(["config-schema"])
    assert json.loads(r.stdout) == shipped


def test_schema_covers_the_reference_schema() -> None:
    ours = runtime_config_schema()
    reference = json.loads((RUVIEW / "config.schema.json").read_text())
    assert ours["additionalProperties"] is False
    for key, prop in reference["properties"].items():
        assert key in ours["properties"], key
        assert ours["properties"][key]["type"] == prop["type"]
        for bound in ("minimum", "maximum"):
            if bound in prop:
                assert ours["properties"][key][bound] == prop[bound]
    # a reference config validates against ours; an unknown key does not
    jsonschema.validate({"model_path": "m.safetensors", "poll_ms": 40}, ours)
    try:
        jsonschema.validate({"model_path": "m", "extra": 1}, ours)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("unknown keys must be rejected")


def test_simulate_cli(tmp_path: Path) -> None:
    out = tmp_path / "sim.csi.jsonl"
    r = cli(["simulate", "--out", str(out), "--seed", "3", "--duration", "5", "--nodes", "1"])
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["n_lines"] == len(out.read_text().splitlines())
    assert (tmp_path / "sim.truth.jsonl").exists()
    again = tmp_path / "again.csi.jsonl"
    cli(["simulate", "--out", str(again), "--seed", "3", "--duration", "5", "--nodes", "1"])
    assert again.read_bytes() == out.read_bytes()  # seeded: same seed, same bytes
    r = cli(["simulate", "--out", str(out), "--nodes", "9"])
    assert r.code == 2 and "Traceback" not in r.stderr and "n_nodes" in r.stderr
    r = cli(["simulate", "--out", str(tmp_path), "--duration", "1"])  # a folder: cannot write
    assert r.code == 1 and r.stderr.startswith("Error: simulate: cannot write")
    assert "Traceback" not in r.stderr
