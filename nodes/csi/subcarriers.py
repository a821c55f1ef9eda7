"""Subcarrier selections: which 56 amplitudes of an ESP32 CSI buffer make a frame.

An ESP32 CSI buffer is a run of 64-bin blocks, each in FFT order (bin k = tone +k for k 0..31,
bin 64-k = tone -k): the LLTF block (bins 0..63), then on 128/192-subcarrier frames the HT-LTF
block (bins 64..127), then on 192-subcarrier frames the STBC HT-LTF block (bins 128..191).

* ``lltf56``: bins 0..55 of the LLTF block, in FFT order, null bins 0 and 27..37 included.
  This is what the sensing-server puts in ``nodes[].amplitude`` and so what pose_v1 was
  trained on. Every frame of at least 56 subcarriers has it.
* ``htltf56``: the 56 real HT20 tones of the HT-LTF block, tones +1..+28 then -28..-1, which are
  the block's FFT bins 1..28 and 36..63 (frame bins 65..92 and 100..127), in that order. The
  block's DC bin 0 and guard bins 29..35 hold no HT20 data tone and are left out (the guards
  read zero; DC reads zero on 128-subcarrier frames, not always on 192). Only 128- and
  192-subcarrier frames carry an HT-LTF block; a 64-subcarrier frame has none
  (``Rejected("no_htltf")``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from posecog.nodes.items import FloatArray
from posecog.nodes.rejection import Rejected

from .esp32 import LLTF_BINS, amplitude

__all__ = [
    "HTLTF56_BINS",
    "LLTF56_BINS",
    "SELECTIONS",
    "Selection",
    "select_amplitudes",
]

Selection = Literal["lltf56", "htltf56"]
SELECTIONS: tuple[Selection, ...] = ("lltf56", "htltf56")

#: Frame bins of each selection, in output order.
LLTF56_BINS: npt.NDArray[np.intp] = np.arange(LLTF_BINS)
HTLTF56_BINS: npt.NDArray[np.intp] = np.concatenate([np.arange(65, 93), np.arange(100, 128)])

_HTLTF_END = 128  # the HT-LTF block ends at bin 127


def select_amplitudes(iq: bytes, n_subcarriers: int, selection: Selection) -> FloatArray:
    """The 56 float32 amplitudes of ``selection`` from a CSI buffer of ``n_subcarriers`` pairs
    (first antenna). Raises ``Rejected("no_htltf")`` when the frame is too small for the
    selection and ``Rejected("truncated")`` when ``iq`` is shorter than ``n_subcarriers``
    says."""
    if selection == "lltf56":
        if n_subcarriers < LLTF_BINS:
            raise Rejected(
                "too_few_subcarriers", f"lltf56 needs {LLTF_BINS} subcarriers; got {n_subcarriers}"
            )
        # only the pairs needed: amplitude() of a prefix is the prefix of amplitude()
        return amplitude(iq, LLTF_BINS)
    if n_subcarriers < _HTLTF_END:
        raise Rejected(
            "no_htltf",
            f"a {n_subcarriers}-subcarrier frame has no HT-LTF block (needs 128 or 192)",
        )
    amps = amplitude(iq, _HTLTF_END)
    selected: FloatArray = amps[HTLTF56_BINS]
    return selected
