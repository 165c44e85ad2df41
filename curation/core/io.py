"""Every read and write of a stage goes through here: local paths and fsspec URLs, atomic commits.

A file is visible under its final name only when it is complete: locally it is written to a temporary name
beside the target, synced and renamed; on an object store (which has no rename) it is uploaded in one
request, and a store makes an object visible only when its upload is complete. Completion records are written
last, so a killed run never leaves a half-written file that a rerun would count as done. Options per protocol
(credentials, endpoints) come from ``storage_options`` (``{"s3": {"anon": true}}``), set once per process.
"""

from __future__ import annotations

import glob as local_glob
import gzip
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from curation.core.errors import CurationError

CC_PATHS_SUFFIXES = (".paths.gz", ".paths")
DEFAULT_CC_BASE_URL = "https://data.commoncrawl.org/"
PARQUET_COMPRESSION = "zstd"
TMP_MARK = ".tmp-"
_STORAGE_OPTIONS: dict[str, dict[str, Any]] = {}


def set_storage_options(options: dict[str, dict[str, Any]] | None) -> None:
    """fsspec options per protocol for this process (the runner sets them in every worker too)."""
    _STORAGE_OPTIONS.clear()
    _STORAGE_OPTIONS.update(options or {})


def storage_options() -> dict[str, dict[str, Any]]:
    return dict(_STORAGE_OPTIONS)


def protocol(path: str) -> str:
    """``s3`` for ``s3://b/k``, ``file`` for local paths and ``file://`` URLs."""
    return path.split("://", 1)[0].lower() if "://" in path else "file"


def is_remote(path: str) -> bool:
    return protocol(path) != "file"


def local_path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path).removeprefix("file://")


def filesystem(path: str):  # noqa: ANN201 - fsspec.AbstractFileSystem
    """The fsspec file system serving ``path`` with this process's options; unknown schemes are errors."""
    import fsspec

    proto = protocol(path)
    try:
        fsspec.get_filesystem_class(proto)
    except (ValueError, ImportError) as exc:
        raise CurationError(f"no installed fsspec backend serves '{proto}://' ({path}): {exc}") from None
    return fsspec.filesystem(proto, **_STORAGE_OPTIONS.get(proto, {}))


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """``base/part/...`` for local paths and URLs alike (never turns ``s3://`` into ``s3:/``)."""
    out = os.fspath(base)
    for part in parts:
        out = out.rstrip("/") + "/" + part.lstrip("/") if out else part
    return out


def exists(path: str | os.PathLike[str]) -> bool:
    path = os.fspath(path)
    return filesystem(path).exists(path) if is_remote(path) else os.path.exists(local_path(path))


def is_dir(path: str | os.PathLike[str]) -> bool:
    path = os.fspath(path)
    return filesystem(path).isdir(path) if is_remote(path) else os.path.isdir(local_path(path))


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    path = os.fspath(path)
    if is_remote(path):
        return filesystem(path).cat_file(path)
    with open(local_path(path), "rb") as f:
        return f.read()


def read_text(path: str | os.PathLike[str]) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(read_bytes(path))


def _tmp_name(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}{TMP_MARK}{uuid.uuid4().hex[:8]}")


