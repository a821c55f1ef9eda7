"""`health --deep`: the model as `health`, then the vitals worker's health service and state."""

from __future__ import annotations

import json

import numpy as np

from posecog.nodes.items import CsiFrame, Vitals
from tests.conftest import POSE_V1
from tests.fakes.vitals_worker import BareServer, Worker, free_port

from .conftest import cli


def test_deep_health_reports_the_worker_and_its_nodes(tmp_path):
    with Worker() as worker:
        worker.publish([CsiFrame(1.7e9, 3, np.ones(56, np.float32), seq=1), Vitals(1.7e9, 3)])
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"pipeline": "appliance-grpc", "worker": worker.address}))
        r = cli(["health", "--model", str(POSE_V1), "--deep", "--config", str(config)])
    assert r.code == 0, r.stderr
    (ok,) = r.named("health.ok")
    assert ok["fields"]["worker"]["status"] == "SERVING" and ok["fields"]["worker"]["revision"] == 1
    assert ok["fields"]["worker"]["nodes"] == {"3": {"frame_ts": 1.7e9, "vitals_ts": 1.7e9}}


def test_deep_health_fails_with_a_diagnostic_when_no_worker_is_there():
    address = f"127.0.0.1:{free_port()}"
    r = cli(["health", "--model", str(POSE_V1), "--deep", "--worker", address, "--timeout", "0.3"])
    assert r.code == 1 and r.stdout == ""
    expected = f"health: worker: no answer from the worker at {address} within 0.3 s"
    assert r.stderr.strip() == expected


def test_deep_health_names_a_worker_of_another_protocol():
    with BareServer(service="cognitum.vitals.v2.VitalsService", health_service=True) as bare:
        r = cli(["health", "--model", str(POSE_V1), "--deep", "--worker", bare.address])
    assert r.code == 1
    assert "does not serve cognitum.vitals.v1.VitalsService (NOT_FOUND)" in r.stderr


def test_a_bad_worker_address_is_a_usage_error(tmp_path):
    r = cli(["health", "--model", str(POSE_V1), "--deep", "--worker", "nowhere"])
    assert r.code == 2 and r.stderr.startswith("Error: --worker: must be host:port")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"worker": "50054"}))
    r = cli(["run", "--config", str(config)])
    assert r.code == 2 and "worker: Value error, must be host:port" in r.stderr
