"""Words of a text for the word-based rules.

Most languages use datatrove's word tokenizer for the language (spaCy blank models for European languages).
Scripts written without spaces between words get a segmenter that installs from PyPI and works offline,
chosen here because datatrove's table gets some of them wrong: its ``zh`` entry is spaCy's multi-language
tokenizer (whole clauses come out as one "word") and its Korean tokenizer asks for a model file that
``kiwipiepy_model`` does not ship. Where no segmenter is available, a regular expression splits runs of letters,
marks and digits (one "word" per Han or kana character: the character-level unit).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import regex

Segmenter = Callable[[str], list[str]]

# One "word" per Han, kana or Yi character; else runs of letters, combining marks and digits; else single symbols.
_FALLBACK_WORDS = regex.compile(
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Yi}ー]|[\p{L}\p{M}\p{N}_]+|[^\p{L}\p{M}\p{N}_\s]", regex.VERSION1
)


def fallback_words(text: str) -> list[str]:
    return _FALLBACK_WORDS.findall(text)


def _jieba() -> Segmenter:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return lambda text: [w for w in jieba.lcut(text) if w.strip()]


def _kiwi() -> Segmenter:
    from kiwipiepy import Kiwi

    kiwi = Kiwi()
    return lambda text: [w for t in kiwi.tokenize(text) if (w := text[t.start : t.end].strip())]


def _datatrove(code: str) -> Callable[[], Segmenter]:
    def make() -> Segmenter:
        from datatrove.utils.word_tokenizers import load_word_tokenizer

        return load_word_tokenizer(code).word_tokenize

    return make


# Scripts without spaces between words (and Korean, whose spaced units are word + particles): segmenter
# factories by tokenizer code. zh: jieba; ja: SudachiPy through spaCy; th: PyThaiNLP newmm; ko: Kiwi;
# km: khmer-nltk; lo: LaoNLP; my: pyidaungsu. Tibetan's botok downloads its dictionary at run time: regex.
SEGMENTERS: dict[str, Callable[[], Segmenter]] = {
    "zh": _jieba,
    "yue": _jieba,
    "ko": _kiwi,
    **{code: _datatrove(code) for code in ("ja", "th", "km", "lo", "my")},
}


@cache
def segmenter(tokenizer_code: str) -> Segmenter:
    """The word splitter of a tokenizer code, resolved once per process."""
    from datatrove.utils.text import split_into_words
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    factory = SEGMENTERS.get(tokenizer_code)
    if factory is not None:
        try:
            return factory()
        except ImportError:
            return fallback_words
    try:
        load_word_tokenizer(tokenizer_code).word_tokenize("a")
    except (ValueError, ImportError, OSError):
        return fallback_words
    return lambda text: split_into_words(text, tokenizer_code)


def split_words(text: str, tokenizer_code: str) -> list[str]:
    return segmenter(tokenizer_code)(text)
