"""`curation build`: one unit per input file (read, pre-select, extract, identify, filter, write shards).

A unit writes its shards under deterministic names, so a rerun after a kill rewrites the same names and never
duplicates documents; an input that cannot be read (retries exhausted, missing, forbidden) leaves nothing
behind and is reported by name, and the command exits 2 after writing everything else.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from rich.console import Group, RenderableType

from curation.builder.cc_index import IndexSelection
from curation.builder.config import BuildConfig
from curation.builder.plan import PLAN_FILE, PLAN_TABLE, Plan, estimate, plan_markdown
from curation.builder.slices import WarcSlice
from curation.core import io
from curation.core.schema import (
    CRAWL_DATE,
    DOCUMENT_FIELDS,
    DROP_REASON,
    ID,
    REJECTED_DIR,
    SNAPSHOT,
    URL,
    WARC_PATH,
    WARC_RECORD_OFFSET,
)
from curation.core.stage import Run, Stage, Unit, UnitResult, funnel_table, path_key
from curation.core.stats import Stats


def document_schema(rejected: bool = False) -> Any:
    """The Arrow schema of built documents: the document fields, then every registered rule's signals."""
    import pyarrow as pa

    from curation.filters.heuristics import signal_types

    columns = {**DOCUMENT_FIELDS, **signal_types(), **({DROP_REASON: "string"} if rejected else {})}
    return pa.schema([pa.field(n, pa.type_for_alias(t), nullable=n != ID) for n, t in columns.items()])


class ShardWriter:
    """Buffers rows per output folder and writes numbered zstd Parquet shards for one input; ``transform``
    (e.g. classifier scoring) may add columns to each shard's table before it is written."""

    def __init__(
        self, output: str, key: str, schema: Any, max_docs: int, transform: Callable[[Any], Any] | None = None
    ) -> None:
        self.output, self.key, self.schema, self.max_docs = output, key, schema, max_docs
        self.transform = transform
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)
        self.written: list[str] = []

    def add(self, folder: str, row: dict[str, Any]) -> None:
        self.rows[folder].append(row)
        if len(self.rows[folder]) >= self.max_docs:
            self._flush(folder)

    def _flush(self, folder: str) -> None:
        import pyarrow as pa

        rows = self.rows.pop(folder, [])
        if not rows:
            return
        path = io.join(self.output, folder, f"{self.key}-{self.counts[folder]:05d}.parquet")
        self.counts[folder] += 1
        table = pa.Table.from_pylist(rows, schema=self.schema)
        io.write_parquet(path, self.transform(table) if self.transform else table)
        self.written.append(path)

    def close(self) -> list[str]:
        for folder in list(self.rows):
            self._flush(folder)
        return self.written


def _remove_shards(output: str, key: str) -> None:
    for path in io.find(output, f"{key}-*.parquet"):
        io.remove(path)


def _scoring(cfg: BuildConfig, stats: Stats) -> Callable[[Any], Any] | None:
    """Classifier and bad-word columns for kept documents, when the config asks for them."""
    if not cfg.classifier and not cfg.badwords:
        return None
    from curation.filters.score import ShardScorer

    scorer = ShardScorer(cfg.classifier, cfg.badwords)
    return lambda table: scorer.score_table(table, stats)


def build_input(sl: WarcSlice, cfg: BuildConfig) -> UnitResult:
    """Process one WARC, one byte range of it, or the records of it an index selected, end to end."""
    from curation.builder.pages import PageFunnel
    from curation.builder.slices import open_slice
    from curation.builder.warc import Cld2Languages, WarcReader, snapshot_from
    from curation.core.remote import RemoteReadError

    stats = Stats()
    file_key, out = path_key(sl.path), cfg.output
    _remove_shards(out, sl.key)
    funnel = PageFunnel(cfg, stats)
    kept = ShardWriter(out, sl.key, document_schema(), cfg.shard_max_docs, _scoring(cfg, stats))
    rejected = ShardWriter(out, sl.key, document_schema(rejected=True), cfg.shard_max_docs)
    try:
        opened = open_slice(sl, stats, cfg.remote)
        with opened.stream as stream:
            reader = WarcReader(stream, sl.path, stats, cfg.max_payload_bytes)
            reader.snapshot = snapshot_from(sl.path, opened.warcinfo)
            for page in reader:
                page.offset = opened.ranges.file_offset(page.offset)
                if (
                    page.cld2 is None and page.offset in sl.languages
                ):  # the index's CLD2 languages, no reliability
                    page.cld2 = Cld2Languages(tuple(sl.languages[page.offset]), reliable=False, text_bytes=0)
                base = {
                    ID: page.record_id or f"{file_key}:{page.offset}",
                    URL: page.url,
                    WARC_PATH: sl.path,
                    WARC_RECORD_OFFSET: page.offset,
                    CRAWL_DATE: page.date,
                    SNAPSHOT: reader.snapshot,
                }
                result = funnel.process(page, base)
                if result is not None:
                    folder, row = result
                    (rejected if folder == REJECTED_DIR else kept).add(folder, row)
    except (RemoteReadError, FileNotFoundError, PermissionError) as exc:
        # Nothing of this input is kept and no completion record is written: the next run retries it whole.
        _remove_shards(out, sl.key)
        reason = (
            "remote_read_failed"
            if isinstance(exc, RemoteReadError)
            else f"input_unreadable:{type(exc).__name__}"
        )
        stats.count("input_errors", reason)
        return UnitResult(stats=stats.to_dict(), failed=f"{reason}: {exc}")
    return UnitResult(stats=stats.to_dict(), outputs=kept.close() + rejected.close())


