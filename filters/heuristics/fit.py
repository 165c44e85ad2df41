"""`curation presets fit`: a language preset fitted on reference text of that language (FineWeb-2 style).

Every registered rule's signals are measured on clean reference documents of the language (Wikipedia-like
prose the user provides: ``.txt`` files are cut into documents of about ``doc_chars`` characters at line
ends; ``.jsonl[.gz]`` and ``.parquet`` give one document per record). Then, for every check a rule marks as
fittable:

- a lower limit (``signal >= limit``) goes to ``(1 - margin) x`` the ``quantile`` of the reference values,
  an upper limit (``signal <= limit``) to ``(1 + margin) x`` the ``1 - quantile`` quantile: with the
  defaults (1% and 10%), each check would cut at most about 1% of documents like the reference;
- unless ``tighten`` is set, a fitted limit is never stricter than the rule's own default (FineWeb's value
  for English): fitting moves a limit only as far as the language needs to keep its clean text, so junk that
  the defaults reject stays rejected. With ``tighten``, every limit sits at its quantile, as in FineWeb-2.

Stop words are the shipped list of the language if there is one, else the most frequent words of the
reference (each at least ``stopword_share`` of its words, at most ``max_stopwords``). A language whose
whitespace-separated tokens are more than ``UNSPACED_RATIO`` times longer than its words (zh, ja, th...) is
written without spaces: rules that count whitespace tokens switch to their character-level variant
(``Rule.unspaced``). The preset lands in ``<output>/<lang>.yaml`` (the format of the shipped presets in
``curation/filters/presets/``) and ``<output>/build.yaml`` (``presets: {<lang>: ...}``, for ``curation build
--config``); the reference distribution of every fitted signal goes to the run's ``stats.json``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, Field

from curation.core import io
from curation.core.config import ParallelConfig, StageConfig
from curation.core.errors import CurationError
from curation.core.lang import normalise_target
from curation.core.stage import Run, Stage, Unit, UnitResult, path_key
from curation.filters import heuristics
from curation.filters.heuristics.presets import LanguagePreset, load_preset, preset_model, shipped_stopwords
from curation.filters.heuristics.words import split_words

UNSPACED_RATIO = 3.0  # whitespace token length / word length above which a language counts as unspaced
STEP_WORDS, STEP_SIGNALS = "words", "signals"
TOP_WORDS = 200  # most frequent words each unit reports for the stop-word list
BUILD_FILE = "build.yaml"  # the preset as a `curation build --config` file


class PresetsFitConfig(StageConfig, ParallelConfig):
    """Fit a language preset's thresholds and stop words on reference text of the language."""

    lang: str = Field(description="Language of the reference text (ISO 639-1, ISO 639-3 or BCP-47).")
    reference: list[str] = Field(
        min_length=1, description="Reference text: .txt, .jsonl[.gz] or .parquet files, dirs or globs."
    )
    text_field: str = Field("text", description="Text field of .jsonl and .parquet references.")
    doc_chars: int = Field(
        2000, gt=0, description=".txt references: characters per document (cut at line ends)."
    )
    quantile: float = Field(
        0.01, gt=0, lt=0.5, description="Share of reference documents a fitted limit may cut."
    )
    margin: float = Field(0.1, ge=0, lt=1, description="Relative slack beyond the quantile.")
    tighten: bool = Field(
        False, description="Also move limits below the rule defaults (every limit at its quantile)."
    )
    stopword_share: float = Field(
        0.005, gt=0, description="Minimum share of all words of a fitted stop word."
    )
    max_stopwords: int = Field(30, gt=0, description="At most this many fitted stop words.")


def reference_documents(path: str, text_field: str, doc_chars: int) -> list[str]:
    """The documents of one reference file."""
    if path.endswith(".parquet"):
        return [t for t in io.read_parquet(path, columns=[text_field]).column(text_field).to_pylist() if t]
    if path.endswith((".jsonl", ".jsonl.gz")):
        return [rec[text_field] for rec in io.iter_jsonl(path) if rec.get(text_field)]
    return ["\n".join(doc) for doc in chunk_lines(io.read_text(path).splitlines(), doc_chars)]


def chunk_lines(lines: list[str], doc_chars: int) -> list[list[str]]:
    """Non-empty stripped lines in documents of about ``doc_chars`` characters (a short rest joins the last)."""
    docs: list[list[str]] = []
    doc: list[str] = []
    for line in filter(None, (raw.strip() for raw in lines)):
        doc.append(line)
        if sum(map(len, doc)) >= doc_chars:
            docs.append(doc)
            doc = []
    if docs and sum(map(len, doc)) < doc_chars // 2:
        docs[-1] += doc
    elif doc:
        docs.append(doc)
    return docs


