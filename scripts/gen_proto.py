#!/usr/bin/env python3
"""Regenerate (or, with --check, verify) the committed Python code of the vitals worker proto.

    .venv/bin/python scripts/gen_proto.py          # rewrite nodes/vitals_worker/v1/*_pb2*
    .venv/bin/python scripts/gen_proto.py --check  # exit 1, with a diff, when they drifted

The generated code is committed (decision: docs/vitals-worker.md, "Generated code"): a fresh
install needs no compiler step, and the runtime pins in pyproject.toml (protobuf, grpcio) are
the ones this code requires. It comes from the pinned grpcio-tools (``GRPCIO_TOOLS``, also
pinned in the test extra): another version writes other bytes, so this script refuses to
run with one. protoc writes bare imports (``from cognitum.vitals.v1 import vitals_pb2``),
which only work with the proto root on ``sys.path``; they are rewritten to the package path.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
from pathlib import Path

#: The grpcio-tools the committed code was generated with (pyproject.toml's test extra).
GRPCIO_TOOLS = "1.85.1"

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "nodes" / "vitals_worker" / "proto"
PROTO = "cognitum/vitals/v1/vitals.proto"
OUT = REPO / "nodes" / "vitals_worker" / "v1"
#: The import path of OUT once installed.
PACKAGE = "posecog.nodes.vitals_worker.v1"
FILES = ("vitals_pb2.py", "vitals_pb2.pyi", "vitals_pb2_grpc.py")

HEADER = (
    f"# Generated from {PROTO} by scripts/gen_proto.py (grpcio-tools {GRPCIO_TOOLS}).\n"
    "# Do not edit: change the proto and run the script; tests fail when this drifts.\n"
)


def generate() -> dict[str, str]:
    """The generated files' text, by name, imports rewritten."""
    import grpc_tools
    from grpc_tools import protoc

    version = getattr(grpc_tools, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("grpcio-tools")
    if version != GRPCIO_TOOLS:
        sys.exit(
            f"grpcio-tools {version} is installed; the committed code comes from "
            f"{GRPCIO_TOOLS}: pip install grpcio-tools=={GRPCIO_TOOLS}"
        )
    include = Path(grpc_tools.__file__).parent / "_proto"  # the well-known types
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            PROTO,
        ]
        if protoc.main(args) != 0:
            sys.exit(f"protoc failed on {PROTO}")
        produced = Path(tmp) / Path(PROTO).parent
        texts = {name: (produced / name).read_text() for name in FILES}
    bare = PROTO.rsplit("/", 1)[0].replace("/", ".")  # cognitum.vitals.v1
    out: dict[str, str] = {}
    for name, raw in texts.items():
        text = raw.replace(f"from {bare} import ", f"from {PACKAGE} import ")
        text = text.replace(f"'{bare}.vitals_pb2'", f"'{PACKAGE}.vitals_pb2'")
        if f"from {bare}" in text or f"import {bare}" in text:
            sys.exit(f"{name}: an import of {bare} was not rewritten")
        out[name] = HEADER + text
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    drifted = []
    for name, text in generate().items():
        path = OUT / name
        old = path.read_text() if path.exists() else ""
        if old == text:
            continue
        drifted.append(name)
        if args.check:
            diff = difflib.unified_diff(
                old.splitlines(True), text.splitlines(True), f"committed/{name}", f"fresh/{name}"
            )
            sys.stdout.writelines(list(diff)[:80])
        else:
            path.write_text(text)
    if args.check and drifted:
        print(
            f"\n{', '.join(drifted)} drifted from {PROTO}: run scripts/gen_proto.py and commit",
            file=sys.stderr,
        )
        return 1
    if not args.check:
        print(f"wrote {', '.join(drifted) or 'nothing (up to date)'} in {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
