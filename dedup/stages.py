"""The per-task functions of a dedup run, in pipeline order (each returns its stats as a ``UnitResult``).

records (per shard) -> exact groups -> URL groups -> band buckets -> [verify] -> components -> clusters
-> write (per shard). Each arrow is an ``Exchange``: rows are routed by a hash of the key the next stage
groups on, so every task sees only its partition. Key-equality stages (exact, URL) group a partition,
keep one survivor per key with the policy, send the removed rows to ``decisions`` and the survivors on,
carrying ``weight`` (how many input documents a survivor stands for) so final cluster sizes count every copy.
"""

from __future__ import annotations

import polars as pl

from curation.core import io
from curation.core.schema import ID
from curation.core.stage import UnitResult
from curation.core.stats import Stats
from curation.dedup.components import labels_path
from curation.dedup.exchange import partition_of
from curation.dedup.plan import (
    BAND_KEY,
    CLUSTER_ID,
    CLUSTER_SIZE,
    DECISION_SCHEMA,
    DST,
    KIND,
    KIND_EXACT,
    KIND_MINHASH,
    KIND_URL,
    LABEL,
    SRC,
    SURVIVOR,
    Plan,
)
from curation.dedup.records import (
    BANDS,
    DATE_SECONDS,
    DOC,
    EXACT_KEY,
    PRIORITY,
    SHINGLES,
    SHINGLES_TYPE,
    URL_KEY,
    WEIGHT,
    build_records,
    shard_of,
)
from curation.dedup.shingles import jaccard

GROUP_KEY = {KIND_EXACT: EXACT_KEY, KIND_URL: URL_KEY}
GROUP_ORDER = {KIND_EXACT: PRIORITY, KIND_URL: DATE_SECONDS}
NODE_COLUMNS = (DOC, ID, PRIORITY, WEIGHT)
CLUSTER_SIZE_COUNTER = "cluster_size_docs"


def _schema(plan: Plan) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {
        DOC: pl.Int64,
        ID: pl.String,
        PRIORITY: pl.Float64,
        DATE_SECONDS: pl.Float64,
        WEIGHT: pl.Int64,
        EXACT_KEY: pl.UInt64,
        URL_KEY: pl.UInt64,
    }
    if plan.cfg.minhash.enabled:
        schema[BANDS] = pl.List(pl.UInt64)
        if plan.cfg.minhash.verify:
            schema[SHINGLES] = SHINGLES_TYPE
    return schema


def _decide(plan: Plan, producer: str, rows: pl.DataFrame) -> None:
    plan.exchange("decisions").write(producer, rows.select(list(DECISION_SCHEMA)), shard_of(rows[DOC]))


def _keep(plan: Plan, producer: str, survivors: pl.DataFrame, stats: Stats) -> None:
    """Final survivors: decisions with cluster id (the survivor's id) and size (documents it stands for)."""
    for size, n in survivors[WEIGHT].value_counts().iter_rows():
        stats.count(CLUSTER_SIZE_COUNTER, str(size), n)
    _decide(
        plan,
        f"{producer}-kept",
        survivors.select(
            DOC,
            pl.lit(None, pl.String).alias(KIND),
            pl.lit(None, pl.String).alias(SURVIVOR),
            pl.col(ID).alias(CLUSTER_ID),
            pl.col(WEIGHT).alias(CLUSTER_SIZE),
        ),
    )


def _remove(plan: Plan, producer: str, removed: pl.DataFrame, kind: str) -> None:
    """Removed documents: decisions naming the dedup kind and the survivor that replaced them."""
    rows = removed.with_columns(
        pl.lit(kind).alias(KIND),
        pl.lit(None, pl.String).alias(CLUSTER_ID),
        pl.lit(None, pl.Int64).alias(CLUSTER_SIZE),
    )
    _decide(plan, f"{producer}-removed", rows)


