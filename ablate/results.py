"""Ablation results: per metric, mean and spread over seeds per variant, and the difference to the baseline.

Seeds are shared by the variants (seed ``s`` fixes the model's initialisation and the data order in every
variant), so differences are paired by seed: ``d_s = variant_s - baseline_s``, with a 95% Student-t interval
``mean(d) ± t(0.975, n-1) · sd(d) / sqrt(n)``. A difference **exceeds seed noise** when that interval
excludes zero *and* the mean difference is larger than the baseline's own spread over seeds (its standard
deviation): a conservative reading of a handful of seeds.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

BPB_PREFIX = "bpb/"
LOWER_IS_BETTER_SUFFIXES = ("target_bpb",)


def lower_is_better(metric: str) -> bool:
    return metric.startswith(BPB_PREFIX) or metric.endswith(LOWER_IS_BETTER_SUFFIXES)


def job_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """The compared numbers of one job's eval.json: bits per byte per set, each task's primary metric, and
    the last-word target bits per byte (it moves before accuracy does)."""
    metrics = {f"{BPB_PREFIX}{name}": r["bpb"] for name, r in evaluation["bpb"].items()}
    for name, r in evaluation["tasks"].items():
        metrics[f"{name}/{r['primary_metric']}"] = r[r["primary_metric"]]
        if "target_bpb" in r:
            metrics[f"{name}/target_bpb"] = r["target_bpb"]
    return metrics


def _t975(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def compare(values: dict[str, dict[int, float]], baseline: str, lower: bool) -> dict[str, Any]:
    """One metric: ``values[variant][seed]`` -> per-variant mean/std and paired differences to the baseline."""
    out: dict[str, Any] = {"lower_is_better": lower, "variants": {}, "vs_baseline": {}}
    for name, by_seed in values.items():
        xs = list(by_seed.values())
        out["variants"][name] = {
            "mean": statistics.fmean(xs),
            "std": statistics.stdev(xs) if len(xs) > 1 else None,
            "n": len(xs),
            "values": {str(s): v for s, v in sorted(by_seed.items())},
        }
    base = values[baseline]
    noise = out["variants"][baseline]["std"]
    for name, by_seed in values.items():
        if name == baseline:
            continue
        seeds = sorted(set(by_seed) & set(base))
        diffs = [by_seed[s] - base[s] for s in seeds]
        mean = statistics.fmean(diffs)
        entry: dict[str, Any] = {"delta": mean, "n": len(diffs), "ci_low": None, "ci_high": None}
        if len(diffs) > 1:
            half = _t975(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
            entry["ci_low"], entry["ci_high"] = mean - half, mean + half
        entry["better"] = mean < 0 if lower else mean > 0
        entry["exceeds_noise"] = bool(
            entry["ci_low"] is not None
            and (entry["ci_low"] > 0 or entry["ci_high"] < 0)
            and noise is not None
            and abs(mean) > noise
        )
        out["vs_baseline"][name] = entry
    return out


def compare_all(metrics: dict[str, dict[int, dict[str, float]]], baseline: str) -> dict[str, dict[str, Any]]:
    """``metrics[variant][seed][metric]`` -> :func:`compare` per metric (metrics every job has)."""
    names = [set(m) for by_seed in metrics.values() for m in by_seed.values()]
    common = sorted(set.intersection(*names)) if names else []
    return {
        metric: compare(
            {v: {s: m[metric] for s, m in by_seed.items()} for v, by_seed in metrics.items()},
            baseline,
            lower_is_better(metric),
        )
        for metric in common
    }


def curves(records: dict[str, dict[int, list[dict[str, Any]]]], tokens_per_step: int) -> dict[str, Any]:
    """Learning curves from the jobs' training metrics (``eval_bpb`` records): per set and variant, tokens
    and the mean, min and max over seeds at each evaluation."""
    out: dict[str, Any] = {}
    for variant, by_seed in records.items():
        points: dict[str, dict[int, list[float]]] = {}
        for recs in by_seed.values():
            for r in recs:
                for name, bpb in r.get("eval_bpb", {}).items():
                    points.setdefault(name, {}).setdefault(r["step"], []).append(bpb)
        for name, by_step in points.items():
            steps = sorted(s for s, v in by_step.items() if len(v) == len(by_seed))
            out.setdefault(name, {})[variant] = {
                "tokens": [s * tokens_per_step for s in steps],
                "mean": [statistics.fmean(by_step[s]) for s in steps],
                "min": [min(by_step[s]) for s in steps],
                "max": [max(by_step[s]) for s in steps],
            }
    return out


def _num(x: float) -> str:
    return f"{x:.4f}" if abs(x) < 10 else f"{x:,.1f}"


def mean_cell(v: dict[str, Any]) -> str:
    return _num(v["mean"]) + (f" ± {v['std']:.4f}" if v["std"] is not None else "")


def delta_cell(d: dict[str, Any]) -> str:
    ci = f" [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]" if d["ci_low"] is not None else ""
    return f"{d['delta']:+.4f}{ci}"


def verdict(d: dict[str, Any]) -> str:
    if not d["exceeds_noise"]:
        return "within noise"
    return "better" if d["better"] else "worse"


def result_tables(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the ablation's tables: data per variant, results, differences."""
    variants = list(summary["variants"])
    baseline = summary["baseline"]
    data = [
        [
            name,
            v["description"],
            f"{v['data']['available_tokens']:,}",
            f"{v['data']['max_epochs']:.2f}",
            f"{v['data']['documents']:,}",
        ]
        for name, v in summary["variants"].items()
    ]
    results = [
        [
            metric,
            "lower" if m["lower_is_better"] else "higher",
            *(mean_cell(m["variants"][v]) for v in variants),
        ]
        for metric, m in summary["metrics"].items()
    ]
    others = [v for v in variants if v != baseline]
    diffs = [
        [metric, *(f"{delta_cell(m['vs_baseline'][v])} {verdict(m['vs_baseline'][v])}" for v in others)]
        for metric, m in summary["metrics"].items()
    ]
    seeds = len(summary["seeds"])
    return [
        (
            f"variants ({summary['tokens_per_job']:,} training tokens per job, proxy {summary['proxy']})",
            ["variant", "what", "available tokens", "epochs (max source)", "documents"],
            data,
        ),
        (
            f"mean ± std over {seeds} seeds",
            ["metric", "better", *variants],
            results,
        ),
        (
            f"difference to {baseline} (paired by seed, 95% CI)",
            ["metric", *(f"{v} - {baseline}" for v in others)],
            diffs,
        ),
    ]


