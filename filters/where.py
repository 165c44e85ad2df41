"""`curation filter --where`: keep the rows of Parquet shards that satisfy an SQL condition on their columns.

The condition is parsed by polars SQL (``edu_score >= 3 and toxicity_score < 0.5``); every column it names
must exist in each shard, else a user error names the column. Shards map one-to-one, as in `curation score`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from curation.core import io
from curation.core.config import StageConfig
from curation.core.errors import CurationError
from curation.core.stage import Run, Stage, UnitResult, shard_units
from curation.core.stats import Stats

STAGE = "where"


class FilterConfig(StageConfig):
    """Keep the rows of Parquet shards where an SQL condition on their columns holds."""

    input: list[str] = Field(
        min_length=1, description="Parquet shards, dirs or globs.", json_schema_extra={"short": "-i"}
    )
    where: str = Field(description='SQL condition, e.g. "edu_score >= 3 and toxicity_score < 0.5".')


def filter_shard(item: tuple[str, str], where: str) -> UnitResult:
    """Write the rows of the source shard where ``where`` holds (nulls count as false) to the destination."""
    from curation.filters.labelled import sql_expr

    src, dst = item
    frame = io.read_polars(src)
    kept = frame.filter(sql_expr(where, frame, src).fill_null(False))
    io.write_parquet(dst, kept.to_arrow())
    stats = Stats()
    stats.seen(STAGE, frame.height)
    stats.kept(STAGE, kept.height)
    stats.dropped(STAGE, "where", frame.height - kept.height)
    return UnitResult(stats=stats.to_dict(), outputs=[dst])


class FilterSummary(BaseModel):
    shards: int
    documents_in: int
    documents_kept: int


class Filter(Stage[FilterConfig]):
    """Keep the rows of Parquet shards where an SQL condition on their columns holds."""

    name = "filter"
    config_model = FilterConfig

    def run(self, run: Run) -> FilterSummary:
        if not self.cfg.where.strip():
            raise CurationError("where: empty condition")
        units = shard_units(self.cfg.input, self.cfg.output)
        run.map("filter", units, filter_shard, self.cfg.where)
        stage = run.stats.stages.get(STAGE, {"in": 0, "out": 0})
        return FilterSummary(shards=len(units), documents_in=stage["in"], documents_kept=stage["out"])

    def render(self, stats: dict[str, Any]) -> str:
        s = stats["summary"]
        return f"kept {s['documents_kept']:,} of {s['documents_in']:,} docs where {self.cfg.where!r} -> {self.cfg.output}"
