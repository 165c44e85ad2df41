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
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
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


_MALFORMED_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/(?!/)")


def protocol(path: str) -> str:
    """``s3`` for ``s3://b/k``, ``file`` for local paths and ``file://`` URLs. A URL with one slash after its
    scheme (``s3:/bucket``, what ``pathlib`` makes of ``s3://bucket``) is an error, never a local folder."""
    if _MALFORMED_URL.match(path):
        raise CurationError(f"malformed URL (one slash after the scheme): {path}")
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


def parquet_file(path: str | os.PathLike[str]) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` (footer read; row groups and columns read on demand, by ranges on an
    object store)."""
    import pyarrow.parquet as pq

    path = os.fspath(path)
    return pq.ParquetFile(filesystem(path).open(path, "rb") if is_remote(path) else local_path(path))


def parquet_shape(path: str | os.PathLike[str]) -> tuple[list[str], int]:
    """Column names and row count of a Parquet file, from its footer."""
    meta = parquet_file(path).metadata
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
    """Delete what a killed run left unfinished below ``directory``: temporary files (local), incomplete
    multipart uploads (S3: invisible, but stored and billed); returns how many."""
    directory = os.fspath(directory)
    if protocol(directory) == "s3":
        return _abort_multipart_uploads(directory)
    stale = [p for p in find(directory, f".*{TMP_MARK}*") if TMP_MARK in os.path.basename(p)]
    for p in stale:
        remove(p)
    return len(stale)


def _abort_multipart_uploads(prefix: str) -> int:
    fs = filesystem(prefix)
    bucket, key, _ = fs.split_path(prefix)
    uploads = [u for u in fs.list_multipart_uploads(bucket) if u["Key"].startswith(key.rstrip("/") + "/")]
    for upload in uploads:
        fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    return len(uploads)


def identity(path: str) -> dict[str, Any]:
    """What says a file has not changed: its size and modification stamp (mtime locally, ETag or mtime on an
    object store)."""
    if not is_remote(path):
        st = os.stat(local_path(path))
        return {"path": path, "size_bytes": st.st_size, "modified": str(st.st_mtime_ns)}
    info = filesystem(path).info(path)
    stamp = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime") or ""
    return {"path": path, "size_bytes": int(info.get("size") or 0), "modified": str(stamp).strip('"')}


def local_mirror(path: str) -> str:
    """A local path with the content of ``path`` (a file or a folder): itself when it is local, else a copy in
    a cache folder keyed by the URL and the remote identity of what it holds (downloaded once)."""
    if not is_remote(path):
        return local_path(path)
    files = [path] if not is_dir(path) else find(path)
    stamp = hashlib.sha256(json.dumps([identity(f) for f in files], sort_keys=True).encode()).hexdigest()[:16]
    key = hashlib.sha256(path.encode()).hexdigest()[:16]
    local = os.path.join(
        tempfile.gettempdir(), "curation-mirror", key, stamp, os.path.basename(path.rstrip("/"))
    )
    if os.path.exists(local):
        return local
    tmp = _tmp_name(local)
    for f in files:
        rel = f[len(path.rstrip("/")) :].lstrip("/")
        write_bytes(os.path.join(tmp, rel) if rel else tmp, read_bytes(f))
    os.replace(tmp, local)  # complete, or not there at all
    return local


def publish_dir(local_dir: str, dest: str) -> None:
    """Put a finished local folder (written under a temporary name) at ``dest``: a rename locally, file by
    file on an object store, where it is complete once its last file is up."""
    if not is_remote(dest):
        shutil.rmtree(local_path(dest), ignore_errors=True)
        os.replace(local_dir, local_path(dest))
        return
    copy_dir_into(local_dir, dest)
    shutil.rmtree(local_dir, ignore_errors=True)


def copy_dir_into(local_dir: str, dest: str) -> None:
    """Write every file of a local folder under ``dest`` (a local path or a URL), keeping what else is there."""
    for root, _, names in os.walk(local_dir):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                write_bytes(join(dest, os.path.relpath(path, local_dir)), f.read())


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
    """A glob or a folder (prefix) of an object store into its files; an HTTP URL is a file."""
    if protocol(item) in ("http", "https"):
        return [item]
    if not _has_glob(item):
        return find(item) if is_dir(item) else [item]
    fs, proto = filesystem(item), protocol(item)
    matched = [f"{proto}://{p}" for p in sorted(fs.glob(item)) if not fs.isdir(p)]
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
