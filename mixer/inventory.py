"""`curation inventory`: exact token counts per source, language and score bucket (Parquet + a table).

A file's source is the name of its folder; its language is the ``lang`` column (``unknown`` without one);
each numeric ``<task>_score`` column gives buckets ``floor(score)``. Rows with ``score`` null are totals.
Token counts include one EOS per document, as in packed data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from curation.errors import CurationError
from curation.executor import map_items
from curation.io import write_parquet
from curation.runinfo import run_dir, save_config, save_stats
from curation.schema import INVENTORY_FILE, LANG, SCORE_SUFFIX, TEXT
from mixer.sources import read_frame, source_files
from mixer.tokens import encode_documents

GROUP_KEYS = ["source", "lang", "score", "bucket"]
UNKNOWN_LANG = "unknown"


class InventoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: list[str] = Field(min_length=1)
    tokenizer: str
    output: str
    text_column: str = TEXT
    executor: Literal["ray", "local"] = "ray"
    workers: int | None = Field(default=None, gt=0)
    ray_address: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


def _aggregate(df: pl.DataFrame, by: list[pl.Expr]) -> pl.DataFrame:
    return df.group_by(by).agg(
        pl.len().cast(pl.Int64).alias("docs"), pl.col("tokens").sum(), pl.col("text_bytes").sum()
    )


def inventory_file(path: str, tokenizer_name: str, text_column: str) -> list[dict[str, Any]]:
    """Docs, tokens and text bytes of one file per language, and per language and score bucket."""
    df = read_frame(path)
    if text_column not in df.columns:
        raise CurationError(f"unknown column '{text_column}' in {path}")
    df = df.filter(pl.col(text_column).is_not_null() & (pl.col(text_column).str.len_bytes() > 0))
    _, lengths = encode_documents(tokenizer_name, df.get_column(text_column).to_list())
    lang = (
        pl.col(LANG).cast(pl.String).fill_null(UNKNOWN_LANG) if LANG in df.columns else pl.lit(UNKNOWN_LANG)
    )
    df = df.with_columns(
        pl.Series("tokens", lengths, dtype=pl.Int64),
        pl.col(text_column).str.len_bytes().cast(pl.Int64).alias("text_bytes"),
        lang.alias("lang"),
    )
    scores = [c for c, t in df.schema.items() if c.endswith(SCORE_SUFFIX) and t.is_numeric()]
    parts = [
        _aggregate(df, [pl.col("lang")]).with_columns(
            pl.lit(None, pl.String).alias("score"), pl.lit(None, pl.Int64).alias("bucket")
        )
    ]
    for col in scores:
        bucket = pl.col(col).floor().cast(pl.Int64).alias("bucket")
        parts.append(_aggregate(df, [pl.col("lang"), bucket]).with_columns(pl.lit(col).alias("score")))
    source = Path(path).parent.name
    return [
        {**row, "source": source}
        for part in parts
        for row in part.select("lang", "score", "bucket", "docs", "tokens", "text_bytes").to_dicts()
    ]


def run_inventory(cfg: InventoryConfig) -> pl.DataFrame:
    """Count tokens of every input file in parallel; write ``inventory.parquet`` and the run evidence."""
    save_config(cfg.output, "inventory", cfg.model_dump())
    files = source_files(cfg.input, "inventory")
    rows: list[dict[str, Any]] = []
    for _, result in map_items(
        inventory_file,
        files,
        cfg.tokenizer,
        cfg.text_column,
        executor=cfg.executor,
        ray_address=cfg.ray_address,
        workers=cfg.workers,
        description="counting tokens",
    ):
        rows.extend(result)
    schema = {"source": pl.String, "lang": pl.String, "score": pl.String, "bucket": pl.Int64}
    table = (
        pl.DataFrame(rows, schema={**schema, "docs": pl.Int64, "tokens": pl.Int64, "text_bytes": pl.Int64})
        .group_by(GROUP_KEYS)
        .agg(pl.col("docs").sum(), pl.col("tokens").sum(), pl.col("text_bytes").sum())
        .sort(GROUP_KEYS, nulls_last=False)
    )
    write_parquet(Path(cfg.output) / INVENTORY_FILE, table.to_arrow())
    totals = table.filter(pl.col("score").is_null())
    save_stats(
        cfg.output,
        {
            "files": len(files),
            "docs": int(totals["docs"].sum()),
            "tokens": int(totals["tokens"].sum()),
            "tokens_per_source": dict(totals.group_by("source").agg(pl.col("tokens").sum()).iter_rows()),
        },
    )
    _plot(totals, run_dir(cfg.output) / "tokens_by_source.png")
    return table


def _plot(totals: pl.DataFrame, path: Path) -> None:
    from curation.plots import bar_plot

    labels = [f"{s}/{lang}" for s, lang in totals.select("source", "lang").iter_rows()]
    bar_plot(labels, totals["tokens"].to_list(), path, "tokens by source and language", "tokens")