def _split(picked: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(removed, survivors) of a ``_pick`` result; a survivor's weight becomes its group's total."""
    survivors = picked.filter(pl.col("_first")).with_columns(pl.col("_group_weight").alias(WEIGHT))
    return picked.filter(~pl.col("_first")), survivors


def _forward(plan: Plan, producer: str, records: pl.DataFrame, done_kind: str | None, stats: Stats) -> None:
    """Send survivors of ``done_kind`` (None: fresh records) to the next stage."""
    chain = plan.group_kinds
    position = 0 if done_kind is None else chain.index(done_kind) + 1
    nxt = chain[position] if position < len(chain) else None
    if nxt is not None:
        key = records[GROUP_KEY[nxt]].fill_null(records[DOC].cast(pl.UInt64))
        plan.exchange(nxt).write(producer, records, partition_of(key, plan.partitions))
    elif plan.cfg.minhash.enabled:
        nodes = records.select(NODE_COLUMNS)
        plan.exchange("nodes").write(producer, nodes, partition_of(nodes[DOC], plan.partitions))
        if plan.cfg.minhash.verify:  # only documents with band keys can be in a candidate pair
            sets = records.filter(pl.col(BANDS).is_not_null()).select(DOC, SHINGLES)
            plan.exchange("shingles").write(producer, sets, partition_of(sets[DOC], plan.partitions))
        bands = records.select(DOC, pl.col(BANDS).alias(BAND_KEY)).drop_nulls(BAND_KEY).explode(BAND_KEY)
        plan.exchange("bands").write(producer, bands, partition_of(bands[BAND_KEY], plan.partitions))
    else:
        _keep(plan, producer, records, stats)


def records_task(shard_index: int, plan: Plan) -> UnitResult:
    stats = Stats()
    with stats.timed("records"):
        records = build_records(plan.shards[shard_index], shard_index, plan.cfg)
        stats.seen("records", records.height)
        stats.kept("records", records.height)
        _forward(plan, f"s{shard_index}", records, None, stats)
    return UnitResult(stats=stats.to_dict())


def _pick(df: pl.DataFrame, group: str, order: str) -> pl.DataFrame:
    """Sort each group best-first (``order`` descending, then ``id``) and mark its survivor."""
    return df.sort([group, order, ID], descending=[False, True, False], nulls_last=True).with_columns(
        (pl.int_range(pl.len()).over(group) == 0).alias("_first"),
        pl.col(ID).first().over(group).alias(SURVIVOR),
        pl.col(WEIGHT).sum().over(group).alias("_group_weight"),
    )


def group_task(partition: int, plan: Plan, kind: str) -> UnitResult:
    """Key-equality dedup of one partition: one survivor per key; null keys pass through."""
    stats = Stats()
    with stats.timed(kind):
        df = plan.exchange(kind).read(partition, _schema(plan))
        key = GROUP_KEY[kind]
        picked = _pick(df.filter(pl.col(key).is_not_null()), key, GROUP_ORDER[kind])
        removed, survivors = _split(picked)
        _remove(plan, f"{kind}{partition}", removed, kind)
        survivors = pl.concat([survivors.select(df.columns), df.filter(pl.col(key).is_null())])
        stats.seen(kind, df.height)
        stats.kept(kind, survivors.height)
        stats.dropped(kind, "duplicate", removed.height)
        _forward(plan, f"{kind}{partition}", survivors, kind, stats)
    return UnitResult(stats=stats.to_dict())


ALL_PAIRS_MAX = 32  # with verification, every pair of a band bucket up to this size is a candidate


def _both_directions(pairs: pl.DataFrame) -> pl.DataFrame:
    return pl.concat(
        [
            pairs.select(pl.col("a").alias(SRC), pl.col("b").alias(DST)),
            pairs.select(pl.col("b").alias(SRC), pl.col("a").alias(DST)),
        ]
    )


def _write_edges(plan: Plan, producer: str, pairs: pl.DataFrame) -> None:
    edges = _both_directions(pairs)
    plan.exchange("edges").write(producer, edges, partition_of(edges[SRC], plan.partitions))


def bands_task(partition: int, plan: Plan) -> UnitResult:
    """Documents sharing a band key are candidates: a star from the smallest ``doc`` to the others, which
    connects them all. With ``verify`` a star would lose the pairs of a bucket whose centre fails the check,
    so buckets of up to ``ALL_PAIRS_MAX`` documents give every pair (larger ones, usually copies that exact
    dedup removes first, stay stars to bound the pair count)."""
    stats = Stats()
    with stats.timed("bands"):
        rows = plan.exchange("bands").read(partition, {DOC: pl.Int64, BAND_KEY: pl.UInt64})
        buckets = rows.group_by(BAND_KEY).agg(DOC).filter(pl.col(DOC).list.len() > 1)
        small = pl.col(DOC).list.len() <= (ALL_PAIRS_MAX if plan.cfg.minhash.verify else 0)
        members = buckets.filter(small).explode(DOC)
        pairs = pl.concat(
            [
                members.join(members, on=BAND_KEY, suffix="_b").select(
                    pl.col(DOC).alias("a"), pl.col(f"{DOC}_b").alias("b")
                ),
                buckets.filter(~small)
                .select(pl.col(DOC).list.min().alias("a"), pl.col(DOC).alias("b"))
                .explode("b"),
            ]
        )
        pairs = pairs.filter(pl.col("a") < pl.col("b")).unique()
        stats.add("band_rows", rows.height)
        stats.add("candidate_pairs", pairs.height)
        if plan.cfg.minhash.verify:
            plan.exchange("candidates").write(
                f"b{partition}", pairs, partition_of(pairs["a"], plan.partitions)
            )
        else:
            _write_edges(plan, f"b{partition}", pairs)
    return UnitResult(stats=stats.to_dict())


def _shingles_of(plan: Plan, partition: int, column: str) -> pl.DataFrame:
    sets = plan.exchange("shingles").read(partition, {DOC: pl.Int64, SHINGLES: SHINGLES_TYPE})
    return sets.select(pl.col(DOC).alias(column), pl.col(SHINGLES).alias(f"{SHINGLES}_{column}"))


def verify_first_task(partition: int, plan: Plan) -> UnitResult:
    """Attach the shingles of each candidate pair's first document, route the pair by its second one.

    Pairs are routed here by their first document, so a pair found in several bands (other partitions of
    the bands step) meets its copies here and is checked once."""
    stats = Stats()
    with stats.timed("verify"):
        pairs = plan.exchange("candidates").read(partition, {"a": pl.Int64, "b": pl.Int64}).unique()
        joined = pairs.join(_shingles_of(plan, partition, "a"), on="a", how="inner")
        plan.exchange("candidates_b").write(
            f"v{partition}", joined, partition_of(joined["b"], plan.partitions)
        )
        stats.add("distinct_candidate_pairs", pairs.height)
    return UnitResult(stats=stats.to_dict())


def verify_second_task(partition: int, plan: Plan) -> UnitResult:
    """Exact Jaccard of each candidate pair; pairs at or above the threshold become edges."""
    stats = Stats()
    with stats.timed("verify"):
        schema = {"a": pl.Int64, "b": pl.Int64, f"{SHINGLES}_a": SHINGLES_TYPE}
        pairs = (
            plan.exchange("candidates_b")
            .read(partition, schema)
            .join(_shingles_of(plan, partition, "b"), on="b", how="inner")
        )
        similar = jaccard(f"{SHINGLES}_a", f"{SHINGLES}_b") >= plan.cfg.minhash.threshold
        keep = pairs.filter(similar).select("a", "b")
        stats.add("verified_pairs", keep.height)
        stats.add("rejected_pairs", pairs.height - keep.height)
        _write_edges(plan, f"v{partition}", keep)
    return UnitResult(stats=stats.to_dict())


def clusters_prep_task(partition: int, plan: Plan, final_round: int) -> UnitResult:
    """Give every surviving node its component label (itself when it has no edge), routed by label."""
    nodes = plan.exchange("nodes").read(partition, {c: _schema(plan)[c] for c in NODE_COLUMNS})
    nodes = nodes.select(NODE_COLUMNS)
    labels = io.read_polars(labels_path(plan, final_round, partition))
    labelled = nodes.join(labels.rename({SRC: DOC}), on=DOC, how="left").with_columns(
        pl.col(LABEL).fill_null(pl.col(DOC))
    )
    plan.exchange("clusters").write(f"n{partition}", labelled, partition_of(labelled[LABEL], plan.partitions))
    return UnitResult()


def clusters_task(partition: int, plan: Plan) -> UnitResult:
    """One survivor per MinHash component with the keep policy; the rest are removed."""
    stats = Stats()
    with stats.timed(KIND_MINHASH):
        schema = {**{c: _schema(plan)[c] for c in NODE_COLUMNS}, LABEL: pl.Int64}
        picked = _pick(plan.exchange("clusters").read(partition, schema), LABEL, PRIORITY)
        removed, survivors = _split(picked)
        _remove(plan, f"c{partition}", removed, KIND_MINHASH)
        stats.seen(KIND_MINHASH, picked.height)
        stats.kept(KIND_MINHASH, survivors.height)
        stats.dropped(KIND_MINHASH, "near_duplicate", removed.height)
        _keep(plan, f"c{partition}", survivors, stats)
    return UnitResult(stats=stats.to_dict())
