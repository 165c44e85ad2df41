"""Words of a text for the word-based rules: datatrove's tokenizer for the language (spaCy blank models for
European languages), a regex split where it has none or lacks its extras."""

from __future__ import annotations

import re

# One "word" per CJK/kana/hangul character, else runs of word characters or single symbols.
_FALLBACK_WORDS = re.compile(
    r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W\u3040-\u30ff\u3400-\u9fff]+|[^\w\s]"
)


def split_words(text: str, tokenizer_code: str) -> list[str]:
    from datatrove.utils.text import split_into_words

    try:
        return split_into_words(text, tokenizer_code)
    except (ValueError, ImportError):
        return _FALLBACK_WORDS.findall(text)
