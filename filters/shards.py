"""Shard-to-shard jobs with resume: each input shard maps to one output shard at the same relative path."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from curation.executor import progress_bar
from curation.io import atomic_write_json, list_parquet, remove_stale_temps
from curation.runinfo import load_parts, part_path, save_config
from curation.stats import Stats

Job = tuple[str, str, str]  # (source shard, destination shard, completion key)


def _part_key(rel: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", rel)


def plan(inputs: list[str], output: str) -> list[Job]:
    """A job for every input shard, keeping paths relative to the shards' common root."""
    files = list_parquet(inputs)
    root = os.path.commonpath([os.path.dirname(f) for f in files])
    jobs = []
    for f in files:
        rel = os.path.relpath(f, root)
        jobs.append((f, str(Path(output) / rel), _part_key(rel)))
    return jobs


def pending(jobs: list[Job], output: str) -> tuple[list[Job], Stats]:
    """Jobs not completed by an earlier run, and the merged stats of those that were."""
    remove_stale_temps(output)
    done = load_parts(output)
    previous = Stats()
    todo = []
    for job in jobs:
        if job[2] in done and os.path.exists(job[1]):
            previous.merge(done[job[2]]["stats"])
        else:
            todo.append(job)
    return todo, previous


def complete(output: str, job: Job, stats: dict[str, Any]) -> None:
    """Record a finished job (written after its output shard, so a crash in between redoes the job)."""
    atomic_write_json(part_path(output, job[2]), {"source": job[0], "output": job[1], "stats": stats})


def run_jobs(
    command: str,
    config: dict[str, Any],
    inputs: list[str],
    output: str,
    description: str,
    run: Callable[[list[Job]], Iterable[tuple[Job, dict[str, Any]]]],
) -> dict[str, Any]:
    """Save the config, run the pending jobs (``run`` yields each finished job and its stats) with a progress
    bar, record each completion, and save the merged stats (with shard counts and wall seconds)."""
    Path(output).mkdir(parents=True, exist_ok=True)
    save_config(output, command, config)
    jobs = plan(inputs, output)
    todo, total = pending(jobs, output)
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(description, total=len(todo), info="")
        for job, stats in run(todo):
            complete(output, job, stats)
            total.merge(stats)
            bar.update(task, advance=1, info=Path(job[0]).name)
    summary = total.to_dict()
    summary.update(
        {
            "shards": len(jobs),
            "shards_resumed": len(jobs) - len(todo),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
    return summary
