"""Gopher repetition (Rae et al. 2021, as in datatrove): duplicated lines and paragraphs, the character share
of the most frequent n-grams and of duplicated n-grams."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_duplicates,
    get_n_grams,
)
from pydantic import Field

from curation.core.config import StrictModel
from curation.filters.heuristics.rule import Check, Document, Rule, safe_div

DUP_LINE_FRAC = "dup_line_frac"
DUP_PARA_FRAC = "dup_para_frac"
DUP_LINE_CHAR_FRAC = "dup_line_char_frac"
DUP_PARA_CHAR_FRAC = "dup_para_char_frac"
TOP_NGRAM_CHAR_FRAC = "top_{n}gram_char_frac"
DUP_NGRAM_CHAR_FRAC = "dup_{n}gram_char_frac"
TOP_NGRAM_SIZES = (2, 3, 4)
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile(r"\n+")


class GopherRepetitionSettings(StrictModel):
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_ngram_char_frac: dict[int, float | None] = Field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    dup_ngram_char_frac: dict[int, float | None] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )


class GopherRepetition(Rule):
    name = "gopher_repetition"
    Settings = GopherRepetitionSettings
    signals = {
        **dict.fromkeys((DUP_LINE_FRAC, DUP_PARA_FRAC, DUP_LINE_CHAR_FRAC, DUP_PARA_CHAR_FRAC), "float32"),
        **{TOP_NGRAM_CHAR_FRAC.format(n=n): "float32" for n in TOP_NGRAM_SIZES},
        **{DUP_NGRAM_CHAR_FRAC.format(n=n): "float32" for n in DUP_NGRAM_SIZES},
    }

    def measure(self, doc: Document, settings: GopherRepetitionSettings) -> dict[str, Any]:
        text, words = doc.text, doc.words
        n_chars = len(text) or 1
        paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
        para_dups, para_dup_chars = find_duplicates(paragraphs)
        lines = _LINE_SPLIT.split(text)
        line_dups, line_dup_chars = find_duplicates(lines)
        out: dict[str, Any] = {
            DUP_PARA_FRAC: safe_div(para_dups, len(paragraphs)),
            DUP_PARA_CHAR_FRAC: para_dup_chars / n_chars,
            DUP_LINE_FRAC: safe_div(line_dups, len(lines)),
            DUP_LINE_CHAR_FRAC: line_dup_chars / n_chars,
        }
        for n in TOP_NGRAM_SIZES:
            grams = get_n_grams(list(words), n)
            top = 0.0
            if grams:
                gram, count = Counter(grams).most_common(1)[0]
                top = len(gram) * count / n_chars
            out[TOP_NGRAM_CHAR_FRAC.format(n=n)] = top
        for n in DUP_NGRAM_SIZES:
            out[DUP_NGRAM_CHAR_FRAC.format(n=n)] = find_all_duplicate(list(words), n) / n_chars
        return out

    def checks(self, s: GopherRepetitionSettings) -> list[Check]:
        # (column, limit, settings key); the first four columns are named as their settings
        columns = [
            (c, getattr(s, c), c)
            for c in (DUP_PARA_FRAC, DUP_PARA_CHAR_FRAC, DUP_LINE_FRAC, DUP_LINE_CHAR_FRAC)
        ]
        for pattern, key in (
            (TOP_NGRAM_CHAR_FRAC, "top_ngram_char_frac"),
            (DUP_NGRAM_CHAR_FRAC, "dup_ngram_char_frac"),
        ):
            limits = getattr(s, key)
            columns += [(pattern.format(n=n), limits[n], f"{key}.{n}") for n in sorted(limits)]
        return [
            Check(col, col, "<=", limit, setting) for col, limit, setting in columns if col in self.signals
        ]
