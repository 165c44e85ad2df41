"""Heuristic quality signals (Gopher quality and repetition, C4 line rules, FineWeb rules) as measured values.

``compute_signals`` returns every ratio as a number so that thresholds can be re-tuned later from the Parquet
columns; ``filters.rules`` turns them into keep/drop decisions with a named reason. The formulas follow
datatrove's filters (whose helpers are reused) so figures are comparable with FineWeb/FineWeb-2.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from datatrove.pipeline.filters.c4_filters import CITATION_REGEX, POLICY_SUBSTRINGS
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_duplicates,
    get_n_grams,
)
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

from curation import schema as S

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile(r"\n+")
_STOP_CHARS = tuple(TERMINAL_PUNCTUATION)


@dataclass(frozen=True)
class C4LineRules:
    """Which C4 line rules remove a line (the text keeps only the surviving lines)."""

    min_words_per_line: int = 3
    max_word_length: int = 1000
    remove_javascript_lines: bool = True
    remove_policy_lines: bool = True
    remove_citations: bool = True


def c4_clean_lines(text: str, rules: C4LineRules) -> tuple[str, int, int, bool, bool]:
    """Apply C4 line rules; return (kept text, lines removed, policy lines, has lorem ipsum, has curly bracket)."""
    kept: list[str] = []
    removed = policy = 0
    lorem = curly = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        words = line.split()
        lower = line.lower()
        lorem = lorem or "lorem ipsum" in lower
        curly = curly or "{" in line
        if rules.remove_citations:
            line = CITATION_REGEX.sub("", line)
        if (
            len(words) < rules.min_words_per_line
            or any(len(w) > rules.max_word_length for w in words)
            or (rules.remove_javascript_lines and "javascript" in lower)
        ):
            removed += 1
            continue
        if rules.remove_policy_lines and any(p in lower for p in POLICY_SUBSTRINGS):
            removed += 1
            policy += 1
            continue
        kept.append(line)
    return "\n".join(kept), removed, policy, lorem, curly


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def gopher_quality_signals(text: str, words: Sequence[str], stop_words: frozenset[str]) -> dict[str, float]:
    non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
    n_words = len(words)
    spaced = text.split()
    lines = text.splitlines() or [""]
    return {
        S.N_WORDS: len(non_symbol),
        S.MEAN_WORD_LENGTH: _safe_div(sum(len(w) for w in non_symbol), len(non_symbol)),
        S.SYMBOL_WORD_RATIO: _safe_div(max(text.count("#"), text.count("...") + text.count("…")), n_words),
        S.BULLET_LINES_RATIO: _safe_div(sum(s.lstrip().startswith(("•", "-")) for s in lines), len(lines)),
        S.ELLIPSIS_LINES_RATIO: _safe_div(sum(s.rstrip().endswith(("...", "…")) for s in lines), len(lines)),
        # Over whitespace tokens, as in the Gopher paper: tokenizer-split punctuation would count as
        # non-alphabetic "words" and drop real prose with dialogue (Machado de Assis: 0.79 vs 0.98).
        S.ALPHA_WORDS_RATIO: _safe_div(sum(any(c.isalpha() for c in w) for w in spaced), len(spaced)),
        S.STOP_WORDS_COUNT: sum(w.lower() in stop_words for w in words),
    }


def gopher_repetition_signals(text: str, words: Sequence[str]) -> dict[str, float]:
    n_chars = len(text) or 1
    paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
    para_dups, para_dup_chars = find_duplicates(paragraphs)
    lines = _LINE_SPLIT.split(text)
    line_dups, line_dup_chars = find_duplicates(lines)
    out: dict[str, float] = {
        S.DUP_PARA_FRAC: _safe_div(para_dups, len(paragraphs)),
        S.DUP_PARA_CHAR_FRAC: para_dup_chars / n_chars,
        S.DUP_LINE_FRAC: _safe_div(line_dups, len(lines)),
        S.DUP_LINE_CHAR_FRAC: line_dup_chars / n_chars,
    }
    for n in S.TOP_NGRAM_SIZES:
        grams = get_n_grams(list(words), n)
        top = 0.0
        if grams:
            gram, count = Counter(grams).most_common(1)[0]
            top = len(gram) * count / n_chars
        out[S.TOP_NGRAM_CHAR_FRAC.format(n=n)] = top
    for n in S.DUP_NGRAM_SIZES:
        out[S.DUP_NGRAM_CHAR_FRAC.format(n=n)] = find_all_duplicate(list(words), n) / n_chars
    return out


def fineweb_signals(text: str, words: Sequence[str], short_line_length: int) -> dict[str, float]:
    lines = [line for line in text.split("\n") if line.strip()]
    n_lines = len(lines)
    return {
        S.LINE_PUNCT_RATIO: _safe_div(sum(line.endswith(_STOP_CHARS) for line in lines), n_lines),
        S.SHORT_LINE_RATIO: _safe_div(sum(len(line) <= short_line_length for line in lines), n_lines),
        S.CHAR_DUP_RATIO: _safe_div(find_duplicates(lines)[1], len(text.replace("\n", ""))),
        S.NEWLINE_RATIO: _safe_div(text.count("\n"), len(words)),
    }
