"""Sections for the stages after the build: dedup cluster sizes, the mixture plan, training curves.

Their outputs are read defensively (any key may be missing or named a little differently): whatever numbers
a stage left are shown, and a section says "not run" only when there is no evidence at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pyarrow.compute as pc

from curation.core.schema import DUP_CLUSTER_SIZE, MANIFEST_FILE, METRICS_FILE, PACK_INFO_FILE
from curation.report.collect import (
    StageRun,
    find_files,
    load_json_files,
    load_metrics,
    of_command,
    summary_of,
    walk_numbers,
)
from curation.report.html import Section, esc, not_run, plot, table
from curation.report.shards import read_columns
from curation.report.svg import bars_svg, lines_svg

MAX_TABLE_ROWS = 60


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _figures(stats: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every scalar number a stats file holds outside the funnel and the cluster-size plot, flattened."""
    rest = {k: v for k, v in (stats.get("summary") or {}).items() if "hist" not in k and "bucket" not in k}
    return [(k, v) for k, v in walk_numbers(rest) if _is_number(v)][:MAX_TABLE_ROWS]


def dedup_section(stages: Sequence[StageRun], max_rows: int) -> Section:
    title = "Deduplication"
    runs = of_command(stages, "dedup")
    if not runs:
        return not_run("dedup", title, "no dedup output (curation dedup)")
    parts = []
    for s in runs:
        counts = summary_of(s).get("cluster_size_histogram") or {}
        hist = {int(k): float(v) for k, v in counts.items()}
        source = "stats.json"
        if not hist:
            t = read_columns(s.parquet_files(), [DUP_CLUSTER_SIZE], max_rows)
            if DUP_CLUSTER_SIZE in t.column_names:
                hist = {
                    int(c["values"]): c["counts"]
                    for c in pc.value_counts(t.column(DUP_CLUSTER_SIZE)).to_pylist()
                    if c["values"] is not None
                }
                hist, source = (
                    dict(sorted(hist.items())),
                    f"the {DUP_CLUSTER_SIZE} column of kept documents",
                )
        parts.append(f"<h3>{esc(s.name)}</h3>")
        if hist:
            labels = [str(k) for k in hist][:MAX_TABLE_ROWS]
            svg = bars_svg(
                labels,
                {"clusters": [hist[int(k)] for k in labels]},
                "clusters per cluster size",
                "clusters (log)",
                log=True,
            )
            parts.append(plot(svg, f"cluster sizes from {source}"))
        else:
            parts.append('<p class="note">no cluster-size histogram found</p>')
        parts.append(table(("figure", "value"), _figures(s.stats)))
    return Section("dedup", title, "".join(parts))


def per_source_columns(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-source figures of a manifest, phase or pack.json as ``{column: {source: value}}``: scalar keys of
    ``sources`` entries (a mapping or a list of dicts with ``name``), mappings of source -> number
    (``tokens``, ``weights``...), and lists aligned with a ``sources`` list of names."""
    columns: dict[str, dict[str, Any]] = {}
    sources = plan.get("sources")
    names = (
        [str(x) for x in sources]
        if isinstance(sources, list) and all(isinstance(x, str) for x in sources)
        else []
    )
    if isinstance(sources, list) and not names:
        sources = {str(x.get("name", i)): x for i, x in enumerate(sources) if isinstance(x, dict)}
    if isinstance(sources, dict):
        for name, spec in sources.items():
            for k, v in spec.items() if isinstance(spec, dict) else []:
                if k != "name" and (_is_number(v) or isinstance(v, str)):
                    columns.setdefault(k, {})[str(name)] = v
    for key, value in plan.items():
        if key == "sources":
            continue
        if isinstance(value, dict) and value and all(_is_number(x) for x in value.values()):
            columns[key] = {str(k): v for k, v in value.items()}
        elif isinstance(value, list) and names and len(value) == len(names) and all(map(_is_number, value)):
            columns[key] = dict(zip(names, value, strict=True))
    return columns


def _plan_html(plan: dict[str, Any], label: str, top: bool = True) -> str:
    """Scalars, a per-source table, a tokens-per-source plot (top level only) and each phase below it."""
    parts = [f"<h3>{esc(label)}</h3>"]
    scalars = [(k, v) for k, v in plan.items() if _is_number(v) or isinstance(v, str)]
    if scalars:
        parts.append(table(("key", "value"), scalars[:MAX_TABLE_ROWS]))
    columns = per_source_columns(plan)
    if columns:
        names = list(dict.fromkeys(n for col in columns.values() for n in col))
        parts.append(
            table(("source", *columns), [[n, *[c.get(n, "") for c in columns.values()]] for n in names])
        )
        token_key = next((k for k in columns if "token" in k and "available" not in k), None)
        numeric = {n: v for n, v in columns.get(token_key, {}).items() if _is_number(v)}
        if numeric and top:
            svg = bars_svg(
                list(numeric), {token_key: list(numeric.values())}, f"{token_key} per source", "tokens"
            )
            parts.append(plot(svg))
    for i, phase in enumerate(plan.get("phases") or []):
        if isinstance(phase, dict):
            parts.append(_plan_html(phase, f"{label} · phase {phase.get('name', i)}", top=False))
    return "".join(parts)


def mixture_section(stages: Sequence[StageRun]) -> Section:
    title = "Mixture plan"
    plans = load_json_files(of_command(stages, "mix") or stages, MANIFEST_FILE)
    plans += load_json_files(of_command(stages, "pack") or stages, PACK_INFO_FILE)
    if not plans:
        return not_run("mixture", title, f"no {MANIFEST_FILE} (curation mix) or {PACK_INFO_FILE} (pack)")
    return Section("mixture", title, "".join(_plan_html(plan, f"{st.name}: {p}") for st, p, plan in plans))


def _series(records: list[dict[str, Any]], key: str, step_key: str) -> tuple[list[float], list[float]]:
    pts = [(r.get(step_key, i), r[key]) for i, r in enumerate(records) if _is_number(r.get(key))]
    return [float(x) for x, _ in pts], [float(y) for _, y in pts]


def training_section(stages: Sequence[StageRun]) -> Section:
    title = "Training"
    files = find_files(of_command(stages, "train") or stages, METRICS_FILE)
    if not files:
        return not_run("training", title, f"no {METRICS_FILE} (curation train)")
    parts = []
    for stage, path in files:
        records = load_metrics(path)
        keys = Counter(k for r in records for k, v in r.items() if _is_number(v))
        step_key = "step" if "step" in keys else next((k for k in keys if k.endswith("step")), "")
        loss_keys = [k for k in keys if k.split("/")[-1] in ("loss", "train_loss")]
        bpb_keys = [k for k in keys if "bpb" in k or "bits_per_byte" in k]
        lr_keys = [k for k in keys if k.split("/")[-1] == "lr"]
        parts.append(f"<h3>{esc(stage.name)}: {len(records):,} metric records</h3>")
        for wanted, name, log in (
            (loss_keys, "training loss", True),
            (bpb_keys, "held-out bits per byte", False),
            (lr_keys, "learning rate", False),
        ):
            series = {k: _series(records, k, step_key) for k in wanted}
            series = {k: v for k, v in series.items() if v[0]}
            if series:
                parts.append(plot(lines_svg(series, name, step_key or "record", name, log_y=log)))
        last = {k: v for r in records for k, v in r.items() if _is_number(v)}
        parts.append(table(("metric", "last value"), sorted(last.items())[:MAX_TABLE_ROWS]))
    return Section("training", title, "".join(parts))
