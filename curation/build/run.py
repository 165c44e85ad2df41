"""Driver of `curation build`: expand inputs, skip finished ones, fan out, merge stats, summarise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

from curation.build.config import BuildConfig
from curation.build.pipeline import input_key, process_input
from curation.errors import CurationError
from curation.executor import map_items
from curation.io import expand_inputs, remove_stale_temps
from curation.plots import funnel_plot
from curation.presets import load_preset
from curation.runinfo import load_parts, run_dir, save_config, save_stats
from curation.stats import Stats

STAGE_ORDER = (
    "warc",
    "html",
    "preselect",
    "extract",
    "lid",
    "language_filter",
    "gopher_repetition",
    "gopher_quality",
    "c4",
    "fineweb",
)


def _ordered(stages: dict[str, Any]) -> dict[str, Any]:
    known = [s for s in STAGE_ORDER if s in stages]
    return {s: stages[s] for s in known + sorted(set(stages) - set(known))}


def run_build(cfg: BuildConfig, console: Console | None = None) -> dict[str, Any]:
    console = console or Console(stderr=True)
    for lang in cfg.lang:  # fail fast, before any worker starts
        load_preset(lang, cfg.presets.get(lang))
    files = expand_inputs(cfg.input, cfg.cc_base_url, cfg.limit, cfg.storage_options)
    save_config(cfg.output, "build", cfg.model_dump(mode="json"))
    remove_stale_temps(cfg.output)
    done = load_parts(cfg.output)
    pending = [f for f in files if input_key(f) not in done]
    if len(pending) < len(files):
        console.print(f"resuming: {len(files) - len(pending)} of {len(files)} inputs already done")
    start = time.perf_counter()

    def info(record: dict[str, Any]) -> str:
        warc = record["stats"]["stages"].get("warc", {})
        return f"{warc.get('out', 0):,} html pages"

    merged = Stats()
    failed: dict[str, str] = {}
    for item, record in map_items(
        process_input,
        pending,
        cfg,
        executor=cfg.executor,
        ray_address=cfg.ray_address,
        workers=cfg.workers,
        description="build",
        info=info,
    ):
        if record.get("failed"):  # no completion record: its counts are only reported here, once
            failed[item] = record["failed"]
            merged.merge(record["stats"])
    wall = time.perf_counter() - start
    parts = load_parts(cfg.output)
    keys = {input_key(f) for f in files}
    for key, part in parts.items():
        if key in keys:
            merged.merge(part["stats"])
    result = merged.to_dict()
    result["stages"] = _ordered(result["stages"])
    peak = result["maxima"].get("peak_rss_bytes", 0)
    limit = cfg.max_worker_rss_mb
    result.update(
        {
            "command": "build",
            "inputs": len(files),
            "inputs_processed_this_run": len(pending),
            "failed_inputs": failed,
            "wall_seconds": round(wall, 3),
            "shards": sorted(s for k, p in parts.items() if k in keys for s in p["shards"]),
            "memory": {
                "peak_rss_mb_per_worker": round(peak / 2**20, 1),
                "limit_mb": limit,
                "within_limit": limit is None or peak <= limit * 2**20,
            },
        }
    )
    save_stats(cfg.output, result)
    funnel_plot(result["stages"], run_dir(cfg.output) / "funnel.png", f"build funnel ({', '.join(cfg.lang)})")
    print_summary(result, console)
    if failed:
        raise CurationError(
            f"{len(failed)} of {len(files)} inputs failed (first: {next(iter(failed.values()))}); "
            "the rest is written: rerun the same command to retry them"
        )
    return result


def print_summary(result: dict[str, Any], console: Console) -> None:
    table = Table(title="curation build", show_lines=False)
    for col in ("stage", "in", "out", "top drop reasons", "seconds"):
        table.add_column(col, justify="left" if col in ("stage", "top drop reasons") else "right")
    for name, st in result["stages"].items():
        reasons = ", ".join(f"{r} {n:,}" for r, n in list(st["dropped"].items())[:3])
        table.add_row(name, f"{st['in']:,}", f"{st['out']:,}", reasons, f"{st['seconds']:.1f}")
    console.print(table)
    other = {k: v for k, v in result["timings"].items() if k not in result["stages"]}
    if other:
        console.print("other time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in other.items()))
    kept = result["counters"].get("kept_languages", {})
    errors = result["counters"].get("input_errors", {})
    if not result["memory"]["within_limit"]:
        console.print(f"[yellow]warning:[/yellow] peak worker memory over the limit: {result['memory']}")
    console.print(
        f"kept {sum(kept.values()):,} documents {dict(kept)} from {result['inputs']} inputs "
        f"in {result['wall_seconds']:.1f}s; {len(result['shards'])} shards"
        + (f"; input errors {errors}" if errors else "")
    )
