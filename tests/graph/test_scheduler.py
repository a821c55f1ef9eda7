from __future__ import annotations

import socket
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


# -- readers ----------------------------------------------------------------------------------


def test_a_reader_is_called_on_the_thread_while_its_socket_is_readable() -> None:
    s = ThreadScheduler("loop")
    r, w = socket.socketpair()
    r.setblocking(False)
    got: list[tuple[bytes, str]] = []
    arrived = threading.Event()

    def on_readable() -> None:
        got.append((r.recv(100), threading.current_thread().name))
        arrived.set()

    reader = s.add_reader(r, on_readable)
    w.send(b"abc")
    assert arrived.wait(5)
    assert got == [(b"abc", "loop")]
    reader.dispose()
    w.send(b"late")  # no longer watched: only the barrier below runs
    barrier = threading.Event()
    s.schedule(lambda _s, _t: barrier.set())
    assert barrier.wait(5)
    assert got == [(b"abc", "loop")]
    assert r.recv(100) == b"late"
    s.dispose()
    r.close()
    w.close()


def test_actions_and_timers_wake_a_thread_waiting_on_readers() -> None:
    s = ThreadScheduler("loop")
    r, w = socket.socketpair()
    s.add_reader(r, lambda: None)  # never readable: the thread waits in select()
    ran = threading.Event()
    fired = threading.Event()
    t0 = time.monotonic()
    threading.Thread(target=lambda: s.schedule(lambda _s, _t: ran.set())).start()
    assert ran.wait(5)
    s.schedule_relative(0.05, lambda _s, _t: fired.set())
    assert fired.wait(5)
    assert time.monotonic() - t0 >= 0.05
    s.dispose()
    assert not any(t.name == "loop" for t in threading.enumerate())  # dispose ended select()
    r.close()
    w.close()


def test_an_escaping_exception_goes_to_on_error_and_the_thread_goes_on() -> None:
    errors: list[Exception] = []
    s = ThreadScheduler("t", on_error=errors.append)
    done = threading.Event()

    def boom(_s: object, _t: object) -> None:
        raise RuntimeError("a bug")

    s.schedule(boom)
    s.schedule(lambda _s, _t: done.set())
    assert done.wait(5)  # the thread survived
    assert [str(e) for e in errors] == ["a bug"]
    s.dispose()
