"""I/O helpers: fsspec paths, input expansion, atomic writes, Parquet shards.

Every writer here writes to a temporary name beside the target and renames it into place, so a
killed run never leaves a half-written file under a final name.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from curation.errors import CurationError

REMOTE_PREFIXES = ("s3://", "http://", "https://", "gs://", "hf://")
CC_PATHS_SUFFIXES = (".paths.gz", ".paths")
DEFAULT_CC_BASE_URL = "https://data.commoncrawl.org/"
PARQUET_COMPRESSION = "zstd"


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_PREFIXES)


def _join(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + rel.lstrip("/")


def _options(path: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    return (storage_options or {}).get(path.split("://", 1)[0], {}) if is_remote(path) else {}


def read_cc_paths(
    listing: str, base_url: str, limit: int | None, storage_options: dict[str, Any] | None = None
) -> list[str]:
    """Expand a Common Crawl ``warc.paths.gz`` listing into full URLs under ``base_url``."""
    with fsspec.open(listing, "rb", **_options(listing, storage_options)) as f:
        raw = f.read()
    if listing.endswith(".gz"):
        raw = gzip.decompress(raw)
    rels = [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip()]
    if limit is not None:
        rels = rels[:limit]
    return [rel if is_remote(rel) else _join(base_url, rel) for rel in rels]


def expand_inputs(
    inputs: Iterable[str],
    base_url: str = DEFAULT_CC_BASE_URL,
    limit: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[str]:
    """Turn paths, globs, URLs and ``*.paths.gz`` listings into a sorted, de-duplicated file list.

    ``limit`` caps the number of files taken from each listing and from the final list.
    Raises CurationError naming the first input that matches nothing.
    """
    files: list[str] = []
    for item in inputs:
        if item.endswith(CC_PATHS_SUFFIXES):
            if not is_remote(item) and not os.path.exists(item):
                raise CurationError(f"input not found: {item}")
            files.extend(read_cc_paths(item, base_url, limit, storage_options))
        elif is_remote(item):
            if any(ch in item for ch in "*?["):
                fs, _, _ = fsspec.get_fs_token_paths(item, storage_options=_options(item, storage_options))
                protocol = item.split("://", 1)[0]
                matched = [f"{protocol}://{p}" for p in sorted(fs.glob(item))]
                if not matched:
                    raise CurationError(f"input matches no file: {item}")
                files.extend(matched)
            else:
                files.append(item)
        elif any(ch in item for ch in "*?["):
            matched = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not matched:
                raise CurationError(f"input matches no file: {item}")
            files.extend(os.path.abspath(p) for p in matched)
        elif os.path.isdir(item):
            matched = sorted(str(p) for p in Path(item).rglob("*") if p.is_file())
            if not matched:
                raise CurationError(f"input directory is empty: {item}")
            files.extend(os.path.abspath(p) for p in matched)
        elif os.path.isfile(item):
            files.append(os.path.abspath(item))
        else:
            raise CurationError(f"input not found: {item}")
    unique = list(dict.fromkeys(files))
    return unique[:limit] if limit is not None else unique


def _tmp_name(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.tmp-{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = _tmp_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_yaml(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def write_parquet(path: str | os.PathLike[str], table: pa.Table) -> None:
    """Write a zstd Parquet file atomically."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=PARQUET_COMPRESSION)
    atomic_write_bytes(path, buf.getvalue())


def remove_stale_temps(directory: str | os.PathLike[str]) -> int:
    """Delete temporary files a killed run left behind; returns how many."""
    removed = 0
    for p in Path(directory).rglob(".*.tmp-*"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed


def list_parquet(inputs: Iterable[str]) -> list[str]:
    """Expand paths, globs and directories into the Parquet files they hold (skipping ``_run``)."""
    files = expand_inputs(inputs)
    out = [f for f in files if f.endswith(".parquet") and "/_run/" not in f and "/." not in f]
    if not out:
        raise CurationError(f"no Parquet files in: {', '.join(inputs)}")
    return out


def iter_jsonl(path: str) -> Iterator[dict[str, Any]]:
    """Read a JSONL file (optionally gzipped) record by record."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
