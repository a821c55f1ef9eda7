"""``Rejected``: the one "this input is malformed: reason + detail" of every decoder."""

from __future__ import annotations

import pytest

from posecog.nodes.rejection import Rejected


def test_a_rejection_is_its_reason_and_detail() -> None:
    r = Rejected("bad_type", "'tick' must be an integer; got 'x'")
    assert (r.reason, r.detail) == ("bad_type", "'tick' must be an integer; got 'x'")
    assert str(r) == "bad_type: 'tick' must be an integer; got 'x'"
    assert str(Rejected("no_data_yet")) == "no_data_yet"
    assert repr(r) == "Rejected('bad_type', \"'tick' must be an integer; got 'x'\")"


def test_rejections_compare_and_hash_by_reason_and_detail() -> None:
    assert Rejected("a", "x") == Rejected("a", "x")
    assert Rejected("a", "x") != Rejected("a", "y") and Rejected("a") != Rejected("b")
    assert len({Rejected("a", "x"), Rejected("a", "x"), Rejected("b")}) == 2
    assert Rejected("a") != "a"


def test_field_readers_raise_it_and_callers_may_catch_value_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        raise Rejected("truncated", "4 bytes")
