"""Last stage, one task per input shard: apply the decisions and write kept (and removed) documents."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from curation.core import io
from curation.core.schema import DUP_CLUSTER_ID, DUP_CLUSTER_SIZE, DUP_KIND, DUP_SURVIVOR_ID
from curation.core.stage import UnitResult
from curation.core.stats import Stats
from curation.dedup.plan import CLUSTER_ID, CLUSTER_SIZE, DECISION_SCHEMA, KIND, SURVIVOR, Plan
from curation.dedup.records import DOC, ROW_BITS

ROW_MASK = (1 << ROW_BITS) - 1


def _select(
    table: pa.Table, decisions: pl.DataFrame, mask: np.ndarray, columns: dict[str, tuple[str, pa.DataType]]
) -> pa.Table:
    """Rows of ``table`` where ``mask``, plus decision columns renamed (``{output: (decision, type)}``)."""
    out = table.filter(pa.array(mask))
    chosen = decisions.filter(pl.Series(mask))
    for name, (column, dtype) in columns.items():
        out = out.append_column(name, chosen[column].to_arrow().cast(dtype))
    return out


def write_task(shard_index: int, plan: Plan) -> UnitResult:
    """Every row of the shard must have exactly one decision; anything else is a bug and raises."""
    stats = Stats()
    with stats.timed("write"):
        table = io.read_parquet(plan.shards[shard_index])
        decisions = plan.exchange("decisions").read(shard_index, DECISION_SCHEMA)
        rows = (decisions[DOC].to_numpy() & ROW_MASK).astype(np.int64)
        if len(rows) != table.num_rows or len(np.unique(rows)) != table.num_rows:
            raise RuntimeError(
                f"shard {plan.shards[shard_index]}: {len(rows)} decisions for {table.num_rows} rows"
            )
        decisions = decisions.with_columns(pl.Series("_row", rows)).sort("_row")
        kept = decisions[KIND].is_null().to_numpy()
        kept_columns = {
            DUP_CLUSTER_ID: (CLUSTER_ID, pa.string()),
            DUP_CLUSTER_SIZE: (CLUSTER_SIZE, pa.int64()),
        }
        outputs = [plan.output_path(shard_index)]
        io.write_parquet(outputs[0], _select(table, decisions, kept, kept_columns))
        if plan.cfg.write_removed:
            removed_columns = {DUP_SURVIVOR_ID: (SURVIVOR, pa.string()), DUP_KIND: (KIND, pa.string())}
            outputs.append(plan.output_path(shard_index, removed=True))
            io.write_parquet(outputs[1], _select(table, decisions, ~kept, removed_columns))
        stats.seen("write", table.num_rows)
        stats.kept("write", int(kept.sum()))
    return UnitResult(stats=stats.to_dict(), outputs=outputs)
