"""`curation report` on real runs: every section present, renders in headless Chromium without console errors."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from curation.core.schema import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LANG_SCORE,
    MANIFEST_FILE,
    METRICS_FILE,
    RUN_DIR,
    STATS_FILE,
)
from curation.filters.heuristics.gopher_quality import ALPHA_WORDS_RATIO, N_WORDS
from curation.filters.heuristics.presets import load_preset
from curation.report.collect import find_stage_runs, load_metrics
from curation.report.stage import REPORT_FILE, SECTION_IDS
from curation.report.thresholds import Threshold, preset_thresholds, where_thresholds
from tests.report.cli_runner import curation, run_ok


class _Refs(HTMLParser):
    """Every URL-valued attribute of a page (src, href, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "data", "action")]


def _external_refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return [r for r in parser.refs if not r.startswith(("#", "data:"))]


def _section(dom: str, section_id: str) -> str:
    start = dom.index(f'<section id="{section_id}"')
    return dom[start : dom.index("</section>", start)]


def _report(run: Path, out: Path) -> dict:
    """Run `curation report` in-process; its stats.json with the summary's keys at the top for brevity."""
    from curation.report.stage import Report

    stats = Report.call(run_dir=str(run), output=str(out), samples_per_group=2)
    assert stats == json.loads((out / RUN_DIR / STATS_FILE).read_text())
    return {**stats, **stats["summary"]}


def test_build_report_renders_every_section(build_run: Path, chromium, tmp_path: Path) -> None:
    stats = _report(build_run, tmp_path / "report")
    html_path = tmp_path / "report" / REPORT_FILE
    config = yaml.safe_load((tmp_path / "report" / RUN_DIR / CONFIG_FILE).read_text())
    assert config["command"] == "report" and config["config"]["run_dir"] == str(build_run)
    assert set(stats["sections_rendered"]) == {
        "summary",
        "funnel",
        "languages",
        "signals",
        "samples",
        "failures",
    }
    assert set(stats["sections_not_run"]) == {"scores", "dedup", "mixture", "training", "ablation", "plan"}

    html = html_path.read_text()
    assert "<script" not in html.lower()  # no code, and document texts are escaped
    assert _external_refs(html) == []
    page = chromium(html_path, tmp_path / "chromium")
    assert page.console == [], page.console
    for section_id in SECTION_IDS:
        assert f'<section id="{section_id}"' in page.dom, section_id
    for section_id in stats["sections_not_run"]:
        assert "not run" in _section(page.dom, section_id)
    assert page.screenshot.stat().st_size > 10_000

    build = json.loads((build_run / RUN_DIR / STATS_FILE).read_text())
    funnel = _section(page.dom, "funnel")
    for stage, st in build["stages"].items():
        assert f"<td>{stage}</td>" in funnel
        for reason in st["dropped"]:
            assert reason in funnel
    # the truncated record of resiliparse-clipped.warc.gz is a named failure
    assert "truncated_record" in _section(page.dom, "failures")
    # every language LID saw, and the preset thresholds drawn on the signal plots
    languages = _section(page.dom, "languages")
    assert all(f"<td>{lang}</td>" in languages for lang in build["counters"]["languages"])
    lid = load_preset("pt").lid_threshold
    assert f"&gt;= {lid:g} (pt, en, es)" in _section(page.dom, "signals")
    # samples: kept documents per kept language, dropped ones per saved drop reason
    samples = _section(page.dom, "samples")
    for lang in build["counters"]["kept_languages"]:
        assert f"kept · {lang}" in samples
    assert "dropped · gopher_alpha_words_ratio" in samples


def test_failures_are_named_in_stats_and_page(warc_dir: Path, tmp_path: Path) -> None:
    """A truncated WARC record and a worker over its memory limit (a real build with a 1 MB limit)."""
    config = tmp_path / "build.yaml"
    config.write_text(yaml.safe_dump({"max_worker_rss_mb": 1}))
    out = tmp_path / "run" / "build"
    run_ok(
        "build",
        "--lang",
        "en",
        "-c",
        str(config),
        "-o",
        str(out),
        "--executor",
        "local",
        "-i",
        str(warc_dir / "resiliparse-clipped.warc.gz"),
        "-i",
        str(warc_dir / "warcio-example.warc.gz"),
    )
    stats = _report(tmp_path / "run", tmp_path / "report")
    assert stats["counters"]["failures"]["warc:truncated_record"] == 1
    assert stats["counters"]["failures"]["memory:worker_rss_over_limit"] == 1
    failures = _section((tmp_path / "report" / REPORT_FILE).read_text(), "failures")
    assert "truncated_record" in failures and "worker_rss_over_limit" in failures


