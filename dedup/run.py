"""Driver of `curation dedup`: plan, run the stages in order (skipping finished tasks), summarise.

Memory model: no process holds the whole corpus. A ``records`` task holds one shard and a
``(num_perm x chunk)`` hash matrix; a group, band, verify, component or cluster task holds one of the
``partitions`` hash partitions (about ``docs / partitions`` records, ``bands * docs / partitions`` band rows,
or its share of the candidate edges); a ``write`` task holds one shard and its decisions. The driver holds
only per-task stats. Raise ``partitions`` (or lower ``docs_per_partition``) to bound task memory as the
corpus grows. Every task's outputs are written atomically before its completion marker, so a killed run
resumes at the first unfinished task of the first unfinished stage.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
from rich.console import Console

from curation import schema as S
from curation.errors import CurationError
from curation.executor import map_items
from curation.io import atomic_write_json, list_parquet, remove_stale_temps
from curation.runinfo import run_dir, save_config, save_stats
from curation.stats import Stats
from dedup.components import MESSAGES_SENT, propagate_task
from dedup.config import DedupConfig
from dedup.exchange import DONE_DIR, is_done, mark_done, marker
from dedup.plan import Plan, relative_outputs
from dedup.records import bands_rows
from dedup.report import print_summary, summarise, write_plots
from dedup.stages import (
    bands_task,
    clusters_prep_task,
    clusters_task,
    group_task,
    records_task,
    verify_first_task,
    verify_second_task,
)
from dedup.writer import write_task

_RUNTIME_KEYS = ("workers", "ray_address", "executor", "keep_work", "stop_after")


def input_shards(inputs: list[str]) -> list[str]:
    """Parquet files of the inputs, skipping side outputs (``rejected/``, ``removed/``) inside input folders."""
    folders = [Path(i).resolve() for i in inputs if os.path.isdir(i)]
    side = {S.REJECTED_DIR, S.REMOVED_DIR}

    def is_side_output(path: Path) -> bool:
        return any(path.is_relative_to(d) and path.relative_to(d).parts[0] in side for d in folders)

    shards = [f for f in list_parquet(inputs) if not is_side_output(Path(f).resolve())]
    if not shards:
        raise CurationError(f"no Parquet files outside {'/, '.join(sorted(side))}/ in: {', '.join(inputs)}")
    return shards


def _check_inputs(shards: list[str], cfg: DedupConfig) -> int:
    """Fail fast on missing columns; returns the number of input documents."""
    needed = [S.ID, S.TEXT] + ([cfg.keep_column] if cfg.keep_column else [])
    total = 0
    for path in shards:
        names = set(pq.read_schema(path).names)
        for col in needed:
            if col not in names:
                raise CurationError(f"column '{col}' not found in {path}")
        total += pq.read_metadata(path).num_rows
    return total


def _with_rss(item: Any, fn: Callable[..., dict], plan: Plan, *args: Any) -> dict:
    result = fn(item, plan, *args)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    result.setdefault("maxima", {})["peak_rss_bytes"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    )
    return result


class Runner:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.stats = Stats()

    def stage(self, name: str, tasks: Sequence[int], fn: Callable[..., dict], *args: Any) -> list[dict]:
        """Run the unfinished tasks of a stage; returns the stats of all its tasks (from their markers)."""
        work, cfg = self.plan.work, self.plan.cfg
        pending = [t for t in tasks if not is_done(work, name, str(t))]
        for task, result in map_items(
            _with_rss,
            pending,
            fn,
            self.plan,
            *args,
            executor=cfg.executor,
            ray_address=cfg.ray_address,
            workers=cfg.workers,
            description=f"dedup {name}",
        ):
            mark_done(work, name, str(task), result)
        results = [json.loads(marker(work, name, str(t)).read_text()) for t in tasks]
        for result in results:
            self.stats.merge(result)
        return results


def _fingerprint(plan: Plan) -> str:
    cfg = {k: v for k, v in plan.cfg.model_dump(mode="json").items() if k not in _RUNTIME_KEYS}
    # token hashes come from polars and are only stable within one polars version
    blob = json.dumps([cfg, plan.shards, plan.partitions, pl.__version__], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _prepare_work(plan: Plan, console: Console) -> None:
    """Reuse finished tasks only when the work directory belongs to the same config and inputs."""
    stamp = plan.work / "plan.json"
    fingerprint = _fingerprint(plan)
    if stamp.exists() and json.loads(stamp.read_text())["fingerprint"] != fingerprint:
        console.print("config or inputs changed since the unfinished run: starting over")
        shutil.rmtree(plan.work)
    elif (plan.work / DONE_DIR).is_dir():
        console.print("resuming an unfinished run")
    atomic_write_json(stamp, {"fingerprint": fingerprint})


def _components(runner: Runner) -> int:
    """Label propagation rounds until one sends no message; returns that round (its labels are final)."""
    plan = runner.plan
    for round_index in range(plan.cfg.max_cc_rounds):
        results = runner.stage(
            f"components_r{round_index}", range(plan.partitions), propagate_task, round_index
        )
        if sum(r["totals"].get(MESSAGES_SENT, 0) for r in results) == 0:
            runner.stats.add("components_rounds", round_index + 1)
            return round_index
    raise RuntimeError(f"connected components did not converge in {plan.cfg.max_cc_rounds} rounds")


def _run_stages(runner: Runner) -> bool:
    """All stages in order; False when ``stop_after`` stopped the run early."""
    plan, cfg = runner.plan, runner.plan.cfg
    parts = range(plan.partitions)
    runner.stage("records", range(len(plan.shards)), records_task)
    if cfg.stop_after == "records":
        return False
    for kind in plan.group_kinds:
        runner.stage(kind, parts, group_task, kind)
        if cfg.stop_after == kind:
            return False
    if cfg.minhash.enabled:
        runner.stage("bands", parts, bands_task)
        if cfg.stop_after == "bands":
            return False
        if cfg.minhash.verify:
            runner.stage("verify_first", parts, verify_first_task)
            runner.stage("verify_second", parts, verify_second_task)
            if cfg.stop_after == "verify":
                return False
        final_round = _components(runner)
        if cfg.stop_after == "components":
            return False
        runner.stage("clusters_prep", parts, clusters_prep_task, final_round)
        runner.stage("clusters", parts, clusters_task)
        if cfg.stop_after == "clusters":
            return False
    runner.stage("write", range(len(plan.shards)), write_task)
    return True


def run_dedup(cfg: DedupConfig, console: Console | None = None) -> dict[str, Any]:
    console = console or Console(stderr=True)
    shards = input_shards(cfg.input)
    total_docs = _check_inputs(shards, cfg)
    partitions = cfg.partitions or max(2, math.ceil(total_docs / cfg.docs_per_partition))
    plan = Plan(cfg, tuple(shards), relative_outputs(shards), partitions)
    resolved: dict[str, Any] = {"partitions": partitions, "shards": len(shards)}
    if cfg.minhash.enabled:
        resolved["bands"], resolved["rows"] = bands_rows(cfg)
    save_config(cfg.output, "dedup", {**cfg.model_dump(mode="json"), "resolved": resolved})
    remove_stale_temps(cfg.output)
    _prepare_work(plan, console)
    runner = Runner(plan)
    start = time.perf_counter()
    finished = _run_stages(runner)
    result = summarise(runner.stats, plan, total_docs, resolved, time.perf_counter() - start, finished)
    save_stats(cfg.output, result)
    if finished:
        write_plots(result, run_dir(cfg.output))
        if not cfg.keep_work:
            shutil.rmtree(plan.work)
    print_summary(result, console)
    return result
