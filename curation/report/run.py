"""Driver of `curation report`: collect a run's evidence, render every section, write one HTML file."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console

from curation.errors import CurationError
from curation.io import atomic_write_text
from curation.report.collect import StageRun, find_stage_runs
from curation.report.doc_sections import samples_section, scores_section, signals_section
from curation.report.html import Section, page
from curation.report.later_sections import dedup_section, mixture_section, training_section
from curation.report.run_sections import (
    failure_rows,
    failures_section,
    funnel_section,
    languages_section,
    summary_section,
)
from curation.runinfo import save_config, save_stats
from curation.stats import Stats

REPORT_FILE = "report.html"
DEFAULT_OUTPUT_NAME = "report"
SECTION_IDS = (
    "summary",
    "funnel",
    "languages",
    "signals",
    "scores",
    "dedup",
    "mixture",
    "training",
    "samples",
    "failures",
)


class ReportConfig(BaseModel):
    """`curation report` options; ``output`` defaults to ``<run_dir>/report``."""

    model_config = ConfigDict(extra="forbid")
    run_dir: str
    output: str | None = None
    title: str | None = None
    samples_per_group: int = Field(3, ge=0)
    sample_chars: int = Field(600, ge=1)
    max_rows: int = Field(200_000, ge=1)

    @property
    def output_dir(self) -> Path:
        return Path(self.output) if self.output else Path(self.run_dir) / DEFAULT_OUTPUT_NAME


def make_config(**values: Any) -> ReportConfig:
    """Validate options; a bad value is a user error naming its key."""
    try:
        return ReportConfig.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CurationError(f"invalid option '{'.'.join(map(str, err['loc']))}': {err['msg']}") from None


def build_sections(cfg: ReportConfig, stages: list[StageRun], stats: Stats) -> list[Section]:
    builders = {
        "summary": lambda: summary_section(stages),
        "funnel": lambda: funnel_section(stages),
        "languages": lambda: languages_section(stages),
        "signals": lambda: signals_section(stages, cfg.max_rows),
        "scores": lambda: scores_section(stages, cfg.max_rows),
        "dedup": lambda: dedup_section(stages, cfg.max_rows),
        "mixture": lambda: mixture_section(stages),
        "training": lambda: training_section(stages),
        "samples": lambda: samples_section(stages, cfg.samples_per_group, cfg.sample_chars, cfg.max_rows),
        "failures": lambda: failures_section(stages),
    }
    sections = []
    for section_id in SECTION_IDS:
        stats.seen("sections")
        with stats.timed(section_id):
            section = builders[section_id]()
        sections.append(section)
        if section.ran:
            stats.kept("sections")
        else:
            stats.dropped("sections", f"not_run:{section_id}")
    return sections


def write_report(cfg: ReportConfig, console: Console | None = None) -> dict[str, Any]:
    console = console or Console(stderr=True)
    start = time.perf_counter()
    stages = find_stage_runs(cfg.run_dir)
    out = cfg.output_dir
    save_config(out, "report", cfg.model_dump(mode="json"))
    stats = Stats()
    with console.status("rendering report sections"):
        sections = build_sections(cfg, stages, stats)
    title = cfg.title or f"curation run report: {Path(cfg.run_dir).resolve().name}"
    written = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    subtitle = f"{len(stages)} stage output(s) under {Path(cfg.run_dir).resolve()} · written {written}"
    html = page(title, subtitle, sections)
    path = out / REPORT_FILE
    atomic_write_text(path, html)
    result = stats.to_dict()
    result["counters"]["stage_outputs"] = dict(Counter(s.command for s in stages))
    failures: Counter[str] = Counter()
    for _, where, reason, n in (row for s in stages for row in failure_rows(s)):
        failures[f"{where.split()[-1]}:{reason}"] += n
    result["counters"]["failures"] = dict(failures.most_common())
    result.update(
        {
            "command": "report",
            "report": str(path),
            "html_bytes": len(html.encode("utf-8")),
            "sections_rendered": [s.id for s in sections if s.ran],
            "sections_not_run": [s.id for s in sections if not s.ran],
            "wall_seconds": round(time.perf_counter() - start, 3),
        }
    )
    save_stats(out, result)
    console.print(
        f"report: {path} ({result['html_bytes'] / 1024:,.0f} KiB) from {len(stages)} stage output(s); "
        f"sections: {', '.join(result['sections_rendered'])}"
        + (f"; not run: {', '.join(result['sections_not_run'])}" if result["sections_not_run"] else "")
        + f"; {result['wall_seconds']:.1f}s"
    )
    return result
