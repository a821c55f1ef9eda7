from __future__ import annotations

import random

import pytest

from posecog.graph.backoff import Backoff


def test_doubles_up_to_the_cap_and_resets():
    b = Backoff(0.1, 1.0, jitter=0)
    assert [b.next() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert b.failures == 6
    b.reset()
    assert b.failures == 0 and b.next() == 0.1


def test_jitter_shortens_each_delay_by_at_most_its_fraction_and_never_passes_the_cap():
    b = Backoff(0.1, 1.0, jitter=0.5, rng=random.Random(7))
    nominal = [0.1, 0.2, 0.4, 0.8] + [1.0] * 50
    delays = [b.next() for _ in nominal]
    for d, n in zip(delays, nominal, strict=True):
        assert n * 0.5 <= d <= n
    assert len(set(delays[4:])) > 40  # spread: sources do not retry in step


@pytest.mark.parametrize(
    ("first", "cap", "factor", "jitter"),
    [(0, 1, 2, 0), (2, 1, 2, 0), (0.1, 1, 0.5, 0), (0.1, 1, 2, 1.0), (0.1, 1, 2, -0.1)],
)
def test_rejects_nonsense(first, cap, factor, jitter):
    with pytest.raises(ValueError):
        Backoff(first, cap, factor, jitter)
