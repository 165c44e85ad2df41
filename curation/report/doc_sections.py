"""Sections read from the documents themselves: filter signals, classifier scores, sample documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.core.schema import (
    BADWORD_COUNT,
    BADWORD_RATIO,
    DROP_REASON,
    DUP_KIND,
    ID,
    LANG,
    LANG_SCORE,
    N_CHARS,
    REJECTED_DIR,
    REMOVED_DIR,
    SCORE_SUFFIX,
    TEXT,
    URL,
)
from curation.report.collect import StageRun, of_command, summary_of
from curation.report.html import Section, esc, not_run, plot, table
from curation.report.shards import read_columns, sample_rows, schema_names
from curation.report.svg import histogram_svg
from curation.report.thresholds import Threshold, merge_thresholds, preset_thresholds, where_thresholds

MAX_SCORE_GROUPS = 5


def signal_columns() -> tuple[list[str], list[str]]:
    """(numeric columns drawn as histograms, flag columns counted): the document sizes, every registered
    rule's signals and the bad-word signal."""
    from curation.filters.heuristics import signal_types

    kinds = signal_types()
    numeric = [
        LANG_SCORE,
        N_CHARS,
        *(c for c, t in kinds.items() if t != "bool"),
        BADWORD_COUNT,
        BADWORD_RATIO,
    ]
    return numeric, [c for c, t in kinds.items() if t == "bool"]


def _concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def _values(t: pa.Table, column: str, mask: Any = None) -> np.ndarray:
    col = t.column(column)
    if mask is not None:
        col = pc.filter(col, mask)
    return col.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _grid(plots: list[str]) -> str:
    return f'<div class="grid">{"".join(plots)}</div>'


def signals_section(stages: Sequence[StageRun], max_rows: int) -> Section:
    builds = of_command(stages, "build")
    title = "Filter signals"
    if not builds:
        return not_run("signals", title, "no build output (curation build)")
    numeric, bool_columns = signal_columns()
    cols = [*numeric, *bool_columns, DROP_REASON]
    t = _concat([read_columns(b.parquet_files(), cols, max_rows) for b in builds])
    present = [c for c in numeric if c in t.column_names]
    if not present:
        return not_run("signals", title, "the build wrote no documents with signal columns")
    cuts = merge_thresholds(
        [th for b in builds for th in preset_thresholds(b.meta.get("resolved") or {})]
        + [th for s in stages for th in where_thresholds(s.config) if th.column in numeric]
    )
    dropped = pc.is_valid(t.column(DROP_REASON)) if DROP_REASON in t.column_names else None
    plots = []
    for col in present:
        if dropped is None:
            groups = {"kept": _values(t, col)}
        else:
            groups = {"kept": _values(t, col, pc.invert(dropped)), "dropped": _values(t, col, dropped)}
        plots.append(plot(histogram_svg(groups, col, cuts.get(col, []))))
    n_dropped = int(pc.sum(dropped).as_py() or 0) if dropped is not None else 0
    note = (
        f'<p class="note">{t.num_rows - n_dropped:,} kept and {n_dropped:,} dropped documents '
        "(dropped ones only when the build ran with --keep-rejected); dashed lines are the thresholds "
        "of the resolved language presets, labelled with the languages they apply to.</p>"
    )
    flags = [
        (col, int(pc.sum(pc.cast(t.column(col), pa.int64())).as_py() or 0))
        for col in bool_columns
        if col in t.column_names
    ]
    body = note + _grid(plots) + (table(("flag", "documents with it"), flags) if flags else "")
    return Section("signals", title, body)


def _score_source(stages: Sequence[StageRun]) -> tuple[StageRun, list[str]] | None:
    """The first stage output (pipeline order) whose shards carry classifier score columns."""
    for s in stages:
        names = schema_names(s.parquet_files()[:20])
        scores = sorted(c for c in names if c.endswith(SCORE_SUFFIX) and c != LANG_SCORE)
        if scores:
            return s, scores
    return None


