"""The lines of a recording, bounded: memory depends on these limits, never on the input.

``split_lines`` reads a byte stream in chunks and yields each line with its ending. Any of
``\\n``, ``\\r\\n`` and a lone ``\\r`` (files from old Mac tools) ends a line. A line longer than
``max_line`` is not kept: its length is yielded instead (an ``int``) and the reader counts it
(``oversize_line``); reading goes on at the next line. ``GzipGuard`` refuses a ``.gz`` whose
output outgrows its input by more than ``MAX_GZIP_RATIO`` (a decompression bomb): a real
recording compresses about 5 to 20 times.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from typing import IO

__all__ = [
    "MAX_GZIP_RATIO",
    "MAX_LINE",
    "GzipBomb",
    "GzipGuard",
    "split_lines",
]

#: Longest line kept (bytes). A 192-subcarrier raw_csi line is about 1.7 KB, a 4-node sensing
#: update about 6 KB: 1 MiB is generous and still bounds memory.
MAX_LINE = 1 << 20
#: Bytes read at a time.
CHUNK = 1 << 20
#: Decompressed bytes per compressed byte above which a .gz is refused (after the first
#: ``GZIP_SLACK`` bytes, so small files with long runs pass).
MAX_GZIP_RATIO = 200
GZIP_SLACK = 64 << 20


def split_lines(read: Callable[[int], bytes], max_line: int = MAX_LINE) -> Iterator[bytes | int]:
    """Each line of ``read``'s stream with its ending (the last one may have none), or, for a
    line longer than ``max_line``, its length."""
    carry = b""
    skipping = 0  # bytes of an oversize line seen so far, while skipping to its end
    while chunk := read(CHUNK):
        parts = (carry + chunk if carry else chunk).splitlines(keepends=True)
        # the last piece waits for the next chunk unless it ended with "\n": without an ending
        # it is incomplete, and a lone "\r" may be the first half of "\r\n"
        carry = b"" if parts[-1].endswith(b"\n") else parts.pop()
        for part in parts:
            if skipping:
                yield skipping + len(part)
                skipping = 0
            elif len(part) > max_line:
                yield len(part)
            else:
                yield part
        if skipping or len(carry) > max_line:
            skipping += len(carry)
            carry = b""
    if skipping:
        yield skipping + len(carry)
    elif carry:
        yield carry


class GzipBomb(OSError):
    """A .gz that decompresses to far more than a recording would."""


class GzipGuard:
    """``read(n)`` of a gzip stream, counting what it gave against what the compressed file
    ``raw`` has been read; raises ``GzipBomb`` past ``MAX_GZIP_RATIO``."""

    def __init__(self, gz: gzip.GzipFile, raw: IO[bytes], ratio: int = MAX_GZIP_RATIO) -> None:
        self.gz, self.raw, self.ratio = gz, raw, ratio
        self.out = 0

    def read(self, n: int) -> bytes:
        # read1: what one read of the compressed file gives, so the lines before a cut-off
        # end come out before its EOFError (read(n) would lose them with it)
        data = self.gz.read1(n)
        self.out += len(data)
        if self.out > GZIP_SLACK and self.out > self.ratio * max(1, self.raw.tell()):
            raise GzipBomb(
                f"decompresses to over {self.ratio} times its size ({self.out} bytes from "
                f"{self.raw.tell()}): not a recording (a decompression bomb?)"
            )
        return data
