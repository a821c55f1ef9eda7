"""The appliance's runtime ``config.json``: the reference cog's keys plus ``pipeline`` and
``parameters``.

Reference keys map onto pipeline parameters of the same meaning (``model_path`` -> ``model``,
``sensing_url``, ``poll_ms``, ``min_confidence``); a key the chosen pipeline has no parameter
for is accepted (the gateway writes the whole reference schema) and reported as unused in
``run.started``. ``model_path`` resolves against the folder holding ``config.json`` (the
cog's install directory on the appliance) when relative. Unknown keys are an error, and so are
values of the wrong JSON type (strict: ``"40"`` is no integer, ``true`` no number).

The file is read within ``posecog.graph.config_text``'s bounds (size, nesting, integer digits;
strict UTF-8; ``NaN``/``Infinity`` are not JSON): each refusal is one ``Error:`` line, exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from posecog.graph.config_text import TextLimit, decode_utf8, load_json, read_bounded, shown
from posecog.graph.errors import ConfigError
from posecog.nodes.vitals_worker.protocol import parse_address

__all__ = ["REFERENCE_TO_PARAM", "RuntimeConfig", "load_runtime_config", "runtime_config_schema"]

#: Reference config key -> pipeline parameter name.
REFERENCE_TO_PARAM = {
    "sensing_url": "sensing_url",
    "model_path": "model",
    "poll_ms": "poll_ms",
    "min_confidence": "min_confidence",
    "worker": "worker",  # not a reference key: the vitals worker of appliance-grpc
}


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    sensing_url: str | None = Field(
        None,
        description="URL of the local sensing-server's latest-snapshot endpoint.",
        json_schema_extra={"format": "uri"},
    )
    model_path: str | None = Field(
        None,
        description="Model weights (safetensors); relative paths resolve against the "
        "folder of config.json (the install directory).",
    )
    poll_ms: int | None = Field(None, ge=10, le=1000, description="Polling period (ms).")
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="Drop poses whose confidence is below this."
    )
    worker: str | None = Field(
        None,
        description="host:port of the vitals worker (gRPC, cognitum.vitals.v1) that the "
        "appliance-grpc pipeline reads; default 127.0.0.1:50054.",
    )
    pipeline: str | None = Field(
        None,
        description="Pipeline to run: a shipped name or a path (default: appliance, the "
        "live sensing-server poll).",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Pipeline parameters, as with --set key=value."
    )

    @field_validator("worker")
    @classmethod
    def _worker(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value


def load_runtime_config(path: Path) -> tuple[RuntimeConfig, dict[str, Any]]:
    """The config and the parameter overrides it implies (reference keys mapped, paths
    resolved). Errors name the file and the key."""
    name = shown(str(path), 120)
    try:
        raw = load_json(decode_utf8(read_bounded(path)))
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the config: {exc.strerror or exc}") from None
    except TextLimit as exc:
        raise ConfigError(exc.located(name)) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}:{exc.lineno}:{exc.colno}: must be JSON; {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: must be a JSON object; got {type(raw).__name__}")
    try:
        cfg = RuntimeConfig.model_validate(raw)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            key = ".".join(str(x) for x in err["loc"])
            what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            msgs.append(f"{name}: {shown(key)}: {what}; got {shown(err.get('input'))}")
        raise ConfigError("\n".join(msgs)) from None
    params: dict[str, Any] = {}
    for key, param in REFERENCE_TO_PARAM.items():
        value = getattr(cfg, key)
        if value is None:
            continue
        if key == "model_path":
            p = Path(value).expanduser()
            value = str(p if p.is_absolute() else path.resolve().parent / p)
        params[param] = value
    params.update(cfg.parameters)
    return cfg, params


def runtime_config_schema() -> dict[str, Any]:
    """The JSON Schema of ``config.json``, generated from ``RuntimeConfig`` (shipped as
    ``cog/config.schema.json``; a test keeps the file current)."""
    schema = RuntimeConfig.model_json_schema()
    props: dict[str, Any] = {}
    for name, raw in schema["properties"].items():
        prop = dict(raw)
        # Optional keys: show the plain type (the gateway's editors do not need the null branch).
        if "anyOf" in prop:
            branches = [b for b in prop.pop("anyOf") if b.get("type") != "null"]
            prop = {**branches[0], **prop} if len(branches) == 1 else {"anyOf": branches, **prop}
        if prop.get("default") is None:
            prop.pop("default", None)
        prop.pop("title", None)
        props[name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Pose Estimation Cog Runtime Config (cog-pose-estimation)",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
    }
