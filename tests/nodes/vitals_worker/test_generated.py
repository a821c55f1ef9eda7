"""The committed generated code is what the proto and the pinned generator give, imports the
package path and agrees with the pins."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "gen_proto.py"
GENERATED = REPO / "nodes" / "vitals_worker" / "v1"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_proto", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_code_matches_the_proto():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_check_sees_a_changed_proto(gen, tmp_path, monkeypatch):
    root = tmp_path / "proto"
    shutil.copytree(gen.PROTO_ROOT, root)
    proto = root / gen.PROTO
    proto.write_text(proto.read_text().replace("uint32 heartbeat_ms = 3;", "uint32 beat_ms = 3;"))
    monkeypatch.setattr(gen, "PROTO_ROOT", root)
    fresh = gen.generate()
    assert fresh["vitals_pb2.pyi"] != (GENERATED / "vitals_pb2.pyi").read_text()
    assert fresh["vitals_pb2.py"] != (GENERATED / "vitals_pb2.py").read_text()


def test_generated_imports_name_the_package():
    for name in ("vitals_pb2.py", "vitals_pb2_grpc.py", "vitals_pb2.pyi"):
        text = (GENERATED / name).read_text()
        assert not re.search(r"^\s*(from|import) cognitum\b", text, re.M), name
    grpc_module = (GENERATED / "vitals_pb2_grpc.py").read_text()
    assert "from posecog.nodes.vitals_worker.v1 import vitals_pb2 as" in grpc_module


def test_runtime_pins_are_what_the_generated_code_requires(gen):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = " ".join(project["dependencies"])
    tests = project["optional-dependencies"]["test"]
    assert f"grpcio-tools=={gen.GRPCIO_TOOLS}" in tests
    gencode = re.search(
        r"Protobuf Python Version: (\S+)", (GENERATED / "vitals_pb2.py").read_text()
    )
    grpc_gen = re.search(
        r"GRPC_GENERATED_VERSION = '(\S+)'", (GENERATED / "vitals_pb2_grpc.py").read_text()
    )
    major = gencode[1].split(".")[0]
    assert f"protobuf>={gencode[1]},<{int(major) + 1}" in deps
    assert f"grpcio>={grpc_gen[1]}," in deps


def test_protocol_names_are_the_descriptor_names():
    from posecog.nodes.vitals_worker import protocol
    from posecog.nodes.vitals_worker.v1 import vitals_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["VitalsService"]
    subscribe = service.methods_by_name["Subscribe"]
    assert service.full_name == protocol.SERVICE
    assert f"/{service.full_name}/{subscribe.name}" == protocol.SUBSCRIBE
    assert protocol.GET_LATEST.endswith(service.methods_by_name["GetLatest"].name)
    assert pb.DESCRIPTOR.package == "cognitum.vitals.v1"


def test_the_proto_ships_as_package_data():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = data["package-data"]["posecog.nodes.vitals_worker.proto.cognitum.vitals.v1"]
    assert any((REPO / "nodes" / "vitals_worker" / "proto" / "cognitum/vitals/v1").glob(globs[0]))
