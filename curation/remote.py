"""Resilient sequential reading of remote files (HTTP(S), S3...) through fsspec.

``open_input`` returns a buffered binary stream. For remote paths it reads the object as a series of byte-range
requests; a failed request (connection reset midway, 5xx, time-out) is retried from the same offset with
exponential back-off, so a long WARC survives a flaky network without restarting or duplicating records.
Retries and failures are counted in a ``Stats`` under ``remote``.
"""

from __future__ import annotations

import io
import time
from typing import Any, BinaryIO

import fsspec
from pydantic import BaseModel, ConfigDict

from curation.io import is_remote
from curation.stats import Stats


class RemoteConfig(BaseModel):
    """How remote inputs are read: range size and retry policy (exponential back-off, capped at 30 s)."""

    model_config = ConfigDict(extra="forbid")
    range_bytes: int = 8 * 1024 * 1024
    retries: int = 6
    backoff_seconds: float = 0.5


class RemoteReadError(OSError):
    """A remote read still failed after every retry."""


class RetryingRangeReader(io.RawIOBase):
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

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
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


def open_input(
    path: str, stats: Stats, storage_options: dict[str, Any] | None = None, cfg: RemoteConfig | None = None
) -> BinaryIO:
    """Open a local or remote input for sequential binary reading."""
    if not is_remote(path):
        return open(path.removeprefix("file://"), "rb")  # noqa: SIM115 - the caller closes it
    protocol = path.split("://", 1)[0]
    options = (storage_options or {}).get(protocol, {})
    fs = fsspec.filesystem(protocol, **options)
    cfg = cfg or RemoteConfig()
    return io.BufferedReader(RetryingRangeReader(fs, path, stats, cfg), buffer_size=cfg.range_bytes)
