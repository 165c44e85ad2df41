"""Per-input-file work of `curation build`: read, pre-select, extract, identify, filter, write shards.

``process_input`` is the unit of parallelism (one Ray task per input file). It writes its shards under
deterministic names, then its completion record, so a rerun after a kill rewrites the same names and never
duplicates documents.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from curation import schema as S
from curation.build import extract as X
from curation.build import lid as L
from curation.build import preselect as P
from curation.build.config import BuildConfig
from curation.build.warc import WarcPage, WarcReader
from curation.io import atomic_write_json, write_parquet
from curation.presets import LanguagePreset, load_preset
from curation.remote import RemoteReadError, open_input
from curation.runinfo import part_path
from curation.stats import Stats
from filters import heuristics as H
from filters import rules as R

HTML_STAGE = "html"
LANGUAGE_FILTER = "language_filter"
HEURISTIC_STAGES = (
    ("gopher_repetition", R.gopher_repetition_reason),
    ("gopher_quality", R.gopher_quality_reason),
    ("c4", R.c4_reason),
    ("fineweb", R.fineweb_reason),
)
_KEY_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def input_key(path: str) -> str:
    """A stable, file-system-safe name for one input: its base name plus a hash of the full path."""
    base = os.path.basename(path.rstrip("/")).split("?")[0]
    for suffix in (".gz", ".warc"):
        base = base.removesuffix(suffix)
    digest = hashlib.sha1(path.encode("utf-8")).hexdigest()[:10]
    return f"{_KEY_SAFE.sub('_', base)[:80]}-{digest}"


# One "word" per CJK/kana/hangul character, else runs of word characters or single symbols.
_FALLBACK_WORDS = re.compile(
    r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W\u3040-\u30ff\u3400-\u9fff]+|[^\w\s]"
)


def split_words(text: str, preset: LanguagePreset) -> list[str]:
    """datatrove's word tokenizer for the language; a regex split where it has none or lacks its extras."""
    from datatrove.utils.text import split_into_words

    try:
        return split_into_words(text, preset.tokenizer_code)
    except (ValueError, ImportError):
        return _FALLBACK_WORDS.findall(text)


def document_signals(text: str, preset: LanguagePreset) -> tuple[str, dict[str, Any]]:
    """All heuristic signals of one document, and its text after the C4 line rules."""
    words = split_words(text, preset)
    stop = frozenset(w.lower() for w in preset.stopwords)
    sig: dict[str, Any] = {}
    sig.update(H.gopher_repetition_signals(text, words))
    sig.update(H.gopher_quality_signals(text, words, stop))
    rules = H.C4LineRules(
        min_words_per_line=preset.c4.min_words_per_line,
        max_word_length=preset.c4.max_word_length,
        remove_javascript_lines=preset.c4.remove_javascript_lines,
        remove_policy_lines=preset.c4.remove_policy_lines,
        remove_citations=preset.c4.remove_citations,
    )
    cleaned, removed, policy, lorem, curly = H.c4_clean_lines(text, rules)
    n_lines = sum(1 for line in text.splitlines() if line.strip())
    sig[S.C4_LINES_REMOVED_RATIO] = removed / n_lines if n_lines else 0.0
    sig[S.C4_POLICY_LINES] = policy
    sig[S.C4_HAS_LOREM_IPSUM] = lorem
    sig[S.C4_HAS_CURLY_BRACKET] = curly
    cleaned_words = split_words(cleaned, preset) if cleaned != text else words
    sig.update(H.fineweb_signals(cleaned, cleaned_words, preset.fineweb.short_line_length))
    sig[S.N_LINES] = n_lines
    return cleaned, sig


