"""Capped exponential backoff with jitter between the connection attempts of a source or sink."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays of ``first``, ``first * factor``, ... capped at ``cap`` seconds, each shortened by
    a random fraction of at most ``jitter`` (so many sources that lost one server do not retry
    in step, and ``cap`` stays the longest wait); ``reset`` after a success starts over. Not
    thread-safe (one per connection, used on the I/O loop)."""

    def __init__(
        self,
        first: float,
        cap: float,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap; got first={first}, cap={cap}")
        if factor < 1:
            raise ValueError(f"backoff factor must be >= 1; got {factor}")
        if not 0 <= jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1); got {jitter}")
        self.first = first
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        #: Failures since the last success.
        self.failures = 0
        self._delay = first

    def next(self) -> float:
        """The delay before the next attempt (seconds), and count one more failure."""
        delay = self._delay
        self._delay = min(self.cap, delay * self.factor)
        self.failures += 1
        if self.jitter:
            delay *= 1.0 - self.jitter * self._rng.random()
        return round(delay, 6)

    def reset(self) -> None:
        self.failures = 0
        self._delay = self.first
