"""The CLI verbs past ``version``/``manifest`` (these import numpy and the node kinds)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from posecog.graph.errors import ConfigError, LintError, Problem, RuntimeFailure
from posecog.graph.events import EventStream
from posecog.graph.lint import lint_file
from posecog.graph.loader import parse_overrides
from posecog.graph.runtime import Runtime
from posecog.graph.schema import pipeline_schema
from posecog.graph.secrets import REDACT
from posecog.nodes.registry import default_registry

from . import signals
from .config import REFERENCE_TO_PARAM, load_runtime_config, runtime_config_schema
from .docs import render_kind, render_kind_list
from .manifest import COG_ID
from .pipelines import describe, resolve_pipeline, shipped_pipelines

DEFAULT_PIPELINE = "replay"
#: What ``run --config`` runs when the config names no pipeline: the appliance's live default.
APPLIANCE_PIPELINE = "appliance"


def cmd_run(args: argparse.Namespace) -> int:
    registry = default_registry()
    params: dict[str, Any] = {}
    name = args.pipeline
    started: dict[str, Any] = {"cog": COG_ID}
    from_config: dict[str, Any] = {}
    if args.config is not None:
        cfg, params = load_runtime_config(args.config)
        from_config = cfg.parameters
        name = name or cfg.pipeline or APPLIANCE_PIPELINE
        started["config"] = str(args.config)
    path = resolve_pipeline(name or DEFAULT_PIPELINE)
    params.update(parse_overrides(args.overrides))
    known = _known_only(path, params, started, args.config, from_config)
    spec, problems = lint_file(path, registry, known)
    if problems:
        raise LintError(problems)
    started["parameters"] = {k: v for k, v in spec.values.items() if k != "pipeline_dir"}
    # The reference cog's run.started fields, for gateways that read them.
    for key, param in REFERENCE_TO_PARAM.items():
        if param in spec.values and key in ("sensing_url", "model_path", "poll_ms"):
            started[key] = spec.values[param]
    events = EventStream(sys.stdout)
    runtime = Runtime(
        spec,
        registry,
        events,
        base_dir=Path.cwd(),
        interactive=sys.stderr.isatty(),
        stats_interval=args.stats_interval,
        started_fields=started,
        stop_requested=signals.STOP,
    )
    status = runtime.run()
    if status and runtime.failure:
        print(f"Error: {REDACT(runtime.failure)}", file=sys.stderr)
    return status


def _known_only(
    path: Path,
    params: dict[str, Any],
    started: dict[str, Any],
    config_path: Path | None = None,
    config_parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Drop reference config keys the pipeline has no parameter for (reported as unused).
    Keys of the config's ``parameters`` that name nothing in the pipeline are errors that
    name the config file (the linter would blame ``--set``)."""
    from posecog.graph.loader import load_with_problems
    from posecog.graph.registry import did_you_mean

    spec, _ = load_with_problems(path)
    node_ids = {n.id for n in spec.nodes}
    bad = []
    for key in config_parameters or {}:
        node, dot, _ = key.partition(".")
        if key in spec.parameters or (dot and node in node_ids):
            continue
        hint = did_you_mean(node, node_ids) if dot else did_you_mean(key, spec.parameters)
        bad.append(
            f"{config_path}: parameters.{key}: must be a parameter of pipeline '{spec.name}' "
            f"or <node>.<key>; got an unknown {'node id' if dot else 'name'}{hint}"
        )
    if bad:
        raise ConfigError("\n".join(bad))
    mapped = set(REFERENCE_TO_PARAM.values())
    unused = sorted(k for k in params if k in mapped and k not in spec.parameters)
    if unused:
        started["unused_config"] = unused
    return {k: v for k, v in params.items() if k not in unused}


def cmd_lint(args: argparse.Namespace) -> int:
    registry = default_registry()
    targets = [resolve_pipeline(f) for f in args.files] or list(shipped_pipelines().values())
    overrides = parse_overrides(args.overrides)
    problems: list[Problem] = []
    for target in targets:
        problems.extend(lint_file(target, registry, overrides)[1])
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {len(targets)} file(s)", file=sys.stderr)
        return 2
    print(f"ok: {len(targets)} pipeline file(s)", file=sys.stderr)
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    registry = default_registry()
    if args.kind is None and args.schema:
        print(json.dumps(pipeline_schema(registry), indent=2))
        return 0
    if args.kind is None:
        print(render_kind_list(registry))
        return 0
    kind = registry.get(args.kind)
    if args.schema:
        print(json.dumps(kind.config.model_json_schema(), indent=2))
    else:
        print(render_kind(kind))
    return 0