class _ShardWriter:
    """Buffers rows per output folder and writes numbered zstd Parquet shards for one input; ``transform``
    (e.g. classifier scoring) may add columns to each shard's table before it is written."""

    def __init__(
        self,
        output: str,
        key: str,
        schema: pa.Schema,
        max_docs: int,
        transform: Callable[[pa.Table], pa.Table] | None = None,
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
        rows = self.rows.pop(folder, [])
        if not rows:
            return
        path = os.path.join(self.output, folder, f"{self.key}-{self.counts[folder]:05d}.parquet")
        self.counts[folder] += 1
        table = pa.Table.from_pylist(rows, schema=self.schema)
        if self.transform is not None:
            table = self.transform(table)
        write_parquet(path, table)
        self.written.append(os.path.relpath(path, self.output))

    def close(self) -> list[str]:
        for folder in list(self.rows):
            self._flush(folder)
        return self.written


def _remove_previous_shards(output: str, key: str) -> None:
    for path in Path(output).glob(f"*/{key}-*.parquet"):
        path.unlink()


class PageProcessor:
    """The per-page funnel for one set of target languages."""

    def __init__(self, cfg: BuildConfig, stats: Stats) -> None:
        self.cfg = cfg
        self.stats = stats
        self.lid = L.LanguageIdentifier(cfg.lid_model)
        self.presets = {lang: load_preset(lang, cfg.presets.get(lang)) for lang in cfg.lang}

    def _decode(self, page: WarcPage) -> str | None:
        """Decode the payload and refuse pages too large or too deeply nested to parse safely."""
        st = self.stats
        with st.timed(HTML_STAGE):
            st.seen(HTML_STAGE)
            html = X.decode_html(page.payload, page.content_type)
            if len(html) > self.cfg.extract.max_html_chars:
                st.dropped(HTML_STAGE, "html_too_large")
                return None
            if X.html_depth(html) > self.cfg.extract.max_html_depth:
                st.dropped(HTML_STAGE, "html_too_deep")
                return None
        st.kept(HTML_STAGE)
        return html

    def _preselect(self, page: WarcPage, html: str) -> tuple[bool, str]:
        st = self.stats
        quick, html_lang = "", ""
        with st.timed(P.STAGE):
            st.seen(P.STAGE)
            try:
                quick, html_lang = X.quick_text(html, self.cfg.preselect.max_chars)
            except Exception:  # noqa: BLE001 - unparseable markup: let trafilatura decide
                st.kept(P.STAGE)
                return True, ""
            if not self.cfg.preselect_active:
                st.kept(P.STAGE)
                return True, html_lang
            reason, top = P.preselect_reason(
                self.cfg.lang[0],
                quick,
                html_lang,
                page.content_language,
                page.cc_languages,
                self.lid,
                self.cfg.preselect,
            )
        st.count("languages_preselect", top)
        if reason:
            st.dropped(P.STAGE, reason)
            return False, html_lang
        st.kept(P.STAGE)
        return True, html_lang

    def _extract(self, page: WarcPage, html: str) -> str | None:
        st = self.stats
        with st.timed(X.STAGE):
            st.seen(X.STAGE)
            try:
                text = X.extract_main_text(html, page.url, self.cfg.extract)
            except X.ExtractTimeout:
                st.dropped(X.STAGE, "extract_timeout")
                return None
            except RecursionError:
                st.dropped(X.STAGE, "html_too_deep")
                return None
            except Exception as exc:  # noqa: BLE001 - a broken page is counted, not fatal
                st.dropped(X.STAGE, f"extract_error:{type(exc).__name__}")
                return None
        if not text or not text.strip():
            st.dropped(X.STAGE, "no_text")
            return None
        st.kept(X.STAGE)
        return text

    def process(self, page: WarcPage, base: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Return (output folder, row) for a kept or rejected-and-saved document, else None."""
        st = self.stats
        html = self._decode(page)
        if html is None:
            return None
        ok, html_lang = self._preselect(page, html)
        if not ok:
            return None
        text = self._extract(page, html)
        if text is None:
            return None
        with st.timed(L.STAGE):
            st.seen(L.STAGE)
            lang, score = self.lid.top(text)
            st.kept(L.STAGE)
        st.count("languages", lang)
        st.seen(LANGUAGE_FILTER)
        if lang not in self.presets:
            st.dropped(LANGUAGE_FILTER, "other_language")
            return None
        preset = self.presets[lang]
        row = dict(base, **{S.HTML_LANG: html_lang, S.LANG: lang, S.LANG_SCORE: score})
        if score < preset.lid_threshold:
            st.dropped(LANGUAGE_FILTER, "low_lang_score")
            return self._rejected(row, text, preset, "low_lang_score")
        st.kept(LANGUAGE_FILTER)
        with st.timed("signals"):
            cleaned, sig = document_signals(text, preset)
        reason = None
        for stage, rule in HEURISTIC_STAGES:
            st.seen(stage)
            reason = rule(sig, preset)
            if reason:
                st.dropped(stage, reason)
                break
            st.kept(stage)
        row.update(sig)
        row.update({S.TEXT: cleaned if not reason else text, S.N_CHARS: len(cleaned if not reason else text)})
        if reason:
            row[S.DROP_REASON] = reason
            return (S.REJECTED_DIR, row) if self.cfg.keep_rejected else None
        st.count("kept_languages", lang)
        return lang, row

    def _rejected(
        self, row: dict[str, Any], text: str, preset: LanguagePreset, reason: str
    ) -> tuple[str, dict[str, Any]] | None:
        if not self.cfg.keep_rejected:
            return None
        _, sig = document_signals(text, preset)
        row.update(sig)
        row.update({S.TEXT: text, S.N_CHARS: len(text), S.DROP_REASON: reason})
        return S.REJECTED_DIR, row


def _scoring(cfg: BuildConfig, stats: Stats) -> Callable[[pa.Table], pa.Table] | None:
    """Classifier and bad-word columns for kept documents, when the config asks for them."""
    if not cfg.classifier and not cfg.badwords:
        return None
    from filters.score_shards import ScoreConfig, ShardScorer

    scorer = ShardScorer(
        ScoreConfig(input=[], output=cfg.output, classifier=cfg.classifier, badwords=cfg.badwords)
    )
    return lambda table: scorer.score_table(table, stats)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def process_input(path: str, cfg: BuildConfig) -> dict[str, Any]:
    """Process one WARC file end to end; returns its stats (also saved as its completion record)."""
    stats = Stats()
    key = input_key(path)
    out = cfg.output
    _remove_previous_shards(out, key)
    processor = PageProcessor(cfg, stats)
    kept = _ShardWriter(out, key, S.BUILD_SCHEMA, cfg.shard_max_docs, _scoring(cfg, stats))
    rejected = _ShardWriter(out, key, S.REJECTED_SCHEMA, cfg.shard_max_docs)
    try:
        with open_input(path, stats, cfg.storage_options, cfg.remote) as stream:
            reader = WarcReader(stream, path, stats, cfg.max_payload_bytes)
            for page in reader:
                base = {
                    S.ID: page.record_id or f"{key}:{page.offset}",
                    S.URL: page.url,
                    S.WARC_PATH: path,
                    S.WARC_RECORD_OFFSET: page.offset,
                    S.CRAWL_DATE: page.date,
                    S.SNAPSHOT: reader.snapshot,
                }
                result = processor.process(page, base)
                if result is not None:
                    folder, row = result
                    (rejected if folder == S.REJECTED_DIR else kept).add(folder, row)
    except (RemoteReadError, FileNotFoundError, PermissionError) as exc:
        # Nothing of this input is kept and no completion record is written: the next run retries it whole.
        _remove_previous_shards(out, key)
        reason = (
            "remote_read_failed"
            if isinstance(exc, RemoteReadError)
            else f"input_unreadable:{type(exc).__name__}"
        )
        stats.count("input_errors", reason)
        return {
            "input": path,
            "key": key,
            "shards": [],
            "stats": stats.to_dict(),
            "failed": f"{reason}: {exc}",
        }
    stats.maximum("peak_rss_bytes", _peak_rss_bytes())
    shards = kept.close() + rejected.close()
    record = {"input": path, "key": key, "shards": shards, "stats": stats.to_dict()}
    atomic_write_json(part_path(out, key), record)
    return record
