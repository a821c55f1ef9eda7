"""Bounded line splitting and the gzip guard (issue 10 points 7 and 9)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from posecog.nodes.csi import lines
from posecog.nodes.csi.lines import GzipBomb, GzipGuard, split_lines
from posecog.nodes.csi.recording import read_recording
from posecog.nodes.items import CsiFrame
from posecog.nodes.rejection import Rejected
from tests.conftest import EXCERPT_B


def _tiny_reads(data: bytes, size: int):
    stream = io.BytesIO(data)
    return lambda _n: stream.read(size)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1 << 20])
def test_every_line_ending_at_any_chunk_boundary(size: int) -> None:
    data = b"a\nbb\r\ncc\rdd\r\n\r\ne"
    got = list(split_lines(_tiny_reads(data, size)))
    assert got == [b"a\n", b"bb\r\n", b"cc\r", b"dd\r\n", b"\r\n", b"e"]


@pytest.mark.parametrize("size", [1, 5, 64])
def test_an_oversize_line_is_its_length_and_reading_goes_on(size: int) -> None:
    data = b"ok\n" + b"x" * 50 + b"\nfine\n" + b"y" * 40
    got = list(split_lines(_tiny_reads(data, size), max_line=20))
    assert got == [b"ok\n", 51, b"fine\n", 40]


def test_recordings_with_cr_only_endings_give_every_frame(tmp_path: Path) -> None:
    text = EXCERPT_B.read_bytes()
    mac = tmp_path / "mac.csi.jsonl"
    mac.write_bytes(text.replace(b"\n", b"\r"))
    want = [(e.line, e.value.ts) for e in read_recording(EXCERPT_B)]
    assert [(e.line, e.value.ts) for e in read_recording(mac)] == want and len(want) == 60


def test_a_huge_line_is_counted_and_the_others_come_through(tmp_path: Path) -> None:
    rows = EXCERPT_B.read_text().splitlines()
    path = tmp_path / "huge.csi.jsonl"
    huge = json.dumps({"timestamp": 1.0, "subcarriers": [1.0] * 56, "pad": "z" * (3 << 20)})
    path.write_text("\n".join([rows[0], huge, *rows[1:]]) + "\n")
    entries = list(read_recording(path))
    skips = [e.value for e in entries if isinstance(e.value, Rejected)]
    assert [s.reason for s in skips] == ["oversize_line"] and entries[1].line == 2
    assert sum(isinstance(e.value, CsiFrame) for e in entries) == 60


def test_negative_amplitudes_are_bad_input(tmp_path: Path) -> None:
    row = json.loads(EXCERPT_B.read_text().splitlines()[0])
    row["subcarriers"][3] = -2.0
    path = tmp_path / "neg.csi.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (entry,) = list(read_recording(path))
    assert isinstance(entry.value, Rejected) and entry.value.reason == "negative_amplitude"


def test_a_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines, "GZIP_SLACK", 1 << 20)  # a small bomb is enough to show it
    rows = EXCERPT_B.read_bytes()
    bomb = tmp_path / "bomb.csi.jsonl.gz"
    bomb.write_bytes(gzip.compress(rows + b"\n" * (64 << 20)))  # 64 MiB of blank lines
    entries = list(read_recording(bomb))
    assert sum(isinstance(e.value, CsiFrame) for e in entries) == 60  # the lines before it
    last = entries[-1].value
    assert isinstance(last, Rejected) and last.reason == "gzip_bomb"
    # and a real recording, compressed, is never one
    plain = tmp_path / "ok.csi.jsonl.gz"
    plain.write_bytes(gzip.compress(rows * 50))
    assert not [e for e in read_recording(plain) if isinstance(e.value, Rejected)]


def test_the_guard_counts_against_the_compressed_bytes_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lines, "GZIP_SLACK", 0)
    raw = io.BytesIO(gzip.compress(b"\0" * (4 << 20)))
    guard = GzipGuard(gzip.GzipFile(fileobj=raw), raw, ratio=10)
    with pytest.raises(GzipBomb, match="over 10 times"):
        while guard.read(1 << 16):
            pass
