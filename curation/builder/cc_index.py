"""Common Crawl index targeting: choose records from CC's columnar index, fetch only those.

The index (Parquet, one row per capture) says for every record its URL, HTTP status, detected MIME type,
CLD2's languages (``content_languages``: up to three ISO 639-3 codes, most text first) and where its gzip
member lies (``warc_filename``, ``warc_record_offset``, ``warc_record_length``). The selection keeps rows whose
status and MIME type are wanted, whose languages include a target language (or are missing, by policy) and,
optionally, whose host is on a list; the rows are grouped per WARC into one unit each, which reads its
members by ranged requests through the same retrying reader as a full scan.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from curation.builder.config import BuildConfig
from curation.builder.slices import WarcSlice
from curation.core import io
from curation.core.lang import normalise

URL_HOST = "url_host_name"
FETCH_STATUS = "fetch_status"
MIME_DETECTED = "content_mime_detected"
LANGUAGES = "content_languages"
WARC_FILENAME = "warc_filename"
OFFSET = "warc_record_offset"
LENGTH = "warc_record_length"
COLUMNS = [URL_HOST, FETCH_STATUS, MIME_DETECTED, LANGUAGES, WARC_FILENAME, OFFSET, LENGTH]


class IndexSelection(BaseModel):
    """What the index selected: rows read, records and bytes to fetch, the WARCs they lie in and their rows."""

    index_files: int
    index_rows: int
    records: int
    record_bytes: int
    warc_files: int
    warc_rows: int
    missing_language_records: int


def index_languages(value: str | None) -> list[str]:
    """``"por,eng"`` -> ``["pt", "en"]``."""
    return [normalise(c) for c in (value or "").split(",") if c.strip()]


def _on_hosts(host: str | None, hosts: list[str]) -> bool:
    host = (host or "").lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in hosts)


def _matching(values: list[Any], keep: Any) -> list[Any]:
    """The distinct values of a column for which ``keep`` holds (decided once per value, not per row)."""
    return [v for v in set(values) if keep(v)]


def _select(path: str, cfg: BuildConfig) -> tuple[Any, Any]:
    """The selected rows of one index file, and its row count per WARC (only the needed columns are read:
    by ranged requests on an object store)."""
    import polars as pl

    icfg, targets = cfg.index, set(cfg.lang)
    frame = pl.from_arrow(io.parquet_file(path).read(columns=COLUMNS))
    frame = frame.with_columns(pl.col(LANGUAGES).fill_null(""))

    def wanted(value: str) -> bool:
        codes = set(index_languages(value))
        return bool(targets & codes) if codes else icfg.missing_languages

    keep = (
        pl.col(FETCH_STATUS).is_in(icfg.fetch_status)
        & pl.col(MIME_DETECTED).is_in(icfg.mime_detected)
        & pl.col(LANGUAGES).is_in(_matching(frame[LANGUAGES].to_list(), wanted))
    )
    if icfg.hosts:
        hosts = [h.lower().rstrip(".") for h in icfg.hosts]
        keep &= pl.col(URL_HOST).is_in(_matching(frame[URL_HOST].to_list(), lambda h: _on_hosts(h, hosts)))
    per_warc = frame.group_by(WARC_FILENAME).len()
    return frame.filter(keep).select(WARC_FILENAME, OFFSET, LENGTH, LANGUAGES), per_warc


def select_records(cfg: BuildConfig) -> tuple[list[WarcSlice], IndexSelection]:
    """One slice per WARC holding selected records (sorted by file), and what was selected; index files are
    read one at a time, keeping only their selected rows."""
    import polars as pl

    files = io.list_parquet(cfg.cc_index)
    parts = [_select(f, cfg) for f in files]
    chosen = (
        pl.concat([c for c, _ in parts], how="vertical_relaxed")
        .unique([WARC_FILENAME, OFFSET])
        .sort([WARC_FILENAME, OFFSET])
    )
    rows_per_warc = pl.concat([n for _, n in parts]).group_by(WARC_FILENAME).agg(pl.col("len").sum())
    base = cfg.index.warc_base_url or cfg.cc_base_url
    slices = []
    for (name,), group in chosen.group_by([WARC_FILENAME], maintain_order=True):
        rows = group.select(OFFSET, LENGTH, LANGUAGES).rows()
        path = name if io.is_remote(name) or name.startswith("/") else io.join(base, name)
        slices.append(
            WarcSlice(
                path,
                records=tuple((off, n) for off, n, _ in rows),
                languages={off: index_languages(v) for off, _, v in rows},
            )
        )
    selection = IndexSelection(
        index_files=len(files),
        index_rows=int(rows_per_warc["len"].sum() or 0),
        records=chosen.height,
        record_bytes=int(chosen[LENGTH].sum() or 0),
        warc_files=len(slices),
        warc_rows=int(
            rows_per_warc.filter(pl.col(WARC_FILENAME).is_in(chosen[WARC_FILENAME].unique().to_list()))[
                "len"
            ].sum()
            or 0
        ),
        missing_language_records=chosen.filter(pl.col(LANGUAGES).str.strip_chars() == "").height,
    )
    return slices, selection
