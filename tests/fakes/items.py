"""Items for tests, derived from the item types' annotations (so a new type is covered
without a table): NaN payloads, numpy scalars, edge values; ``same`` compares bits; and a
registry with a ``listed`` source that gives a list of items, for tests under the Runtime."""

from __future__ import annotations

import dataclasses
import random
import struct
import types
import typing
from typing import Any

import numpy as np
import reactivex
from pydantic import Field
from reactivex import Observable

from posecog.graph.context import BuildContext
from posecog.graph.node import NodeConfig
from posecog.graph.registry import Registry
from posecog.nodes.codec import CODEC
from posecog.nodes.registry import default_registry

#: A float64 NaN with a payload, and a float32 one: both must come back with their bits.
NAN64 = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]
NAN32 = np.array([0x7FC0_1234], dtype=np.uint32).view(np.float32)[0]


def value_of(hint: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value of annotation ``hint``, with NaN payloads, numpy scalars and edge cases."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is np.ndarray or origin is np.ndarray:
        dtype = typing.get_args(args[1])[0] if args else np.float32
        shape = rng.choice([(17, 2), (20, 56), (56,), (0,)])
        arr = np.array([rng.uniform(-1e6, 1e6) for _ in range(int(np.prod(shape)))], dtype)
        arr = arr.reshape(shape)
        if arr.size:
            arr.flat[0] = NAN32 if arr.dtype == np.float32 else NAN64
        return arr
    if origin in (types.UnionType, typing.Union):
        choices = [a for a in args if a is not type(None)] if depth == 0 else list(args)
        return value_of(rng.choice(choices), rng, depth + 1)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(value_of(args[0], rng, depth + 1) for _ in range(rng.randint(0, 3)))
        return tuple(value_of(a, rng, depth + 1) for a in args)
    if origin is dict:
        return {f"k{i}": value_of(args[1], rng, depth + 1) for i in range(rng.randint(0, 4))}
    if origin is list:
        return [value_of(args[0], rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return instance(hint, rng)
    if hint is float:
        return rng.choice([NAN64, float("inf"), -0.0, 1e-310, rng.random(), np.float32(0.25)])
    if hint is int:
        return rng.choice([0, -1, 2**63 - 1, -(2**63), np.int64(7)])
    if hint is bool:
        return rng.choice([True, False, np.bool_(True)])
    if hint is str:
        return rng.choice(["", "numpy", "é✓\x00"])
    if hint is type(None):
        return None
    raise TypeError(hint)


def instance(cls: type, rng: random.Random) -> Any:
    """An item with every field drawn; ``arrived`` stays a plain processing-clock time (sinks
    compute latency from it)."""
    hints = typing.get_type_hints(cls)
    return cls(
        **{
            f.name: rng.random() if f.name == "arrived" else value_of(hints[f.name], rng)
            for f in dataclasses.fields(cls)
        }
    )


def same(a: Any, b: Any) -> bool:
    """Equal types and equal bits, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, np.generic):
        return a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


#: What each ``listed`` source gives, by its ``name``.
LISTS: dict[str, list[Any]] = {}


class ListedConfig(NodeConfig):
    name: str = Field(description="Key in LISTS.")
    period_s: float = Field(0.0, ge=0, description="Seconds between items (0: at once).")


def registry_with_lists() -> Registry:
    """The default registry plus ``listed`` (a finite source, block hop, like a replay)."""
    reg = default_registry().clone()

    @reg.source("listed", config=ListedConfig, gives=CODEC.types, hop="block")
    def listed(config: ListedConfig, ctx: BuildContext) -> Observable[Any]:
        """Give LISTS[name], then complete."""
        items = LISTS[config.name]
        if not config.period_s:
            return reactivex.from_iterable(items, scheduler=ctx.scheduler)
        return reactivex.interval(config.period_s, scheduler=ctx.scheduler).pipe(
            reactivex.operators.take(len(items)),
            reactivex.operators.map(lambda i: items[i]),
        )

    return reg
