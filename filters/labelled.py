"""Reading labelled tables (Parquet, CSV, JSONL) and deriving labels from a column or an SQL expression."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curation.errors import CurationError
from curation.io import list_parquet


def read_table(path: str) -> pl.DataFrame:
    """A Parquet file/dir/glob, a CSV or a JSONL file as one DataFrame."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        if not Path(path).is_file():
            raise CurationError(f"data file not found: {path}")
        return pl.read_csv(path, infer_schema_length=10_000)
    if suffix in (".jsonl", ".ndjson"):
        if not Path(path).is_file():
            raise CurationError(f"data file not found: {path}")
        return pl.read_ndjson(path)
    return pl.concat([pl.read_parquet(f) for f in list_parquet([path])], how="diagonal_relaxed")


def check_columns(frame: pl.DataFrame | pl.LazyFrame, columns: list[str], where: str) -> None:
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    for column in columns:
        if column not in names:
            raise CurationError(f"unknown column '{column}' in {where} (has: {', '.join(names)})")


def sql_expr(expression: str, frame: pl.DataFrame | pl.LazyFrame, where: str) -> pl.Expr:
    """Parse a SQL expression with polars, checking every column it names against ``frame``."""
    try:
        expr = pl.sql_expr(expression)
    except Exception as exc:  # polars raises several error types for bad SQL
        raise CurationError(f"invalid expression {expression!r}: {exc}") from None
    check_columns(frame, expr.meta.root_names(), where)
    return expr


def read_labelled(path: str, text_col: str, label_col: str | None, label_sql: str | None) -> pl.DataFrame:
    """Columns ``text`` and ``label`` of ``path`` (label: a column or an SQL expression); nulls dropped."""
    if (label_col is None) == (label_sql is None):
        raise CurationError("give exactly one of label_col or label_sql")
    frame = read_table(path)
    check_columns(frame, [text_col], path)
    if label_col is not None:
        check_columns(frame, [label_col], path)
        label = pl.col(label_col)
    else:
        label = sql_expr(label_sql, frame, path)
    out = frame.select(pl.col(text_col).alias("text"), label.alias("label")).drop_nulls()
    return out.filter(pl.col("text").str.len_chars() > 0)


def label_strings(labels: pl.Series) -> list[str]:
    """Labels as strings; booleans become 0/1 and integral floats lose their ``.0``."""
    if labels.dtype == pl.Boolean:
        labels = labels.cast(pl.Int8)
    if labels.dtype.is_float():
        return [f"{v:g}" for v in labels.to_list()]
    return [str(v) for v in labels.to_list()]
