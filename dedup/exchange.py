"""File-based shuffles between the steps of a dedup run.

An ``Exchange`` is a folder ``<name>/<partition>/<producer>.parquet`` in the run's work directory (local or on
object storage): each producer task writes at most one file per destination partition (atomically, under a
deterministic name, so a retried task overwrites its earlier attempt instead of duplicating it), and a
consumer task reads every file of its partition. A step's consumers run only after every producer task of
the step before has its completion record, so reads never see a partial shuffle.
"""

from __future__ import annotations

import io as bytes_io

import numpy as np
import polars as pl

from curation.core import io

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def partition_of(keys: np.ndarray | pl.Series, partitions: int) -> np.ndarray:
    """Destination partition of each key (int64 ids or uint64 hashes), by Fibonacci hashing."""
    arr = keys.to_numpy() if isinstance(keys, pl.Series) else keys
    mixed = arr.astype(np.int64).view(np.uint64) * _GOLDEN
    return ((mixed >> np.uint64(32)) % np.uint64(partitions)).astype(np.int64)


def write_frame(path: str, df: pl.DataFrame) -> None:
    buf = bytes_io.BytesIO()
    df.write_parquet(buf, compression="zstd")
    io.write_bytes(path, buf.getvalue())


class Exchange:
    def __init__(self, root: str, name: str, partitions: int):
        self.dir = io.join(root, name)
        self.partitions = partitions

    def write(self, producer: str, df: pl.DataFrame, dest: np.ndarray) -> None:
        """Send row ``i`` of ``df`` to partition ``dest[i]``."""
        if df.height == 0:
            return
        df = df.with_columns(pl.Series("__dest", dest))
        for (part,), chunk in df.partition_by("__dest", as_dict=True, maintain_order=True).items():
            write_frame(io.join(self.dir, str(part), f"{producer}.parquet"), chunk.drop("__dest"))

    def read(self, partition: int, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        files = io.find(io.join(self.dir, str(partition)), "*.parquet")
        if not files:
            return pl.DataFrame(schema=schema)
        return pl.concat([io.read_polars(f) for f in files], how="vertical_relaxed")
