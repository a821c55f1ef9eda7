from __future__ import annotations

import threading
import time
from datetime import timedelta

from posecog.graph.scheduler import ThreadScheduler


def test_actions_run_in_order_on_one_thread() -> None:
    s = ThreadScheduler("t")
    seen: list[tuple[int, str]] = []
    done = threading.Event()
    for i in range(100):
        s.schedule(lambda _s, i: seen.append((i, threading.current_thread().name)), i)
    s.schedule(lambda _s, _t: done.set())
    assert done.wait(5)
    assert [i for i, _ in seen] == list(range(100))
    assert {name for _, name in seen} == {"t"}
    s.dispose()


def test_timers_fire_in_due_order_and_can_be_cancelled() -> None:
    s = ThreadScheduler()
    seen: list[str] = []
    done = threading.Event()
    s.schedule_relative(0.06, lambda _s, _t: seen.append("late"))
    s.schedule_relative(timedelta(milliseconds=20), lambda _s, _t: seen.append("early"))
    cancelled = s.schedule_relative(0.04, lambda _s, _t: seen.append("cancelled"))
    cancelled.dispose()
    s.schedule_relative(0.1, lambda _s, _t: done.set())
    t0 = time.monotonic()
    assert done.wait(5)
    assert seen == ["early", "late"]
    assert time.monotonic() - t0 >= 0.09
    s.dispose()


def test_periodic_and_dispose_stops_everything() -> None:
    s = ThreadScheduler()
    ticks: list[int] = []
    enough = threading.Event()

    def tick(state: int | None) -> int:
        ticks.append(state or 0)
        if len(ticks) >= 3:
            enough.set()
        return (state or 0) + 1

    s.schedule_periodic(0.01, tick, 0)
    assert enough.wait(5)
    s.dispose()
    n = len(ticks)
    after = threading.Event()
    s.schedule(lambda _s, _t: after.set())  # refused once disposed
    assert not after.wait(0.05)
    assert len(ticks) <= n + 1
