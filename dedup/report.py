"""stats.json content, plots and the end-of-run summary of `curation dedup`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from curation.plots import bar_plot, funnel_plot
from curation.stats import Stats
from dedup.plan import KIND_EXACT, KIND_MINHASH, KIND_URL, Plan
from dedup.stages import CLUSTER_SIZE_COUNTER

KINDS = (KIND_EXACT, KIND_URL, KIND_MINHASH)


def _size_buckets(histogram: dict[int, int]) -> dict[str, int]:
    """Cluster counts in power-of-two size buckets: 1, 2, 3-4, 5-8, ..."""
    buckets: dict[str, int] = {}
    for size, n in sorted(histogram.items()):
        hi = 1 << max(0, (size - 1).bit_length())
        lo = hi // 2 + 1 if hi > 2 else hi
        label = str(hi) if lo == hi else f"{lo}-{hi}"
        buckets[label] = buckets.get(label, 0) + n
    return buckets


def summarise(
    stats: Stats, plan: Plan, docs_in: int, resolved: dict[str, Any], wall_seconds: float, finished: bool
) -> dict[str, Any]:
    data = stats.to_dict()
    stages = data["stages"]
    kinds = {
        k: {
            "docs_in": stages[k]["in"],
            "docs_out": stages[k]["out"],
            "docs_removed": stages[k]["in"] - stages[k]["out"],
        }
        for k in KINDS
        if k in stages
    }
    histogram = {int(k): v for k, v in data["counters"].get(CLUSTER_SIZE_COUNTER, {}).items()}
    histogram = dict(sorted(histogram.items()))
    docs_out = stages["write"]["out"] if finished and "write" in stages else None
    return {
        "command": "dedup",
        "finished": finished,
        "inputs": len(plan.shards),
        "docs_in": docs_in,
        "docs_out": docs_out,
        "docs_removed": None if docs_out is None else docs_in - docs_out,
        "kinds": kinds,
        "clusters": sum(histogram.values()),
        "cluster_size_histogram": {str(k): v for k, v in histogram.items()},
        "cluster_size_buckets": _size_buckets(histogram),
        "resolved": resolved,
        "totals": data["totals"],
        "task_seconds": data["timings"],
        "memory": {"peak_rss_mb_per_task": round(data["maxima"].get("peak_rss_bytes", 0) / 2**20, 1)},
        "wall_seconds": round(wall_seconds, 3),
    }


def write_plots(result: dict[str, Any], folder: Path) -> None:
    funnel = {k: {"in": v["docs_in"], "out": v["docs_out"]} for k, v in result["kinds"].items()}
    if funnel:
        funnel_plot(funnel, folder / "funnel.png", "dedup: documents in and out per kind")
    buckets = result["cluster_size_buckets"]
    if buckets:
        bar_plot(
            list(buckets),
            list(buckets.values()),
            folder / "cluster_sizes.png",
            "kept documents by duplicate-cluster size",
            "clusters",
        )


def print_summary(result: dict[str, Any], console: Console) -> None:
    table = Table(title="curation dedup")
    for col in ("kind", "in", "out", "removed"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind, row in result["kinds"].items():
        table.add_row(kind, f"{row['docs_in']:,}", f"{row['docs_out']:,}", f"{row['docs_removed']:,}")
    console.print(table)
    if not result["finished"]:
        console.print("stopped early (stop_after); rerun without it to finish")
        return
    largest = max((int(k) for k in result["cluster_size_histogram"]), default=0)
    console.print(
        f"kept {result['docs_out']:,} of {result['docs_in']:,} documents in {result['wall_seconds']:.1f}s; "
        f"{result['clusters']:,} clusters, largest {largest:,} documents"
    )
