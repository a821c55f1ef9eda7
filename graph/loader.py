"""Load a pipeline YAML file into a ``PipelineSpec``: no I/O beyond reading the file itself.

File shape (declared once, in ``pipeline_file.py``; its models check it)::

    name: replay                       # required
    description: what it is for
    parameters:                        # optional; each has a default (and a description)
      recording: {default: samples/x.jsonl.gz, description: the recording to replay}
      speed: 1.0                       # short form: just the default
    nodes:
      - id: replay                     # unique
        type: jsonl_replay             # a registered node kind
        inputs: [other]                # ids; a plain string is one input
        # inputs: {left: a, right: [b, c]}   # a kind with named ports: port -> id(s)
        hop: {policy: latest, capacity: 256}   # sources only, optional
        config: {path: "${recording}"}

Substitution inside ``config`` values: ``${name}`` (a parameter; a value that is exactly one
reference keeps the parameter's type), ``${env:VAR}`` / ``${env:VAR:-fallback}``, and
``${pipeline_dir}`` (the folder of the YAML file). Overrides (``--set``) are ``key=value`` with
the value read by ``config_text.parse_cli_value`` (``024`` is 24, ``1e-300`` a float, text a
string as written): ``key`` is a parameter name, or ``<node id>.<config key>`` to override one
node's config directly.

The file is read within the bounds of ``config_text`` (size, nesting, aliases, integer digits;
UTF-8, YAML 1.2 core schema): a file over them is one located problem, and nothing else is
checked. A key given twice in a mapping is a problem (the first value is kept).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .config_text import (
    MAX_DOCUMENT_BYTES,
    TextLimit,
    compose_yaml,
    decode_utf8,
    parse_cli_value,
    read_bounded,
    shown,
    to_python,
)
from .errors import ConfigError, LintError, Problem
from .pipeline_file import shape_problems
from .registry import did_you_mean
from .secrets import REDACT
from .spec import Mark, NodeSpec, ParamSpec, Path_, PipelineSpec

__all__ = ["load_pipeline", "load_with_problems", "parse_overrides"]

_REF = re.compile(r"\$\{([^}]*)\}")


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["a=1", "n.k=x"]`` -> ``{"a": 1, "n.k": "x"}`` (values by ``parse_cli_value``); a
    missing ``=`` or a value it refuses is a ConfigError."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes key=value; got '{shown(item)}'")
        try:
            out[key.strip()] = parse_cli_value(raw)
        except TextLimit as exc:
            raise ConfigError(f"--set {shown(key.strip())}={shown(raw)}: {exc.message}") from None
    return out


def _label(path: Path_) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path).lstrip(".")


class _Loader:
    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.problems: list[Problem] = []
        self.marks: dict[Path_, Mark] = {}
        #: Paths of the values the file's shape refuses (the spec leaves them out).
        self.refused: list[Path_] = []

    def usable(self, path: Path_) -> bool:
        """True when the value at ``path`` (and everything in it) has the right shape."""
        return not any(bad[: len(path)] == path for bad in self.refused)

    def salvage(self, value: Any, path: Path_) -> Any:
        """``value`` without the entries of a mapping the shape check refused; None when it was
        refused itself (a list goes whole: dropping an item would shift the locations)."""
        if self.usable(path):
            return value
        if isinstance(value, dict) and path not in self.refused:
            out = {k: self.salvage(v, (*path, k)) for k, v in value.items()}
            return {k: v for k, v in out.items() if v is not None}
        return None

    def problem(self, path: Path_, where: str, message: str) -> None:
        p = tuple(path)
        while p and p not in self.marks:
            p = p[:-1]
        line, col = self.marks.get(p, (1, 1))
        self.problems.append(Problem(self.file, line, col, where, message))

    def substitute(self, value: Any, path: Path_, values: dict[str, Any], where: str) -> Any:
        if isinstance(value, dict):
            return {k: self.substitute(v, (*path, k), values, where) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, (*path, i), values, where) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _REF.fullmatch(value)
        if whole:
            return self.resolve(whole.group(1), path, values, where)
        return _REF.sub(lambda m: str(self.resolve(m.group(1), path, values, where)), value)

    def resolve(self, ref: str, path: Path_, values: dict[str, Any], where: str) -> Any:
        ref = ref.strip()
        if ref.startswith("env:"):
            var, _, fallback = ref[4:].partition(":-")
            if var in self.env:
                return self.env[var]
            if ":-" in ref:
                return fallback
            self.problem(
                path,
                where,
                f"environment variable '{var}' must be set; got nothing"
                " (use ${env:VAR:-default} for a fallback)",
            )
            return ""
        if ref in values:
            return values[ref]
        self.problem(
            path,
            where,
            f"'${{{ref}}}' must name a parameter; got an unknown name{did_you_mean(ref, values)}",
        )
        return ""


def load_with_problems(
    source: str | Path,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
) -> tuple[PipelineSpec, list[Problem]]:
    """Load ``source`` (a path; ``text`` if given is its content) and every problem found."""
    file = str(source)
    ld = _Loader(file, os.environ if env is None else env)
    spec = PipelineSpec(name="", description="", file=file)

    def unreadable(line: int, col: int, message: str) -> tuple[PipelineSpec, list[Problem]]:
        spec.readable = False
        ld.problems.append(Problem(file, line, col, "", message))
        return spec, ld.problems

    def duplicate(path: Path_, key: str, first: Mark, again: Mark) -> None:
        where = _label(path)
        ld.problems.append(
            Problem(
                file,
                *again,
                where,
                f"key '{shown(key)}' must appear once in a mapping; got it again"
                f" (first at {first[0]}:{first[1]}; that one is used)",
            )
        )

    try:
        if text is None:
            text = decode_utf8(read_bounded(source))
        elif len(text) > MAX_DOCUMENT_BYTES or len(text.encode()) > MAX_DOCUMENT_BYTES:
            raise TextLimit(
                f"must be at most {MAX_DOCUMENT_BYTES:,} bytes (MAX_DOCUMENT_BYTES); got more",
                (1, 1),
            )
        root = compose_yaml(text)
        doc = to_python(root, (), ld.marks, duplicate) if root is not None else None
    except OSError as exc:
        return unreadable(1, 1, f"cannot read the file: {exc.strerror or exc}")
    except TextLimit as exc:
        return unreadable(*(exc.mark or (1, 1)), exc.message)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, ...)
        at = text[: exc.position] if text is not None else ""
        line, col = at.count("\n") + 1, exc.position - (at.rfind("\n") + 1) + 1
        return unreadable(
            line, col, f"must be valid YAML; got the character #x{exc.character:04x}, not allowed"
        )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = getattr(exc, "problem", None) or str(exc)
        return unreadable(line, col, f"must be valid YAML; got {what}")
    spec.marks = ld.marks
    spec.refused = ld.refused
    if not isinstance(doc, dict):
        ld.problem((), "", f"a pipeline must be a mapping; got {type(doc).__name__}")
        return spec, ld.problems
    for path, where, message in shape_problems(doc):
        ld.problem(path, where, message)
        if path[-1] != "<key>":  # an unknown key spoils nothing else
            ld.refused.append(path)
    name = doc.get("name") if ld.usable(("name",)) else None
    spec.name = name if isinstance(name, str) and name else Path(file).stem
    description = doc.get("description") if ld.usable(("description",)) else None
    spec.description = description if isinstance(description, str) else ""
    builtins = {"pipeline_dir": str(Path(file).resolve().parent)}
    values = _parameters(ld, doc.get("parameters"), spec)
    # Defaults may use the built-ins and the environment, not other parameters.
    for pname, default in values.items():
        values[pname] = ld.substitute(default, ("parameters", pname), builtins, "parameters")
    values.update(builtins)
    node_overrides = _apply_overrides(ld, overrides or {}, values, spec)
    spec.values = values
    _register_secrets(spec)
    _nodes(ld, doc.get("nodes"), values, node_overrides, spec)
    return spec, ld.problems


def _register_secrets(spec: PipelineSpec) -> None:
    """Mask secret parameters and the credentials of URL-valued ones in every output, from
    before the first problem or event that could print them (``graph.secrets``)."""
    for param in spec.parameters.values():
        value = spec.values.get(param.name)
        if param.secret and value is not None:
            REDACT.add(str(value))
        REDACT.add_url(value)


def _parameters(ld: _Loader, raw: Any, spec: PipelineSpec) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if not isinstance(raw, dict) or not ld.usable(("parameters",)):
        return values  # None (no parameters) or a shape problem already reported
    for pname, pdef in raw.items():
        path: Path_ = ("parameters", pname)
        if isinstance(pdef, dict):
            if "default" not in pdef:
                continue
            described = ld.usable((*path, "description"))
            p = ParamSpec(
                pname,
                pdef["default"],
                pdef.get("description", "") if described else "",
                secret=pdef.get("secret") is True,
            )
        elif ld.usable(path):
            p = ParamSpec(pname, pdef)
        else:
            continue
        spec.parameters[pname] = p
        values[pname] = p.default
    return values


def _apply_overrides(
    ld: _Loader, overrides: Mapping[str, Any], values: dict[str, Any], spec: PipelineSpec
) -> dict[str, dict[str, Any]]:
    per_node: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if key in spec.parameters:
            values[key] = value
        elif "." in key:
            node_id, _, cfg_key = key.partition(".")
            per_node.setdefault(node_id, {})[cfg_key] = value
        else:
            ld.problem(
                (),
                "--set",
                f"'{shown(key)}' must be a parameter of pipeline '{spec.name}' or <node>.<key>;"
                f" got an unknown name{did_you_mean(key, spec.parameters)}",
            )
    return per_node


def _nodes(
    ld: _Loader,
    raw: Any,
    values: dict[str, Any],
    node_overrides: dict[str, dict[str, Any]],
    spec: PipelineSpec,
) -> None:
    seen: set[str] = set()
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        path: Path_ = ("nodes", i)
        if not isinstance(entry, dict):
            continue  # reported by the shape check

        def field(key: str, default: Any, entry: dict[str, Any] = entry, path: Path_ = path) -> Any:
            """The entry's ``key`` as written, or ``default`` when absent or misshapen."""
            value = ld.salvage(entry.get(key), (*path, key))
            return default if value is None else value

        nid = field("id", f"#{i}")
        where = f"nodes[{i}] '{nid}'"
        if nid in seen:
            ld.problem((*path, "id"), where, f"ids must be unique; got '{nid}' twice")
        seen.add(nid)
        inputs = field("inputs", [])
        ports = None
        if isinstance(inputs, dict):
            ports = {
                port: [ids] if isinstance(ids, str) else list(ids) for port, ids in inputs.items()
            }
            inputs = [src for ids in ports.values() for src in ids]
        elif isinstance(inputs, str):
            inputs = [inputs]
        config = ld.substitute(field("config", {}), (*path, "config"), values, where)
        config.update(node_overrides.pop(nid, {}))
        hop = field("hop", None)
        if hop is not None:
            hop = {k: v for k, v in hop.items() if v is not None}
        spec.nodes.append(NodeSpec(nid, field("type", ""), list(inputs), config, i, hop, ports))
    for nid in node_overrides:
        ld.problem(
            (),
            "--set",
            f"'{shown(nid)}.…' must name a node id; got an unknown id{did_you_mean(nid, seen)}",
        )


def load_pipeline(
    source: str | Path,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
) -> PipelineSpec:
    """Load a pipeline; raise ``LintError`` listing every problem found while loading."""
    spec, problems = load_with_problems(source, overrides, env, text)
    if problems:
        raise LintError(problems)
    return spec
