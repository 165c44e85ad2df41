"""Connected components of the duplicate graph by partitioned min-label propagation.

Edges are stored in both directions, partitioned by source node (``edges`` exchange). Round 0: each node's
label is the smallest of itself and its neighbours. Round r: a partition's task reads the labels sent to its
nodes in round r-1, lowers its labels, and sends each lowered label along its nodes' edges. Only nodes whose
label changed send anything, and a message is sent only when it can lower the receiver's label. The run
ends at the first round that sends nothing; every node then holds the smallest ``doc`` of its component.
Rounds needed are bounded by the graph diameter (small here, since band buckets produce stars).

Memory per task: one partition's edges and labels, plus the messages addressed to it.
"""

from __future__ import annotations

import polars as pl

from curation.core import io
from curation.core.stage import UnitResult
from curation.core.stats import Stats
from curation.dedup.exchange import partition_of, write_frame
from curation.dedup.plan import DST, LABEL, SRC, Plan

EDGE_SCHEMA = {SRC: pl.Int64, DST: pl.Int64}
MESSAGE_SCHEMA = {DST: pl.Int64, LABEL: pl.Int64}
MESSAGES_SENT = "messages_sent"


def labels_path(plan: Plan, round_index: int, partition: int) -> str:
    return io.join(plan.work, "labels", f"r{round_index}", f"{partition}.parquet")


def _send(plan: Plan, round_index: int, partition: int, edges: pl.DataFrame, changed: pl.DataFrame) -> int:
    msgs = (
        edges.join(changed, on=SRC, how="inner")
        .filter(pl.col(LABEL) < pl.col(DST))
        .group_by(DST)
        .agg(pl.col(LABEL).min())
    )
    plan.exchange(f"messages_r{round_index}").write(
        f"p{partition}", msgs, partition_of(msgs[DST], plan.partitions)
    )
    return msgs.height


def propagate_task(partition: int, plan: Plan, round_index: int) -> UnitResult:
    """One round of label propagation for one partition (see module docstring)."""
    stats = Stats()
    with stats.timed("components"):
        edges = plan.exchange("edges").read(partition, EDGE_SCHEMA).unique()  # a pair recurs across bands
        if round_index == 0:
            labels = edges.group_by(SRC).agg(
                pl.min_horizontal(pl.col(SRC).first(), pl.col(DST).min()).alias(LABEL)
            )
            changed = labels
        else:
            old = io.read_polars(labels_path(plan, round_index - 1, partition))
            msgs = plan.exchange(f"messages_r{round_index - 1}").read(partition, MESSAGE_SCHEMA)
            msgs = msgs.group_by(DST).agg(pl.col(LABEL).min().alias("_new")).rename({DST: SRC})
            labels = old.join(msgs, on=SRC, how="left").with_columns(
                pl.min_horizontal(LABEL, "_new").alias("_min")
            )
            changed = labels.filter(pl.col("_min") < pl.col(LABEL)).select(SRC, pl.col("_min").alias(LABEL))
            labels = labels.select(SRC, pl.col("_min").alias(LABEL))
        write_frame(labels_path(plan, round_index, partition), labels.sort(SRC))
        sent = _send(plan, round_index, partition, edges, changed)
        stats.add(MESSAGES_SENT, sent)
        stats.maximum("component_partition_edges", edges.height)
    return UnitResult(stats=stats.to_dict())