class BuildSummary(BaseModel):
    inputs: int
    units: int
    kept_documents: dict[str, int]
    shards: list[str]
    max_worker_rss_mb: int | None
    within_memory_limit: bool
    index: IndexSelection | None = None
    plan: Plan | None = None


def input_slices(cfg: BuildConfig) -> tuple[list[WarcSlice], IndexSelection | None]:
    """The build's units of work: the records an index selected, or the input files (split when asked)."""
    from curation.builder.slices import file_size, split_file

    if cfg.cc_index:
        from curation.builder.cc_index import select_records

        return select_records(cfg)
    files = io.expand_inputs(cfg.input, cfg.cc_base_url, cfg.limit)
    size = file_size if cfg.split_bytes else lambda _: 0  # sizes are looked up only to split
    return [sl for f in files for sl in split_file(f, size(f), cfg.split_bytes)], None


class Build(Stage[BuildConfig]):
    """Read WARCs, extract main text, identify language, filter, and write Parquet shards."""

    name = "build"
    config_model = BuildConfig

    def resolved(self) -> dict[str, Any]:
        from curation.filters.heuristics.presets import load_preset

        presets = {lang: load_preset(lang, self.cfg.presets.get(lang)) for lang in self.cfg.lang}
        return {"presets": {lang: p.model_dump(mode="json") for lang, p in presets.items()}}

    def inputs_fingerprint(self) -> Any:
        """The index files' identities: a changed index selects other records."""
        return [io.identity(f) for f in io.list_parquet(self.cfg.cc_index)] if self.cfg.cc_index else None

    def run(self, run: Run) -> BuildSummary:
        from curation.builder.pages import KEPT_LANGUAGES, step_names

        cfg = self.cfg
        slices, selection = input_slices(cfg)
        inputs = {"inputs": len({sl.path for sl in slices}), "units": len(slices), "index": selection}
        limit = cfg.max_worker_rss_mb
        if cfg.dry_run:
            plan = estimate(cfg, slices, selection)
            io.write_json(io.join(run.run_dir, PLAN_FILE), plan.model_dump(mode="json"))
            io.write_text(io.join(run.run_dir, PLAN_TABLE), plan_markdown(plan, cfg.lang) + "\n")
            return BuildSummary(
                **inputs,
                kept_documents={},
                shards=[],
                max_worker_rss_mb=limit,
                within_memory_limit=True,
                plan=plan,
            )
        records = run.map(
            "build",
            [Unit(sl.key, sl) for sl in slices],
            build_input,
            cfg,
            description="build",
            info=lambda r: f"{r.stats['stages'].get('warc', {}).get('out', 0):,} html pages",
        )
        run.stats.order_stages(step_names())
        peak = run.stats.maxima.get("peak_rss_bytes", 0)
        return BuildSummary(
            **inputs,
            kept_documents=dict(run.stats.counters.get(KEPT_LANGUAGES, {})),
            shards=sorted(os.path.relpath(o, cfg.output) for r in records.values() for o in r["outputs"]),
            max_worker_rss_mb=limit,
            within_memory_limit=limit is None or peak <= limit * 2**20,
        )

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        if self.cfg.dry_run:
            return
        from curation.core.plots import funnel_plot

        funnel_plot(
            stats["stages"], io.join(run.run_dir, "funnel.png"), f"build funnel ({', '.join(self.cfg.lang)})"
        )

    def render(self, stats: dict[str, Any]) -> RenderableType:
        summary = stats["summary"]
        if summary["plan"]:
            from rich.markdown import Markdown

            return Markdown(plan_markdown(Plan.model_validate(summary["plan"]), self.cfg.lang))
        kept = summary["kept_documents"]
        warning = (
            "" if summary["within_memory_limit"] else " [yellow]peak worker memory over the limit[/yellow]"
        )
        line = (
            f"kept {sum(kept.values()):,} documents {kept} from {summary['inputs']} inputs in "
            f"{stats['wall_seconds']:.1f}s; {len(summary['shards'])} shards{warning}"
        )
        return Group(funnel_table(stats), line)
