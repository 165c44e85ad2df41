"""What every task of one dedup run needs to know: config, shards, partitions and the work directory."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curation.core import io
from curation.core.schema import REMOVED_DIR, RUN_DIR, WORK_DIR
from curation.dedup.config import DedupConfig
from curation.dedup.exchange import Exchange

KIND_EXACT = "exact"
KIND_URL = "url"
KIND_MINHASH = "minhash"

# Decision columns (one row per input document, routed back to its shard).
KIND = "kind"
SURVIVOR = "survivor_id"
CLUSTER_ID = "cluster_id"
CLUSTER_SIZE = "cluster_size"
DECISION_SCHEMA: dict[str, pl.DataType] = {
    "doc": pl.Int64,
    KIND: pl.String,
    SURVIVOR: pl.String,
    CLUSTER_ID: pl.String,
    CLUSTER_SIZE: pl.Int64,
}
# Graph columns.
SRC = "src"
DST = "dst"
LABEL = "label"
BAND_KEY = "band_key"


@dataclass(frozen=True)
class Plan:
    cfg: DedupConfig
    shards: tuple[str, ...]
    outputs: tuple[str, ...]  # output path of each shard, relative to the output directory
    partitions: int

    @property
    def work(self) -> str:
        return io.join(self.cfg.output, RUN_DIR, WORK_DIR)

    @property
    def group_kinds(self) -> tuple[str, ...]:
        """Key-equality kinds, applied in this order before MinHash."""
        return tuple(
            k for k, on in ((KIND_EXACT, self.cfg.exact.enabled), (KIND_URL, self.cfg.url.enabled)) if on
        )

    def exchange(self, name: str) -> Exchange:
        n = len(self.shards) if name == "decisions" else self.partitions
        return Exchange(self.work, name, n)

    def output_path(self, shard_index: int, removed: bool = False) -> str:
        return io.join(self.cfg.output, *([REMOVED_DIR] if removed else []), self.outputs[shard_index])
