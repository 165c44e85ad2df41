"""Where the decisions are: filter-signal thresholds from the resolved language presets, and score cut-offs
from the row filters written in any stage's config (``--where "edu_score >= 3"``, mixture source filters)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from curation import schema as S
from curation.errors import CurationError
from curation.presets import LanguagePreset, load_preset

_COMPARISON = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Threshold:
    """A cut on one column: documents with values on the wrong side of ``value`` are dropped (or not kept)."""

    column: str
    value: float
    op: str  # the comparison a kept document satisfies: ">=", "<=", ">", "<", "=="
    label: str  # who set it: a language or a config key


def _preset_limits(p: LanguagePreset) -> list[tuple[str, float | None, str]]:
    q, r, c, f = p.gopher_quality, p.gopher_repetition, p.c4, p.fineweb
    limits: list[tuple[str, float | None, str]] = [
        (S.LANG_SCORE, p.lid_threshold, ">="),
        (S.N_WORDS, q.min_doc_words, ">="),
        (S.N_WORDS, q.max_doc_words, "<="),
        (S.MEAN_WORD_LENGTH, q.min_avg_word_length, ">="),
        (S.MEAN_WORD_LENGTH, q.max_avg_word_length, "<="),
        (S.SYMBOL_WORD_RATIO, q.max_symbol_word_ratio, "<="),
        (S.BULLET_LINES_RATIO, q.max_bullet_lines_ratio, "<="),
        (S.ELLIPSIS_LINES_RATIO, q.max_ellipsis_lines_ratio, "<="),
        (S.ALPHA_WORDS_RATIO, q.min_alpha_words_ratio, ">="),
        (S.STOP_WORDS_COUNT, q.min_stop_words, ">="),
        (S.DUP_LINE_FRAC, r.dup_line_frac, "<="),
        (S.DUP_PARA_FRAC, r.dup_para_frac, "<="),
        (S.DUP_LINE_CHAR_FRAC, r.dup_line_char_frac, "<="),
        (S.DUP_PARA_CHAR_FRAC, r.dup_para_char_frac, "<="),
        (S.C4_LINES_REMOVED_RATIO, c.max_lines_removed_ratio, "<="),
        (S.LINE_PUNCT_RATIO, f.min_line_punct_ratio, ">="),
        (S.SHORT_LINE_RATIO, f.max_short_line_ratio, "<="),
        (S.CHAR_DUP_RATIO, f.max_char_dup_ratio, "<="),
        (S.NEWLINE_RATIO, f.max_newline_ratio, "<="),
    ]
    limits += [(S.TOP_NGRAM_CHAR_FRAC.format(n=n), v, "<=") for n, v in r.top_ngram_char_frac.items()]
    limits += [(S.DUP_NGRAM_CHAR_FRAC.format(n=n), v, "<=") for n, v in r.dup_ngram_char_frac.items()]
    return limits


def preset_thresholds(build_config: dict[str, Any]) -> list[Threshold]:
    """Thresholds of every target language of a resolved build config (rules switched off are skipped)."""
    overrides = build_config.get("presets") or {}
    langs = build_config.get("lang") or []
    out = []
    for lang in [langs] if isinstance(langs, str) else langs:
        try:
            preset = load_preset(str(lang), overrides.get(lang))
        except CurationError:
            continue  # a config from another version: report what we can
        out += [
            Threshold(col, float(v), op, str(lang)) for col, v, op in _preset_limits(preset) if v is not None
        ]
    return out


def _strings(obj: Any, key: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, f"{key}.{k}" if key else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{key}[{i}]")
    elif isinstance(obj, str):
        yield key, obj


def where_thresholds(config: dict[str, Any]) -> list[Threshold]:
    """``column <op> number`` comparisons in any string of a config (row filters, mixture source filters),
    labelled with the config key that holds them."""
    return [
        Threshold(column, float(value), op, key)
        for key, text in _strings(config)
        for column, op, value in _COMPARISON.findall(text)
    ]


def merge_thresholds(items: Iterable[Threshold]) -> dict[str, list[Threshold]]:
    """Per column, one threshold per distinct (value, op); labels of equal cuts are joined."""
    grouped: dict[str, dict[tuple[float, str], list[str]]] = {}
    for t in items:
        labels = grouped.setdefault(t.column, {}).setdefault((t.value, t.op), [])
        if t.label not in labels:
            labels.append(t.label)
    return {
        col: [Threshold(col, value, op, ", ".join(labels)) for (value, op), labels in cuts.items()]
        for col, cuts in grouped.items()
    }
