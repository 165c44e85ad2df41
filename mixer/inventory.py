"""`curation inventory`: exact token counts per source, language and score bucket (Parquet + a table).

A file's source is the name of its folder; its language is the ``lang`` column (``und`` without one);
each numeric ``<task>_score`` column gives buckets ``floor(score)``. Rows with ``score`` null are totals.
Token counts include one EOS per document, as in packed data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from curation.core import io
from curation.core.config import ParallelConfig, StageConfig
from curation.core.errors import CurationError
from curation.core.lang import UNDETERMINED
from curation.core.schema import INVENTORY_FILE, LANG, SCORE_SUFFIX, TEXT
from curation.core.stage import Run, Stage, Unit, UnitResult, path_key

if TYPE_CHECKING:
    import polars as pl

GROUP_KEYS = ["source", "lang", "score", "bucket"]


class InventoryConfig(StageConfig, ParallelConfig):
    """Token counts per source (folder), language and score bucket: a table and inventory.parquet."""

    input: list[str] = Field(
        min_length=1, description="Parquet/JSONL/txt files, dirs or globs.", json_schema_extra={"short": "-i"}
    )
    tokenizer: str = Field(description="Tokenizer: .json, .model, HF dir or cached hub id.")
    text_column: str = Field(TEXT, description="Column holding the text.")


def _aggregate(df: pl.DataFrame, by: list[pl.Expr]) -> pl.DataFrame:
    import polars as pl

    return df.group_by(by).agg(
        pl.len().cast(pl.Int64).alias("docs"), pl.col("tokens").sum(), pl.col("text_bytes").sum()
    )


def inventory_file(path: str, tokenizer_name: str, text_column: str) -> UnitResult:
    """Docs, tokens and text bytes of one file per language, and per language and score bucket."""
    import polars as pl

    from curation.mixer.sources import read_frame
    from curation.mixer.tokens import encode_documents

    df = read_frame(path)
    if text_column not in df.columns:
        raise CurationError(f"unknown column '{text_column}' in {path}")
    df = df.filter(pl.col(text_column).is_not_null() & (pl.col(text_column).str.len_bytes() > 0))
    _, lengths = encode_documents(tokenizer_name, df.get_column(text_column).to_list())
    lang = (
        pl.col(LANG).cast(pl.String).fill_null(UNDETERMINED) if LANG in df.columns else pl.lit(UNDETERMINED)
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
    rows = [
        {**row, "source": source}
        for part in parts
        for row in part.select("lang", "score", "bucket", "docs", "tokens", "text_bytes").to_dicts()
    ]
    return UnitResult(result=rows)


class Inventory(Stage[InventoryConfig]):
    """Token counts per source (folder), language and score bucket: a table and inventory.parquet."""

    name = "inventory"
    config_model = InventoryConfig

    def run(self, run: Run) -> dict[str, Any]:
        import polars as pl

        from curation.mixer.sources import source_files

        cfg = self.cfg
        files = source_files(cfg.input, "inventory")
        units = [Unit(path_key(f), f) for f in files]
        records = run.map(
            "inventory", units, inventory_file, cfg.tokenizer, cfg.text_column, description="counting tokens"
        )
        rows = [row for record in records.values() for row in record["result"]]
        schema = {"source": pl.String, "lang": pl.String, "score": pl.String, "bucket": pl.Int64}
        table = (
            pl.DataFrame(
                rows, schema={**schema, "docs": pl.Int64, "tokens": pl.Int64, "text_bytes": pl.Int64}
            )
            .group_by(GROUP_KEYS)
            .agg(pl.col("docs").sum(), pl.col("tokens").sum(), pl.col("text_bytes").sum())
            .sort(GROUP_KEYS, nulls_last=False)
        )
        io.write_parquet(io.join(cfg.output, INVENTORY_FILE), table.to_arrow())
        totals = table.filter(pl.col("score").is_null())
        return {
            "files": len(files),
            "docs": int(totals["docs"].sum()),
            "tokens": int(totals["tokens"].sum()),
            "tokens_per_source": dict(totals.group_by("source").agg(pl.col("tokens").sum()).iter_rows()),
        }

    def _table(self) -> pl.DataFrame:
        import polars as pl

        return pl.from_arrow(io.read_parquet(io.join(self.cfg.output, INVENTORY_FILE)))

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        import polars as pl

        from curation.core.plots import bar_plot

        totals = self._table().filter(pl.col("score").is_null())
        labels = [f"{s}/{lang}" for s, lang in totals.select("source", "lang").iter_rows()]
        path = io.join(run.run_dir, "tokens_by_source.png")
        bar_plot(labels, totals["tokens"].to_list(), path, "tokens by source and language", "tokens")

    def render(self, stats: dict[str, Any]) -> Any:
        from curation.mixer.manifest import table

        inventory = self._table()
        return table(
            f"inventory ({self.cfg.output})", inventory.columns, [list(r) for r in inventory.iter_rows()]
        )
