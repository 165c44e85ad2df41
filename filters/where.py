"""``curation filter --where``: keep the rows of Parquet shards that satisfy an SQL condition on columns.

The condition is parsed by polars SQL (``edu_score >= 3 and toxicity_score < 0.5``); every column it names
must exist in each shard, else a user error names the column. Shards map one-to-one and resume like ``score``.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict
from rich.console import Console

from curation.errors import CurationError
from curation.io import write_parquet
from curation.runinfo import save_stats
from curation.stats import Stats
from filters.labelled import sql_expr
from filters.shards import run_jobs

STAGE = "where"


class FilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: list[str]
    output: str
    where: str


def filter_shard(src: str, dst: str, where: str) -> dict[str, Any]:
    """Write the rows of ``src`` where ``where`` holds (nulls count as false) to ``dst``."""
    frame = pl.read_parquet(src)
    kept = frame.filter(sql_expr(where, frame, src).fill_null(False))
    write_parquet(dst, kept.to_arrow())
    stats = Stats()
    stats.seen(STAGE, frame.height)
    stats.kept(STAGE, kept.height)
    stats.dropped(STAGE, "where", frame.height - kept.height)
    return stats.to_dict()


def run_filter(cfg: FilterConfig, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    if not cfg.where.strip():
        raise CurationError("where: empty condition")
    summary = run_jobs(
        "filter",
        cfg.model_dump(),
        cfg.input,
        cfg.output,
        "filtering shards",
        lambda todo: ((job, filter_shard(job[0], job[1], cfg.where)) for job in todo),
    )
    save_stats(cfg.output, summary)
    stage = summary["stages"].get(STAGE, {"in": 0, "out": 0})
    console.print(f"kept {stage['out']:,} of {stage['in']:,} docs where {cfg.where!r} -> {cfg.output}")
    return summary
