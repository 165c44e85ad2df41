"""Keep/drop decisions from measured signals and a language preset: the first failing rule names the reason."""

from __future__ import annotations

from collections.abc import Mapping

from curation import schema as S
from curation.presets import LanguagePreset


def _above(value: float, limit: float | None) -> bool:
    return limit is not None and value > limit


def _below(value: float, limit: float | None) -> bool:
    return limit is not None and value < limit


def gopher_repetition_reason(sig: Mapping[str, float], p: LanguagePreset) -> str | None:
    r = p.gopher_repetition
    for col, limit in (
        (S.DUP_PARA_FRAC, r.dup_para_frac),
        (S.DUP_PARA_CHAR_FRAC, r.dup_para_char_frac),
        (S.DUP_LINE_FRAC, r.dup_line_frac),
        (S.DUP_LINE_CHAR_FRAC, r.dup_line_char_frac),
    ):
        if _above(sig[col], limit):
            return col
    for n, limit in sorted(r.top_ngram_char_frac.items()):
        col = S.TOP_NGRAM_CHAR_FRAC.format(n=n)
        if col in sig and _above(sig[col], limit):
            return col
    for n, limit in sorted(r.dup_ngram_char_frac.items()):
        col = S.DUP_NGRAM_CHAR_FRAC.format(n=n)
        if col in sig and _above(sig[col], limit):
            return col
    return None


def gopher_quality_reason(sig: Mapping[str, float], p: LanguagePreset) -> str | None:
    q = p.gopher_quality
    checks = (
        ("gopher_short_doc", _below(sig[S.N_WORDS], q.min_doc_words)),
        ("gopher_long_doc", _above(sig[S.N_WORDS], q.max_doc_words)),
        ("gopher_mean_word_length_low", _below(sig[S.MEAN_WORD_LENGTH], q.min_avg_word_length)),
        ("gopher_mean_word_length_high", _above(sig[S.MEAN_WORD_LENGTH], q.max_avg_word_length)),
        ("gopher_symbol_word_ratio", _above(sig[S.SYMBOL_WORD_RATIO], q.max_symbol_word_ratio)),
        ("gopher_bullet_lines", _above(sig[S.BULLET_LINES_RATIO], q.max_bullet_lines_ratio)),
        ("gopher_ellipsis_lines", _above(sig[S.ELLIPSIS_LINES_RATIO], q.max_ellipsis_lines_ratio)),
        ("gopher_alpha_words_ratio", _below(sig[S.ALPHA_WORDS_RATIO], q.min_alpha_words_ratio)),
        ("gopher_stop_words", _below(sig[S.STOP_WORDS_COUNT], q.min_stop_words)),
    )
    return next((reason for reason, failed in checks if failed), None)


def c4_reason(sig: Mapping[str, float], p: LanguagePreset) -> str | None:
    c = p.c4
    if c.drop_lorem_ipsum and sig[S.C4_HAS_LOREM_IPSUM]:
        return "c4_lorem_ipsum"
    if c.drop_curly_bracket and sig[S.C4_HAS_CURLY_BRACKET]:
        return "c4_curly_bracket"
    if _above(sig[S.C4_LINES_REMOVED_RATIO], c.max_lines_removed_ratio):
        return "c4_lines_removed_ratio"
    return None


def fineweb_reason(sig: Mapping[str, float], p: LanguagePreset) -> str | None:
    f = p.fineweb
    checks = (
        ("fineweb_line_punct_ratio", _below(sig[S.LINE_PUNCT_RATIO], f.min_line_punct_ratio)),
        ("fineweb_short_line_ratio", _above(sig[S.SHORT_LINE_RATIO], f.max_short_line_ratio)),
        ("fineweb_char_dup_ratio", _above(sig[S.CHAR_DUP_RATIO], f.max_char_dup_ratio)),
        ("fineweb_newline_ratio", _above(sig[S.NEWLINE_RATIO], f.max_newline_ratio)),
    )
    return next((reason for reason, failed in checks if failed), None)
