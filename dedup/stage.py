"""`curation dedup`: plan, run the steps in order (finished tasks are skipped on a rerun), summarise.

Memory model: no process holds the whole corpus. A ``records`` task holds one shard and a
``(num_perm x chunk)`` hash matrix; a group, band, verify, component or cluster task holds one of the
``partitions`` hash partitions (about ``docs / partitions`` records, ``bands * docs / partitions`` band rows,
or its share of the candidate edges); a ``write`` task holds one shard and its decisions. The driver holds
only per-task stats. Raise ``partitions`` (or lower ``docs_per_partition``) to bound task memory as the
corpus grows. Every task's outputs are written before its completion record, so a killed run resumes at
the first unfinished task of the first unfinished step.
"""

from __future__ import annotations

import math
import os
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from curation.core import io
from curation.core.errors import CurationError
from curation.core.schema import DONE_DIR, ID, REJECTED_DIR, REMOVED_DIR, TEXT
from curation.core.stage import Run, Stage, Unit, relative_paths
from curation.dedup.config import DedupConfig


def input_shards(inputs: list[str]) -> list[str]:
    """Parquet files of the inputs, skipping side outputs (``rejected/``, ``removed/``) inside input folders."""
    roots = [(i if io.is_remote(i) else os.path.abspath(i)).rstrip("/") + "/" for i in inputs if io.is_dir(i)]
    side = (REJECTED_DIR, REMOVED_DIR)

    def is_side_output(path: str) -> bool:
        return any(path.startswith(r) and path[len(r) :].split("/")[0] in side for r in roots)

    shards = [f for f in io.list_parquet(inputs) if not is_side_output(f)]
    if not shards:
        raise CurationError(f"no Parquet files outside {'/, '.join(side)}/ in: {', '.join(inputs)}")
    return shards


def _size_buckets(histogram: dict[int, int]) -> dict[str, int]:
    """Cluster counts in power-of-two size buckets: 1, 2, 3-4, 5-8, ..."""
    buckets: dict[str, int] = {}
    for size, n in sorted(histogram.items()):
        hi = 1 << max(0, (size - 1).bit_length())
        lo = hi // 2 + 1 if hi > 2 else hi
        label = str(hi) if lo == hi else f"{lo}-{hi}"
        buckets[label] = buckets.get(label, 0) + n
    return buckets


