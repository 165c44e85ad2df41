"""Driver of `curation report`: collect a run's evidence, render every section, write one HTML file."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from curation.core import io
from curation.core.config import StageConfig
from curation.core.errors import CurationError
from curation.core.stage import Run, Stage, stderr
from curation.core.stats import Stats

if TYPE_CHECKING:
    from curation.report.collect import StageRun
    from curation.report.html import Section

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
    "ablation",
    "plan",
    "samples",
    "failures",
)


class ReportConfig(StageConfig):
    """Write a run directory's report: funnel, languages, signals and scores with thresholds, dedup, mixture,
    training, ablations, mixture plans, samples and failures (sections without evidence say "not run")."""

    run_dir: str = Field(
        description="A stage output, or a folder holding several (build/, dedup/...).",
        json_schema_extra={"argument": True},
    )
    output: str = Field(
        "",
        description="Folder for report.html and _run/ (default RUN_DIR/report).",
        json_schema_extra={"short": "-o"},
    )
    title: str | None = Field(None, description="Page title.")
    samples_per_group: int = Field(3, ge=0, description="Sample documents per language and drop reason.")
    sample_chars: int = Field(600, ge=1, description="Characters shown per sample document.")
    max_rows: int = Field(
        200_000, ge=1, description="Documents read per stage for distributions and samples."
    )

    @model_validator(mode="after")
    def _default_output(self) -> ReportConfig:
        if not io.is_dir(self.run_dir):
            raise CurationError(f"run directory not found: {self.run_dir}")
        self.output = self.output or io.join(self.run_dir, DEFAULT_OUTPUT_NAME)
        return self


def build_sections(cfg: ReportConfig, stages: list[StageRun], stats: Stats) -> list[Section]:
    from curation.report.ablation import ablation_section, plan_section
    from curation.report.doc_sections import samples_section, scores_section, signals_section
    from curation.report.later_sections import dedup_section, mixture_section, training_section
    from curation.report.run_sections import (
        failures_section,
        funnel_section,
        languages_section,
        summary_section,
    )

    builders = {
        "summary": lambda: summary_section(stages),
        "funnel": lambda: funnel_section(stages),
        "languages": lambda: languages_section(stages),
        "signals": lambda: signals_section(stages, cfg.max_rows),
        "scores": lambda: scores_section(stages, cfg.max_rows),
        "dedup": lambda: dedup_section(stages, cfg.max_rows),
        "mixture": lambda: mixture_section(stages),
        "training": lambda: training_section(stages),
        "ablation": lambda: ablation_section(stages),
        "plan": lambda: plan_section(stages),
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


class Report(Stage[ReportConfig]):
    """Write a run directory's report: funnel, languages, signals and scores with thresholds, dedup, mixture,
    training, ablations, mixture plans, samples and failures (sections without evidence say "not run")."""

    name = "report"
    config_model = ReportConfig

    def run(self, run: Run) -> dict[str, Any]:
        from curation.report.collect import find_stage_runs
        from curation.report.html import page
        from curation.report.run_sections import failure_rows

        cfg = self.cfg
        stages = find_stage_runs(cfg.run_dir)
        with stderr.status("rendering report sections"):
            sections = build_sections(cfg, stages, run.stats)
        where = cfg.run_dir if io.is_remote(cfg.run_dir) else str(Path(cfg.run_dir).resolve())
        title = cfg.title or f"curation run report: {where.rstrip('/').rsplit('/', 1)[-1]}"
        written = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        subtitle = f"{len(stages)} stage output(s) under {where} · written {written}"
        html = page(title, subtitle, sections)
        path = io.join(cfg.output, REPORT_FILE)
        io.write_text(path, html)
        for command, n in Counter(s.command for s in stages).items():
            run.stats.count("stage_outputs", command, n)
        for _, where, reason, n in (row for s in stages for row in failure_rows(s)):
            run.stats.count("failures", f"{where.split()[-1]}:{reason}", n)
        return {
            "report": path,
            "stage_outputs": len(stages),
            "html_bytes": len(html.encode("utf-8")),
            "sections_rendered": [s.id for s in sections if s.ran],
            "sections_not_run": [s.id for s in sections if not s.ran],
        }

    def render(self, stats: dict[str, Any]) -> str:
        s = stats["summary"]
        not_run = f"; not run: {', '.join(s['sections_not_run'])}" if s["sections_not_run"] else ""
        return (
            f"report: {s['report']} ({s['html_bytes'] / 1024:,.0f} KiB) from {s['stage_outputs']} stage output(s); "
            f"sections: {', '.join(s['sections_rendered'])}{not_run}; {stats['wall_seconds']:.1f}s"
        )
