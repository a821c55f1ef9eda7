"""Replay throughput of this tree against another revision, side by side in one run.

The big replay: the real variant A excerpt concatenated (time shifted) to >= 100k CSI frames,
through the shipped ``replay`` pipeline with pose_v1 and one backend for both sides. Each side
runs the CLI in its own process from its own source tree (this one, and ``git archive REV``
unpacked beside it), rounds interleaved A B A B; frames/s from each run's ``run.finished``
(``replay`` out / ``elapsed_s``: the run itself, not interpreter start). Prints each round,
the medians and the ratio this / REV; ``--record`` appends them to docs/benchmarks.md.
``--against-backend`` runs REV on another backend (e.g. ``native``, for a revision that still
had it: a C extension declared by REV's setup.py is built in place first, which needs a C
compiler), to measure what a backend change costs.

Usage: .venv/bin/python benchmarks/replay_throughput.py [--against HEAD~1] [--rounds 5]
       [--backend onnxruntime] [--against-backend NAME] [--frames 100000] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUVIEW = REPO.parent / "shared" / "data" / "ruview"
EXCERPT = RUVIEW / "pretrain-1775182186.excerpt.csi.jsonl"  # variant A, raw packets
MODEL = RUVIEW / "pose_v1.safetensors"
PACKAGES = ("graph", "nodes", "cog", "pipelines")


def big_recording(path: Path, frames: int) -> int:
    """The excerpt repeated, each pass shifted to continue in time; returns the CSI frames."""
    src = [line for line in EXCERPT.read_text().splitlines() if line.strip()]
    rows = [json.loads(t) for t in src]
    stamps = [r["timestamp"] for r in rows if "timestamp" in r]
    span = max(stamps) - min(stamps) + 0.05
    per_pass = sum('"raw_csi"' in t for t in src)
    passes = -(-frames // per_pass)
    with path.open("w") as out:
        for k in range(passes):
            for row in rows:
                shifted = dict(row)
                if "timestamp" in shifted:
                    shifted["timestamp"] = row["timestamp"] + k * span
                out.write(json.dumps(shifted) + "\n")
    return passes * per_pass


def layout(tree: Path, into: Path) -> Path:
    """A folder importable as ``posecog`` whose subpackages are ``tree``'s folders (what the
    project's package-dir mapping does at install)."""
    pkg = into / "posecog"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in PACKAGES:
        (pkg / name).symlink_to(tree / name)
    return into


def export(rev: str, into: Path) -> Path:
    """``git archive rev`` unpacked into ``into``."""
    archive = into.with_suffix(".tar")
    subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), rev], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def build_extensions(tree: Path) -> None:
    """Build ``tree``'s C extensions in place when its setup.py declares any."""
    setup = tree / "setup.py"
    if setup.exists() and "Extension(" in setup.read_text():
        subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=tree, check=True, capture_output=True,
        )  # fmt: skip


def run_once(path: Path, recording: Path, backend: str, out: Path) -> float:
    """frames/s of one replay run from the source tree importable at ``path``."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from posecog.cog.cli import main; "
        "sys.exit(main(sys.argv[2:]))"
    )
    args = [
        sys.executable, "-c", code, str(path), "run", "replay", "--stats-interval", "0",
        "--set", f"recording={recording}", "--set", f"model={MODEL}",
        "--set", f"backend={backend}", "--set", "min_confidence=0",
    ]  # fmt: skip
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with out.open("w") as sink:
        proc = subprocess.run(
            args, check=False, stdout=sink, stderr=subprocess.PIPE, text=True, env=env
        )
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    with out.open("rb") as f:
        f.seek(max(0, out.stat().st_size - 65536))
        last = f.read().decode().strip().splitlines()[-1]
    finished = json.loads(last)["fields"]
    return finished["nodes"]["replay"]["out"] / finished["elapsed_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default="HEAD~1", help="the revision to compare with")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backend", default="onnxruntime", choices=["numpy", "onnxruntime"])
    ap.add_argument(
        "--against-backend", default=None, help="the backend of REV's runs (default: --backend)"
    )
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--record", action="store_true", help="append to docs/benchmarks.md")
    args = ap.parse_args()
    rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.against],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    here = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recording = root / "big.csi.jsonl"
        n = big_recording(recording, args.frames)
        a = layout(REPO, root / "a")
        other = args.against_backend or args.backend
        tree = export(rev, root / "b-tree")
        if other != args.backend:
            build_extensions(tree)
        b = layout(tree, root / "b")
        backends = args.backend if other == args.backend else f"{args.backend} vs {rev} {other}"
        print(
            f"# {platform.node()} {platform.machine()}, nproc {os.cpu_count()}, "
            f"python {platform.python_version()}; {n} CSI frames, pose_v1, {backends}"
        )
        fa: list[float] = []
        fb: list[float] = []
        for k in range(args.rounds):
            fa.append(run_once(a, recording, args.backend, root / "a.out"))
            fb.append(run_once(b, recording, other, root / "b.out"))
            print(
                f"round {k + 1}: this {fa[-1]:,.0f} frames/s, {rev} {fb[-1]:,.0f} frames/s, "
                f"ratio {fa[-1] / fb[-1]:.3f}"
            )
    ratios = [x / y for x, y in zip(fa, fb, strict=True)]
    ma, mb, mr = statistics.median(fa), statistics.median(fb), statistics.median(ratios)
    summary = (
        f"median: this ({here}+worktree) {ma:,.0f} frames/s, {rev} {mb:,.0f} frames/s; "
        f"ratio this/{rev} {mr:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
    )
    print(summary)
    if args.record:
        cmd = " ".join(["benchmarks/replay_throughput.py", *sys.argv[1:]])
        with (REPO / "docs" / "benchmarks.md").open("a") as doc:
            doc.write(
                f"\n### Replay throughput against {rev} ({backends})\n\n"
                f"`{cmd}` on {platform.machine()}, {os.cpu_count()} cores, python "
                f"{platform.python_version()}; {n} CSI frames (the variant A excerpt "
                f"concatenated), pose_v1, {args.rounds} interleaved rounds.\n\n"
                f"| round | this, frames/s | {rev}, frames/s | ratio |\n|---|---|---|---|\n"
                + "".join(
                    f"| {k + 1} | {x:,.0f} | {y:,.0f} | {x / y:.3f} |\n"
                    for k, (x, y) in enumerate(zip(fa, fb, strict=True))
                )
                + f"\n{summary}\n"
            )


if __name__ == "__main__":
    main()
