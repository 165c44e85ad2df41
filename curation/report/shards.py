"""Bounded reads of a stage's Parquet shards: numeric columns for distributions, a few texts for samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.core import io


def _open(
    files: Sequence[str], columns: Sequence[str] | None = None
) -> Iterator[tuple[pq.ParquetFile, list[str]]]:
    """Each readable file with those of ``columns`` it holds (all when None); unreadable files are skipped."""
    for f in files:
        try:
            pf = io.parquet_file(f)
        except (OSError, pa.ArrowInvalid):
            continue
        names = pf.schema_arrow.names
        yield pf, names if columns is None else [c for c in columns if c in names]


def schema_names(files: Sequence[str]) -> set[str]:
    return {name for _, names in _open(files) for name in names}


def read_columns(files: Sequence[str], columns: Sequence[str], max_rows: int) -> pa.Table:
    """Concatenate ``columns`` (those present; missing ones become nulls) from ``files``, at most
    ``max_rows`` rows in all, an equal share from each file."""
    budget = max(max_rows // max(len(files), 1), 1)
    tables = [pf.read(columns=cols).slice(0, budget) for pf, cols in _open(files, columns) if cols]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def sample_rows(
    files: Sequence[str],
    columns: Sequence[str],
    group: Callable[[dict[str, Any]], str | None],
    per_group: int,
    wanted: set[str] | None,
    max_rows_scanned: int,
) -> dict[str, list[dict[str, Any]]]:
    """The first ``per_group`` rows of every group (``group(row)`` names it; None skips the row). Reading stops
    once every ``wanted`` group is full or after ``max_rows_scanned`` rows, so text columns stay cheap."""
    out: dict[str, list[dict[str, Any]]] = {}
    scanned = 0

    def done() -> bool:
        return wanted is not None and all(len(out.get(g, [])) >= per_group for g in wanted)

    for pf, cols in _open(files, columns):
        for batch in pf.iter_batches(batch_size=256, columns=cols):
            for row in batch.to_pylist():
                key = group(row)
                if key is not None and len(out.setdefault(key, [])) < per_group:
                    out[key].append(row)
            scanned += batch.num_rows
            if done() or scanned >= max_rows_scanned:
                return out
    return out
