from __future__ import annotations

import pytest

from posecog.nodes.sensing.backoff import Backoff


def test_doubles_up_to_the_cap_and_resets():
    b = Backoff(0.1, 1.0)
    assert [b.next() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert b.failures == 6
    b.reset()
    assert b.failures == 0 and b.next() == 0.1


@pytest.mark.parametrize(("first", "cap", "factor"), [(0, 1, 2), (2, 1, 2), (0.1, 1, 0.5)])
def test_rejects_nonsense(first, cap, factor):
    with pytest.raises(ValueError):
        Backoff(first, cap, factor)
