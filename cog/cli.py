"""The cog CLI: the appliance contract (``version | manifest | health | run``) plus the tools
around it (``lint``, ``nodes``, ``pipelines``, ``simulate``, ``train``, ...).

Exit status: 0 success; 2 configuration or usage error (one clear line, no traceback); 1 a
runtime failure. Anything else is a bug and keeps its traceback. ``version`` and ``manifest``
import neither numpy nor onnxruntime (the gateway calls them often).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from posecog.graph.errors import ConfigError, LintError, RuntimeFailure
from posecog.graph.secrets import REDACT

from . import signals
from .manifest import COG_ID, manifest, version

__all__ = ["main"]

#: ``--backend`` choices of ``health`` and ``evaluate``: the values of
#: ``posecog.nodes.model.BackendName``, spelt out so that the CLI starts without importing
#: numpy (a test checks that they agree).
BACKENDS = ("numpy", "onnxruntime", "auto")


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds; got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0 and finite; got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cog-pose-estimation",
        description="WiFi CSI to 17-keypoint human pose, as a dataflow pipeline (a Cognitum cog).",
    )
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    sub.add_parser("version", help="print '<cog id> <version>'")
    sub.add_parser("manifest", help="print the embedded manifest JSON")

    h = sub.add_parser("health", help="check the cog can come up healthy (model loads, runs)")
    h.add_argument("--model", help="model weights (.safetensors); default: the pipeline's")
    h.add_argument("--backend", choices=BACKENDS, default="auto")
    h.add_argument("--config", type=Path, help="runtime config.json (model_path, worker)")
    h.add_argument(
        "--deep",
        action="store_true",
        help="also check the vitals worker (gRPC health service, then its current state)",
    )
    h.add_argument("--worker", metavar="HOST:PORT", help="the worker (default: config's, :50054)")
    h.add_argument(
        "--timeout",
        type=_seconds,
        default=2.0,
        metavar="S",
        help="with --deep: how long to wait for the worker (default 2)",
    )

    r = sub.add_parser("run", help="run a pipeline (default: replay) until it ends or SIGTERM")
    r.add_argument("pipeline", nargs="?", help="shipped pipeline name or a .yaml path")
    r.add_argument("--config", type=Path, help="runtime config.json (reference keys + pipeline)")
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a pipeline parameter, or <node>.<key> of a node's config (repeatable)",
    )
    r.add_argument(
        "--stats-interval",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="seconds between pipeline.stats events (0: only at the end)",
    )

    lint = sub.add_parser("lint", help="check pipeline files; all problems at once (exit 2)")
    lint.add_argument("files", nargs="*", help="pipeline names or .yaml files (default: all)")
    lint.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="K=V",
        help="check with this parameter or <node>.<key> set, as run --set (repeatable)",
    )

    n = sub.add_parser("nodes", help="list node kinds, or document one")
    n.add_argument("kind", nargs="?")
    n.add_argument(
        "--schema",
        action="store_true",
        help="print the kind's config JSON Schema (without KIND: the pipeline file schema)",
    )

    sub.add_parser("pipelines", help="list the shipped pipelines")
    sub.add_parser("config-schema", help="print the JSON Schema of the runtime config.json")

    x = sub.add_parser(
        "export-onnx", help="write a self-contained ONNX of a bundle, checked for parity"
    )
    x.add_argument("bundle", type=Path, help="model bundle (.safetensors)")
    x.add_argument("--out", type=Path, help="ONNX file (default: the bundle's path, .onnx)")

    s = sub.add_parser("simulate", help="write a seeded synthetic recording with ground truth")
    s.add_argument("--out", type=Path, default=Path("simulated.csi.jsonl"), help="recording")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--duration", type=float, default=60.0, help="seconds of event time")
    s.add_argument("--nodes", type=int, default=2, help="sensing nodes (1..4)")
    s.add_argument("--rate", type=float, default=20.0, help="frames per second per node")
    s.add_argument("--paired", type=Path, help="also write paired training data here")
    s.add_argument("--no-truth", action="store_true", help="skip the *.truth.jsonl file")

    e = sub.add_parser("evaluate", help="score a model on camera-paired data (PCK, MPJPE)")
    e.add_argument("--model", type=Path, required=True, help="model bundle (.safetensors)")
    e.add_argument("--data", type=Path, required=True, help="paired data (*.paired.jsonl[.gz])")
    e.add_argument("--backend", choices=BACKENDS, default="auto")
    e.add_argument(
        "--held-out", action="store_true", help="only the later 20 %% by ts_start (the test split)"
    )
    e.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    e.add_argument(
        "--agreement",
        choices=("nodes", "node"),
        default="nodes",
        help="confidence as pose_infer's agreement: nodes (the other streams) or node (own)",
    )
    e.add_argument(
        "--plot", type=Path, help="write the reliability plot (PNG; needs matplotlib) here"
    )

    t = sub.add_parser("train", help="train a pose_v1 bundle on camera-paired data (torch)")
    t.add_argument("--data", type=Path, required=True, help="paired data (*.paired.jsonl[.gz])")
    t.add_argument("--out", type=Path, required=True, help="bundle to write (.safetensors)")
    for flag, kind, default, what in (
        ("--epochs", int, 400, "full-batch epochs"),
        ("--seed", int, 0, "seed (same seed, data and threads: same bytes)"),
        ("--lr", float, 1e-3, "AdamW learning rate"),
        ("--weight-decay", float, 0.01, "AdamW weight decay"),
        ("--restart-every", int, 50, "epochs per cosine warm restart"),
        ("--beta", float, 0.1, "SmoothL1 beta"),
        ("--dropout-last", int, 50, "10 %% subcarrier dropout in the last N epochs"),
        ("--layout", str, "flat_frame_major", "flat_frame_major (pose_v1) or subcarrier_major"),
        ("--bone-loss", float, 0.0, "weight of the bone-length loss (0: off)"),
        ("--smooth-loss", float, 0.0, "weight of the temporal-smoothness loss (0: off)"),
        ("--noise", float, 0.0, "Gaussian noise sigma, relative to the amplitude scale"),
        ("--time-shift", int, 0, "roll windows by up to N frames"),
        ("--threads", int, 2, "torch CPU threads"),
    ):
        t.add_argument(flag, type=kind, default=default, help=f"{what} (default {default})")
    t.add_argument("--curriculum", action="store_true", help="high-conf records first")
    t.add_argument(
        "--normalize",
        choices=["subcarrier", "scalar", "none"],
        default="subcarrier",
        help="input scaling: per-subcarrier z-score stored in the bundle (default), one RMS "
        "scale folded into the weights, or raw amplitudes",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verb == "run":
        signals.catch_early()  # before the heavy imports: a stop then is a clean one
    try:
        code = _dispatch(parser, args)
        sys.stdout.flush()  # an output that cannot be written is this command's error
        return code
    except LintError as exc:
        for problem in exc.problems:
            print(REDACT(str(problem)), file=sys.stderr)
        print(f"Error: {len(exc.problems)} problem(s); nothing was run", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"Error: {REDACT(str(exc))}", file=sys.stderr)
        return 2
    except RuntimeFailure as exc:
        print(f"Error: {REDACT(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        return _output_failed(exc)


def _output_failed(exc: OSError) -> int:
    """Stdout (or a file the command writes) cannot be written: exit 1, one ``Error:`` line;
    quietly when the reader left (``| head``: EPIPE). Stdout is pointed at /dev/null so the
    interpreter's own flush at exit does not fail a second time."""
    with suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if exc.errno != errno.EPIPE:
        print(f"Error: cannot write output: {exc.strerror or exc}", file=sys.stderr)
    return 1


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    verb = args.verb
    if verb == "version":
        print(f"{COG_ID} {version()}")
        return 0
    if verb == "manifest":
        print(json.dumps(manifest(), indent=2))
        return 0
    if verb is None:
        parser.print_help()
        return 2
    # The graph runs on one pipeline thread; a multi-threaded BLAS only fights it (and the
    # other processes of a small appliance) for cores: measured 20 ms vs 0.7 ms per batch-1
    # inference on a busy 2-core machine. Users may still override these.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from .commands import COMMANDS  # heavy imports (numpy, models) only past this point

    return COMMANDS[verb](args)


if __name__ == "__main__":
    raise SystemExit(main())
