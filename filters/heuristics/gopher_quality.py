"""Gopher quality (Rae et al. 2021, as in datatrove): document length in words, mean word length, symbol
ratio, bullet and ellipsis lines, alphabetic words and stop words of the target language."""

from __future__ import annotations

from typing import Any, Literal

from datatrove.utils.text import PUNCTUATION_SET

from curation.core.config import StrictModel
from curation.filters.heuristics.rule import Check, Document, Rule, safe_div

N_WORDS = "n_words"  # non-symbol words: also the document's size in words
MEAN_WORD_LENGTH = "mean_word_length"
SYMBOL_WORD_RATIO = "symbol_word_ratio"
BULLET_LINES_RATIO = "bullet_lines_ratio"
ELLIPSIS_LINES_RATIO = "ellipsis_lines_ratio"
ALPHA_WORDS_RATIO = "alpha_words_ratio"
STOP_WORDS_COUNT = "stop_words_count"


class GopherQualitySettings(StrictModel):
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3.0
    max_avg_word_length: float | None = 10.0
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    # over whitespace tokens (Gopher), or over the words without punctuation: the variant for scripts
    # without spaces, where a whole line is one whitespace token
    alpha_words_unit: Literal["whitespace", "words"] = "whitespace"


class GopherQuality(Rule):
    name = "gopher_quality"
    Settings = GopherQualitySettings
    signals = {
        N_WORDS: "int64",
        MEAN_WORD_LENGTH: "float32",
        SYMBOL_WORD_RATIO: "float32",
        BULLET_LINES_RATIO: "float32",
        ELLIPSIS_LINES_RATIO: "float32",
        ALPHA_WORDS_RATIO: "float32",
        STOP_WORDS_COUNT: "int32",
    }

    def measure(self, doc: Document, settings: GopherQualitySettings) -> dict[str, Any]:
        text, words = doc.text, doc.words
        stop_words = doc.preset.stopword_set
        non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
        spaced = text.split()
        lines = text.splitlines() or [""]
        return {
            N_WORDS: len(non_symbol),
            MEAN_WORD_LENGTH: safe_div(sum(len(w) for w in non_symbol), len(non_symbol)),
            SYMBOL_WORD_RATIO: safe_div(
                max(text.count("#"), text.count("...") + text.count("…")), len(words)
            ),
            BULLET_LINES_RATIO: safe_div(sum(s.lstrip().startswith(("•", "-")) for s in lines), len(lines)),
            ELLIPSIS_LINES_RATIO: safe_div(sum(s.rstrip().endswith(("...", "…")) for s in lines), len(lines)),
            # Over whitespace tokens, as in the Gopher paper: tokenizer-split punctuation would count as
            # non-alphabetic "words" and drop real prose with dialogue (Machado de Assis: 0.79 vs 0.98).
            ALPHA_WORDS_RATIO: alpha_ratio(
                spaced if settings.alpha_words_unit == "whitespace" else non_symbol
            ),
            STOP_WORDS_COUNT: sum(w.lower() in stop_words for w in words),
        }

    def unspaced(self, settings: GopherQualitySettings, chars_per_word: float) -> dict[str, Any]:
        return {"alpha_words_unit": "words"}

    def checks(self, q: GopherQualitySettings) -> list[Check]:
        return [
            Check("gopher_short_doc", N_WORDS, ">=", q.min_doc_words, "min_doc_words", fit=False),
            Check("gopher_long_doc", N_WORDS, "<=", q.max_doc_words, "max_doc_words", fit=False),
            Check(
                "gopher_mean_word_length_low",
                MEAN_WORD_LENGTH,
                ">=",
                q.min_avg_word_length,
                "min_avg_word_length",
            ),
            Check(
                "gopher_mean_word_length_high",
                MEAN_WORD_LENGTH,
                "<=",
                q.max_avg_word_length,
                "max_avg_word_length",
            ),
            Check(
                "gopher_symbol_word_ratio",
                SYMBOL_WORD_RATIO,
                "<=",
                q.max_symbol_word_ratio,
                "max_symbol_word_ratio",
            ),
            Check(
                "gopher_bullet_lines",
                BULLET_LINES_RATIO,
                "<=",
                q.max_bullet_lines_ratio,
                "max_bullet_lines_ratio",
            ),
            Check(
                "gopher_ellipsis_lines",
                ELLIPSIS_LINES_RATIO,
                "<=",
                q.max_ellipsis_lines_ratio,
                "max_ellipsis_lines_ratio",
            ),
            Check(
                "gopher_alpha_words_ratio",
                ALPHA_WORDS_RATIO,
                ">=",
                q.min_alpha_words_ratio,
                "min_alpha_words_ratio",
            ),
            Check("gopher_stop_words", STOP_WORDS_COUNT, ">=", q.min_stop_words, "min_stop_words"),
        ]


def alpha_ratio(tokens: list[str]) -> float:
    return safe_div(sum(any(c.isalpha() for c in w) for w in tokens), len(tokens))
