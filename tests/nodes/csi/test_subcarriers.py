"""Subcarrier selections: lltf56 = LLTF bins 0..55; htltf56 = HT-LTF block bins 1..28, 36..63."""

from __future__ import annotations

import numpy as np
import pytest

from posecog.nodes.csi.esp32 import encode_iq
from posecog.nodes.csi.subcarriers import (
    HTLTF56_BINS,
    LLTF56_BINS,
    select_amplitudes,
)
from posecog.nodes.rejection import Rejected


def numbered(n_sub: int) -> bytes:
    """A buffer whose bin k has amplitude 5 * (k % 25 + 1): (re, im) = (3m, 4m), in int8."""
    m = np.arange(n_sub) % 25 + 1
    return encode_iq(3 * m, 4 * m)


def test_the_documented_bins() -> None:
    assert list(LLTF56_BINS) == list(range(56))
    assert list(HTLTF56_BINS) == [*range(65, 93), *range(100, 128)]
    assert len(set(HTLTF56_BINS.tolist())) == 56


@pytest.mark.parametrize("n_sub", [128, 192])
def test_htltf56_reads_the_selected_bins(n_sub: int) -> None:
    rng = np.random.default_rng(n_sub)
    re, im = rng.integers(-90, 90, n_sub), rng.integers(-90, 90, n_sub)
    got = select_amplitudes(encode_iq(re, im), n_sub, "htltf56")
    want = np.sqrt((re**2 + im**2).astype(np.float32))[HTLTF56_BINS]
    assert got.dtype == np.float32 and got.shape == (56,)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_lltf56_is_the_first_56_bins_of_any_frame_size() -> None:
    for n_sub in (64, 128, 192):
        got = select_amplitudes(numbered(n_sub), n_sub, "lltf56")
        np.testing.assert_allclose(got, 5 * (np.arange(56) % 25 + 1))


def test_frames_without_the_selection() -> None:
    with pytest.raises(Rejected) as e:
        select_amplitudes(numbered(64), 64, "htltf56")
    assert e.value.reason == "no_htltf"
    with pytest.raises(Rejected) as e:
        select_amplitudes(numbered(52), 52, "lltf56")
    assert e.value.reason == "too_few_subcarriers"
    with pytest.raises(Rejected):
        select_amplitudes(numbered(64), 128, "htltf56")  # buffer shorter than it claims