def test_chromium_check_sees_console_errors(chromium, tmp_path: Path) -> None:
    """The check above can fail: a page with a script error is caught."""
    page_path = tmp_path / "broken.html"
    page_path.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    page = chromium(page_path, tmp_path / "chromium")
    assert any("undefinedFunction" in line for line in page.console)


def test_report_ignores_its_own_output(build_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(build_run, run / "build", ignore=shutil.ignore_patterns("report"))
    first = _report(run, run / "report")
    second = _report(run, run / "report")
    assert first["counters"]["stage_outputs"] == second["counters"]["stage_outputs"] == {"build": 1}
    assert [s.command for s in find_stage_runs(run)] == ["build"]


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    proc = curation("report", str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert "run directory not found" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = curation("report", str(empty))
    assert proc.returncode == 2 and "no stage output" in proc.stderr
    proc = curation("report", str(empty), "--samples-per-group", "-1")
    assert proc.returncode == 2 and "samples_per_group" in proc.stderr


def test_thresholds_come_from_the_runs_resolved_presets_and_configs() -> None:
    pt = load_preset("pt", {"lid_threshold": 0.8, "fineweb": {"max_newline_ratio": None}})
    resolved = {
        "presets": {"pt": pt.model_dump(mode="json"), "de": load_preset("de").model_dump(mode="json")}
    }
    cuts = preset_thresholds(resolved)
    assert Threshold(LANG_SCORE, 0.8, ">=", "pt") in cuts
    assert Threshold(LANG_SCORE, load_preset("de").lid_threshold, ">=", "de") in cuts
    alpha = load_preset("pt").gopher_quality.min_alpha_words_ratio
    assert Threshold(ALPHA_WORDS_RATIO, alpha, ">=", "pt") in cuts
    newline = {(t.label, t.value) for t in cuts if t.column == "newline_ratio"}
    assert newline == {("de", 0.3)}  # switched off for pt in that run: no line, whatever today's preset says
    config = {
        "where": "edu_score >= 3 and toxic_score < 0.5",
        "sources": [{"filter": "n_words > 99 and a = 'b'"}],
    }
    assert where_thresholds(config) == [
        Threshold("edu_score", 3.0, ">=", "where"),
        Threshold("toxic_score", 0.5, "<", "where"),
        Threshold(N_WORDS, 99.0, ">", "sources[0].filter"),
    ]


@pytest.mark.slow
def test_full_pipeline_report(full_run: Path, chromium, tmp_path: Path) -> None:
    stats = _report(full_run, tmp_path / "report")
    assert stats["sections_not_run"] == ["ablation", "plan"]  # tests/ablate reports on these
    assert stats["counters"]["stage_outputs"] == {
        c: 1 for c in ("build", "dedup", "score", "filter", "mix", "pack", "train")
    }
    page = chromium(tmp_path / "report" / REPORT_FILE, tmp_path / "chromium")
    assert page.console == [], page.console
    for section_id in SECTION_IDS:
        assert f'<section id="{section_id}"' in page.dom
    dedup = json.loads((full_run / "dedup" / RUN_DIR / STATS_FILE).read_text())["summary"]
    section = _section(page.dom, "dedup")
    assert "clusters per cluster size" in section and f"<td>{dedup['clusters']:,}</td>" in section.replace(
        '<td class="n">', "<td>"
    )
    assert "&gt;= 1.5 (where)" in _section(page.dom, "scores")
    assert "&gt;= 100 (sources.web.filter)" in _section(page.dom, "signals")
    manifest = json.loads((full_run / "mix" / MANIFEST_FILE).read_text())
    mixture = _section(page.dom, "mixture").replace('<td class="n">', "<td>")
    for name, source in manifest["sources"].items():
        assert f"<td>{name}</td>" in mixture and f"<td>{source['tokens']:,}</td>" in mixture
    training = _section(page.dom, "training")
    assert "training loss" in training and "held-out bits per byte" in training
    assert "eval_bpb/pt" in training and "eval_bpb/en" in training

    # a killed trainer leaves a half-written last line: the curves still load
    metrics = full_run / "train" / METRICS_FILE
    records = load_metrics(metrics)
    cut = tmp_path / METRICS_FILE
    cut.write_text(metrics.read_text() + metrics.read_text().splitlines()[-1][:25])
    assert load_metrics(cut) == records

    # a trainer still running (or killed): config.yaml and metrics but no stats.json yet
    partial = tmp_path / "partial"
    shutil.copytree(full_run / "train", partial / "train", ignore=shutil.ignore_patterns(CHECKPOINTS_DIR))
    (partial / "train" / RUN_DIR / STATS_FILE).unlink()
    stats = _report(partial, tmp_path / "partial-report")
    assert "training" in stats["sections_rendered"]
    assert "running or killed" in _section((tmp_path / "partial-report" / REPORT_FILE).read_text(), "summary")
