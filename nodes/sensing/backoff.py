"""Capped exponential backoff between the retries of a live source."""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Delays of ``first``, ``first * factor``, ... capped at ``cap`` seconds; ``reset`` after a
    success starts over. Not thread-safe (one per source, used on the source's thread)."""

    def __init__(self, first: float, cap: float, factor: float = 2.0) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap; got first={first}, cap={cap}")
        if factor < 1:
            raise ValueError(f"backoff factor must be >= 1; got {factor}")
        self.first = first
        self.cap = cap
        self.factor = factor
        #: Failures since the last success.
        self.failures = 0
        self._delay = first

    def next(self) -> float:
        """The delay before the next attempt (seconds), and count one more failure."""
        delay = self._delay
        self._delay = min(self.cap, delay * self.factor)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
        self._delay = self.first
