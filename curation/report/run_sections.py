"""Sections read from ``stats.json`` alone: the run overview, the funnel, languages seen, failures."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from curation.report.collect import StageRun, merged_counter, of_command, summary_of
from curation.report.html import Section, esc, not_run, plot, table
from curation.report.svg import bars_svg

# Stages whose drops are broken or unreadable input rather than content decisions.
FAILURE_STAGES = ("warc", "read", "input", "fetch", "download", "decode", "extract")
_FAILURE_COUNTER = re.compile(r"error|fail|retr|timeout|skip|killed|oom", re.IGNORECASE)


def _reasons(dropped: dict[str, Any]) -> str:
    return "; ".join(f"{r} {n:,}" for r, n in dropped.items())


def summary_section(stages: Sequence[StageRun]) -> Section:
    rows = [
        (
            s.name,
            s.command,
            "finished" if s.finished else "no stats.json: running or killed",
            s.stats.get("started_at", s.meta.get("written_at", "")),
            s.stats.get("wall_seconds", ""),
            (s.stats.get("units") or {}).get("total", ""),
            (s.stats.get("units") or {}).get("failed", ""),
            s.meta.get("curation_version", ""),
        )
        for s in stages
    ]
    headers = (
        "stage output",
        "command",
        "state",
        "started (UTC)",
        "wall seconds",
        "units",
        "failed",
        "version",
    )
    body = table(headers, rows)
    return Section("summary", "Run overview", body)


def funnel_section(stages: Sequence[StageRun]) -> Section:
    parts = []
    for s in stages:
        funnel = s.stats.get("stages") or {}
        counted = {k: v for k, v in funnel.items() if v["in"] or v["out"]}
        if not funnel:
            continue
        rows = [
            (name, st["in"], st["out"], sum(st["dropped"].values()), _reasons(st["dropped"]), st["seconds"])
            for name, st in funnel.items()
        ]
        parts.append(f'<h3>{esc(s.name)} <span class="note">({esc(s.command)})</span></h3>')
        if counted:
            svg = bars_svg(
                list(counted),
                {"in": [v["in"] for v in counted.values()], "out": [v["out"] for v in counted.values()]},
                f"{s.command}: documents in and out per stage",
                "documents",
            )
            parts.append(plot(svg))
        parts.append(table(("stage", "in", "out", "dropped", "drop reasons", "seconds"), rows))
    if not parts:
        return not_run("funnel", "Stage funnel", "no stage output has per-stage counts")
    return Section("funnel", "Stage funnel", "".join(parts))


def languages_section(stages: Sequence[StageRun]) -> Section:
    builds = of_command(stages, "build") or list(stages)
    every_page = merged_counter(builds, "languages_preselect")  # pre-selection: every HTML page, mostly cld2
    seen, kept = merged_counter(builds, "languages"), merged_counter(builds, "kept_languages")
    if not seen and not kept and not every_page:
        return not_run("languages", "Languages seen", "no language counts (curation build)")
    langs = [lang for lang, _ in (every_page + seen + kept).most_common()]
    total = sum(every_page.values()) or sum(seen.values()) or 1
    rows = [
        (
            lang,
            every_page.get(lang, 0),
            f"{100 * (every_page.get(lang, 0) or seen.get(lang, 0)) / total:.1f}%",
            seen.get(lang, 0),
            kept.get(lang, 0),
        )
        for lang in langs
    ]
    top = langs[:30]
    series = {"every page (pre-selection)": [every_page.get(x, 0) for x in top]} if every_page else {}
    series.update({"extracted (LID)": [seen.get(x, 0) for x in top], "kept": [kept.get(x, 0) for x in top]})
    svg = bars_svg(top, series, "documents per language (top 30)", "documents")
    header = ("language", "every page (pre-selection)", "share", "extracted (LID)", "kept")
    return Section("languages", "Languages seen", plot(svg) + table(header, rows))


def failure_rows(stage: StageRun) -> list[tuple[str, str, str, int]]:
    """Every named failure of one stage output: input-level drops, error counters, memory over its limit."""
    st = stage.stats
    rows = []
    for name, funnel in (st.get("stages") or {}).items():
        if name in FAILURE_STAGES and isinstance(funnel, dict):
            rows += [
                (stage.name, f"stage {name}", reason, n)
                for reason, n in (funnel.get("dropped") or {}).items()
            ]
    for name, counter in (st.get("counters") or {}).items():
        if isinstance(counter, dict):  # an error counter, or failure-named keys of any counter (retry:...)
            named = _FAILURE_COUNTER.search(name)
            rows += [
                (stage.name, f"counter {name}", str(k), v)
                for k, v in counter.items()
                if named or _FAILURE_COUNTER.search(str(k))
            ]
    rows += [
        (stage.name, "unit", f"{unit}: {reason}", 1)
        for unit, reason in (st.get("failed_units") or {}).items()
    ]
    if summary_of(stage).get("within_memory_limit") is False:
        rows.append((stage.name, "memory", "worker_rss_over_limit", 1))
    return rows


def failures_section(stages: Sequence[StageRun]) -> Section:
    rows = [r for s in stages for r in failure_rows(s)]
    parts = []
    if rows:
        parts.append(table(("stage output", "where", "reason", "count"), sorted(rows, key=lambda r: -r[3])))
    else:
        parts.append('<p class="ok">no failure recorded in any stage output</p>')
    mem_rows = []
    for s in stages:
        peak = (s.stats.get("memory") or {}).get("peak_rss_mb_per_worker")
        if peak is not None:
            summary = summary_of(s)
            within = {True: "yes", False: "NO"}.get(summary.get("within_memory_limit"), "no limit set")
            mem_rows.append((s.name, peak, summary.get("max_worker_rss_mb", ""), within))
    if mem_rows:
        parts.append("<h3>Peak resident memory per worker</h3>")
        parts.append(table(("stage output", "peak MB", "limit MB", "within limit"), mem_rows))
    return Section("failures", "Failures and skipped input", "".join(parts))
