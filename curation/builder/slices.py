"""Parts of a WARC as units of work: the whole file, a byte range cut at record boundaries, or the records a
Common Crawl index selected.

A WARC of Common Crawl is one gzip member per record, so any member start is a place to cut. A split is given
by nominal offsets only (the driver needs the file size, nothing else); the worker moves each nominal offset
forward to the next member that starts a WARC record other than ``metadata`` (CC's metadata record belongs to
the response before it), so neighbouring splits meet exactly and every record is read by one split. The bytes
are read through the same stream as a whole file (a local file, or the retrying range reader for URLs), and
the records' offsets are those in the file, so a split or selected record yields the same rows as a full scan.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from io import SEEK_SET, BufferedReader, RawIOBase
from typing import Any, BinaryIO

from curation.core import io
from curation.core.remote import RemoteConfig, open_raw
from curation.core.stage import path_key
from curation.core.stats import Stats

GZIP_MAGIC = b"\x1f\x8b\x08"
_SYNC_WINDOW = 256 * 1024
_HEAD_BYTES = 64 * 1024
_WARC_TYPE = re.compile(rb"\r?\nWARC-Type:[ \t]*([A-Za-z]+)", re.I)
_LOCAL_BUFFER = 1 << 20
_WARCINFO_BYTES = 16 * 1024


@dataclass(frozen=True)
class WarcSlice:
    """What one unit reads of ``path``: the whole file; ``split=(start, end)``, nominal byte offsets moved to
    record boundaries by the worker; or ``records``, exact ``(offset, length)`` members chosen by an index,
    with the index's languages per offset (``languages``) standing in for the metadata records not read."""

    path: str
    split: tuple[int, int] | None = None
    records: tuple[tuple[int, int], ...] = ()
    languages: dict[int, list[str]] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        base = path_key(self.path)
        return f"{base}.at{self.split[0]}" if self.split else base

    @property
    def starts_at_zero(self) -> bool:
        return (self.split is None or self.split[0] == 0) and not self.records


def split_file(path: str, size: int, split_bytes: int | None) -> list[WarcSlice]:
    """``path`` as one slice, or as nominal ranges of ``split_bytes`` when it is a larger gzip WARC."""
    if not split_bytes or size <= split_bytes or not path.endswith(".gz"):
        return [WarcSlice(path)]
    starts = list(range(0, size, split_bytes))
    return [WarcSlice(path, (a, min(a + split_bytes, size))) for a in starts]


def file_size(path: str) -> int:
    return int(io.identity(path)["size_bytes"])


class RangeStream(RawIOBase):
    """A forward stream of the concatenated byte ranges ``ranges`` of the seekable raw stream ``raw``;
    :meth:`file_offset` maps a position in it back to the file."""

    def __init__(self, raw: Any, ranges: list[tuple[int, int]]) -> None:
        super().__init__()
        self.raw, self.ranges = raw, [(a, b) for a, b in ranges if b > a]
        self.index, self.offset, self.pos = 0, self.ranges[0][0] if self.ranges else 0, 0

    @property
    def error(self) -> Any:  # the retrying reader's failure, for ``remote_error``
        return getattr(self.raw, "error", None)

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        while self.index < len(self.ranges) and self.offset >= self.ranges[self.index][1]:
            self.index += 1
            if self.index < len(self.ranges):
                self.offset = self.ranges[self.index][0]
        if self.index >= len(self.ranges):
            return 0
        want = min(len(buffer), self.ranges[self.index][1] - self.offset)
        self.raw.seek(self.offset, SEEK_SET)
        n = self.raw.readinto(memoryview(buffer)[:want]) or 0
        if n == 0:
            raise OSError(f"unexpected end of file at {self.offset}")
        self.offset += n
        self.pos += n
        return n

    def file_offset(self, pos: int) -> int:
        for a, b in self.ranges:
            if pos < b - a:
                return a + pos
            pos -= b - a
        return self.ranges[-1][1] if self.ranges else pos

    def close(self) -> None:
        self.raw.close()
        super().close()


def _read_at(raw: Any, offset: int, n: int) -> bytes:
    raw.seek(offset, SEEK_SET)
    out = bytearray()
    while len(out) < n:
        chunk = bytearray(n - len(out))
        got = raw.readinto(chunk) or 0
        if got == 0:
            break
        out += chunk[:got]
    return bytes(out)


def member_head(data: bytes) -> bytes | None:
    """The first decompressed bytes of the gzip member at the start of ``data`` (up to the end of its WARC
    header block when that is in reach), or None when ``data`` does not start a valid member."""
    try:
        d = zlib.decompressobj(31)
        return d.decompress(data, _HEAD_BYTES)
    except zlib.error:
        return None


def _is_cut(head: bytes | None) -> bool | None:
    """True if the member whose head this is starts a WARC record other than ``metadata``; None if the head
    ended before the WARC-Type header could be seen."""
    if not head or not head.startswith(b"WARC/"):
        return False if head is None or len(head) >= 5 else None
    m = _WARC_TYPE.search(head)
    if m:
        return m.group(1).lower() != b"metadata"
    return False if b"\r\n\r\n" in head else None


def next_record_start(raw: Any, offset: int, size: int) -> int:
    """The first offset >= ``offset`` where a gzip member starts a WARC record that a split may begin with;
    ``size`` if there is none."""
    if offset <= 0:
        return 0
    pos = offset
    while pos < size:
        data = _read_at(raw, pos, min(_SYNC_WINDOW, size - pos))
        i, undecided = data.find(GZIP_MAGIC), None
        while i != -1:
            cut = _is_cut(member_head(data[i:]))
            if cut:
                return pos + i
            if cut is None and i > 0:  # the window ends inside this member's head: read again from it
                undecided = pos + i
                break
            i = data.find(GZIP_MAGIC, i + 1)
        if undecided is not None:
            pos = undecided
        elif pos + len(data) >= size:
            return size
        else:
            pos += len(data) - len(GZIP_MAGIC) + 1
    return size


def first_record_text(raw: Any, size: int) -> str:
    """The decompressed head of the file's first record (its ``warcinfo``, in a Common Crawl WARC)."""
    head = member_head(_read_at(raw, 0, min(_WARCINFO_BYTES, size)))
    return (head or b"").decode("utf-8", "replace")


@dataclass
class OpenSlice:
    stream: BinaryIO
    ranges: RangeStream
    warcinfo: str


def open_slice(sl: WarcSlice, stats: Stats, remote: RemoteConfig) -> OpenSlice:
    """A buffered stream of the records of ``sl`` (close it), the offset map, and the file's first record's
    text when the slice does not start at the beginning of the file and its path names no snapshot."""
    from curation.builder.warc import snapshot_from

    raw, size = open_raw(sl.path, stats, remote)
    if sl.records:
        ranges = [(a, a + n) for a, n in sorted(sl.records)]
    elif sl.split:
        ranges = [(next_record_start(raw, sl.split[0], size), next_record_start(raw, sl.split[1], size))]
    else:
        ranges = [(0, size)]
    warcinfo = "" if sl.starts_at_zero or snapshot_from(sl.path) else first_record_text(raw, size)
    ranges_stream = RangeStream(raw, ranges)
    buffer = remote.range_bytes if io.is_remote(sl.path) else _LOCAL_BUFFER
    return OpenSlice(BufferedReader(ranges_stream, buffer_size=buffer), ranges_stream, warcinfo)