def markdown(summary: dict[str, Any]) -> str:
    return md_tables(result_tables(summary))


def md_tables(tables: list[tuple[str, list[str], list[list[str]]]]) -> str:
    """Markdown of (title, header, rows) tables."""
    parts = []
    for title, header, rows in tables:
        parts.append(f"**{title}**\n")
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "|".join("---" for _ in header) + "|")
        parts += ["| " + " | ".join(row) + " |" for row in rows]
        parts.append("")
    return "\n".join(parts)


def plot_curves(summary: dict[str, Any], path: str) -> None:
    """Held-out bits per byte against training tokens: one panel per set, a line per variant (mean over
    seeds) with the min-max band."""
    from curation.core.plots import pyplot, save

    sets = summary["curves"]
    if not sets:
        return
    plt = pyplot()
    fig, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 3.6), squeeze=False)
    for ax, (name, by_variant) in zip(axes[0], sets.items(), strict=True):
        for variant, c in by_variant.items():
            (line,) = ax.plot(c["tokens"], c["mean"], marker="o", markersize=3, label=variant)
            ax.fill_between(c["tokens"], c["min"], c["max"], color=line.get_color(), alpha=0.2)
        ax.set(xlabel="training tokens", ylabel="bits per byte", title=name)
        ax.legend(fontsize=8)
    fig.suptitle(f"ablation learning curves (proxy {summary['proxy']}, {len(summary['seeds'])} seeds)")
    fig.tight_layout()
    save(fig, path)
