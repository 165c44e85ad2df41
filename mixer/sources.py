"""Read a source's documents: Parquet, JSONL (optionally gzipped) or plain-text files, filtered with polars.

Plain ``.txt`` files are one document each (a whole work, speech or page). Row filters are polars SQL
expressions (``edu_score >= 3 and toxic_score < 1``); a column they name that a file lacks is a user error.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.io import expand_inputs
from curation.schema import REJECTED_DIR, RUN_DIR, TEXT

PARQUET_SUFFIXES = (".parquet",)
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".json.gz")
TEXT_SUFFIXES = (".txt", ".txt.gz")
SUPPORTED_SUFFIXES = PARQUET_SUFFIXES + JSONL_SUFFIXES + TEXT_SUFFIXES


@dataclass(frozen=True)
class ReadOptions:
    """How to turn one file into documents for one source (picklable: sent to Ray tasks)."""

    source: str
    filter: str | None = None
    text_column: str = TEXT
    upweight_by: str | None = None
    upweight_power: float = 1.0

    def columns_needed(self) -> list[str]:
        cols = [self.text_column] + filter_columns(self.filter, self.source)
        return list(dict.fromkeys(cols + ([self.upweight_by] if self.upweight_by else [])))


def source_files(paths: list[str], source: str) -> list[str]:
    """Expand a source's paths into the readable data files they hold.

    Other files, run evidence (``_run/``) and `curation build`'s ``rejected/`` documents (unless asked for
    by path) are left out.
    """
    try:
        files = expand_inputs(paths)
    except CurationError as exc:
        raise CurationError(f"source '{source}': {exc}") from None
    skip = [f"/{RUN_DIR}/"] + [f"/{REJECTED_DIR}/"] * all(REJECTED_DIR not in p for p in paths)
    kept = [f for f in files if f.endswith(SUPPORTED_SUFFIXES) and not any(part in f for part in skip)]
    if not kept:
        raise CurationError(
            f"source '{source}': no .parquet, .jsonl(.gz) or .txt files in {', '.join(paths)}"
        )
    return kept


def filter_columns(expr: str | None, source: str) -> list[str]:
    """Columns a filter expression reads; a filter polars cannot parse is a user error."""
    if not expr:
        return []
    try:
        return sorted(pl.sql_expr(expr).meta.root_names())
    except Exception as exc:  # polars raises several error types for bad SQL
        raise CurationError(
            f"source '{source}': invalid filter {expr!r}: {str(exc).splitlines()[0]}"
        ) from None


def file_columns(path: str) -> list[str]:
    """Column names of a data file (first record for JSONL; plain text has only ``text``)."""
    if path.endswith(PARQUET_SUFFIXES):
        return pq.read_schema(path).names
    if path.endswith(JSONL_SUFFIXES):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "{}")
        return list(json.loads(first))
    return [TEXT]


def check_columns(path: str, opts: ReadOptions) -> None:
    """Raise a one-line error naming the first column the source needs that ``path`` lacks."""
    have = set(file_columns(path))
    for col in opts.columns_needed():
        if col not in have:
            raise CurationError(f"source '{opts.source}': unknown column '{col}' in {path}")


def read_frame(path: str, columns: list[str] | None = None) -> pl.DataFrame:
    """A file as a polars DataFrame (all columns, or just ``columns``)."""
    if path.endswith(PARQUET_SUFFIXES):
        return pl.read_parquet(path, columns=columns)
    raw = gzip.decompress(open(path, "rb").read()) if path.endswith(".gz") else open(path, "rb").read()
    if path.endswith(JSONL_SUFFIXES):
        df = pl.read_ndjson(io.BytesIO(raw), infer_schema_length=None)
    else:
        df = pl.DataFrame({TEXT: [raw.decode("utf-8", errors="replace")]})
    return df.select(columns) if columns else df


def load_documents(path: str, opts: ReadOptions) -> tuple[list[str], np.ndarray]:
    """Texts of the rows that pass the filter, and their up-weights (1.0 without ``upweight_by``).

    Empty texts are skipped. Up-weights are ``max(value, 0) ** upweight_power``; a null value counts as 1.
    """
    df = read_frame(path, opts.columns_needed())
    if opts.filter:
        df = df.filter(pl.sql_expr(opts.filter).fill_null(False))
    df = df.filter(pl.col(opts.text_column).is_not_null() & (pl.col(opts.text_column).str.len_bytes() > 0))
    texts = df.get_column(opts.text_column).to_list()
    if not opts.upweight_by:
        return texts, np.ones(len(texts), dtype=np.float64)
    values = df.get_column(opts.upweight_by).cast(pl.Float64).fill_null(1.0).to_numpy()
    return texts, np.maximum(values, 0.0) ** opts.upweight_power
