"""Read a source's documents: Parquet, JSONL (optionally gzipped) or plain-text files, filtered with polars.

Plain ``.txt`` files are one document each (a whole work, speech or page). Row filters are polars SQL
expressions (``edu_score >= 3 and toxic_score < 1``); a column they name that a file lacks is a user error.
"""

from __future__ import annotations

import gzip
import io as bytes_io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from curation.core import io
from curation.core.errors import CurationError
from curation.core.schema import REJECTED_DIR, RUN_DIR, TEXT
from curation.core.sql import parse_sql, require_columns, sql_columns

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

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
        cols = [self.text_column] + sql_columns(self.filter, f"filter of source '{self.source}'")
        return list(dict.fromkeys(cols + ([self.upweight_by] if self.upweight_by else [])))


def source_files(paths: list[str], source: str) -> list[str]:
    """Expand a source's paths into the readable data files they hold.

    Other files, run evidence (``_run/``) and `curation build`'s ``rejected/`` documents (unless asked for
    by path) are left out.
    """
    try:
        files = io.expand_inputs(paths)
    except CurationError as exc:
        raise CurationError(f"source '{source}': {exc}") from None
    skip = [f"/{RUN_DIR}/"] + [f"/{REJECTED_DIR}/"] * all(REJECTED_DIR not in p for p in paths)
    kept = [f for f in files if f.endswith(SUPPORTED_SUFFIXES) and not any(part in f for part in skip)]
    if not kept:
        raise CurationError(
            f"source '{source}': no .parquet, .jsonl(.gz) or .txt files in {', '.join(paths)}"
        )
    return kept


def file_columns(path: str) -> list[str]:
    """Column names of a data file (first record for JSONL; plain text has only ``text``)."""
    if path.endswith(PARQUET_SUFFIXES):
        return io.parquet_shape(path)[0]
    if path.endswith(JSONL_SUFFIXES):
        first = next(io.iter_jsonl(path), {})
        return list(first)
    return [TEXT]


def check_columns(path: str, opts: ReadOptions) -> None:
    """Raise a one-line error naming the first column the source needs that ``path`` lacks."""
    require_columns(file_columns(path), opts.columns_needed(), f"source '{opts.source}' file {path}")


def read_frame(path: str, columns: list[str] | None = None) -> pl.DataFrame:
    """A file as a polars DataFrame (all columns, or just ``columns``)."""
    import polars as pl

    if path.endswith(PARQUET_SUFFIXES):
        return io.read_polars(path, columns=columns)
    raw = io.read_bytes(path)
    raw = gzip.decompress(raw) if path.endswith(".gz") else raw
    if path.endswith(JSONL_SUFFIXES):
        df = pl.read_ndjson(bytes_io.BytesIO(raw), infer_schema_length=None)
    else:
        df = pl.DataFrame({TEXT: [raw.decode("utf-8", errors="replace")]})
    return df.select(columns) if columns else df


def load_documents(path: str, opts: ReadOptions) -> tuple[list[str], np.ndarray]:
    """Texts of the rows that pass the filter, and their up-weights (1.0 without ``upweight_by``).

    Empty texts are skipped. Up-weights are ``max(value, 0) ** upweight_power``; a null value counts as 1.
    """
    import numpy as np
    import polars as pl

    df = read_frame(path, opts.columns_needed())
    if opts.filter:
        df = df.filter(parse_sql(opts.filter).fill_null(False))
    df = df.filter(pl.col(opts.text_column).is_not_null() & (pl.col(opts.text_column).str.len_bytes() > 0))
    texts = df.get_column(opts.text_column).to_list()
    if not opts.upweight_by:
        return texts, np.ones(len(texts), dtype=np.float64)
    values = df.get_column(opts.upweight_by).cast(pl.Float64).fill_null(1.0).to_numpy()
    return texts, np.maximum(values, 0.0) ** opts.upweight_power


def read_texts(paths: list[str], opts: ReadOptions, max_bytes: int | None = None) -> list[str]:
    """The documents of a source's files in sorted file order (filter applied, columns checked), cut to
    ``max_bytes`` UTF-8 bytes in total (the last document truncated at a character boundary)."""
    texts: list[str] = []
    total = 0
    for path in sorted(source_files(paths, opts.source)):
        check_columns(path, opts)
        for text in load_documents(path, opts)[0]:
            size = len(text.encode("utf-8"))
            if max_bytes is not None and total + size > max_bytes:
                text = text.encode("utf-8")[: max_bytes - total].decode("utf-8", errors="ignore")
                size = len(text.encode("utf-8"))
            texts.append(text)
            total += size
            if max_bytes is not None and total >= max_bytes:
                return texts
    return texts
