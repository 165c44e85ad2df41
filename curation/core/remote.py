"""Resilient sequential reading of remote files (HTTP(S), S3...) through fsspec.

``open_raw`` returns a seekable raw stream and the file's size. For remote paths it reads the object as a series
of byte-range requests; a failed request (connection reset midway, 5xx, time-out) is retried from the same offset with
exponential back-off, so a long WARC survives a flaky network without restarting or duplicating records.
Retries and failures are counted in a ``Stats`` under ``remote``.
"""

from __future__ import annotations

import time
from io import SEEK_CUR, SEEK_END, SEEK_SET, RawIOBase
from typing import TYPE_CHECKING, Any, BinaryIO

from pydantic import Field

from curation.core import io
from curation.core.config import StrictModel
from curation.core.stats import Stats

if TYPE_CHECKING:
    import fsspec


class RemoteConfig(StrictModel):
    """How remote inputs are read: range size and retry policy (exponential back-off, capped at 30 s)."""

    range_bytes: int = Field(8 * 1024 * 1024, description="Bytes per ranged request.")
    retries: int = Field(6, description="Retries of a failed request, from the same offset.")
    backoff_seconds: float = Field(0.5, description="First back-off delay (doubles, capped at 30 s).")


class RemoteReadError(OSError):
    """A remote read still failed after every retry."""


class RetryingRangeReader(RawIOBase):
    """A raw, forward-reading stream over ``path`` made of ranged reads, each retried on failure."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        path: str,
        stats: Stats,
        cfg: RemoteConfig,
    ) -> None:
        super().__init__()
        self.fs, self.path, self.stats = fs, path, stats
        self.retries, self.backoff_seconds, self.range_bytes = (
            cfg.retries,
            cfg.backoff_seconds,
            cfg.range_bytes,
        )
        self.error: RemoteReadError | None = None
        self.size = int(self._with_retries("info", lambda: fs.info(path))["size"])
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = SEEK_SET) -> int:
        base = {SEEK_SET: 0, SEEK_CUR: self.pos, SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def _with_retries(self, what: str, call: Any) -> Any:
        delay = self.backoff_seconds
        for attempt in range(self.retries + 1):
            try:
                return call()
            except (FileNotFoundError, PermissionError):
                raise
            except Exception as exc:  # noqa: BLE001 - network stacks raise many types; all are retried
                self.stats.count("remote", f"retry:{type(exc).__name__}")
                if attempt == self.retries:
                    self.error = RemoteReadError(
                        f"{what} failed after {self.retries} retries: {self.path}: {exc}"
                    )
                    raise self.error from exc
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.size:
            return 0
        end = min(self.pos + min(len(buffer), self.range_bytes), self.size)
        data = self._with_retries("range read", lambda: self.fs.cat_file(self.path, start=self.pos, end=end))
        if not data:
            raise RemoteReadError(f"empty range {self.pos}-{end} of {self.path}")
        n = len(data)
        buffer[:n] = data
        self.pos += n
        self.stats.add("remote_bytes", n)
        return n


def remote_error(stream: BinaryIO) -> RemoteReadError | None:
    """The read failure behind ``stream``, if any (a parser may have wrapped it in its own exception)."""
    return getattr(getattr(stream, "raw", None), "error", None)


def open_raw(path: str, stats: Stats, cfg: RemoteConfig | None = None) -> tuple[RawIOBase, int]:
    """A seekable raw binary stream over a local or remote input (close it), and the input's size."""
    if not io.is_remote(path):
        f = open(io.local_path(path), "rb", buffering=0)  # noqa: SIM115 - the caller closes it
        return f, f.seek(0, SEEK_END)
    reader = RetryingRangeReader(io.filesystem(path), path, stats, cfg or RemoteConfig())
    return reader, reader.size
