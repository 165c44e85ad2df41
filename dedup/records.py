"""One record per input document: the keys every dedup stage needs, computed once per shard.

A document's global number ``doc`` is ``shard_index << 32 | row``, so any stage can route a decision back to
its shard and row. Records carry ``priority`` (the keep policy's sort key, higher wins) and
``date_seconds`` (URL dedup keeps the latest crawl); ties go to the smallest ``id``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curation.core import io
from curation.core.schema import CRAWL_DATE, ID, LANG, TEXT, URL
from curation.dedup.config import KEEP_LATEST, KEEP_LONGEST, DedupConfig
from curation.dedup.minhash import EMPTY, MinHasher, band_keys, optimal_bands_rows
from curation.dedup.shingles import char_mode, shingle

DOC = "doc"
PRIORITY = "priority"
DATE_SECONDS = "date_seconds"
WEIGHT = "weight"
EXACT_KEY = "exact_key"
URL_KEY = "url_key"
BANDS = "bands"
SHINGLES = "shingles"
SHINGLES_TYPE = pl.List(pl.UInt32)  # distinct 32-bit shingle hashes, sorted (``Shingles.sets``)
ROW_BITS = 32
BATCH_DOCS = 5000  # documents shingled and hashed together: bounds a records task's working memory
_TEXT_SEED = 0x7E47


def doc_numbers(shard_index: int, n_rows: int) -> np.ndarray:
    return (np.int64(shard_index) << np.int64(ROW_BITS)) + np.arange(n_rows, dtype=np.int64)


def shard_of(docs: pl.Series) -> np.ndarray:
    return (docs.to_numpy() >> ROW_BITS).astype(np.int64)


def bands_rows(cfg: DedupConfig) -> tuple[int, int]:
    mh = cfg.minhash
    if mh.bands is not None and mh.rows is not None:
        return mh.bands, mh.rows
    return optimal_bands_rows(mh.threshold, mh.num_perm, mh.resolved_fp_weight)


def text_key(texts: pl.Series) -> pl.Series:
    """Hash of the normalised text: lower case, whitespace runs collapsed, trimmed."""
    norm = texts.fill_null("").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
    return norm.hash(seed=_TEXT_SEED)


def url_key(urls: pl.Series) -> pl.Series:
    """Hash of the URL without fragment or trailing slash, scheme and host lower-cased; null stays null."""
    u = urls.str.replace(r"#.*$", "").str.strip_chars().str.strip_chars_end("/")
    scheme_host = u.str.extract(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?]*)", 1)
    u = pl.select(
        pl.when(scheme_host.is_not_null())
        .then(pl.concat_str(scheme_host.str.to_lowercase(), u.str.slice(scheme_host.str.len_chars())))
        .otherwise(u)
    ).to_series()
    keys = u.hash(seed=_TEXT_SEED)
    return pl.select(pl.when(u.is_null() | (u == "")).then(None).otherwise(keys)).to_series()


def date_seconds(dates: pl.Series) -> pl.Series:
    parsed = dates.str.to_datetime(strict=False, time_zone="UTC")
    return (parsed.dt.epoch("ms").cast(pl.Float64) / 1000.0).fill_null(float("-inf"))


def _priority(table: pl.DataFrame, cfg: DedupConfig) -> pl.Series:
    if cfg.keep == KEEP_LONGEST:
        return table[TEXT].fill_null("").str.len_chars().cast(pl.Float64)
    if cfg.keep == KEEP_LATEST:
        return (
            date_seconds(table[CRAWL_DATE])
            if CRAWL_DATE in table.columns
            else pl.repeat(float("-inf"), table.height, eager=True)
        )
    return table[cfg.keep_column].cast(pl.Float64).fill_nan(None).fill_null(float("-inf"))


def read_columns(path: str, cfg: DedupConfig) -> list[str]:
    present = set(io.parquet_shape(path)[0])
    wanted = [ID, TEXT, URL, CRAWL_DATE, LANG, cfg.keep_column]
    return [c for c in dict.fromkeys(wanted) if c is not None and c in present]


def build_records(path: str, shard_index: int, cfg: DedupConfig) -> pl.DataFrame:
    """The record table of one shard; ``bands`` is null for documents without shingles."""
    table = io.read_polars(path, columns=read_columns(path, cfg))
    n = table.height
    has = table.columns
    records = pl.DataFrame(
        {
            DOC: doc_numbers(shard_index, n),
            ID: table[ID].cast(pl.String),
            PRIORITY: _priority(table, cfg),
            DATE_SECONDS: date_seconds(table[CRAWL_DATE]) if CRAWL_DATE in has else np.full(n, -np.inf),
            WEIGHT: np.ones(n, np.int64),
            EXACT_KEY: text_key(table[TEXT]),
            URL_KEY: url_key(table[URL]) if URL in has else pl.Series(URL_KEY, [None] * n, pl.UInt64),
        }
    )
    if not cfg.minhash.enabled:
        return records
    langs = table[LANG] if LANG in has else None
    batches = [
        _minhash_columns(
            table[TEXT].slice(i, BATCH_DOCS), None if langs is None else langs.slice(i, BATCH_DOCS), cfg
        )
        for i in range(0, max(n, 1), BATCH_DOCS)
    ]
    return pl.concat([records, pl.concat(batches)], how="horizontal")


def _minhash_columns(texts: pl.Series, langs: pl.Series | None, cfg: DedupConfig) -> pl.DataFrame:
    """LSH band keys (and, with ``verify``, the shingles) of a batch of documents."""
    mh = cfg.minhash
    is_char = char_mode(texts, langs, mh.shingle)
    sh = shingle(texts, is_char, mh.word_ngram, mh.char_ngram, mh.seed)
    sig = MinHasher(mh.num_perm, mh.seed).signatures(sh)
    bands, rows = bands_rows(cfg)
    keys = pl.Series(BANDS, band_keys(sig, bands, rows, mh.seed)).cast(pl.List(pl.UInt64))
    empty = (sig == EMPTY).all(axis=1)
    out = pl.DataFrame([keys]).with_columns(pl.when(pl.Series(~empty)).then(pl.col(BANDS)).otherwise(None))
    if mh.verify:
        out = out.with_columns(sh.sets().alias(SHINGLES))
    return out