def scores_section(stages: Sequence[StageRun], max_rows: int) -> Section:
    title = "Classifier scores"
    found = _score_source(stages)
    if found is None:
        return not_run("scores", title, "no shards with *_score columns (curation score)")
    stage, scores = found
    t = read_columns(stage.parquet_files(), [*scores, LANG], max_rows)
    cuts: dict[str, list[Threshold]] = merge_thresholds(
        th for s in stages for th in where_thresholds(s.config)
    )
    langs = []
    if LANG in t.column_names:
        counts = pc.value_counts(t.column(LANG)).to_pylist()
        langs = [c["values"] for c in sorted(counts, key=lambda c: -c["counts"]) if c["values"]]
    plots = []
    for col in scores:
        if 1 < len(langs) <= MAX_SCORE_GROUPS:
            groups = {lang: _values(t, col, pc.equal(t.column(LANG), lang)) for lang in langs}
        else:
            groups = {"documents": _values(t, col)}
        plots.append(plot(histogram_svg(groups, col, cuts.get(col, []))))
    note = (
        f'<p class="note">{t.num_rows:,} documents from {esc(stage.name)}; dashed lines are the score '
        "cut-offs found in the run's configs (row filters, mixture specs).</p>"
    )
    return Section("scores", title, note + _grid(plots))


def _doc_html(row: dict[str, Any], max_chars: int) -> str:
    text = str(row.get(TEXT) or "")
    cut = text[:max_chars] + (
        f" … [{len(text) - max_chars:,} more characters]" if len(text) > max_chars else ""
    )
    head = " · ".join(esc(x) for x in (row.get(LANG), row.get(URL) or row.get(ID)) if x)
    return f'<details open><summary>{head}</summary><pre class="doc">{esc(cut)}</pre></details>'


def _sample_groups(
    stage: StageRun,
    files: list[str],
    column: str,
    label: str,
    per_group: int,
    wanted: set[str],
    max_rows: int,
    max_chars: int,
) -> list[str]:
    """``<h3>`` per group of ``column`` values, then up to ``per_group`` documents each."""
    cols = (ID, URL, LANG, TEXT, column)
    rows = sample_rows(
        files,
        cols,
        lambda r: f"{label} · {r.get(column)}",
        per_group,
        {f"{label} · {x}" for x in wanted},
        max_rows,
    )
    parts = []
    for group, docs in sorted(rows.items()):
        parts.append(f"<h3>{esc(stage.name)}: {esc(group)}</h3>")
        parts += [_doc_html(row, max_chars) for row in docs]
    return parts


def samples_section(stages: Sequence[StageRun], per_group: int, max_chars: int, max_rows: int) -> Section:
    """A few kept documents per language and dropped ones per drop reason (build), removed ones per dedup
    kind (dedup, when it wrote them)."""
    title = "Sample documents"
    parts = []
    for b in of_command(stages, "build"):
        files = b.parquet_files()
        rejected = [f for f in files if f.split("/")[-2] == REJECTED_DIR]
        kept = [f for f in files if f.split("/")[-2] != REJECTED_DIR]
        langs = set(b.stats.get("counters", {}).get("kept_languages", {}))
        reasons = {r for st in (b.stats.get("stages") or {}).values() for r in (st.get("dropped") or {})}
        parts += _sample_groups(b, kept, LANG, "kept", per_group, langs, max_rows, max_chars)
        parts += _sample_groups(b, rejected, DROP_REASON, "dropped", per_group, reasons, max_rows, max_chars)
        if not rejected:
            parts.append(
                '<p class="note">no dropped documents saved (run the build with --keep-rejected)</p>'
            )
    for d in of_command(stages, "dedup"):
        removed = [f for f in d.parquet_files() if REMOVED_DIR in d.relative(f).split("/")]
        kinds = set(summary_of(d).get("kinds") or {})
        parts += _sample_groups(d, removed, DUP_KIND, "removed", per_group, kinds, max_rows, max_chars)
    if not any(p.startswith("<h3>") for p in parts):
        return not_run("samples", title, "no kept, dropped or removed documents saved (curation build)")
    return Section("samples", title, "".join(parts))