def _is_word(w: str) -> bool:
    return any(c.isalpha() for c in w)


def word_stats(texts: list[str], tokenizer_code: str) -> dict[str, Any]:
    """Per document: mean word length and mean whitespace-token length; the most frequent words."""
    counts: Counter[str] = Counter()
    docs = []
    for text in texts:
        words = [w for w in split_words(text, tokenizer_code) if _is_word(w)]
        spaced = text.split()
        if words and spaced:
            counts.update(w.lower() for w in words)
            docs.append(
                {
                    "word_chars": sum(map(len, words)) / len(words),
                    "token_chars": sum(map(len, spaced)) / len(spaced),
                }
            )
    return {"docs": docs, "top": counts.most_common(TOP_WORDS), "total": sum(counts.values())}


def signal_rows(texts: list[str], preset: LanguagePreset) -> list[dict[str, float]]:
    """Every registered rule's signals of every document."""
    return [{k: float(v) for k, v in heuristics.measure(text, preset)[1].items()} for text in texts]


def measuring_preset(
    lang: str, stats: list[dict[str, Any]], cfg: PresetsFitConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """From the word statistics: the preset data to measure with (stop words, character-level variants
    where the language is written without spaces) and what was decided."""
    docs = [d for s in stats for d in s["docs"]]
    if not docs:
        raise CurationError(f"reference: no text with words for '{lang}'")
    chars_per_word = float(np.median([d["word_chars"] for d in docs]))
    unspaced = float(np.median([d["token_chars"] / d["word_chars"] for d in docs])) > UNSPACED_RATIO
    counts: Counter[str] = Counter()
    for s in stats:
        counts.update(dict(s["top"]))
    shipped = shipped_stopwords(lang)
    stopwords = shipped or fit_stopwords(
        counts, sum(s["total"] for s in stats), cfg.stopword_share, cfg.max_stopwords
    )
    data: dict[str, Any] = {"stopwords": " ".join(stopwords)}
    if unspaced:
        defaults = preset_model()(lang=lang)
        for rule in heuristics.RULES:
            if overrides := rule.unspaced(defaults.settings(rule), chars_per_word):
                data[rule.name] = overrides
    decided = {
        "unspaced": unspaced,
        "chars_per_word": round(chars_per_word, 3),
        "stopwords": stopwords,
        "stopwords_from": "shipped" if shipped else "reference",
    }
    return data, decided


def fit_texts(
    lang: str, texts: list[str], cfg: PresetsFitConfig
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fitted preset (shipped-file form) of reference documents in memory, and its check report."""
    data, _ = measuring_preset(lang, [word_stats(texts, load_preset(lang).tokenizer_code)], cfg)
    rows = signal_rows(texts, preset_model().model_validate({"lang": lang, **data}))
    limits, report = fit_checks(lang, rows, cfg)
    return merge_limits(data, limits), report


def merge_limits(data: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    return {**data, **{rule: {**data.get(rule, {}), **values} for rule, values in limits.items()}}


def _words_unit(path: str, cfg: PresetsFitConfig, tokenizer_code: str) -> UnitResult:
    return UnitResult(
        result=word_stats(reference_documents(path, cfg.text_field, cfg.doc_chars), tokenizer_code)
    )


def _signals_unit(path: str, cfg: PresetsFitConfig, preset: LanguagePreset) -> UnitResult:
    return UnitResult(result=signal_rows(reference_documents(path, cfg.text_field, cfg.doc_chars), preset))


def fit_stopwords(counts: Counter[str], total: int, share: float, limit: int) -> list[str]:
    return [w for w, n in counts.most_common(limit) if n >= share * total]


def fitted_limit(
    values: list[float], keep: str, default: float, cfg: PresetsFitConfig, integer: bool
) -> float:
    """The limit of one check on the reference values (see the module docstring)."""
    if keep == ">=":
        limit = float(np.quantile(values, cfg.quantile)) * (1 - cfg.margin)
        limit = limit if cfg.tighten else min(limit, default)
        return math.floor(limit) if integer else math.floor(limit * 1000) / 1000
    limit = float(np.quantile(values, 1 - cfg.quantile)) * (1 + cfg.margin)
    limit = limit if cfg.tighten else max(limit, default)
    return math.ceil(limit) if integer else math.ceil(limit * 1000) / 1000


def _set(tree: dict[Any, Any], setting: str, value: Any) -> None:
    *parents, last = [int(k) if k.isdigit() else k for k in setting.split(".")]
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[last] = value


def fit_checks(
    lang: str, signals: list[dict[str, float]], cfg: PresetsFitConfig
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fitted limits by rule (shipped-file form) and, per fitted check, the reference distribution."""
    defaults = preset_model()(lang=lang)
    limits: dict[str, Any] = {}
    report = []
    for rule in heuristics.RULES:
        for check in rule.checks(defaults.settings(rule)):
            if not (check.fit and check.setting) or check.limit is None or check.keep == "==":
                continue
            values = [row[check.column] for row in signals]
            integer = isinstance(check.limit, int)
            limit = fitted_limit(values, check.keep, check.limit, cfg, integer)
            _set(limits.setdefault(rule.name, {}), check.setting, limit)
            fitted = dataclasses.replace(check, limit=limit)
            report.append(
                {
                    "setting": f"{rule.name}.{check.setting}",
                    "keep": check.keep,
                    "default": check.limit,
                    "fitted": limit,
                    "median": float(np.median(values)),
                    "cut_by_default": float(np.mean([check.fails(v) for v in values])),
                    "cut_by_fitted": float(np.mean([fitted.fails(v) for v in values])),
                }
            )
    return limits, report


class FitSummary(BaseModel):
    lang: str
    preset: str
    files: int
    documents: int
    unspaced: bool
    chars_per_word: float
    stopwords: list[str]
    stopwords_from: str
    checks: list[dict[str, Any]]


class PresetsFit(Stage[PresetsFitConfig]):
    """Fit a language preset's thresholds and stop words on reference text of the language."""

    name = "presets fit"
    config_model = PresetsFitConfig

    def run(self, run: Run) -> FitSummary:
        cfg = self.cfg
        lang = normalise_target(cfg.lang)
        files = [f for f in io.expand_inputs(cfg.reference) if not io.is_dir(f)]
        units = [Unit(path_key(f), f) for f in files]
        tokenizer = load_preset(lang).tokenizer_code
        stats = [r["result"] for r in run.map(STEP_WORDS, units, _words_unit, cfg, tokenizer).values()]
        data, decided = measuring_preset(lang, stats, cfg)
        measuring = preset_model().model_validate({"lang": lang, **data})
        records = run.map(STEP_SIGNALS, units, _signals_unit, cfg, measuring)
        rows = [row for r in records.values() for row in r["result"]]
        limits, report = fit_checks(lang, rows, cfg)
        data = merge_limits(data, limits)
        unspaced = decided["unspaced"]
        out = io.join(cfg.output, f"{lang}.yaml")
        header = (
            f"# {lang}: fitted by `curation presets fit` on {len(rows)} reference documents of"
            f" {', '.join(sorted({f.rsplit('/', 1)[-1] for f in files}))};\n"
            f"# limits at the {cfg.quantile:g} tail quantile with {cfg.margin:g} margin"
            f"{'' if cfg.tighten else ', never stricter than the rule defaults'}"
            f"{'; written without spaces: character-level variants' if unspaced else ''}.\n"
        )
        io.write_text(out, header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110))
        build = {"presets": {lang: data}}  # for `curation build --config`
        io.write_text(
            io.join(cfg.output, BUILD_FILE),
            header + yaml.safe_dump(build, sort_keys=False, allow_unicode=True),
        )
        return FitSummary(
            lang=lang,
            preset=out,
            files=len(files),
            documents=len(rows),
            checks=report,
            **decided,
        )

    def render(self, stats: dict[str, Any]) -> Any:
        from rich.table import Table

        s = stats["summary"]
        table = Table(title=f"{s['lang']}: {s['documents']} reference documents -> {s['preset']}")
        for col in (
            "setting",
            "keep",
            "default",
            "fitted",
            "reference median",
            "cut by default",
            "cut by fitted",
        ):
            table.add_column(col)
        for c in s["checks"]:
            table.add_row(
                c["setting"], c["keep"], f"{c['default']:g}", f"{c['fitted']:g}", f"{c['median']:.3g}",
                f"{c['cut_by_default']:.1%}", f"{c['cut_by_fitted']:.1%}",
            )  # fmt: skip
        return table
