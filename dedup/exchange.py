"""File-based shuffles between stages, and per-task completion markers.

An ``Exchange`` is a directory ``<name>/<partition>/<producer>.parquet``: each producer task writes at most
one file per destination partition (atomically, under a deterministic name, so a retried task overwrites
its earlier attempt instead of duplicating it), and a consumer task reads every file of its partition. A
stage's consumers run only after every producer task has written its marker, so reads never see a
partial shuffle.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import polars as pl

from curation.io import atomic_write_bytes, atomic_write_json

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
DONE_DIR = "_done"


def partition_of(keys: np.ndarray | pl.Series, partitions: int) -> np.ndarray:
    """Destination partition of each key (int64 ids or uint64 hashes), by Fibonacci hashing."""
    arr = keys.to_numpy() if isinstance(keys, pl.Series) else keys
    mixed = arr.astype(np.int64).view(np.uint64) * _GOLDEN
    return ((mixed >> np.uint64(32)) % np.uint64(partitions)).astype(np.int64)


def write_frame(path: Path, df: pl.DataFrame) -> None:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd")
    atomic_write_bytes(path, buf.getvalue())


class Exchange:
    def __init__(self, root: Path, name: str, partitions: int):
        self.dir = root / name
        self.partitions = partitions

    def write(self, producer: str, df: pl.DataFrame, dest: np.ndarray) -> None:
        """Send row ``i`` of ``df`` to partition ``dest[i]``."""
        if df.height == 0:
            return
        df = df.with_columns(pl.Series("__dest", dest))
        for (part,), chunk in df.partition_by("__dest", as_dict=True, maintain_order=True).items():
            write_frame(self.dir / str(part) / f"{producer}.parquet", chunk.drop("__dest"))

    def read(self, partition: int, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        folder = self.dir / str(partition)
        files = sorted(str(p) for p in folder.glob("*.parquet")) if folder.is_dir() else []
        if not files:
            return pl.DataFrame(schema=schema)
        return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")


def marker(root: Path, stage: str, task: str) -> Path:
    return root / DONE_DIR / stage / f"{task}.json"


def mark_done(root: Path, stage: str, task: str, stats: dict) -> None:
    """The task's completion record (its stats), written last."""
    atomic_write_json(marker(root, stage, task), stats)


def is_done(root: Path, stage: str, task: str) -> bool:
    return os.path.exists(marker(root, stage, task))