def cmd_pipelines(_args: argparse.Namespace) -> int:
    for name, path in shipped_pipelines().items():
        summary = describe(path).split(". ")[0].rstrip(".")
        print(f"{name:<12} {summary if len(summary) <= 100 else summary[:99] + '…'}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from posecog.nodes.model import load_model, synthetic_check

    model_path: str | None = args.model
    params: dict[str, Any] = {}
    if args.config is not None:
        _, params = load_runtime_config(args.config)
    if model_path is None:
        model_path = params.get("model")
    if model_path is None:
        model_path = _default_model()
    try:
        model = load_model(model_path or None, args.backend)
        confidence = synthetic_check(model)
    except ConfigError as exc:
        print(f"health: model cannot load: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # health must answer, whatever broke
        print(f"health: synthetic inference failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    fields: dict[str, Any] = {
        "cog": COG_ID,
        "backend": model.backend,
        "synthetic_output_confidence": round(float(confidence), 4),
        "model_sha256": model.sha256,
        "model_path": str(model_path or ""),
    }
    if args.deep:
        worker = _check_worker(args.worker or params.get("worker"), args.timeout)
        if worker is None:
            return 1
        fields["worker"] = worker
    events = EventStream(sys.stdout)
    events.emit("health.ok", fields)
    events.flush()
    if events.failed is not None:  # e.g. stdout is a full disk: the answer did not get out
        raise events.failed
    if model.backend == "stub":
        print("health: no model weights found; running the stub (no real poses)", file=sys.stderr)
    return 0


def _check_worker(address: str | None, timeout_s: float) -> dict[str, Any] | None:
    """``health --deep``: the vitals worker's health and state, or None (said on stderr)."""
    import asyncio

    from posecog.nodes.vitals_worker.client import WorkerUnhealthy, check_worker
    from posecog.nodes.vitals_worker.protocol import DEFAULT_ADDRESS, parse_address

    address = address or DEFAULT_ADDRESS
    try:
        parse_address(address)
    except ValueError as exc:
        raise ConfigError(f"--worker: {exc}") from None
    try:
        return asyncio.run(check_worker(address, timeout_s))
    except WorkerUnhealthy as exc:
        print(f"health: worker: {exc}", file=sys.stderr)
        return None


def _default_model() -> str:
    """The replay pipeline's default model parameter (the shipped model, when there is one)."""
    from posecog.graph.loader import load_with_problems

    spec, _ = load_with_problems(resolve_pipeline(DEFAULT_PIPELINE))
    return str(spec.values.get("model") or "")


def cmd_simulate(args: argparse.Namespace) -> int:
    import dataclasses

    from posecog.nodes.sim import SimConfig, simulate

    try:
        config = SimConfig(
            seed=args.seed, duration_s=args.duration, n_nodes=args.nodes, rate_hz=args.rate
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        summary = simulate(config, args.out, truth=not args.no_truth, paired_path=args.paired)
    except OSError as exc:
        raise RuntimeFailure(f"simulate: cannot write: {exc}") from None
    print(json.dumps(dataclasses.asdict(summary), default=str, indent=2))
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from posecog.nodes.model.export import PARITY_TOLERANCE, export_onnx

    try:
        report = export_onnx(args.bundle, args.out)
    except OSError as exc:  # --out is a folder, not writable, ...; bundle errors are ModelError
        raise RuntimeFailure(f"export-onnx: cannot write: {exc}") from None
    print(
        f"wrote {report.path} ({report.bytes:,} bytes, opset {report.opset}, self-contained); "
        f"onnx.checker: ok; max |onnxruntime - numpy| = {report.max_abs_diff:.3g} over "
        f"{report.n_windows} windows (tolerance {PARITY_TOLERANCE:g})"
    )
    if not report.ok:
        print(
            "Error: parity check failed; the ONNX file does not match the weights", file=sys.stderr
        )
        return 1
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from posecog.nodes.model import load_model
    from posecog.nodes.model.evaluate import evaluate, terminal_progress
    from posecog.nodes.model.paired import load_paired

    if args.plot is not None:  # before any work: a missing extra is the first thing to say
        from posecog.nodes.model.reliability_plot import require_matplotlib

        require_matplotlib()
    model = load_model(args.model, args.backend)
    data = load_paired(args.data, n_subcarriers=model.n_subcarriers, window=model.window)
    result = evaluate(
        model,
        data,
        held_out=args.held_out,
        cross_node=args.agreement == "nodes",
        progress=terminal_progress(sys.stderr),
    )
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.format())
    if args.plot is not None:
        from posecog.nodes.model.reliability_plot import write_reliability_plot

        title = f"{args.model.name} on {args.data.name} ({result.n_samples} poses)"
        write_reliability_plot(result.confidence, args.plot, title)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from posecog.nodes.model.training import TrainConfig, require_extras, train

    config = TrainConfig(
        epochs=args.epochs, seed=args.seed, lr=args.lr, weight_decay=args.weight_decay,
        restart_every=args.restart_every, beta=args.beta, dropout_last=args.dropout_last,
        layout=args.layout, normalize=args.normalize, bone_loss=args.bone_loss,
        smooth_loss=args.smooth_loss, curriculum=args.curriculum, noise=args.noise,
        time_shift=args.time_shift, threads=args.threads,
    )  # fmt: skip
    require_extras()  # before reading the data: a missing extra is the first thing to say
    result = train(args.data, args.out, config, progress=sys.stderr)
    print(result.metrics.format_table(result.baseline))
    print(f"wrote {result.results_path}, {', '.join(str(p) for p in result.plots)}")
    print(result.summary(), file=sys.stderr)
    return 0


def cmd_config_schema(_args: argparse.Namespace) -> int:
    print(json.dumps(runtime_config_schema(), indent=2))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "lint": cmd_lint,
    "nodes": cmd_nodes,
    "pipelines": cmd_pipelines,
    "health": cmd_health,
    "simulate": cmd_simulate,
    "evaluate": cmd_evaluate,
    "train": cmd_train,
    "export-onnx": cmd_export_onnx,
    "config-schema": cmd_config_schema,
}
