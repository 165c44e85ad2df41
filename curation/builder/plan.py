"""`curation build --dry-run`: what a build would cost, before it runs.

For a listing (files, globs, ``warc.paths.gz``) the bytes are the files' sizes (looked up for the first
``plan.probe_files``, their mean for the rest, ``plan.warc_bytes`` when none is looked up) and the pages follow
from Common Crawl's pages per byte; the same input with index targeting is estimated from the target
languages' share of pages. For an index selection the records and their bytes are exact, and the full scan of
the same WARCs is the alternative. Core-hours divide pages by measured pages/s/core: a full scan runs at the
pre-selection rate (most pages never reach trafilatura), index-selected pages mostly are in the language and
run at the extraction rate. Every assumption is a config key and is written beside the estimate.
"""

from __future__ import annotations

from pydantic import BaseModel

from curation.builder.cc_index import IndexSelection
from curation.builder.config import BuildConfig, PlanConfig
from curation.builder.slices import WarcSlice, file_size
from curation.core import io

PLAN_FILE = "plan.json"  # <output>/_run/plan.json: the rows and assumptions
PLAN_TABLE = "plan.md"  # the same as a Markdown table


class PlanRow(BaseModel):
    scope: str
    warc_files: int
    bytes_to_fetch: float
    pages: float
    core_hours: float
    output_bytes: float


class Plan(BaseModel):
    rows: list[PlanRow]
    assumptions: PlanConfig
    basis: str


def mean_size(files: list[str], cfg: PlanConfig) -> float:
    """Mean size of ``files``: every local file's, the first ``probe_files`` remote ones', else the default."""
    local = [f for f in files if not io.is_remote(f)]
    probed = local if local else files[: cfg.probe_files]
    return sum(file_size(f) for f in probed) / len(probed) if probed else cfg.warc_bytes


def _row(
    scope: str, files: int, nbytes: float, pages: float, rate: float, kept: float, p: PlanConfig
) -> PlanRow:
    return PlanRow(
        scope=scope,
        warc_files=files,
        bytes_to_fetch=nbytes,
        pages=pages,
        core_hours=pages / rate / 3600,
        output_bytes=kept * p.kept_share * p.output_bytes_per_doc,
    )


def estimate(cfg: BuildConfig, slices: list[WarcSlice], selection: IndexSelection | None) -> Plan:
    p = cfg.plan
    files = list(dict.fromkeys(sl.path for sl in slices))
    full_bytes = mean_size(files, p) * len(files)
    if selection is not None:
        targeted = selection.records
        rows = [
            _row(
                "index targeting (selected records)",
                len(files),
                selection.record_bytes,
                targeted,
                p.extract_pages_per_core_second,
                targeted,
                p,
            ),
            _row(
                "full scan of the same WARCs",
                len(files),
                full_bytes,
                selection.warc_rows,
                p.scan_pages_per_core_second,
                targeted,
                p,
            ),
        ]
        basis = f"index selection: {selection.records:,} of {selection.index_rows:,} index rows"
    else:
        pages = full_bytes * p.pages_per_warc_byte
        targeted = pages * p.lang_share
        rows = [
            _row("full scan", len(files), full_bytes, pages, p.scan_pages_per_core_second, targeted, p),
            _row(
                "index targeting (estimated: lang_share of pages and bytes)",
                len(files),
                full_bytes * p.lang_share,
                targeted,
                p.extract_pages_per_core_second,
                targeted,
                p,
            ),
        ]
        basis = f"listing: {len(files):,} WARCs"
    return Plan(rows=rows, assumptions=p, basis=basis)


def _si(x: float, unit: str = "") -> str:
    for div, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:,.1f} {prefix}{unit}"
    return f"{x:,.0f} {unit}".rstrip()


def plan_markdown(plan: Plan, lang: list[str]) -> str:
    """The estimate as a Markdown table, with its assumptions."""
    a = plan.assumptions
    lines = [
        f"Estimate for `--lang {','.join(lang)}` ({plan.basis})",
        "",
        "| scope | WARCs | bytes to fetch | pages | core-hours | output |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {r.scope} | {r.warc_files:,} | {_si(r.bytes_to_fetch, 'B')} | {_si(r.pages)} | "
            f"{r.core_hours:,.{2 if r.core_hours < 10 else 0}f} | {_si(r.output_bytes, 'B')} |"
            for r in plan.rows
        ],
        "",
        f"Assumptions: full scan {a.scan_pages_per_core_second:g} pages/s/core, extraction "
        f"{a.extract_pages_per_core_second:g} pages/s/core; {a.pages_per_warc_byte * 1e9:,.0f} pages per GB of WARC; "
        f"{a.lang_share:.1%} of pages in the language (listings only); {a.kept_share:.0%} of those kept; "
        f"{a.output_bytes_per_doc:,.0f} output bytes per document; the index's own bytes are not counted.",
    ]
    return "\n".join(lines)