def makedirs(path: str | os.PathLike[str]) -> None:
    """Create a local directory (object stores have none to create)."""
    if not is_remote(os.fspath(path)):
        os.makedirs(local_path(path), exist_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either its old content or all of ``data``, never a part."""
    path = os.fspath(path)
    if is_remote(path):
        filesystem(path).pipe_file(path, data)
        return
    path = local_path(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = _tmp_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_yaml(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def write_parquet(path: str | os.PathLike[str], table: Any) -> None:
    """Write a pyarrow table as one zstd Parquet file, atomically."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression=PARQUET_COMPRESSION)
    write_bytes(path, buf.getvalue())


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> Any:
    """A Parquet file (local or remote) as a pyarrow table."""
    import pyarrow.parquet as pq

    path = os.fspath(path)
    if is_remote(path):
        with filesystem(path).open(path, "rb") as f:
            return pq.read_table(f, columns=columns)
    return pq.read_table(local_path(path), columns=columns)


def read_polars(path: str | os.PathLike[str], columns: list[str] | None = None) -> Any:
    """A Parquet file (local or remote) as a polars DataFrame."""
    import polars as pl

    path = os.fspath(path)
    source = io.BytesIO(read_bytes(path)) if is_remote(path) else local_path(path)
    return pl.read_parquet(source, columns=columns)


def parquet_shape(path: str | os.PathLike[str]) -> tuple[list[str], int]:
    """Column names and row count of a Parquet file, from its footer."""
    import pyarrow.parquet as pq

    path = os.fspath(path)
    if is_remote(path):
        with filesystem(path).open(path, "rb") as f:
            meta = pq.ParquetFile(f).metadata
            return meta.schema.to_arrow_schema().names, meta.num_rows
    meta = pq.read_metadata(local_path(path))
    return meta.schema.to_arrow_schema().names, meta.num_rows


def write_npy(path: str | os.PathLike[str], array: Any) -> None:
    """Write one numpy array as ``.npy``, atomically."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array)
    write_bytes(path, buf.getvalue())


def remove(path: str | os.PathLike[str]) -> None:
    """Delete a file if it exists."""
    path = os.fspath(path)
    if is_remote(path):
        fs = filesystem(path)
        if fs.exists(path):
            fs.rm_file(path)
    else:
        Path(local_path(path)).unlink(missing_ok=True)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete a directory (or prefix) and everything below it, if it exists."""
    path = os.fspath(path)
    if is_remote(path):
        fs = filesystem(path)
        if fs.exists(path):
            fs.rm(path, recursive=True)
    else:
        shutil.rmtree(local_path(path), ignore_errors=True)


def find(directory: str | os.PathLike[str], pattern: str = "*") -> list[str]:
    """Files below ``directory`` (recursively) whose name matches ``pattern``, sorted; [] if it is missing."""
    directory = os.fspath(directory)
    if is_remote(directory):
        fs = filesystem(directory)
        proto = protocol(directory)
        found = fs.glob(join(directory, "**", pattern)) if fs.exists(directory) else []
        return sorted(f"{proto}://{p}" for p in found if not fs.isdir(p))
    root = Path(local_path(directory))
    return sorted(str(p) for p in root.rglob(pattern) if p.is_file()) if root.is_dir() else []


def remove_stale_temps(directory: str | os.PathLike[str]) -> int:
    """Delete temporary files a killed run left behind below ``directory``; returns how many."""
    stale = [p for p in find(directory, f".*{TMP_MARK}*") if TMP_MARK in os.path.basename(p)]
    for p in stale:
        remove(p)
    return len(stale)


def read_cc_paths(listing: str, base_url: str, limit: int | None) -> list[str]:
    """Expand a Common Crawl ``warc.paths.gz`` listing into full URLs under ``base_url``."""
    raw = read_bytes(listing)
    if listing.endswith(".gz"):
        raw = gzip.decompress(raw)
    rels = [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip()]
    if limit is not None:
        rels = rels[:limit]
    return [rel if is_remote(rel) else join(base_url, rel) for rel in rels]


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _expand_remote(item: str) -> list[str]:
    if not _has_glob(item):
        return [item]
    fs, proto = filesystem(item), protocol(item)
    matched = [f"{proto}://{p}" for p in sorted(fs.glob(item))]
    if not matched:
        raise CurationError(f"input matches no file: {item}")
    return matched


def _expand_local(item: str) -> list[str]:
    item = local_path(item)
    if _has_glob(item):
        matched = sorted(p for p in local_glob.glob(item, recursive=True) if os.path.isfile(p))
        if not matched:
            raise CurationError(f"input matches no file: {item}")
    elif os.path.isdir(item):
        matched = sorted(str(p) for p in Path(item).rglob("*") if p.is_file())
        if not matched:
            raise CurationError(f"input directory is empty: {item}")
    elif os.path.isfile(item):
        matched = [item]
    else:
        raise CurationError(f"input not found: {item}")
    return [os.path.abspath(p) for p in matched]


def expand_inputs(
    inputs: Iterable[str], base_url: str = DEFAULT_CC_BASE_URL, limit: int | None = None
) -> list[str]:
    """Turn paths, globs, directories, URLs and ``*.paths.gz`` listings into a de-duplicated file list.

    ``limit`` caps the number of files taken from each listing and from the final list.
    Raises CurationError naming the first input that matches nothing.
    """
    files: list[str] = []
    for item in inputs:
        if item.endswith(CC_PATHS_SUFFIXES):
            if not exists(item):
                raise CurationError(f"input not found: {item}")
            files.extend(read_cc_paths(item, base_url, limit))
        else:
            files.extend(_expand_remote(item) if is_remote(item) else _expand_local(item))
    unique = list(dict.fromkeys(files))
    return unique[:limit] if limit is not None else unique


def list_parquet(inputs: Iterable[str]) -> list[str]:
    """Expand paths, globs and directories into the Parquet files they hold (skipping ``_run`` and hidden)."""
    inputs = list(inputs)
    files = expand_inputs(inputs)
    out = [f for f in files if f.endswith(".parquet") and "/_run/" not in f and "/." not in f]
    if not out:
        raise CurationError(f"no Parquet files in: {', '.join(inputs)}")
    return out


def iter_jsonl(path: str) -> Iterator[dict[str, Any]]:
    """Read a JSONL file (optionally gzipped) record by record."""
    raw = read_bytes(path)
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    for line in raw.decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)
