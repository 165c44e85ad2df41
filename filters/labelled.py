"""Reading labelled tables (Parquet, CSV, JSONL) and deriving labels from a column or an SQL expression."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import polars as pl

from curation.core import io
from curation.core.errors import CurationError
from curation.core.sql import parse_sql, require_columns


def read_table(path: str) -> pl.DataFrame:
    """A Parquet file/dir/glob, a CSV or a JSONL file as one DataFrame; local or on object storage."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".jsonl", ".ndjson"):
        if not io.exists(path) or io.is_dir(path):
            raise CurationError(f"data file not found: {path}")
        source = BytesIO(io.read_bytes(path)) if io.is_remote(path) else io.local_path(path)
        if suffix == ".csv":
            return pl.read_csv(source, infer_schema_length=10_000)
        return pl.read_ndjson(source)
    return pl.concat([io.read_polars(f) for f in io.list_parquet([path])], how="diagonal_relaxed")


def sql_expr(expression: str, frame: pl.DataFrame, where: str) -> pl.Expr:
    """A SQL expression as a polars expression, every column it names checked against ``frame``."""
    expr = parse_sql(expression)
    require_columns(frame.columns, expr.meta.root_names(), where)
    return expr


def read_labelled(
    path: str,
    text_column: str,
    label_column: str | None,
    label_sql: str | None,
    optional: dict[str, str | None] | None = None,
) -> pl.DataFrame:
    """Columns ``text`` and ``label`` of ``path`` (label: a column or an SQL expression), rows with either null
    or an empty text dropped; plus each ``optional`` column {alias: column} that the table has, as strings."""
    if (label_column is None) == (label_sql is None):
        raise CurationError("give exactly one of label_column or label_sql")
    frame = read_table(path)
    require_columns(frame.columns, [text_column], path)
    if label_column is not None:
        require_columns(frame.columns, [label_column], path)
        label = pl.col(label_column)
    else:
        label = sql_expr(label_sql, frame, path)
    extra = [
        pl.col(column).cast(pl.Utf8).alias(alias)
        for alias, column in (optional or {}).items()
        if column is not None and column in frame.columns
    ]
    out = frame.select(pl.col(text_column).alias("text"), label.alias("label"), *extra)
    return out.drop_nulls(["text", "label"]).filter(pl.col("text").str.len_chars() > 0)


def label_strings(labels: pl.Series) -> list[str]:
    """Labels as strings; booleans become 0/1 and integral floats lose their ``.0``."""
    if labels.dtype == pl.Boolean:
        labels = labels.cast(pl.Int8)
    if labels.dtype.is_float():
        return [f"{v:g}" for v in labels.to_list()]
    return [str(v) for v in labels.to_list()]
