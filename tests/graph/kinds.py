"""Tiny domain-free node kinds for kernel tests: integers in, integers out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import reactivex
from pydantic import Field
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import Disposable

from posecog.graph.context import BuildContext
from posecog.graph.errors import Drop
from posecog.graph.node import NodeConfig
from posecog.graph.registry import Registry

#: What each ``collect`` sink received, by its ``name``.
COLLECTED: dict[str, list[Any]] = {}


class Num(int):
    """An item type for tests (ints that know they are items)."""


class Text(str):
    """A second item type, to test edge typing."""


class CountConfig(NodeConfig):
    n: int = Field(10, ge=0, description="How many numbers.")
    period: float = Field(
        0.0, ge=0, description="Seconds between numbers (0: as fast as possible)."
    )


class ScaleConfig(NodeConfig):
    factor: int = Field(2, description="Multiplier.")
    fail_on: list[int] = Field(default_factory=list, description="Values that raise.")
    drop_on: list[int] = Field(default_factory=list, description="Values dropped via Drop.")


class CollectConfig(NodeConfig):
    name: str = Field(description="Key in COLLECTED.")


def make_registry() -> Registry:
    reg = Registry()

    @reg.source("count", config=CountConfig, gives=Num, hop="block", hop_capacity=4)
    def count(config: CountConfig, ctx: BuildContext) -> Observable[Num]:
        """Emit 0..n-1, then complete."""

        def subscribe(
            observer: abc.ObserverBase[Num], _s: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            stopped = False

            def loop(_sch: abc.SchedulerBase, _st: Any = None) -> None:
                for i in range(config.n):
                    if stopped:
                        return
                    observer.on_next(Num(i))
                observer.on_completed()

            def step(_sch: abc.SchedulerBase, i: int) -> None:
                if stopped:
                    return
                if i >= config.n:
                    observer.on_completed()
                    return
                observer.on_next(Num(i))
                ctx.scheduler.schedule_relative(config.period, step, i + 1)

            if config.period:
                ctx.scheduler.schedule(step, 0)
            else:
                ctx.scheduler.schedule(loop)

            def stop() -> None:
                nonlocal stopped
                stopped = True

            return Disposable(stop)

        return reactivex.create(subscribe)

    @reg.transform("scale", config=ScaleConfig, takes=Num, gives=Num)
    def scale(
        config: ScaleConfig, ctx: BuildContext
    ) -> Callable[[Observable[Num]], Observable[Num]]:
        """Multiply by factor."""

        def fn(x: Num) -> tuple[Num, ...]:
            if x in config.drop_on:
                raise Drop("unwanted", f"value {x}")
            if x in config.fail_on:
                raise ValueError(f"bad value {x}")
            return (Num(x * config.factor),)

        return ctx.process(fn)

    @reg.transform("describe", config=NodeConfig, takes=Num, gives=Text)
    def describe(
        _config: NodeConfig, ctx: BuildContext
    ) -> Callable[[Observable[Num]], Observable[Text]]:
        """Numbers as text."""
        return ctx.map(lambda x: Text(str(x)))

    @reg.sink("collect", config=CollectConfig, takes=(Num, Text))
    def collect(
        config: CollectConfig, ctx: BuildContext
    ) -> Callable[[Observable[Any]], Observable[Any]]:
        """Append items to COLLECTED[name]."""
        bucket = COLLECTED.setdefault(config.name, [])
        return lambda source: source.pipe(ops.do_action(bucket.append))

    @reg.transform("label", config=NodeConfig, inputs={"left": Num, "right": Num}, gives=Text)
    def label(
        _config: NodeConfig, _ctx: BuildContext
    ) -> Callable[[Mapping[str, Observable[Num]]], Observable[Text]]:
        """Two ports of the same type, told apart by name: each number as ``port:value``."""

        def operator(ports: Mapping[str, Observable[Num]]) -> Observable[Text]:
            return reactivex.merge(
                *(
                    stream.pipe(ops.map(lambda x, port=port: Text(f"{port}:{x}")))
                    for port, stream in ports.items()
                )
            )

        return operator

    @reg.sink("text_only", config=NodeConfig, takes=Text)
    def text_only(
        _config: NodeConfig, _ctx: BuildContext
    ) -> Callable[[Observable[Any]], Observable[Any]]:
        """Accepts text only."""
        return lambda source: source

    return reg