class Dedup(Stage[DedupConfig]):
    """Remove exact, same-URL and MinHash near-duplicate documents across all shards."""

    name = "dedup"
    config_model = DedupConfig

    def __init__(self, cfg: DedupConfig) -> None:
        from curation.dedup.plan import Plan

        super().__init__(cfg)
        shards = input_shards(cfg.input)
        self.docs_in = self._check_inputs(shards)
        partitions = cfg.partitions or max(2, math.ceil(self.docs_in / cfg.docs_per_partition))
        self.plan = Plan(cfg, tuple(shards), tuple(relative_paths(shards)), partitions)

    def _check_inputs(self, shards: list[str]) -> int:
        """Fail fast on missing columns; returns the number of input documents."""
        needed = [ID, TEXT] + ([self.cfg.keep_column] if self.cfg.keep_column else [])
        total = 0
        for path in shards:
            names, rows = io.parquet_shape(path)
            for col in needed:
                if col not in names:
                    raise CurationError(f"column '{col}' not found in {path}")
            total += rows
        return total

    def resolved(self) -> dict[str, Any]:
        from curation.dedup.records import bands_rows

        out: dict[str, Any] = {"partitions": self.plan.partitions, "shards": len(self.plan.shards)}
        if self.cfg.minhash.enabled:
            out["bands"], out["rows"] = bands_rows(self.cfg)
        return out

    def inputs_fingerprint(self) -> Any:
        import polars as pl

        # token hashes come from polars and are only stable within one polars version
        return [self.plan.shards, self.plan.partitions, pl.__version__]

    def _drop_stale_records(self, run: Run) -> None:
        """A finished run removes its work directory but keeps its completion records. If an output shard
        was lost since, the steps before ``write`` must run again: their outputs were in the work directory
        (without this, ``write`` would find no decisions for the shard)."""
        if io.exists(run.work_dir):
            return
        written = run.records("write")
        keys = [str(i) for i in range(len(self.plan.shards))]
        if all(k in written and all(io.exists(o) for o in written[k]["outputs"]) for k in keys):
            return
        for path in io.find(io.join(run.run_dir, DONE_DIR), "*.json"):
            # <step>/<unit>.json of every step but write (done/ itself holds the config fingerprint)
            if os.path.basename(os.path.dirname(path)) not in ("write", DONE_DIR):
                io.remove(path)

    def run(self, run: Run) -> dict[str, Any]:
        from curation.dedup.stages import CLUSTER_SIZE_COUNTER

        self._drop_stale_records(run)
        finished = self._steps(run)
        if finished and not self.cfg.keep_work:
            io.remove_tree(run.work_dir)
        stages = run.stats.stages
        kinds = {
            k: {
                "docs_in": stages[k]["in"],
                "docs_out": stages[k]["out"],
                "docs_removed": stages[k]["in"] - stages[k]["out"],
            }
            for k in ("exact", "url", "minhash")
            if k in stages
        }
        counts = run.stats.counters.get(CLUSTER_SIZE_COUNTER, {})
        histogram = dict(sorted((int(k), v) for k, v in counts.items()))
        docs_out = stages["write"]["out"] if finished and "write" in stages else None
        return {
            "finished": finished,
            "inputs": len(self.plan.shards),
            "docs_in": self.docs_in,
            "docs_out": docs_out,
            "docs_removed": None if docs_out is None else self.docs_in - docs_out,
            "kinds": kinds,
            "clusters": sum(histogram.values()),
            "cluster_size_histogram": {str(k): v for k, v in histogram.items()},
            "cluster_size_buckets": _size_buckets(histogram),
        }

    def _step(self, run: Run, name: str, tasks: range, fn: Any, *args: Any) -> dict[str, dict[str, Any]]:
        return run.map(
            name, [Unit(str(t), t) for t in tasks], fn, self.plan, *args, description=f"dedup {name}"
        )

    def _components(self, run: Run) -> int:
        """Label propagation rounds until one sends no message; returns that round (its labels are final)."""
        from curation.dedup.components import MESSAGES_SENT, propagate_task

        parts = range(self.plan.partitions)
        for round_index in range(self.cfg.max_cc_rounds):
            records = self._step(run, f"components_r{round_index}", parts, propagate_task, round_index)
            if sum(r["stats"]["totals"].get(MESSAGES_SENT, 0) for r in records.values()) == 0:
                return round_index
        raise RuntimeError(f"connected components did not converge in {self.cfg.max_cc_rounds} rounds")

    def _steps(self, run: Run) -> bool:
        """All steps in order; False when ``stop_after`` stopped the run early."""
        from curation.dedup import stages
        from curation.dedup.writer import write_task

        plan, cfg = self.plan, self.cfg
        parts = range(plan.partitions)
        self._step(run, "records", range(len(plan.shards)), stages.records_task)
        if cfg.stop_after == "records":
            return False
        for kind in plan.group_kinds:
            self._step(run, kind, parts, stages.group_task, kind)
            if cfg.stop_after == kind:
                return False
        if cfg.minhash.enabled:
            self._step(run, "bands", parts, stages.bands_task)
            if cfg.stop_after == "bands":
                return False
            if cfg.minhash.verify:
                self._step(run, "verify_first", parts, stages.verify_first_task)
                self._step(run, "verify_second", parts, stages.verify_second_task)
                if cfg.stop_after == "verify":
                    return False
            final_round = self._components(run)
            run.stats.add("components_rounds", final_round + 1)
            if cfg.stop_after == "components":
                return False
            self._step(run, "clusters_prep", parts, stages.clusters_prep_task, final_round)
            self._step(run, "clusters", parts, stages.clusters_task)
            if cfg.stop_after == "clusters":
                return False
        self._step(run, "write", range(len(plan.shards)), write_task)
        return True

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        from curation.core.plots import bar_plot, funnel_plot

        summary = stats["summary"]
        if not summary["finished"]:
            return
        funnel = {k: {"in": v["docs_in"], "out": v["docs_out"]} for k, v in summary["kinds"].items()}
        if funnel:
            funnel_plot(funnel, io.join(run.run_dir, "funnel.png"), "dedup: documents in and out per kind")
        buckets = summary["cluster_size_buckets"]
        if buckets:
            path = io.join(run.run_dir, "cluster_sizes.png")
            bar_plot(
                list(buckets),
                list(buckets.values()),
                path,
                "kept documents by duplicate-cluster size",
                "clusters",
            )

    def render(self, stats: dict[str, Any]) -> RenderableType:
        s = stats["summary"]
        table = Table(title="curation dedup")
        for col in ("kind", "in", "out", "removed"):
            table.add_column(col, justify="left" if col == "kind" else "right")
        for kind, row in s["kinds"].items():
            table.add_row(kind, f"{row['docs_in']:,}", f"{row['docs_out']:,}", f"{row['docs_removed']:,}")
        if not s["finished"]:
            return Group(table, "stopped early (stop_after); rerun without it to finish")
        largest = max((int(k) for k in s["cluster_size_histogram"]), default=0)
        line = (
            f"kept {s['docs_out']:,} of {s['docs_in']:,} documents in {stats['wall_seconds']:.1f}s; "
            f"{s['clusters']:,} clusters, largest {largest:,} documents"
        )
        return Group(table, line)
